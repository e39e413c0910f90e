"""The common-case gift as one SQL function, called in autocommit: one round trip (issue #13).

`gifting_gift_send` reads everything the rules need, and sends the gift only when every rule plainly
holds: a live stream of another user who may receive gifts, an active gift offered in the sender's
country, a sender old enough for that country's age limit, gifting allowed in the country, no frozen
wallet, no coins owed, no spending controls, no earlier gift with the same key, the coins there, and
the hot ledger shape (the sender's own coin wallet pays; the creator's diamonds and the two system
accounts are append-only). Then, in the same statement: claim the ledger key, debit the sender only if
the coins are still there, insert the four balanced entries and the gift event.

When any of that does not plainly hold it writes nothing and returns NULLs, and the caller takes the
general path (`gifting.services.gift_send`'s transaction), which explains the refusal, replays an
earlier gift, or applies spending controls. A race lost after the key was claimed (the coins went
meanwhile, or the same key's event landed) raises SQLSTATE `CSG01`, which rolls the whole statement
back, and the caller takes the general path too. Constants are the model values of today
(Asset, AccountKind, SystemAccount, the ledger kind `gift`); the Python side passes the rest.
"""

from django.db import migrations

FAST_PATH_LOST_RACE = "CSG01"

GIFT_SEND_SQL = f"""
CREATE FUNCTION gifting_gift_send(
    p_sender bigint, p_sender_age integer, p_country text, p_stream bigint, p_gift bigint, p_quantity integer,
    p_key text, p_ledger_key text, p_anonymous boolean, p_message text, p_now timestamptz,
    p_adult_age integer, p_diamonds_per_coin integer,
    OUT sent_event_id bigint, OUT sent_transaction_id bigint, OUT sent_creator_id bigint,
    OUT sent_coins bigint, OUT sent_diamonds bigint, OUT sent_balance bigint,
    OUT sent_gift_name text, OUT sent_gift_artwork text, OUT sent_gift_tier text
) LANGUAGE plpgsql AS $$
DECLARE
    ctx record;
BEGIN
    SELECT stream.creator_id, gift.name, gift.artwork, gift.tier, gift.coin_cost,
           payer.id AS payer_id, payer.balance AS payer_balance,
           earner.id AS earner_id, consumed.id AS consumed_id, issued.id AS issued_id
      INTO ctx
      FROM gifting_livestream stream
      JOIN accounts_user creator ON creator.id = stream.creator_id AND creator.is_creator
      JOIN gifting_gift gift
        ON gift.id = p_gift AND gift.is_active AND (gift.countries = '[]'::jsonb OR gift.countries ? p_country)
      JOIN wallet_country country
        ON country.code = p_country AND country.gifting_enabled
       AND p_sender_age >= COALESCE(country.minimum_age, p_adult_age)
      JOIN wallet_ledgeraccount payer
        ON payer.user_id = p_sender AND payer.asset = 'COIN' AND payer.kind <> 'system'
       AND NOT payer.append_only_balance
      JOIN wallet_ledgeraccount earner
        ON earner.user_id = stream.creator_id AND earner.asset = 'DIAMOND' AND earner.append_only_balance
      JOIN wallet_ledgeraccount consumed
        ON consumed.code = 'coins_consumed' AND consumed.asset = 'COIN' AND consumed.append_only_balance
      JOIN wallet_ledgeraccount issued
        ON issued.code = 'diamonds_issued' AND issued.asset = 'DIAMOND' AND issued.append_only_balance
       AND issued.kind = 'system'
     WHERE stream.id = p_stream AND stream.ended_at IS NULL AND stream.creator_id <> p_sender
       AND NOT EXISTS (SELECT 1 FROM gifting_giftevent earlier
                        WHERE earlier.sender_id = p_sender AND earlier.idempotency_key = p_key)
       AND NOT EXISTS (SELECT 1 FROM wallet_walletfreeze frozen WHERE frozen.user_id = p_sender)
       AND NOT EXISTS (SELECT 1 FROM wallet_coinreceivable owed
                        WHERE owed.user_id = p_sender AND owed.settled_at IS NULL)
       AND NOT EXISTS (SELECT 1 FROM wallet_spendingcontrols controls WHERE controls.user_id = p_sender);
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF ctx.coin_cost * p_quantity <= 0 OR ctx.payer_balance < ctx.coin_cost * p_quantity THEN
        RETURN;
    END IF;
    INSERT INTO wallet_ledgertransaction (idempotency_key, kind, memo, metadata, created_at)
    VALUES (p_ledger_key, 'gift', p_quantity || ' x ' || ctx.name,
            jsonb_build_object('stream', p_stream, 'gift', p_gift, 'quantity', p_quantity), p_now)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO sent_transaction_id;
    IF sent_transaction_id IS NULL THEN
        RETURN;
    END IF;
    sent_coins := ctx.coin_cost * p_quantity;
    sent_diamonds := sent_coins * p_diamonds_per_coin;
    UPDATE wallet_ledgeraccount SET balance = balance - sent_coins
     WHERE id = ctx.payer_id AND balance >= sent_coins
    RETURNING balance INTO sent_balance;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'gift fast path: the coins went meanwhile' USING ERRCODE = '{FAST_PATH_LOST_RACE}';
    END IF;
    INSERT INTO wallet_ledgerentry (transaction_id, account_id, asset, amount, created_at)
    VALUES (sent_transaction_id, ctx.payer_id, 'COIN', -sent_coins, p_now),
           (sent_transaction_id, ctx.consumed_id, 'COIN', sent_coins, p_now),
           (sent_transaction_id, ctx.issued_id, 'DIAMOND', -sent_diamonds, p_now),
           (sent_transaction_id, ctx.earner_id, 'DIAMOND', sent_diamonds, p_now);
    INSERT INTO gifting_giftevent (stream_id, sender_id, creator_id, gift_id, quantity, coins, diamonds,
                                   is_anonymous, message, idempotency_key, ledger_transaction_id, created_at)
    VALUES (p_stream, p_sender, ctx.creator_id, p_gift, p_quantity, sent_coins, sent_diamonds,
            p_anonymous, p_message, p_key, sent_transaction_id, p_now)
    ON CONFLICT (sender_id, idempotency_key) DO NOTHING
    RETURNING id INTO sent_event_id;
    IF sent_event_id IS NULL THEN
        RAISE EXCEPTION 'gift fast path: the same request landed meanwhile' USING ERRCODE = '{FAST_PATH_LOST_RACE}';
    END IF;
    sent_creator_id := ctx.creator_id;
    sent_gift_name := ctx.name;
    sent_gift_artwork := ctx.artwork;
    sent_gift_tier := ctx.tier;
END
$$;
"""

GIFT_SEND_REVERSE_SQL = """
DROP FUNCTION gifting_gift_send(
    bigint, integer, text, bigint, bigint, integer, text, text, boolean, text, timestamptz, integer, integer
);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("gifting", "0009_moderation_chat_settings"),
        ("wallet", "0014_merge_ledger"),
    ]

    operations = [migrations.RunSQL(GIFT_SEND_SQL, GIFT_SEND_REVERSE_SQL)]
