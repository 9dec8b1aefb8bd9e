"""The `/finops tags` message and the digest's tags line: words, numbers and Block Kit limits."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from commands import tagging
from commands.slash.finops import tags_by
from finops.errors import UserError
from storage.tagreport import (
    CurrencyReport,
    Group,
    Month,
    Required,
    Resource,
    Spend,
    Summary,
    TagReport,
    Week,
    months_back,
)
from tests.fakes.slack import block_kit_problems

REQUIRED = Required(("owner", "cost-center"), insensitive=True)
LONG = "Amazon Elastic Compute Cloud - Compute Savings Plans Covered Usage"
ARN = "arn:aws:ec2:eu-west-1:123456789012:instance/" + "i-0123456789abcdef0" * 10


def _currency(currency: str, rows: int, months: int) -> CurrencyReport:
    summary = Summary(
        currency,
        Decimal("1000.00"),
        Decimal("875.00"),
        {"owner": Decimal("950.00"), "cost-center": Decimal("900.00")},
    )
    return CurrencyReport(
        summary=summary,
        by_account=[Spend((f"{n:012d}",), Decimal(100 - n)) for n in range(rows)],
        by_service=[Spend((f"{LONG} {n}",), Decimal(100 - n)) for n in range(rows)],
        resources=[
            Resource(f"{ARN}{n}", "aws", f"{n:012d}", LONG, Decimal(90 - n), ("owner", "cost-center"))
            for n in range(rows)
        ],
        groups=[Group(f"team-with-a-long-name-{n}" * 3, Decimal(1000 + n), Decimal(n)) for n in range(rows)],
        more_groups=1234,
        trend=[Month(m, Decimal(100), Decimal(80)) for m in months_back(date(2026, 10, 1), months)],
    )


def _report(currencies: int, rows: int, months: int = 36) -> TagReport:
    codes = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK"][:currencies]
    return TagReport(
        required=REQUIRED,
        spellings={"owner": ("Owner", "owner"), "cost-center": ("cost-center",)},
        month=date(2026, 10, 1),
        end=date(2026, 10, 31),
        complete=True,
        by="team",
        top=rows,
        currencies=[_currency(code, rows, months) for code in codes],
    )


def _texts(message: dict[str, object]) -> str:
    return json.dumps(message, ensure_ascii=False)


def test_largest_message_is_within_block_kit_limits() -> None:
    message = tagging.tags_message(_report(8, 100))
    assert not block_kit_problems(message["blocks"])
    text = _texts(message)
    assert "… and 3 more currencies: `finops-bot tags report`" in text
    assert "more rows" in text and "… and 1234 more" in text


def test_message_words_and_numbers() -> None:
    report = _report(1, 2, months=6)
    message = tagging.tags_message(report)
    assert not block_kit_problems(message["blocks"])
    blocks = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    summary, groups, untagged, resources = blocks
    assert summary.splitlines() == [
        "*USD*: *87.5%* of 1,000.00 USD carries every required tag · 125.00 USD untagged",
        "• `owner`: 95.0% (950.00 USD)",
        "• `cost-center`: 90.0% (900.00 USD)",
        "Trend: " + " · ".join(f"{m} 80.0%" for m in ("May", "Jun", "Jul", "Aug", "Sep", "Oct")),
    ]
    assert groups.startswith("*By team*, worst score first\n```\nteam")
    assert "0.0%" in groups.splitlines()[3] and "0.1%" in groups.splitlines()[4]
    assert untagged.splitlines()[:2] == ["*Untagged spend by account*", "• 000000000000: 100.00 USD"]
    assert f"• `{ARN[:119]}…` (000000000000 / {LONG}): 90.00 USD, missing owner, cost-center" in resources
    assert message["text"] == "Tag compliance, October 2026: 87.5% of 1,000.00 USD"
    context = message["blocks"][1]["elements"][0]["text"]
    assert context.startswith("Required: `owner`, `cost-center`, keys in any case · BilledCost, 1 Oct 2026")


def test_a_month_without_data_says_so() -> None:
    message = tagging.tags_message(_report(0, 0))
    assert not block_kit_problems(message["blocks"])
    assert "No cost data for this month" in _texts(message)


def test_digest_line_with_the_week_before_and_without() -> None:
    def summary(currency: str, total: str, compliant: str) -> Summary:
        return Summary(currency, Decimal(total), Decimal(compliant), {})

    usd = Week(
        summary("USD", "1000", "875"), summary("USD", "500", "427"), Spend(("111", "Amazon EC2"), Decimal(90))
    )
    eur = Week(summary("EUR", "10", "10"), None, None)
    one = tagging.digest_line([usd], REQUIRED, date(2026, 11, 16))
    assert one == (
        "*Tags*: 87.5% of last week's cost carries owner, cost-center (+2.1 pts on the week before); "
        "125.00 USD untagged, most in 111/Amazon EC2"
    )
    two = tagging.digest_line([usd, eur], REQUIRED, date(2026, 11, 16))
    assert (
        two.splitlines()[1] == "100.0% of last week's EUR cost carries owner, cost-center; 0.00 EUR untagged"
    )
    assert (
        tagging.digest_line([], REQUIRED, date(2026, 11, 16))
        == "*Tags*: no cost data for the week of 16 Nov 2026 yet."
    )


@pytest.mark.parametrize(
    ("words", "found"), [([], "team"), (["by", "env"], "environment"), (["BY", "tag:Owner"], "tag:Owner")]
)
def test_finops_tags_by(words: list[str], found: str) -> None:
    assert tags_by(words) == found


@pytest.mark.parametrize("words", [["team"], ["by"], ["by", "colour"], ["by", "team", "top", "5"]])
def test_finops_tags_by_explains_what_it_takes(words: list[str]) -> None:
    with pytest.raises(UserError, match=r"/finops tags by DIM|cannot group by"):
        tags_by(words)
