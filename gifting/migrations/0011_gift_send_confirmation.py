"""`gifting_gift_send` also applies the large-gift confirmation (issue #13: the one-tap endpoint's own read of
the gift and the viewer's threshold was one more round trip per tap).

A new last parameter, `p_confirm_above`: NULL when the sender has confirmed (or nothing needs confirming);
otherwise the staff threshold, and a gift of more coins than it, or than the sender's own lower threshold
(`gifting_giftingpreferences.confirm_above_coins`, ignored when empty or 0), writes nothing and returns
NULLs, so the general path raises `GiftNeedsConfirmation` with its figures. The rest is migration 0010's
function as it was.
"""

import importlib

from django.db import migrations

previous = importlib.import_module("gifting.migrations.0010_gift_send_function")

_OLD_SIGNATURE = "p_adult_age integer, p_diamonds_per_coin integer,\n"
_NEW_SIGNATURE = "p_adult_age integer, p_diamonds_per_coin integer, p_confirm_above bigint,\n"
_BALANCE_CHECK = """    IF ctx.coin_cost * p_quantity <= 0 OR ctx.payer_balance < ctx.coin_cost * p_quantity THEN
        RETURN;
    END IF;
"""
_CONFIRMATION_CHECK = """    IF p_confirm_above IS NOT NULL AND ctx.coin_cost * p_quantity > LEAST(
        p_confirm_above,
        COALESCE((SELECT NULLIF(own.confirm_above_coins, 0) FROM gifting_giftingpreferences own
                   WHERE own.user_id = p_sender), p_confirm_above)
    ) THEN
        RETURN;
    END IF;
"""
assert previous.GIFT_SEND_SQL.count(_OLD_SIGNATURE) == 1 and previous.GIFT_SEND_SQL.count(_BALANCE_CHECK) == 1
GIFT_SEND_SQL = previous.GIFT_SEND_SQL.replace(_OLD_SIGNATURE, _NEW_SIGNATURE).replace(
    _BALANCE_CHECK, _BALANCE_CHECK + _CONFIRMATION_CHECK
)
GIFT_SEND_REVERSE_SQL = """
DROP FUNCTION gifting_gift_send(
    bigint, integer, text, bigint, bigint, integer, text, text, boolean, text, timestamptz, integer, integer, bigint
);
"""


class Migration(migrations.Migration):
    dependencies = [("gifting", "0010_gift_send_function")]

    operations = [
        migrations.RunSQL(previous.GIFT_SEND_REVERSE_SQL, previous.GIFT_SEND_SQL),
        migrations.RunSQL(GIFT_SEND_SQL, GIFT_SEND_REVERSE_SQL),
    ]
