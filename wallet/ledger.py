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
with postings to the same wallet. Postings that need no check on an account with
`append_only_balance` (credits to creator diamond wallets, anything on system accounts) do not
touch the account row at all: they insert a `LedgerBalanceDelta` next to the entry, so a creator
receiving thousands of gifts at once, and the system accounts every gift touches, are never a
hot row; `ledger_rollup` folds deltas into the row later (a periodic task), and a debit from such
an account folds them first, under the row lock, before its funds check.
"""

import datetime
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from django.db import connection, transaction
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from coinsite.accounts.models import User
from coinsite.lib.prepared import prepared_cursor
from wallet.models import (
    AccountKind,
    Asset,
    LedgerAccount,
    LedgerBalanceDelta,
    LedgerEntry,
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
    current_balance: int  # the cached column plus the pending deltas


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
    """The account's balance now: the cached column plus deltas not yet rolled up (one snapshot)."""
    return accounts_with_balance().filter(pk=account.pk).values_list("current_balance", flat=True).get()


def user_balance(user: User, asset: str) -> int:
    """The user's balance of `asset`, 0 when they have no wallet yet (creates nothing)."""
    asset = _known_asset(asset)
    balances = accounts_with_balance().filter(user=user, asset=asset).values_list("current_balance", flat=True)
    return next(iter(balances), 0)


def accounts_with_balance(
    accounts: "QuerySet[LedgerAccount] | None" = None,
) -> "QuerySet[WithAnnotations[LedgerAccount, CurrentBalance]]":
    """Ledger accounts (all, or `accounts`) annotated with `current_balance`: the cached column plus
    the pending deltas, read in the same statement (so one snapshot)."""
    pending = (
        LedgerBalanceDelta.objects.filter(account=OuterRef("pk"))
        .order_by()
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    accounts = LedgerAccount.objects.all() if accounts is None else accounts
    return accounts.annotate(current_balance=F("balance") + Coalesce(Subquery(pending), Value(0)))


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
    account — in one statement instead of five: claim the key, debit the payer if the funds are there,
    insert the entries and the balance deltas.

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
    deltas = {account_id: amount for account_id, amount in sorted(net.items()) if account_id != payer.pk and amount}
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
                "delta_accounts": list(deltas),
                "delta_amounts": list(deltas.values()),
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
# debits the payer only if the funds are there, and inserts the entries and the balance deltas. On a
# refusal the claimed key row stays behind without entries and the caller's rollback removes it (the
# deferred has-entries trigger would refuse it at commit anyway).
_SPEND_SQL = """
    SELECT transaction_id, debited, available
      FROM wallet_ledger_spend(
        %(key)s::text, %(kind)s::text, %(memo)s::text, %(metadata)s::jsonb, %(now)s::timestamptz,
        %(payer)s::bigint, %(cost)s::bigint,
        %(accounts)s::bigint[], %(assets)s::text[], %(amounts)s::bigint[],
        %(delta_accounts)s::bigint[], %(delta_amounts)s::bigint[]
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
    """Fold the account's pending balance deltas into its cached balance; the total never changes.

    Atomic, and safe to run concurrently with postings and with itself; returns the cached balance after the fold.
    """
    with transaction.atomic():
        return _fold_deltas(account.pk)


def ledger_rollup_pending(*, limit: int = 1000) -> int:
    """Roll up every account (at most `limit`) that has pending deltas; returns how many were rolled up."""
    account_ids = list(
        LedgerBalanceDelta.objects.order_by("account_id").values_list("account_id", flat=True).distinct()[:limit]
    )
    for account_id in account_ids:
        with transaction.atomic():
            _fold_deltas(account_id)
    return len(account_ids)


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
    """Change cached balances: checked updates in primary-key order, then the append-only deltas."""
    accounts = {posting.account.pk: posting.account for posting in postings}
    net: dict[int, int] = defaultdict(int)
    for posting in postings:
        net[posting.account.pk] += posting.amount
    deltas = []
    for account_id in sorted(net):
        account, amount = accounts[account_id], net[account_id]
        if amount == 0:
            continue
        if account.append_only_balance and (amount > 0 or account.may_go_negative):
            deltas.append(LedgerBalanceDelta(account_id=account_id, amount=amount))
        else:
            _update_balance(account, amount)
    if deltas:
        LedgerBalanceDelta.objects.bulk_create(deltas)


def _update_balance(account: LedgerAccount, amount: int) -> None:
    if account.append_only_balance:
        # Pending credits count towards the funds check; folding them locks the row first.
        _fold_deltas(account.pk)
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


def _conditional_update(account: LedgerAccount, amount: int) -> bool:
    accounts = LedgerAccount.objects.filter(pk=account.pk)
    if not account.may_go_negative:
        accounts = accounts.filter(balance__gte=-amount)
    return accounts.update(balance=F("balance") + amount) == 1


def _fold_deltas(account_id: int) -> int:
    """Move pending deltas into the cached balance; the caller's transaction holds the row lock after."""
    # Lock the account row before touching its deltas, as every fold does: two folds of one
    # account then queue on the row instead of deadlocking on each other's deleted deltas, and
    # the DELETE below (a new statement, so a new snapshot) sees every delta committed before the
    # lock was granted. A credit still in flight keeps its delta for the next fold.
    LedgerAccount.objects.select_for_update(no_key=True).filter(pk=account_id).values_list("pk", flat=True).get()
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH folded AS (DELETE FROM wallet_ledgerbalancedelta WHERE account_id = %s RETURNING amount) "
            "UPDATE wallet_ledgeraccount SET balance = balance + (SELECT COALESCE(SUM(amount), 0) FROM folded) "
            "WHERE id = %s RETURNING balance",
            [account_id, account_id],
        )
        return cursor.fetchone()[0]
