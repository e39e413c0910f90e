"""The one-statement gift (`gifting_gift_send`, migration 0010) and the general path agree on every case.

Each Hypothesis example builds the same small world twice (a sender, a creator live or not, a gift, the
sender's country, age, coins, freeze and spending controls), sends the same gift in each, once with the
fast path on and once with it off, and compares what the sender was told and everything written: the
event, the ledger transaction, its entries by role, and the balances.
"""

import datetime
import importlib
import os
import threading
import time
import uuid

import pytest
from django.db import connection, connections, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from coinsite.accounts.tests.factories import make_user
from gifting.models import GiftEvent, GiftingPreferences, GiftingSettings
from gifting.services import (
    FAST_PATH_LOST_RACE,
    GIFT_EVENT_ROW,
    GiftError,
    GiftNeedsConfirmation,
    NotEnoughCoins,
    gift_send,
    stream_end,
    stream_start,
)
from gifting.tests.support import ensure_countries, fund, make_gift
from wallet.audit import ledger_audit_run
from wallet.ledger import account_for_user, ledger_spend, system_account, user_balance
from wallet.models import (
    Asset,
    Country,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    SpendingControls,
    SystemAccount,
    WalletFreeze,
)

COIN, DIAMOND = Asset.COIN, Asset.DIAMOND
# 120 examples a CI run (a fresh seed each run); `make test-deep` runs 1,000 before a change to the gift path.
FAST_PATH_EXAMPLES = int(os.environ.get("GIFT_FAST_PATH_EXAMPLES", "120"))
rarely = st.sampled_from([False, False, False, True])  # most examples should reach the posting

scenarios = st.fixed_dictionaries(
    {
        "funds": st.integers(0, 150),
        "coin_cost": st.integers(1, 40),
        "quantity": st.integers(1, 4),
        "stream_ended": rarely,
        "own_stream": rarely,
        "creator_retired": rarely,
        "gift_inactive": rarely,
        "gift_countries": st.sampled_from(["any", "any", "mine", "other"]),
        "country": st.sampled_from(["US", "US", "KR", "CN", ""]),
        "age": st.sampled_from([40, 40, 19, 18, 17, None]),
        "frozen": rarely,
        "controls": st.sampled_from([None, None, None, "no limit", "daily 50"]),
        "creator_wallet": st.booleans(),
        "retry": st.sampled_from([None, None, "same", "other quantity"]),
        "anonymous": st.booleans(),
        "message": st.sampled_from(["", "gg!"]),
        # Large-gift confirmation: the staff threshold, the sender's own, and whether they confirmed.
        "staff_threshold": st.sampled_from([5_000, 5_000, 50]),
        "own_threshold": st.sampled_from([None, None, 20, 100]),
        "confirmed": st.sampled_from([True, False, False]),
    }
)


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=FAST_PATH_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scenario=scenarios)
def test_the_fast_path_and_the_general_path_agree(scenario):
    ensure_countries()
    korea = {"currency": "KRW", "gifting_enabled": True, "minimum_age": 19}
    Country.objects.update_or_create(code="KR", defaults=korea)

    with override_settings(GIFT_SEND_FAST_PATH=True):  # not the settings fixture: it stacks an override per set
        fast = _run(scenario)
    with override_settings(GIFT_SEND_FAST_PATH=False):
        general = _run(scenario)

    assert fast["told"] == general["told"]
    assert fast["written"] == general["written"]
    # The common case: no spending controls, and not the creator's first gift ever (their wallet exists).
    if fast["told"][0][0] == "sent" and scenario["controls"] is None and scenario["creator_wallet"]:
        assert not fast["general_path_ran"], f"the common case went the long way: {scenario}"


@pytest.mark.django_db
def test_the_ledger_stays_balanced_after_fast_gifts(alice, stream, coffee):
    fund(alice, 100)
    for n in range(3):
        gift_send(sender=alice, stream_id=stream.pk, gift_id=coffee.pk, quantity=1, idempotency_key=f"audit-{n}")

    assert user_balance(alice, COIN) == 10
    assert ledger_audit_run().ok


def test_the_fast_paths_event_row_is_in_the_models_field_order():
    assert tuple(field.attname for field in GiftEvent._meta.concrete_fields) == GIFT_EVENT_ROW


@pytest.mark.django_db
def test_the_fast_path_returns_the_event_exactly_as_stored(alice, stream, coffee):
    fund(alice, 100)
    account_for_user(stream.creator, DIAMOND)  # a creator's first gift ever goes the general path

    event = gift_send(
        sender=alice, stream_id=stream.pk, gift_id=coffee.pk, quantity=2, idempotency_key="as-stored", message="gg!"
    )

    stored = GiftEvent.objects.get()
    assert {name: getattr(event, name) for name in GIFT_EVENT_ROW} == {
        name: getattr(stored, name) for name in GIFT_EVENT_ROW
    }
    assert (event.quantity, event.coins, event.message, event.sender_coins_after) == (2, 60, "gg!", 40)
    assert (event._state.adding, event._state.db) == (False, "default")


def test_the_lost_race_code_is_the_one_the_function_raises():
    migration = importlib.import_module("gifting.migrations.0010_gift_send_function")
    assert migration.FAST_PATH_LOST_RACE == FAST_PATH_LOST_RACE
    assert f"ERRCODE = '{FAST_PATH_LOST_RACE}'" in migration.GIFT_SEND_SQL
    current = importlib.import_module("gifting.migrations.0011_gift_send_confirmation")  # 0010's, plus confirmation
    assert f"ERRCODE = '{FAST_PATH_LOST_RACE}'" in current.GIFT_SEND_SQL


@pytest.mark.django_db(transaction=True)
def test_coins_spent_while_the_gift_waits_are_refused_with_the_real_shortfall_and_nothing_written():
    """The fast path read 30 coins; another spend holds the wallet and takes 25 of them before the gift's
    debit; the gift's statement is rolled back (key claim included) and the general path refuses it."""
    ensure_countries()
    for code in (SystemAccount.COINS_CONSUMED, SystemAccount.DIAMONDS_ISSUED):
        system_account(code)
    creator = make_user(email="racer@example.com", password=None, is_creator=True)
    account_for_user(creator, DIAMOND)
    viewer = make_user(email="spender@example.com", password=None)
    stream = stream_start(creator=creator, title="Race")
    gift = make_gift(slug="test-race", coin_cost=10)
    fund(viewer, 30)
    holding, release, outcome = threading.Event(), threading.Event(), {}

    def other_spend() -> None:
        try:
            with transaction.atomic():
                ledger_spend(
                    idempotency_key="other-spend",
                    kind="gift",
                    payer=account_for_user(viewer, COIN),
                    lines=[
                        (account_for_user(viewer, COIN), COIN, -25),
                        (system_account(SystemAccount.COINS_CONSUMED), COIN, 25),
                    ],
                )
                holding.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    def the_gift() -> None:
        try:
            gift_send(sender=viewer, stream_id=stream.pk, gift_id=gift.pk, quantity=1, idempotency_key="racing")
        except GiftError as error:
            outcome["error"] = error
        finally:
            connections.close_all()

    spender = threading.Thread(target=other_spend)
    spender.start()
    assert holding.wait(timeout=30)
    gifter = threading.Thread(target=the_gift)
    gifter.start()
    _wait_for_a_lock_wait()
    release.set()
    spender.join(timeout=30)
    gifter.join(timeout=30)

    assert isinstance(outcome.get("error"), NotEnoughCoins)
    assert (outcome["error"].balance, outcome["error"].shortfall) == (5, 5)
    assert user_balance(viewer, COIN) == 5
    assert not GiftEvent.objects.exists()
    assert not LedgerTransaction.objects.filter(idempotency_key__startswith=f"gift:{viewer.pk}:").exists()
    assert ledger_audit_run().ok


def _wait_for_a_lock_wait() -> None:
    """Until some backend waits on a row lock (the gift's debit waiting for the other spend)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)
    raise AssertionError("the gift never waited for the wallet's lock")


# --- One world, one gift -------------------------------------------------------------------------


def _run(scenario: dict) -> dict:
    tag = uuid.uuid4().hex[:10]
    today = timezone.localdate()
    country = scenario["country"]
    creator = make_user(email=f"creator-{tag}@example.com", password=None, is_creator=True, country=country)
    stream = stream_start(creator=creator, title="Live")
    if scenario["stream_ended"]:
        stream_end(stream=stream, creator=creator)
    if scenario["creator_retired"]:
        type(creator).objects.filter(pk=creator.pk).update(is_creator=False)
    if scenario["creator_wallet"]:
        account_for_user(creator, DIAMOND)
    if scenario["own_stream"]:
        sender = creator
    else:
        age = scenario["age"]
        birth = None if age is None else _birthday(today, years=age)
        sender = make_user(email=f"sender-{tag}@example.com", password=None, birth_date=birth, country=country)
    countries = {"any": [], "mine": [country or "US"], "other": ["JP"]}[scenario["gift_countries"]]
    gift = make_gift(
        slug=f"g-{tag}",
        name="Star",
        coin_cost=scenario["coin_cost"],
        is_active=not scenario["gift_inactive"],
        countries=countries,
    )
    if scenario["funds"]:
        fund(sender, scenario["funds"])
    if scenario["frozen"]:
        WalletFreeze.objects.create(user=sender, reason="Checking a payment.", frozen_by=creator)
    if scenario["controls"]:
        SpendingControls.objects.create(user=sender, daily_limit=50 if scenario["controls"] == "daily 50" else None)
    staff = GiftingSettings.load()
    staff.gift_confirm_above_coins = scenario["staff_threshold"]
    staff.save()
    if scenario["own_threshold"] is not None:
        GiftingPreferences.objects.create(user=sender, confirm_above_coins=scenario["own_threshold"])

    roles = {"stream": stream.pk, "gift": gift.pk, "sender": sender.pk, "creator": creator.pk}
    attempts = [scenario["quantity"]]
    if scenario["retry"]:
        attempts.append(scenario["quantity"] + (1 if scenario["retry"] == "other quantity" else 0))
    with CaptureQueriesContext(connection) as first:
        told = [_attempt(sender, stream, gift, attempts[0], scenario, roles)]
    told += [_attempt(sender, stream, gift, quantity, scenario, roles) for quantity in attempts[1:]]
    return {
        "told": told,
        "written": _written(sender, creator, roles),
        "general_path_ran": any("AS anchor" in query["sql"] for query in first.captured_queries),
    }


def _attempt(sender, stream, gift, quantity: int, scenario: dict, roles: dict) -> tuple:
    try:
        event = gift_send(
            sender=sender,
            stream_id=stream.pk,
            gift_id=gift.pk,
            quantity=quantity,
            idempotency_key="tap-1",
            anonymous=scenario["anonymous"],
            message=scenario["message"],
            confirmed=scenario["confirmed"],
        )
    except NotEnoughCoins as refused:
        return ("refused", refused.code, str(refused), refused.balance, refused.shortfall, refused.cost)
    except GiftNeedsConfirmation as asked:
        return ("asked", asked.code, str(asked), asked.coins, asked.threshold, asked.quantity, asked.gift_name)
    except GiftError as refused:
        return ("refused", refused.code, str(refused))
    return (
        "sent",
        event.stream_id == roles["stream"],
        event.creator_id == roles["creator"],
        event.gift_id == roles["gift"],
        event.quantity,
        event.coins,
        event.diamonds,
        event.is_anonymous,
        event.message,
        event.idempotency_key,
    )


def _written(sender, creator, roles: dict) -> dict:
    """Everything the attempts wrote, with ids replaced by what they are in this world."""
    owners = {sender.pk: "sender", creator.pk: "creator"}
    accounts = {account.pk: f"{owners[account.user_id]} {account.asset}" for account in _accounts(sender, creator)}
    accounts.update({system_account(code).pk: code for code in SystemAccount.values})
    transactions = LedgerTransaction.objects.filter(idempotency_key__startswith=f"gift:{sender.pk}:")
    events = list(GiftEvent.objects.filter(sender=sender).order_by("id"))
    return {
        "transactions": [
            (
                row.kind,
                row.memo,
                {key: value == roles[key] if key in roles else value for key, value in row.metadata.items()},
                sorted((accounts[account], asset, amount) for account, asset, amount in _entries(row)),
            )
            for row in transactions.order_by("id")
        ],
        "events": [
            (event.quantity, event.coins, event.diamonds, event.is_anonymous, event.message, event.idempotency_key)
            for event in events
        ],
        "event_times_match": [event.created_at == event.ledger_transaction.created_at for event in events],
        "sender_coins": user_balance(sender, COIN),
        "creator_diamonds": user_balance(creator, DIAMOND),
    }


def _accounts(*users) -> list[LedgerAccount]:
    return list(LedgerAccount.objects.filter(user__in=users))


def _entries(transaction_row: LedgerTransaction) -> list[tuple]:
    return list(LedgerEntry.objects.filter(transaction=transaction_row).values_list("account_id", "asset", "amount"))


def _birthday(today: datetime.date, *, years: int) -> datetime.date:
    """The birth date of someone who turns `years` today (28 February for a 29 February birthday)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["stream_id", "gift_id"])
def test_ids_past_bigint_are_refused_like_any_missing_row(alice, stream, coffee, field):
    fund(alice, 100)
    request = {"stream_id": stream.pk, "gift_id": coffee.pk, field: 2**63}

    with pytest.raises(GiftError):
        gift_send(sender=alice, quantity=1, idempotency_key="huge", **request)

    assert user_balance(alice, COIN) == 100
    assert not GiftEvent.objects.exists()
