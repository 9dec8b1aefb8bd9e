from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from finops.errors import UserError
from finops.reconcile import failed, parse_period, read_invoice, reconcile

OCT = date(2026, 10, 1)
AWS = ("aws", "111", OCT, "USD")
AZ = ("azure", "ea", OCT, "EUR")


def test_exact_match_is_ok_with_zero_variance() -> None:
    [group] = reconcile({AWS: Decimal("100.25")}, {AWS: Decimal("100.25")})
    assert (group.period, group.variance, group.variance_pct, group.ok) == (
        "2026-10",
        Decimal(0),
        Decimal(0),
        True,
    )
    assert group.invoice is None


def test_tolerance_is_inclusive_and_symmetric() -> None:
    source = {AWS: Decimal(100)}
    assert reconcile({AWS: Decimal(103)}, source)[0].ok
    assert reconcile({AWS: Decimal(97)}, source)[0].ok
    over = reconcile({AWS: Decimal("103.01")}, source)[0]
    assert not over.ok
    assert over.variance_pct == Decimal("3.01")
    assert reconcile({AWS: Decimal("103.01")}, source, tolerance_pct=Decimal(5))[0].ok


def test_invoice_is_the_reference_when_given_and_both_must_agree() -> None:
    groups = reconcile({AWS: Decimal(100)}, {AWS: Decimal(100)}, {AWS: Decimal(110)})
    assert groups[0].variance == Decimal(-10)
    assert groups[0].variance_pct == Decimal("-9.09")
    assert not groups[0].ok
    # Source files off, invoice fine: still not ok.
    assert not reconcile({AWS: Decimal(100)}, {AWS: Decimal(120)}, {AWS: Decimal(100)})[0].ok


def test_missing_groups_on_either_side_are_reported() -> None:
    groups = reconcile({AWS: Decimal(5)}, {AWS: Decimal(5)}, {AZ: Decimal(50)})
    by_provider = {g.provider: g for g in groups}
    assert by_provider["azure"].stored == Decimal(0)
    assert by_provider["azure"].variance_pct == Decimal("-100.00")
    assert not by_provider["azure"].ok
    assert by_provider["aws"].ok  # no invoice line: judged on the source files
    assert failed(groups) == [by_provider["azure"]]


def test_zero_reference() -> None:
    assert reconcile({AWS: Decimal(0)}, {AWS: Decimal(0)})[0].ok
    off = reconcile({AWS: Decimal(1)}, {AWS: Decimal(0)})[0]
    assert off.variance_pct is None
    assert not off.ok


def test_read_invoice(tmp_path: Path) -> None:
    path = tmp_path / "invoice.csv"
    path.write_text(
        "provider,billing_account,period,currency,amount\n"
        'Amazon Web Services,111,2026-10,usd,"1,000.50"\n'
        "AWS,111,2026-10,USD,0.50\n"
        "Microsoft,ea,2026-10,EUR,20\n"
    )
    assert read_invoice(path) == {AWS: Decimal("1001.00"), AZ: Decimal(20)}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("provider,period,currency,amount\n", r"lacks the column\(s\) billing_account"),
        ("provider,billing_account,period,currency,amount\naws,1,2026-10,USD,ten\n", r"line 2: amount 'ten'"),
        (
            "provider,billing_account,period,currency,amount\naws,1,10/2026,USD,1\n",
            r"line 2: period '10/2026'",
        ),
        ("provider,billing_account,period,currency,amount\naws,1,2026-10,dollars,1\n", r"line 2: currency"),
        ("provider,billing_account,period,currency,amount\naws,,2026-10,USD,1\n", r"line 2: billing_account"),
    ],
)
def test_bad_invoice_names_file_line_and_column(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        read_invoice(path)


def test_missing_invoice_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read the invoice file"):
        read_invoice(tmp_path / "nope.csv")


def test_parse_period() -> None:
    assert parse_period("2026-02") == date(2026, 2, 1)
    with pytest.raises(UserError, match="YYYY-MM"):
        parse_period("2026-13")
