"""The ledger service: the only code that writes ledger transactions, entries and balances.

Other apps call these functions; they never write `wallet.models` ledger rows themselves. A
line is `(account, asset, amount)`: a positive amount adds to the account's balance, a negative
one takes from it, and the lines of one transaction sum to zero per asset.

Concurrency (docs/design.md §4, §5). We use a conditional UPDATE rather than SELECT ... FOR NO KEY
UPDATE followed by an UPDATE: each account whose balance a posting must check is changed by one
statement, `balance = balance + x WHERE balance + x >= 0`, and those statements run in primary
key order. The row lock the UPDATE takes lasts until commit, PostgreSQL re-checks the condition
against the newest row version after waiting for a concurrent writer, and a fixed order means two
postings cannot deadlock. One round trip per account instead of two, and a debit contends only
with postings to the same wallet.

Append-only balances. Postings that need no check on an account with `append_only_balance`
(credits to creator diamond wallets, anything on system accounts) write nothing but the entry:
no balance row, no delta row, no foreign-key lock. So a creator receiving thousands of gifts at
once, and the system accounts every gift touches, are never a hot row. Such an account's balance
is its `balance` column (its entries up to id `rolled_up_through`) plus its later entries;
`ledger_rollup` folds them in periodically. The fold is fenced: it only folds entries up to an id
below which no transaction can still be writing (`_safe_fence`), so an entry that commits late is
never skipped. A debit from such an account (a payout) locks the row and checks the funds against
the column plus the pending entries; its own entry then waits for the roll-up like the credits.
"""

import datetime
import json
import re
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, F, OuterRef, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from coinsite.accounts.models import User
from coinsite.lib.prepared import prepared_cursor
from wallet.models import (
    AccountKind,
    Asset,
    LedgerAccount,
    LedgerEntry,
    LedgerRollupMark,
    LedgerTransaction,
    SystemAccount,
)

# Far above any real posting, far below BIGINT overflow even summed over MAX_LINES lines.
MAX_AMOUNT = 10**15
MAX_LINES = 1000
MAX_KEY_LENGTH = 200
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")

ISSUING_ACCOUNT = {Asset.COIN: SystemAccount.COINS_ISSUED, Asset.DIAMOND: SystemAccount.DIAMONDS_ISSUED}
CONSUMING_ACCOUNT = {Asset.COIN: SystemAccount.COINS_CONSUMED, Asset.DIAMOND: SystemAccount.DIAMONDS_REDEEMED}

Line = tuple[LedgerAccount, str, int]

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class CurrentBalance(TypedDict):
    current_balance: int  # the cached column plus the pending entries of an append-only account


class LedgerError(Exception):
    """Base class of every error the ledger service raises; nothing was written when it is raised."""


class InvalidPosting(LedgerError):
    """The request itself is malformed: missing key, unknown asset, too few lines, bad metadata."""


class InvalidAmount(InvalidPosting):
    """An amount is not a non-zero integer within ±MAX_AMOUNT (or not positive where it must be)."""


class AssetMismatch(InvalidPosting):
    """A line names an asset different from its account's asset."""


class UnbalancedTransaction(InvalidPosting):
    """The lines do not sum to zero for some asset."""


class IdempotencyConflict(LedgerError):
    """The idempotency key was already used for a posting with different content."""


class InsufficientFunds(LedgerError):
    """A user account would go below zero; `shortfall` is how much is missing."""

    def __init__(self, *, account_id: int, asset: str, available: int, requested: int) -> None:
        self.account_id = account_id
        self.asset = asset
        self.available = available
        self.requested = requested
        self.shortfall = requested - available
        super().__init__(
            f"Account {account_id} has {available} {asset} but {requested} were requested (short by {self.shortfall})."
        )


class Posting(NamedTuple):
    account: LedgerAccount
    asset: str
    amount: int


# --- Accounts -----------------------------------------------------------------------------------


def account_for_user(user: User, asset: str) -> LedgerAccount:
    """The user's wallet for `asset`, created on first use; only creators get a diamond wallet.

    Diamond wallets take credits append-only (see the module docstring), coin wallets do not:
    viewers' top-ups are rare and their debits need the funds check anyway.
    """
    asset = _known_asset(asset)
    if user is None or user.pk is None:
        raise InvalidPosting("A wallet needs a saved user.")
    existing = LedgerAccount.objects.filter(user=user, asset=asset).first()
    if existing is not None:
        return existing
    if asset == Asset.DIAMOND and not user.is_creator:
        raise LedgerError(f"User {user.pk} is not a creator; only creators hold diamonds.")
    account, _created = LedgerAccount.objects.get_or_create(
        user=user,
        asset=asset,
        defaults={"kind": AccountKind.USER, "append_only_balance": asset == Asset.DIAMOND},
    )
    return account


def system_account(code: str) -> LedgerAccount:
    """The system account with this code (see `SystemAccount`); migration 0002 creates them all."""
    try:
        system_code = SystemAccount(code)
    except ValueError:
        raise InvalidPosting(f"Unknown system account {code!r}.") from None
    account, _created = LedgerAccount.objects.get_or_create(
        code=system_code,
        defaults={"kind": AccountKind.SYSTEM, "asset": system_code.asset, "append_only_balance": True},
    )
    return account


def ledger_balance(account: LedgerAccount) -> int:
    """The account's balance now: the cached column plus entries not yet rolled up (one snapshot)."""
    return accounts_with_balance().filter(pk=account.pk).values_list("current_balance", flat=True).get()


def user_balance(user: User, asset: str) -> int:
    """The user's balance of `asset`, 0 when they have no wallet yet (creates nothing)."""
    asset = _known_asset(asset)
    balances = accounts_with_balance().filter(user=user, asset=asset).values_list("current_balance", flat=True)
    return next(iter(balances), 0)


# The user's account's day totals and the entries after the day totals' mark, as one snapshot: the totals and
# their mark move together in one transaction, so each entry is counted once, in a total or in the tail. The tail
# is found by entry id, then filtered by date: planned the other way round (the mark is unknown when the statement
# is planned), a busy creator's month of entries was read to find the few after the mark (286 ms for a million
# gifts); MATERIALIZED keeps the date filter out of the tail's scan.
_USER_ENTRIES_SQL = """
    WITH account AS (SELECT id FROM wallet_ledgeraccount WHERE user_id = %(user)s AND asset = %(asset)s),
         tail AS MATERIALIZED (
            SELECT e.transaction_id, e.amount, e.created_at FROM wallet_ledgerentry e
             WHERE e.account_id = (SELECT id FROM account)
               AND e.id > (SELECT COALESCE(MAX(day_totals_through), 0) FROM wallet_ledgerrollupmark)
         )
    SELECT d.kind, d.day, d.amount FROM wallet_ledgerdaytotal d
     WHERE d.account_id = (SELECT id FROM account) AND d.day >= %(first_day)s AND d.day < %(end_day)s
    UNION ALL
    SELECT t.kind, (tail.created_at AT TIME ZONE 'UTC')::date, tail.amount
      FROM tail JOIN wallet_ledgertransaction t ON t.id = tail.transaction_id
     WHERE tail.created_at >= %(start)s AND tail.created_at < %(end)s
"""


def _day_range_params(user: User | int, asset: str, first_day: datetime.date, end_day: datetime.date) -> dict[str, Any]:
    start, end = (datetime.datetime.combine(day, datetime.time.min, datetime.UTC) for day in (first_day, end_day))
    return {
        "user": user if isinstance(user, int) else user.pk,
        "asset": asset,
        "first_day": first_day,
        "end_day": end_day,
        "start": start,
        "end": end,
    }


def user_moves_by_kind(
    user: User | int, asset: str, *, first_day: datetime.date, end_day: datetime.date
) -> dict[str, int]:
    """The net change of the user's (a User, or its id) `asset` per transaction kind, from the start of `first_day`
    to the start of `end_day` (UTC days); kinds whose entries cancel out are left out. Reads day totals, not every
    entry."""
    asset = _known_asset(asset)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT kind, SUM(amount)::bigint FROM ({_USER_ENTRIES_SQL}) moves GROUP BY kind HAVING SUM(amount) <> 0",  # noqa: S608 (constant SQL)
            _day_range_params(user, asset, first_day, end_day),
        )
        return dict(cursor.fetchall())


def user_moves_in_periods(
    user: User, asset: str, *, kinds: Collection[str], periods: Sequence[tuple[datetime.date, datetime.date]]
) -> list[int]:
    """The net change of the user's `asset` by transactions of `kinds` in each period (first UTC day, end day
    exclusive), in one statement from day totals and the few entries after their mark, not every entry."""
    asset = _known_asset(asset)
    if not periods:
        return []
    sums = ", ".join(
        f"COALESCE(SUM(amount) FILTER (WHERE day >= %(first_{n})s AND day < %(end_{n})s), 0)::bigint"
        for n in range(len(periods))
    )
    params = _day_range_params(user, asset, min(first for first, _ in periods), max(end for _, end in periods))
    params["kinds"] = list(kinds)
    for n, (first, end) in enumerate(periods):
        params |= {f"first_{n}": first, f"end_{n}": end}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sums} FROM ({_USER_ENTRIES_SQL}) moves WHERE kind = ANY(%(kinds)s)", params)  # noqa: S608 (constant SQL)
        return list(cursor.fetchone())


_BALANCE_AND_MOVES_SQL = f"""
    SELECT kind, COALESCE(SUM(amount) FILTER (WHERE day < %(split_day)s), 0)::bigint,
           COALESCE(SUM(amount) FILTER (WHERE day >= %(split_day)s), 0)::bigint
      FROM ({_USER_ENTRIES_SQL}) moves GROUP BY kind
"""  # noqa: S608 (constant SQL)


def user_balance_and_moves(
    user: User, asset: str, *, first_day: datetime.date, end_day: datetime.date
) -> tuple[int, dict[str, int]]:
    """The user's balance of `asset` at the start of `first_day` and its net change per transaction kind from then
    to the start of `end_day` (UTC days), as `user_balance_on` and `user_moves_by_kind` read them, in one statement."""
    asset = _known_asset(asset)
    params = _day_range_params(user, asset, datetime.date.min, end_day) | {"split_day": first_day}
    with connection.cursor() as cursor:
        cursor.execute(_BALANCE_AND_MOVES_SQL, params)
        rows = cursor.fetchall()
    return sum(before for _, before, _ in rows), {kind: moved for kind, _, moved in rows if moved}


def user_balance_on(user: User, asset: str, day: datetime.date) -> int:
    """The user's balance of `asset` at the start of `day` (UTC), 0 before their first entry."""
    return sum(user_moves_by_kind(user, asset, first_day=datetime.date.min, end_day=day).values())


def account_balance_at(account: LedgerAccount, moment: datetime.datetime) -> int:
    """A user account's balance just before `moment`: its day totals up to that UTC day, then the day's own
    entries before `moment` (at most a day of them), so a busy account's history does not sum every entry."""
    if account.user_id is None:
        raise ValueError("Only user accounts have day totals.")
    day = moment.astimezone(datetime.UTC).date()
    before_day = sum(
        user_moves_by_kind(account.user_id, account.asset, first_day=datetime.date.min, end_day=day).values()
    )
    day_start = datetime.datetime.combine(day, datetime.time.min, datetime.UTC)
    same_day = LedgerEntry.objects.filter(account=account, created_at__gte=day_start, created_at__lt=moment)
    return before_day + (same_day.aggregate(total=Sum("amount"))["total"] or 0)


def accounts_with_balance(
    accounts: "QuerySet[LedgerAccount] | None" = None,
) -> "QuerySet[WithAnnotations[LedgerAccount, CurrentBalance]]":
    """Ledger accounts (all, or `accounts`) annotated with `current_balance`: the cached column plus, for
    append-only accounts, the entries after their roll-up mark, read in the same statement (one snapshot)."""
    pending = (
        LedgerEntry.objects.filter(account=OuterRef("pk"), id__gt=OuterRef("rolled_up_through"))
        .order_by()
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    accounts = LedgerAccount.objects.all() if accounts is None else accounts
    return accounts.annotate(
        current_balance=F("balance")
        + Case(
            When(append_only_balance=True, then=Coalesce(Subquery(pending), Value(0))),
            default=Value(0),
            output_field=BigIntegerField(),
        )
    )


# --- Posting ------------------------------------------------------------------------------------


def ledger_post(
    *,
    idempotency_key: str,
    kind: str,
    lines: Sequence[Line],
    memo: str = "",
    metadata: dict[str, Any] | None = None,
    durable: bool = False,
    posted_at: datetime.datetime | None = None,
    savepoint: bool = True,
) -> LedgerTransaction:
    """Post one balanced transaction exactly once: all of it or nothing, never a user balance below zero.

    The lines must sum to zero per asset; a key seen before returns the stored transaction and
    posts nothing if its content (kind and lines) is the same, and raises IdempotencyConflict if
    not. Safe to run concurrently with itself. Runs in `transaction.atomic()`, so callers such as
    a gift service call it inside their own atomic block; pass `durable=True` at the top level.
    Raises a LedgerError subclass, having written nothing, on bad input or insufficient funds.
    `posted_at` backdates the entries (demo data and imports only); it defaults to now. A caller
    whose whole transaction fails with any ledger error may pass `savepoint=False` to save the two
    round trips of a savepoint (the hot gift path does); then a LedgerError leaves the caller's
    transaction unusable, to be rolled back.
    """
    postings = _validated_postings(lines)
    metadata_json = _validated_header(idempotency_key=idempotency_key, kind=kind, memo=memo, metadata=metadata)
    with transaction.atomic(durable=durable, savepoint=savepoint):
        ledger_transaction = _insert_transaction(
            idempotency_key=idempotency_key,
            kind=kind,
            memo=memo,
            metadata=metadata or {},
            metadata_json=metadata_json,
            created_at=posted_at or timezone.now(),
        )
        if ledger_transaction is None:
            return _replayed_transaction(idempotency_key=idempotency_key, kind=kind, postings=postings)
        _apply_to_balances(postings)
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(
                    transaction=ledger_transaction,
                    account_id=posting.account.pk,
                    asset=posting.asset,
                    amount=posting.amount,
                    created_at=ledger_transaction.created_at,
                )
                for posting in postings
            ]
        )
    return ledger_transaction


def ledger_spend(
    *,
    idempotency_key: str,
    kind: str,
    payer: LedgerAccount,
    lines: Sequence[Line],
    memo: str = "",
    metadata: dict[str, Any] | None = None,
) -> LedgerTransaction:
    """`ledger_post` for the hot shape — one user wallet pays, every other line lands on an append-only
    account — in one prepared statement instead of four: claim the key, debit the payer if the funds are
    there, insert the entries (which are the append-only accounts' credits: see the module docstring).

    Same guarantees as `ledger_post` (balanced, exactly once, never below zero, replay returns the
    stored transaction or raises IdempotencyConflict). Runs in the caller's transaction without a
    savepoint: after a LedgerError the caller's transaction must be rolled back, as `gift_send`'s is.
    Falls back to `ledger_post` for any other shape.
    """
    postings = _validated_postings(lines)
    metadata_json = _validated_header(idempotency_key=idempotency_key, kind=kind, memo=memo, metadata=metadata)
    net: dict[int, int] = defaultdict(int)
    for posting in postings:
        net[posting.account.pk] += posting.amount
    others = [posting for posting in postings if posting.account.pk != payer.pk]
    if (
        payer.append_only_balance
        or payer.may_go_negative
        or net.get(payer.pk, 0) >= 0
        or not all(posting.account.append_only_balance for posting in others)
        or any(posting.amount < 0 and not posting.account.may_go_negative for posting in others)
    ):
        return ledger_post(
            idempotency_key=idempotency_key, kind=kind, lines=lines, memo=memo, metadata=metadata, savepoint=False
        )
    if not connection.in_atomic_block:
        raise InvalidPosting("ledger_spend runs inside the caller's transaction.")
    created_at = timezone.now()
    with prepared_cursor() as cursor:
        cursor.execute(
            _SPEND_SQL,
            {
                "key": idempotency_key,
                "kind": kind,
                "memo": memo,
                "metadata": metadata_json,
                "now": created_at,
                "payer": payer.pk,
                "cost": -net[payer.pk],
                "accounts": [posting.account.pk for posting in postings],
                "assets": [str(posting.asset) for posting in postings],
                "amounts": [posting.amount for posting in postings],
            },
        )
        transaction_id, debited, available = cursor.fetchone()
    if transaction_id is None:
        return _replayed_transaction(idempotency_key=idempotency_key, kind=kind, postings=postings)
    if not debited:
        raise InsufficientFunds(
            account_id=payer.pk, asset=payer.asset, available=available or 0, requested=-net[payer.pk]
        )
    ledger_transaction = LedgerTransaction(
        id=transaction_id,
        idempotency_key=idempotency_key,
        kind=kind,
        memo=memo,
        metadata=metadata or {},
        created_at=created_at,
    )
    ledger_transaction._state.adding = False
    ledger_transaction._state.db = connection.alias
    return ledger_transaction


# One round trip, prepared once per connection: `wallet_ledger_spend` (migration 0012) claims the key,
# debits the payer only if the funds are there, and inserts the entries. On a
# refusal the claimed key row stays behind without entries and the caller's rollback removes it (the
# deferred has-entries trigger would refuse it at commit anyway).
_SPEND_SQL = """
    SELECT transaction_id, debited, available
      FROM wallet_ledger_spend(
        %(key)s::text, %(kind)s::text, %(memo)s::text, %(metadata)s::jsonb, %(now)s::timestamptz,
        %(payer)s::bigint, %(cost)s::bigint,
        %(accounts)s::bigint[], %(assets)s::text[], %(amounts)s::bigint[]
      )
"""


def ledger_move(
    *,
    source: LedgerAccount,
    destination: LedgerAccount,
    asset: str,
    amount: int,
    idempotency_key: str,
    kind: str,
    memo: str = "",
    metadata: dict[str, Any] | None = None,
    durable: bool = True,
) -> LedgerTransaction:
    """Move a positive `amount` of `asset` from `source` to `destination` exactly once (see ledger_post).

    Durable by default: a top-level money operation. Inside a caller's atomic block pass
    `durable=False`.
    """
    _check_amount(amount, positive=True)
    if source.pk is not None and source.pk == destination.pk:
        raise InvalidPosting(f"Cannot move {asset} from account {source.pk} to itself.")
    return ledger_post(
        idempotency_key=idempotency_key,
        kind=kind,
        memo=memo,
        metadata=metadata,
        lines=[(source, asset, -amount), (destination, asset, amount)],
        durable=durable,
    )


def ledger_credit(
    *,
    account: LedgerAccount,
    asset: str,
    amount: int,
    idempotency_key: str,
    kind: str,
    source: LedgerAccount | None = None,
    memo: str = "",
    metadata: dict[str, Any] | None = None,
    durable: bool = True,
) -> LedgerTransaction:
    """Add a positive `amount` to `account` exactly once, taken from `source` (default: coins/diamonds issued)."""
    _check_amount(amount, positive=True)
    source = source if source is not None else system_account(ISSUING_ACCOUNT[_known_asset(asset)])
    return ledger_move(
        source=source,
        destination=account,
        asset=asset,
        amount=amount,
        idempotency_key=idempotency_key,
        kind=kind,
        memo=memo,
        metadata=metadata,
        durable=durable,
    )


def ledger_debit(
    *,
    account: LedgerAccount,
    asset: str,
    amount: int,
    idempotency_key: str,
    kind: str,
    destination: LedgerAccount | None = None,
    memo: str = "",
    metadata: dict[str, Any] | None = None,
    durable: bool = True,
) -> LedgerTransaction:
    """Take a positive `amount` from `account` exactly once, never below zero, into `destination`.

    The destination defaults to coins consumed / diamonds redeemed. Raises InsufficientFunds
    (with the shortfall), having written nothing, when a user account lacks the funds.
    """
    _check_amount(amount, positive=True)
    destination = destination if destination is not None else system_account(CONSUMING_ACCOUNT[_known_asset(asset)])
    return ledger_move(
        source=account,
        destination=destination,
        asset=asset,
        amount=amount,
        idempotency_key=idempotency_key,
        kind=kind,
        memo=memo,
        metadata=metadata,
        durable=durable,
    )


def ledger_rollup(*, account: LedgerAccount) -> int:
    """Fold the account's pending entries (up to a safe fence) into its cached balance; the total never changes.

    Safe to run concurrently with postings and with itself; returns the cached balance after the fold.
    """
    fence = _safe_fence()
    with transaction.atomic():
        return _fold_entries(account.pk, fence)


def ledger_rollup_pending(*, limit: int = 1000) -> int:
    """Roll up every append-only account (at most `limit`) with entries since the last run, and add the user
    accounts' entries up to the same fence to their day totals; returns how many accounts it rolled up.

    The periodic task. The mark only moves on when every account with new entries was folded, so a run
    cut short by `limit` leaves the rest to the next one.
    """
    fence = _safe_fence()
    mark, _created = LedgerRollupMark.objects.get_or_create(pk=1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT e.account_id FROM wallet_ledgerentry e "
            "JOIN wallet_ledgeraccount a ON a.id = e.account_id AND a.append_only_balance "
            "WHERE e.id > %s AND e.id <= %s AND e.id > a.rolled_up_through ORDER BY 1 LIMIT %s",
            [mark.folded_through, fence, limit + 1],
        )
        account_ids = [row[0] for row in cursor.fetchall()]
    for account_id in account_ids[:limit]:
        with transaction.atomic():
            _fold_entries(account_id, fence)
    if len(account_ids) <= limit:
        LedgerRollupMark.objects.filter(pk=1, folded_through__lt=fence).update(folded_through=fence)
    _fold_day_totals(fence)
    return min(len(account_ids), limit)


# --- Validation ---------------------------------------------------------------------------------


def _known_asset(asset: str) -> Asset:
    if asset not in Asset.values:
        raise InvalidPosting(f"Unknown asset {asset!r}; use one of {', '.join(Asset.values)}.")
    return Asset(asset)


def _check_amount(amount: Any, *, positive: bool = False) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount(f"Amount {amount!r} is not a whole number.")
    if amount == 0 or abs(amount) > MAX_AMOUNT or (positive and amount < 0):
        kind = "a positive" if positive else "a non-zero"
        raise InvalidAmount(f"Amount {amount} must be {kind} whole number of at most {MAX_AMOUNT}.")


def _validated_postings(lines: Sequence[Line]) -> list[Posting]:
    if not isinstance(lines, list | tuple) or not 2 <= len(lines) <= MAX_LINES:
        raise InvalidPosting(f"A transaction needs between 2 and {MAX_LINES} lines.")
    postings = [_validated_line(line) for line in lines]
    totals: dict[str, int] = defaultdict(int)
    for posting in postings:
        totals[posting.asset] += posting.amount
    unbalanced = [f"{asset} lines sum to {total}" for asset, total in sorted(totals.items()) if total != 0]
    if unbalanced:
        raise UnbalancedTransaction(f"The lines do not balance: {', '.join(unbalanced)}; each asset must sum to 0.")
    return postings


def _validated_line(line: Any) -> Posting:
    try:
        account, asset, amount = line
    except (TypeError, ValueError):
        raise InvalidPosting(f"A line is (account, asset, amount), not {line!r}.") from None
    if not isinstance(account, LedgerAccount) or account.pk is None:
        raise InvalidPosting(f"{account!r} is not a saved ledger account.")
    asset = _known_asset(asset)
    if asset != account.asset:
        raise AssetMismatch(f"Account {account.pk} holds {account.asset}, not {asset}.")
    _check_amount(amount)
    return Posting(account=account, asset=asset, amount=amount)


def _validated_header(*, idempotency_key: str, kind: str, memo: str, metadata: dict[str, Any] | None) -> str:
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise InvalidPosting("An idempotency key is required.")
    if len(idempotency_key) > MAX_KEY_LENGTH:
        raise InvalidPosting(f"The idempotency key is longer than {MAX_KEY_LENGTH} characters.")
    if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
        raise InvalidPosting(f"Transaction kind {kind!r} must be a short lower-case name such as 'gift'.")
    if not isinstance(memo, str):
        raise InvalidPosting("The memo must be text.")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidPosting("Metadata must be a dict.")
    try:
        return json.dumps(metadata or {})
    except (TypeError, ValueError) as error:
        raise InvalidPosting(f"Metadata must be JSON-serialisable: {error}") from None


# --- Writing ------------------------------------------------------------------------------------


def _insert_transaction(
    *,
    idempotency_key: str,
    kind: str,
    memo: str,
    metadata: dict[str, Any],
    metadata_json: str,
    created_at: datetime.datetime,
) -> LedgerTransaction | None:
    """Claim the key: the new transaction, or None if the key exists (waits for an in-flight claim)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_ledgertransaction (idempotency_key, kind, memo, metadata, created_at) "
            "VALUES (%s, %s, %s, %s::jsonb, %s) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            [idempotency_key, kind, memo, metadata_json, created_at],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    ledger_transaction = LedgerTransaction(
        id=row[0], idempotency_key=idempotency_key, kind=kind, memo=memo, metadata=metadata, created_at=created_at
    )
    ledger_transaction._state.adding = False
    ledger_transaction._state.db = connection.alias
    return ledger_transaction


def _replayed_transaction(*, idempotency_key: str, kind: str, postings: list[Posting]) -> LedgerTransaction:
    existing = LedgerTransaction.objects.get(idempotency_key=idempotency_key)
    stored = sorted(existing.entries.values_list("account_id", "asset", "amount"))
    requested = sorted((posting.account.pk, posting.asset, posting.amount) for posting in postings)
    if existing.kind != kind or stored != requested:
        raise IdempotencyConflict(
            f"Idempotency key {idempotency_key!r} was already used by transaction {existing.pk} "
            f"({existing.kind}) with different content."
        )
    return existing


def _apply_to_balances(postings: list[Posting]) -> None:
    """Change cached balances: checked updates in primary-key order; append-only credits need nothing but
    their entry (the roll-up folds it in)."""
    accounts = {posting.account.pk: posting.account for posting in postings}
    net: dict[int, int] = defaultdict(int)
    for posting in postings:
        net[posting.account.pk] += posting.amount
    for account_id in sorted(net):
        account, amount = accounts[account_id], net[account_id]
        if amount == 0 or (account.append_only_balance and (amount > 0 or account.may_go_negative)):
            continue
        _update_balance(account, amount)


def _update_balance(account: LedgerAccount, amount: int) -> None:
    if account.append_only_balance:
        _check_pending_funds(account, amount)
        return
    if _conditional_update(account, amount):
        return
    # Re-read under the row lock so the shortfall is exact even if a credit landed meanwhile.
    available = (
        LedgerAccount.objects.select_for_update(no_key=True)
        .filter(pk=account.pk)
        .values_list("balance", flat=True)
        .get()
    )
    if available + amount >= 0 and _conditional_update(account, amount):
        return
    raise InsufficientFunds(account_id=account.pk, asset=account.asset, available=available, requested=-amount)


def _check_pending_funds(account: LedgerAccount, amount: int) -> None:
    """A debit from an append-only account: under its row lock, the column plus the pending entries must cover it.

    The lock makes two debits of one account take turns; the balance is read by a new statement after
    the lock was granted, so it sees the entries of a debit that held the lock before (READ COMMITTED).
    Credits take no lock and only add. The debit's own entry is then pending like any other.
    """
    LedgerAccount.objects.select_for_update(no_key=True).filter(pk=account.pk).values_list("pk", flat=True).get()
    available = ledger_balance(account)
    if available + amount < 0:
        raise InsufficientFunds(account_id=account.pk, asset=account.asset, available=available, requested=-amount)


def _conditional_update(account: LedgerAccount, amount: int) -> bool:
    accounts = LedgerAccount.objects.filter(pk=account.pk)
    if not account.may_go_negative:
        accounts = accounts.filter(balance__gte=-amount)
    return accounts.update(balance=F("balance") + amount) == 1


# --- Roll-up ------------------------------------------------------------------------------------

FENCE_WAIT_SECONDS = 5.0


def _safe_fence(*, wait_seconds: float | None = None) -> int:
    """The highest entry id up to which every entry is final (committed or rolled back) and visible.

    Entry ids come from a sequence and commit out of order, so "the largest id seen" is no fence: a
    transaction may still commit an entry below it. But an INSERT locks its table (ROW EXCLUSIVE, until
    the transaction ends) before it draws ids. Hence: read the sequence, then list the other
    transactions holding that lock on the entries table; every transaction that drew an id up to that
    value has ended or is on the list, and once those have ended the fence is safe (a transaction's
    commit is visible before its locks are released). Transactions that only read, or write elsewhere,
    are not waited for. Waits up to `wait_seconds` (gifts in flight take milliseconds), else returns
    the fence of the last completed roll-up, which folds nothing new.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE((SELECT last_value FROM wallet_ledgerentry_id_seq WHERE is_called), 0)")
        candidate = cursor.fetchone()[0]
        cursor.execute(_ENTRY_WRITERS_SQL)
        writers = [row[0] for row in cursor.fetchall()]
        deadline = time.monotonic() + (FENCE_WAIT_SECONDS if wait_seconds is None else wait_seconds)
        while writers:
            if time.monotonic() > deadline:
                return LedgerRollupMark.objects.values_list("folded_through", flat=True).first() or 0
            time.sleep(0.005)
            cursor.execute(f"{_ENTRY_WRITERS_SQL} AND virtualtransaction = ANY(%s)", [writers])
            writers = [row[0] for row in cursor.fetchall()]
    return candidate


# Transactions other than ours (ours is folded with the rest when it commits) that may be inserting entries.
_ENTRY_WRITERS_SQL = (
    "SELECT DISTINCT virtualtransaction FROM pg_locks "
    "WHERE locktype = 'relation' AND relation = 'wallet_ledgerentry'::regclass "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND mode = 'RowExclusiveLock' AND pid IS DISTINCT FROM pg_backend_pid()"
)


# User accounts' entries after the day totals' mark, up to the fence, added to their (account, UTC day, kind) totals.
_FOLD_DAY_TOTALS_SQL = """
    INSERT INTO wallet_ledgerdaytotal (account_id, day, kind, amount)
    SELECT e.account_id, (e.created_at AT TIME ZONE 'UTC')::date, t.kind, SUM(e.amount)
      FROM wallet_ledgerentry e
      JOIN wallet_ledgeraccount a ON a.id = e.account_id AND a.kind = 'user'
      JOIN wallet_ledgertransaction t ON t.id = e.transaction_id
     WHERE e.id > %(after)s AND e.id <= %(fence)s
     GROUP BY 1, 2, 3
    ON CONFLICT (account_id, day, kind) DO UPDATE SET amount = wallet_ledgerdaytotal.amount + EXCLUDED.amount
"""


def _fold_day_totals(fence: int) -> None:
    """Add the entries up to `fence` to the day totals, each exactly once: the totals and their mark move together,
    under the mark's row lock, so a concurrent roll-up waits and then starts where this one stopped."""
    with transaction.atomic():
        after = LedgerRollupMark.objects.select_for_update().values_list("day_totals_through", flat=True).get(pk=1)
        if after >= fence:
            return
        with connection.cursor() as cursor:
            cursor.execute(_FOLD_DAY_TOTALS_SQL, {"after": after, "fence": fence})
        LedgerRollupMark.objects.filter(pk=1).update(day_totals_through=fence)


def _fold_entries(account_id: int, fence: int) -> int:
    """Move the account's entries up to `fence` into its cached balance; the caller's transaction holds the
    row lock after. Other accounts' balances follow every entry already: nothing to fold."""
    # Lock the row first, then fold in a new statement: it sees every entry committed before the lock
    # was granted, and the sum and the new mark are written together.
    LedgerAccount.objects.select_for_update(no_key=True).filter(pk=account_id).values_list("pk", flat=True).get()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wallet_ledgeraccount a SET "
            "balance = a.balance + COALESCE((SELECT SUM(e.amount) FROM wallet_ledgerentry e "
            "  WHERE e.account_id = a.id AND e.id > a.rolled_up_through AND e.id <= %(fence)s), 0), "
            "rolled_up_through = %(fence)s "
            "WHERE a.id = %(account)s AND a.append_only_balance AND a.rolled_up_through < %(fence)s",
            {"account": account_id, "fence": fence},
        )
        cursor.execute("SELECT balance FROM wallet_ledgeraccount WHERE id = %s", [account_id])
        return cursor.fetchone()[0]
