"""Budget maths: which alerts are due, rollover, allocation under a parent, dated rates."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from finops.budgets import (
    Rate,
    Rates,
    alerts_due,
    allocation,
    carried_over,
    evaluate,
    in_currency,
    period_bounds,
    previous_period,
)


def _status(spent_per_day: str, days: int, amount: str = "1000"):  # type: ignore[no-untyped-def]
    daily = [(date(2026, 7, 1) + timedelta(n), Decimal(spent_per_day)) for n in range(days)]
    return evaluate(Decimal(amount), "monthly", daily)


def test_only_the_highest_new_threshold_is_posted_and_sent_ones_never_again() -> None:
    status = _status("40", 31 + 31 + 30 + 20)  # 800 of 1,000 on 20 Oct
    assert status.pct_spent == Decimal("80.0") and status.thresholds_crossed == (50, 80)
    post, record = alerts_due(status, True, [])
    assert post == [("forecast", 100), ("actual", 80)] and record == [("actual", 50)]
    assert alerts_due(status, True, [*post, *record]) == ([], [])
    assert alerts_due(status, False, [("actual", 50)]) == ([("actual", 80)], [])


def test_the_forecast_alert_fires_before_the_actual_and_is_recorded_once_over() -> None:
    early = _status("40", 31 + 31 + 30 + 5)  # 200 spent, 1,240 forecast
    assert early.forecast is not None and early.forecast > 1000 and early.spent < 500
    assert alerts_due(early, True, []) == ([("forecast", 100)], [])
    over = _status("40", 31 + 31 + 30 + 26)  # 1,040 spent
    post, record = alerts_due(over, True, [])
    assert post == [("actual", 100)] and ("forecast", 100) in record


def test_rollover_is_the_unused_part_capped_and_never_negative() -> None:
    assert carried_over(Decimal(1000), Decimal("750.25"), None) == Decimal("249.75")
    assert carried_over(Decimal(1000), Decimal(750), Decimal(100)) == Decimal(100)
    assert carried_over(Decimal(1000), Decimal(1200), None) == Decimal(0)
    assert carried_over(Decimal(1000), Decimal(0), None) == Decimal(1000)  # at most the amount
    status = evaluate(Decimal(1000), "monthly", [(date(2026, 10, 1), Decimal(300))], carried=Decimal(200))
    assert (status.amount, status.pct_spent) == (Decimal(1200), Decimal("25.0"))


def test_allocation_compares_per_the_parents_period() -> None:
    fit = allocation((Decimal(12000), "yearly"), [(Decimal(500), "monthly")], (Decimal(1500), "quarterly"))
    assert (fit.allocated, fit.child, fit.remaining, fit.over) == (
        Decimal(6000),
        Decimal(6000),
        Decimal(6000),
        False,
    )
    tight = allocation(
        (Decimal(3000), "monthly"), [(Decimal(2500), "monthly")], (Decimal("500.01"), "monthly")
    )
    assert tight.over and tight.remaining == Decimal(500)


def test_periods_include_years() -> None:
    assert period_bounds(date(2026, 11, 25), "yearly") == (date(2026, 1, 1), date(2026, 12, 31))
    assert period_bounds(date(2026, 11, 25), "quarterly") == (date(2026, 10, 1), date(2026, 12, 31))
    assert previous_period(date(2026, 1, 10), "monthly") == (date(2025, 12, 1), date(2025, 12, 31))
    assert previous_period(date(2026, 5, 10), "yearly") == (date(2025, 1, 1), date(2025, 12, 31))


def test_rates_are_dated_work_both_ways_and_say_what_they_could_not_convert() -> None:
    rates = Rates(
        [
            Rate("EUR", "USD", date(2026, 1, 1), Decimal("1.10")),
            Rate("USD", "EUR", date(2026, 6, 1), Decimal("0.8")),
            Rate("GBP", "USD", date(2026, 9, 1), Decimal("1.3")),
        ]
    )
    assert rates.convert(Decimal("10.00"), "EUR", "USD", date(2026, 5, 31)) == Decimal("11.0000")
    assert rates.convert(Decimal("10.00"), "EUR", "USD", date(2026, 6, 1)) == Decimal("12.50")
    assert rates.convert(Decimal("10.00"), "USD", "EUR", date(2026, 2, 1)) == Decimal("10.00") / Decimal(
        "1.10"
    )
    assert rates.convert(Decimal(5), "GBP", "USD", date(2026, 8, 31)) is None  # before its first rate
    assert rates.convert(Decimal(7), "JPY", "USD", date(2026, 8, 31)) is None
    assert rates.missing == {"GBP": Decimal(5), "JPY": Decimal(7)}
    assert [r["rate"] for r in rates.used["EUR"]] == ["1.1", "1.25"]
    series = {
        "USD": [(date(2026, 9, 1), Decimal("1.00")), (date(2026, 9, 2), Decimal("2.00"))],
        "GBP": [(date(2026, 9, 1), Decimal("10.00")), (date(2026, 9, 2), Decimal(0))],
    }
    assert in_currency(series, "USD", rates) == [
        (date(2026, 9, 1), Decimal("14.0000")),
        (date(2026, 9, 2), Decimal("2.00")),
    ]
