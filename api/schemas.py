"""The API's request and response bodies (pydantic, through django-ninja): what docs/api.md documents."""

import datetime

from djmoney.money import Money
from ninja import Schema
from pydantic import Field, StrictBool, field_validator

from wallet.money import amount_string


class MoneyOut(Schema):
    amount: str = Field(description='Decimal digits, e.g. "9.99" (no decimals for JPY and KRW)')
    currency: str = Field(description="ISO 4217 code")


def money_out(money: Money | None, *, exact: bool = False) -> MoneyOut | None:
    """Money as the API writes it: rounded to the currency's minor unit, or `exact` for unit prices."""
    if money is None:
        return None
    amount = format(money.amount.normalize(), "f") if exact else amount_string(money)
    return MoneyOut(amount=amount, currency=money.currency.code)


class Problem(Schema):
    """An RFC 9457 problem document (served as application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable code (docs/api.md lists them)")
    instance: str | None = None
    retry_after: int | None = None
    errors: list[dict] | None = None
    shortfall: int | None = None
    threshold: int | None = None


class MeOut(Schema):
    id: int
    display_name: str
    country: str
    currency: str = Field(description="The currency amounts are valued in for this user")
    is_creator: bool
    scopes: list[str] = Field(description="What this credential may do")


class CoinsOut(Schema):
    coins: int
    value: MoneyOut | None = Field(description="What the coins are worth in your currency (null: no price there)")


class WalletOut(Schema):
    coins: int
    value: MoneyOut | None
    per_coin: MoneyOut | None


class HistoryItem(Schema):
    id: int
    created_at: datetime.datetime
    kind: str
    description: str
    coins: int = Field(description="Positive: credited; negative: spent")
    balance_after: int


class HistoryPage(Schema):
    items: list[HistoryItem]
    next_cursor: str | None


class PackageOut(Schema):
    id: int
    coins: int
    bonus_coins: int
    total_coins: int
    price: MoneyOut


class CustomAmountOut(Schema):
    per_coin: MoneyOut
    min_coins: int
    max_coins: int


class PackagesOut(Schema):
    country: str
    currency: str
    available: bool
    unavailable_reason: str
    packages: list[PackageOut]
    custom_amount: CustomAmountOut | None
    payment_methods: list[str]


class GiftOut(Schema):
    id: int
    slug: str
    name: str
    coin_cost: int
    tier: str
    artwork_url: str
    value: MoneyOut | None


class CreatorOut(Schema):
    id: int
    display_name: str


class StreamOut(Schema):
    id: int
    title: str
    creator: CreatorOut
    started_at: datetime.datetime
    ended_at: datetime.datetime | None
    is_live: bool
    goal_coins: int | None
    goal_label: str


class StreamPage(Schema):
    items: list[StreamOut]
    next_cursor: str | None


class GoalOut(Schema):
    goal_coins: int
    label: str
    coins: int
    percent: int
    is_reached: bool


class LeaderOut(Schema):
    rank: int
    name: str
    coins: int
    is_anonymous: bool


class StreamStateOut(Schema):
    stream: StreamOut
    viewers: int
    goal: GoalOut | None
    leaderboard: list[LeaderOut]


class EventStreamOut(Schema):
    url: str = Field(description="Server-Sent Events: open with EventSource or any SSE client")
    poll_url: str = Field(description="The same state as one JSON document, for clients without SSE")
    event_types: list[str]


class GiftIn(Schema):
    gift_id: int = Field(ge=1, le=2**31 - 1)
    quantity: int = Field(default=1, ge=1, le=99)
    anonymous: StrictBool = False
    confirm: StrictBool = Field(default=False, description="Required true for gifts above your confirmation threshold")

    @field_validator("gift_id", "quantity", mode="before")
    @classmethod
    def _json_numbers_only(cls, value: object) -> object:
        """JSON Schema's integers: 19 and 19.0, never "19" or true (pydantic alone would take both)."""
        if isinstance(value, (str, bool)):
            raise ValueError("must be a JSON number")
        return value


class GiftSentOut(Schema):
    id: int
    stream_id: int
    gift: GiftOut
    quantity: int
    coins: int
    anonymous: bool
    created_at: datetime.datetime
    balance: CoinsOut = Field(description="Your coins after this gift")
    replayed: bool = Field(description="True when this Idempotency-Key was already used: nothing was charged again")


class DiamondsOut(Schema):
    diamonds: int
    value: MoneyOut


class EarningsOut(Schema):
    total: DiamondsOut
    available: DiamondsOut
    on_hold: DiamondsOut
    in_payout: DiamondsOut
    per_diamond: MoneyOut


class StreamEarningsOut(Schema):
    stream: StreamOut
    gifts: int
    earned: DiamondsOut


class StreamEarningsPage(Schema):
    items: list[StreamEarningsOut]
    next_cursor: str | None


class PayoutOut(Schema):
    id: str
    diamonds: int
    status: str
    value: MoneyOut
    currency: str
    gross: MoneyOut | None
    fee: MoneyOut | None
    net: MoneyOut | None
    method_kind: str
    requested_at: datetime.datetime
    finished_at: datetime.datetime | None


class PayoutPage(Schema):
    items: list[PayoutOut]
    next_cursor: str | None
