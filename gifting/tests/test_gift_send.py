"""Sending a gift: the charge and the credit, every rule that can refuse it, and retries."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coinsite.accounts.tests.factories import make_user
from gifting.models import GiftEvent, GiftingPreferences, GiftingSettings, LiveStream
from gifting.services import (
    GiftNeedsConfirmation,
    GiftNotAllowed,
    IdempotencyKeyReused,
    InvalidGiftRequest,
    NotEnoughCoins,
    gift_send,
    stream_end,
    stream_start,
)
from gifting.tests.support import ensure_countries, fund, make_gift, snapshot
from wallet.audit import ledger_audit_run
from wallet.ledger import account_for_user, system_account, user_balance
from wallet.models import AppendOnlyError, Asset, LedgerEntry, SpendingControls, SystemAccount
from wallet.spending import self_exclusion_start, spending_limits_set

pytestmark = pytest.mark.django_db

COIN, DIAMOND = Asset.COIN, Asset.DIAMOND


def send(sender, stream, gift, *, quantity=1, key="req-1", anonymous=False, confirmed=True):
    return gift_send(
        sender=sender,
        stream_id=stream.pk,
        gift_id=gift.pk,
        quantity=quantity,
        idempotency_key=key,
        anonymous=anonymous,
        confirmed=confirmed,
    )


# --- Success --------------------------------------------------------------------------------------


def test_gift_debits_coins_credits_diamonds_one_to_one_and_records_the_event(alice, bob, stream, coffee):
    # Given Alice has 1,000 coins
    fund(alice, 1_000)

    # When she sends 3 coffees (30 coins each) on Bob's stream
    event = send(alice, stream, coffee, quantity=3, key="k-1")

    # Then 90 coins leave her wallet and Bob earns 90 diamonds
    assert user_balance(alice, COIN) == 910
    assert user_balance(bob, DIAMOND) == 90
    event.refresh_from_db()
    assert (event.stream_id, event.sender_id, event.creator_id, event.gift_id) == (
        stream.pk,
        alice.pk,
        bob.pk,
        coffee.pk,
    )
    assert (event.quantity, event.coins, event.diamonds, event.is_anonymous) == (3, 90, 90, False)
    assert event.idempotency_key == "k-1"
    # And one balanced ledger transaction explains it
    ledger_transaction = event.ledger_transaction
    assert ledger_transaction.kind == "gift"
    assert ledger_transaction.idempotency_key == f"gift:{alice.pk}:k-1"
    assert sorted(
        LedgerEntry.objects.filter(transaction=ledger_transaction).values_list("account_id", "amount")
    ) == sorted(
        [
            (account_for_user(alice, COIN).pk, -90),
            (system_account(SystemAccount.COINS_CONSUMED).pk, 90),
            (system_account(SystemAccount.DIAMONDS_ISSUED).pk, -90),
            (account_for_user(bob, DIAMOND).pk, 90),
        ]
    )
    assert ledger_audit_run().ok


def test_anonymous_gift_is_recorded_as_anonymous(alice, stream, coffee):
    fund(alice, 100)

    event = send(alice, stream, coffee, anonymous=True)

    assert GiftEvent.objects.get(pk=event.pk).is_anonymous is True


def test_the_exact_balance_is_enough(alice, bob, stream, coffee):
    fund(alice, 60)

    send(alice, stream, coffee, quantity=2)

    assert user_balance(alice, COIN) == 0
    assert user_balance(bob, DIAMOND) == 60


def test_large_quantity_of_the_most_expensive_gift(alice, bob, stream):
    universe = make_gift(slug="test-universe", coin_cost=44_999, tier="epic")
    fund(alice, 44_999 * 99)

    event = send(alice, stream, universe, quantity=99)

    assert event.coins == 4_454_901
    assert user_balance(alice, COIN) == 0
    assert user_balance(bob, DIAMOND) == 4_454_901


def test_creators_can_gift_other_creators(bob, stream, coffee):
    dana = make_user(email="dana@example.com", display_name="Dana", is_creator=True)
    fund(dana, 30)

    send(dana, stream, coffee)

    assert user_balance(dana, COIN) == 0
    assert user_balance(bob, DIAMOND) == 30


def test_gift_counts_against_the_daily_budget(alice, stream, coffee):
    # Given a daily budget of 100 coins
    fund(alice, 1_000)
    spending_limits_set(user=alice, daily_limit=100, monthly_limit=None)
    send(alice, stream, coffee, quantity=3, key="first")
    before = snapshot()

    # When the next gift would go past it
    with pytest.raises(GiftNotAllowed) as error:
        send(alice, stream, coffee, quantity=1, key="second")

    # Then it is refused, naming the budget, and nothing changed
    assert error.value.code == "spending_daily"
    assert "daily budget of 100 coins" in str(error.value)
    assert "10 coins left" in str(error.value)
    assert snapshot() == before


# --- Rules ------------------------------------------------------------------------------------------


def _minor():
    today = timezone.localdate()
    return make_user(email="teen@example.com", birth_date=today.replace(year=today.year - 17))


def _no_birth_date():
    return make_user(email="nodate@example.com", birth_date=None)


def _in_country(code):
    return lambda: make_user(email=f"viewer-{code.lower()}@example.com", country=code)


@pytest.mark.parametrize(
    ("make_sender", "code"),
    [
        (_minor, "age"),
        (_no_birth_date, "age_unknown"),
        (_in_country("CN"), "country"),  # gifting switched off there
        (_in_country("NZ"), "country"),  # not a Coinsite country (no wallet.Country row)
    ],
)
def test_sender_rules_refuse_and_change_nothing(stream, coffee, make_sender, code):
    sender = make_sender()
    fund(sender, 1_000)
    before = snapshot()

    with pytest.raises(GiftNotAllowed) as error:
        send(sender, stream, coffee)

    assert error.value.code == code
    assert snapshot() == before


def test_someone_turning_eighteen_today_may_gift(stream, coffee):
    today = timezone.localdate()
    sender = make_user(email="birthday@example.com", birth_date=today.replace(year=today.year - 18))
    fund(sender, 30)

    send(sender, stream, coffee)

    assert user_balance(sender, COIN) == 0


def test_self_excluded_viewer_cannot_gift(alice, stream, coffee):
    fund(alice, 1_000)
    self_exclusion_start(user=alice, period="24h")
    before = snapshot()

    with pytest.raises(GiftNotAllowed) as error:
        send(alice, stream, coffee)

    assert error.value.code == "spending_excluded"
    assert "cannot be lifted early" in str(error.value)
    assert snapshot() == before


def test_monthly_budget_refuses_a_gift_beyond_it(alice, stream, coffee):
    fund(alice, 1_000)
    spending_limits_set(user=alice, daily_limit=None, monthly_limit=50)
    before = snapshot()

    with pytest.raises(GiftNotAllowed) as error:
        send(alice, stream, coffee, quantity=2)

    assert error.value.code == "spending_monthly"
    assert snapshot() == before


def test_inactive_gift_is_refused(alice, stream):
    retired = make_gift(slug="test-retired", coin_cost=10, is_active=False)
    fund(alice, 1_000)
    before = snapshot()

    with pytest.raises(GiftNotAllowed) as error:
        send(alice, stream, retired)

    assert error.value.code == "gift_unavailable"
    assert snapshot() == before


def test_unknown_gift_is_refused(alice, stream):
    fund(alice, 1_000)
    before = snapshot()

    with pytest.raises(GiftNotAllowed) as error:
        gift_send(sender=alice, stream_id=stream.pk, gift_id=999_999, quantity=1, idempotency_key="k")

    assert error.value.code == "gift_unavailable"
    assert snapshot() == before


def test_gift_not_offered_in_the_senders_country_is_refused(alice, stream):
    sakura = make_gift(slug="test-sakura", coin_cost=88, countries=["JP"])
    fund(alice, 1_000)
    before = snapshot()

    with pytest.raises(GiftNotAllowed) as error:
        send(alice, stream, sakura)

    assert error.value.code == "gift_not_offered"
    assert snapshot() == before


def test_regional_gift_can_be_sent_where_it_is_offered(stream):
    sakura = make_gift(slug="test-sakura", coin_cost=88, countries=["JP"])
    yuki = make_user(email="yuki@example.com", country="JP")
    fund(yuki, 88)

    send(yuki, stream, sakura)

    assert user_balance(yuki, COIN) == 0


def test_ended_stream_is_refused(alice, bob, stream, coffee):
    fund(alice, 1_000)
    stream_end(stream=stream, creator=bob)
    before = snapshot()

    with pytest.raises(GiftNotAllowed) as error:
        send(alice, stream, coffee)

    assert error.value.code == "stream_ended"
    assert snapshot() == before


def test_unknown_stream_is_refused(alice, coffee, countries):
    fund(alice, 1_000)
    before = snapshot()

    with pytest.raises(GiftNotAllowed) as error:
        gift_send(sender=alice, stream_id=999_999, gift_id=coffee.pk, quantity=1, idempotency_key="k")

    assert error.value.code == "stream_ended"
    assert snapshot() == before


def test_creator_cannot_gift_their_own_stream(bob, stream, coffee):
    fund(bob, 1_000)
    before = snapshot()

    with pytest.raises(GiftNotAllowed) as error:
        send(bob, stream, coffee)

    assert error.value.code == "self_gift"
    assert snapshot() == before


def test_stream_of_someone_no_longer_a_creator_is_refused(alice, bob, stream, coffee):
    fund(alice, 1_000)
    bob.is_creator = False
    bob.save(update_fields=["is_creator"])
    before = snapshot()

    with pytest.raises(GiftNotAllowed) as error:
        send(alice, stream, coffee)

    assert error.value.code == "creator_unavailable"
    assert snapshot() == before


@pytest.mark.parametrize("quantity", [0, -1, 100, True, "3", 2.0, None])
def test_bad_quantity_is_refused(alice, stream, coffee, quantity):
    fund(alice, 1_000)
    before = snapshot()

    with pytest.raises(InvalidGiftRequest, match="quantity from 1 to 99"):
        send(alice, stream, coffee, quantity=quantity)

    assert snapshot() == before


@pytest.mark.parametrize("key", ["", "   ", None, "x" * 101, 42])
def test_missing_or_bad_idempotency_key_is_refused(alice, stream, coffee, key):
    fund(alice, 1_000)
    before = snapshot()

    with pytest.raises(InvalidGiftRequest):
        send(alice, stream, coffee, key=key)

    assert snapshot() == before


def test_ids_must_be_whole_numbers(alice, stream, coffee):
    with pytest.raises(InvalidGiftRequest):
        gift_send(sender=alice, stream_id=str(stream.pk), gift_id=coffee.pk, quantity=1, idempotency_key="k")


# --- Not enough coins -----------------------------------------------------------------------------


def test_not_enough_coins_reports_the_exact_shortfall_and_changes_nothing(alice, stream, coffee):
    # Given Alice has 50 coins
    fund(alice, 50)
    before = snapshot()

    # When she tries to send 3 coffees (90 coins)
    with pytest.raises(NotEnoughCoins) as error:
        send(alice, stream, coffee, quantity=3)

    # Then she is told she is 40 coins short, and nothing changed
    assert (error.value.shortfall, error.value.balance, error.value.cost) == (40, 50, 90)
    assert str(error.value) == "This gift costs 90 coins and you have 50: top up 40 more coins to send it."
    assert snapshot() == before


def test_a_viewer_without_a_wallet_is_short_by_the_whole_price(alice, stream, coffee):
    before = snapshot()

    with pytest.raises(NotEnoughCoins) as error:
        send(alice, stream, coffee, quantity=2)

    assert error.value.shortfall == 60
    assert snapshot() == before


def test_rules_are_checked_before_the_balance(stream, coffee):
    teen = _minor()

    with pytest.raises(GiftNotAllowed):
        send(teen, stream, coffee)


# --- Idempotency ------------------------------------------------------------------------------------


def test_same_key_twice_charges_once_and_returns_the_first_event(alice, bob, stream, coffee):
    fund(alice, 1_000)
    first = send(alice, stream, coffee, quantity=2, key="retry-me")
    after_first = snapshot()

    again = send(alice, stream, coffee, quantity=2, key="retry-me")

    assert again.pk == first.pk
    assert snapshot() == after_first
    assert user_balance(alice, COIN) == 940
    assert user_balance(bob, DIAMOND) == 60


def test_a_retry_still_returns_the_event_after_the_stream_ended(alice, bob, stream, coffee):
    fund(alice, 1_000)
    first = send(alice, stream, coffee, key="late-retry")
    stream_end(stream=stream, creator=bob)

    assert send(alice, stream, coffee, key="late-retry").pk == first.pk
    assert user_balance(alice, COIN) == 970


def test_a_retry_is_not_blocked_by_the_budget_it_used_up(alice, stream, coffee):
    fund(alice, 1_000)
    spending_limits_set(user=alice, daily_limit=30, monthly_limit=None)
    first = send(alice, stream, coffee, key="budget-retry")

    assert send(alice, stream, coffee, key="budget-retry").pk == first.pk
    assert user_balance(alice, COIN) == 970


@pytest.mark.parametrize("change", [{"quantity": 2}, {"anonymous": True}, {"gift": "other"}])
def test_same_key_for_a_different_gift_is_refused(alice, stream, coffee, change):
    fund(alice, 1_000)
    send(alice, stream, coffee, key="one-use")
    before = snapshot()
    gift = make_gift(slug="test-tea", coin_cost=30) if change.get("gift") else coffee

    with pytest.raises(IdempotencyKeyReused):
        send(
            alice,
            stream,
            gift,
            key="one-use",
            quantity=change.get("quantity", 1),
            anonymous=change.get("anonymous", False),
        )

    assert snapshot() == before


def test_keys_belong_to_their_sender(alice, stream, coffee):
    erin = make_user(email="erin@example.com")
    fund(alice, 30)
    fund(erin, 30)

    first = send(alice, stream, coffee, key="same")
    second = send(erin, stream, coffee, key="same")

    assert first.pk != second.pk
    assert user_balance(alice, COIN) == user_balance(erin, COIN) == 0


# --- Records ------------------------------------------------------------------------------------------


def test_the_creators_first_gift_opens_their_diamond_wallet(alice, bob, stream, coffee):
    fund(alice, 30)
    assert user_balance(bob, DIAMOND) == 0

    send(alice, stream, coffee)

    assert user_balance(bob, DIAMOND) == 30
    assert account_for_user(bob, DIAMOND).append_only_balance


def test_gift_events_are_append_only(alice, stream, coffee):
    fund(alice, 30)
    event = send(alice, stream, coffee)

    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        GiftEvent.objects.filter(pk=event.pk).update(quantity=5)
    # The database refuses too, whatever code path tries.
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE gifting_giftevent SET quantity = 5 WHERE id = %s", [event.pk])
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM gifting_giftevent WHERE id = %s", [event.pk])


def test_only_one_live_stream_per_creator_is_enforced_by_the_database(bob, stream):
    with pytest.raises(IntegrityError), transaction.atomic():
        LiveStream.objects.create(creator=bob, title="Second")


# --- Large gifts ask for confirmation ------------------------------------------------------------------


@pytest.fixture(params=[True, False], ids=["fast path", "general path"])
def both_paths(request, settings):
    settings.GIFT_SEND_FAST_PATH = request.param


def test_an_unconfirmed_gift_above_the_threshold_asks_and_writes_nothing(both_paths, alice, stream, coffee):
    _staff_threshold(50)
    fund(alice, 100)
    before = snapshot()

    with pytest.raises(GiftNeedsConfirmation) as asked:
        send(alice, stream, coffee, quantity=2, confirmed=False)

    assert (asked.value.coins, asked.value.threshold, asked.value.quantity) == (60, 50, 2)
    assert asked.value.gift_name == coffee.name
    assert asked.value.code == "confirmation_required"
    assert str(asked.value) == "Gifts of more than 50 coins need your confirmation: this one costs 60."
    assert snapshot() == before
    assert send(alice, stream, coffee, quantity=2, confirmed=True).coins == 60  # confirmed: sent


def test_the_viewers_own_lower_threshold_asks_first_and_the_threshold_itself_does_not(
    both_paths, alice, stream, coffee
):
    _staff_threshold(5_000)
    GiftingPreferences.objects.create(user=alice, confirm_above_coins=30)
    fund(alice, 100)

    sent = send(alice, stream, coffee, quantity=1, key="at-threshold", confirmed=False)  # 30 coins: not above 30
    with pytest.raises(GiftNeedsConfirmation) as asked:
        send(alice, stream, coffee, quantity=2, key="above", confirmed=False)

    assert sent.coins == 30
    assert (asked.value.coins, asked.value.threshold) == (60, 30)
    assert user_balance(alice, COIN) == 70


def test_a_retry_of_a_sent_gift_is_returned_without_asking(both_paths, alice, stream, coffee):
    _staff_threshold(10)
    fund(alice, 100)
    first = send(alice, stream, coffee, key="big", confirmed=True)

    again = send(alice, stream, coffee, key="big", confirmed=False)

    assert again.pk == first.pk
    assert user_balance(alice, COIN) == 70


def test_an_ended_stream_is_refused_before_any_confirmation(both_paths, alice, bob, stream, coffee):
    _staff_threshold(10)
    fund(alice, 100)
    stream_end(stream=stream, creator=bob)

    with pytest.raises(GiftNotAllowed) as refused:
        send(alice, stream, coffee, confirmed=False)

    assert refused.value.code == "stream_ended"


def _staff_threshold(coins: int) -> None:
    staff = GiftingSettings.load()
    staff.gift_confirm_above_coins = coins
    staff.save()


# --- Round trips ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("controls", "budget", "confirmed", "round_trips"),
    [(False, False, True, 1), (False, False, False, 1), (True, False, True, 7), (True, True, True, 8)],
)
def test_gift_send_round_trips(controls, budget, confirmed, round_trips):
    """Every round trip of the hot path, outside any test transaction.

    The common case is one statement in autocommit (`gifting_gift_send`: rules, posting and event).
    An unconfirmed gift under the confirmation threshold (a tap) is the same one statement, which reads the
    viewer's own threshold too (the staff's is the process's copy). A viewer with spending controls is not the
    common case: that statement writes nothing, then the general path runs BEGIN, the context read, the
    spending-controls lock (+1 budget sum when they set a budget), the posting (`ledger_spend`), the event
    INSERT and COMMIT. No savepoint.
    """
    ensure_countries()
    viewer = make_user(email="fast@example.com", password=None)
    creator = make_user(email="hot@example.com", password=None, is_creator=True)
    stream = stream_start(creator=creator, title="Hot stream")
    gift = make_gift(slug="test-fast", coin_cost=5)
    fund(viewer, 100)
    if controls:
        SpendingControls.objects.create(user=viewer, daily_limit=1_000 if budget else None)
    gift_send(
        sender=viewer, stream_id=stream.pk, gift_id=gift.pk, quantity=1, idempotency_key="warm-up", confirmed=confirmed
    )

    with CaptureQueriesContext(connection) as queries:
        gift_send(
            sender=viewer,
            stream_id=stream.pk,
            gift_id=gift.pk,
            quantity=1,
            idempotency_key="measured",
            confirmed=confirmed,
        )

    assert len(queries) == round_trips, "\n".join(query["sql"][:100] for query in queries)
    assert user_balance(viewer, COIN) == 90


def test_gift_timestamp_matches_its_ledger_transaction(alice, stream, coffee):
    fund(alice, 30)
    event = send(alice, stream, coffee)

    event.refresh_from_db()
    assert event.created_at == event.ledger_transaction.created_at
