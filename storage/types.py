"""Column types that keep money exact and times in UTC on every database.

- `Money`: NUMERIC(20, 6) on PostgreSQL. SQLite has no decimal type (SQLAlchemy would store a
  float), so there it is a 64-bit integer of millionths: sums and comparisons in SQL stay exact.
  Only sums, comparisons and min/max are meaningful in SQL on a Money column; do arithmetic with
  other numbers in Python. One value is at most `MONEY_MAX`; a SQLite sum must stay under 9.2e12.
- `UTCDateTime`: TIMESTAMP WITH TIME ZONE on PostgreSQL, naive UTC on SQLite; always returns an
  aware UTC datetime and refuses naive ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

MONEY_SCALE = 6
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
MONEY_MAX = Decimal("999999999999.999999")  # under a trillion: fits NUMERIC(20, 6) and SQLite's int64


def to_money(value: Any) -> Decimal:
    """`value` as a Decimal rounded (half even) to the stored scale. Floats are refused."""
    if isinstance(value, float):
        raise TypeError("money must not be a float; pass a Decimal, int or decimal string")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    if abs(amount) > MONEY_MAX:
        raise ValueError(f"amount {amount} is out of range (at most {MONEY_MAX} in absolute value)")
    return amount.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


class Money(TypeDecorator[Decimal]):
    """Exact money: NUMERIC(20, 6) on PostgreSQL, integer millionths on SQLite."""

    impl = Numeric(20, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(20, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = to_money(value)
        if dialect.name == "sqlite":
            return int(amount.scaleb(MONEY_SCALE))
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-MONEY_SCALE).quantize(MONEY_QUANTUM)
        return Decimal(value).quantize(MONEY_QUANTUM)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
