from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finops.costquery import (
    BY_WORDS,
    EXAMPLES,
    HELP,
    CostQuery,
    Filter,
    QueryError,
    is_help,
    parse,
)
from finops.errors import UserError
from storage.models import DIMENSIONS

TODAY = date(2026, 11, 25)  # a Wednesday
D = date


def dates(text: str, today: date = TODAY) -> tuple[date, date, date, date, str]:
    q = parse(text, today)
    return q.period.start, q.period.end, q.compare.start, q.compare.end, q.compare_label


def error(text: str, today: date = TODAY) -> str:
    with pytest.raises(QueryError) as caught:
        parse(text, today)
    message = str(caught.value)
    assert "Traceback" not in message
    assert "/cost help" in message
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", (D(2026, 11, 25), D(2026, 11, 25), D(2026, 11, 24), D(2026, 11, 24), "yesterday")),
        ("yesterday", (D(2026, 11, 24), D(2026, 11, 24), D(2026, 11, 23), D(2026, 11, 23), "the day before")),
        (
            "last 7 days",
            (D(2026, 11, 19), D(2026, 11, 25), D(2026, 11, 12), D(2026, 11, 18), "previous 7 days"),
        ),
        (
            "past 2 weeks",
            (D(2026, 11, 12), D(2026, 11, 25), D(2026, 10, 29), D(2026, 11, 11), "previous 2 weeks"),
        ),
        (
            "this month",
            (D(2026, 11, 1), D(2026, 11, 25), D(2026, 10, 1), D(2026, 10, 25), "same days last month"),
        ),
        ("mtd", (D(2026, 11, 1), D(2026, 11, 25), D(2026, 10, 1), D(2026, 10, 25), "same days last month")),
        ("last month", (D(2026, 10, 1), D(2026, 10, 31), D(2026, 9, 1), D(2026, 9, 30), "previous month")),
        ("2026-10", (D(2026, 10, 1), D(2026, 10, 31), D(2026, 9, 1), D(2026, 9, 30), "previous month")),
        (
            "2026-10-01..2026-10-15",
            (D(2026, 10, 1), D(2026, 10, 15), D(2026, 9, 16), D(2026, 9, 30), "previous 15 days"),
        ),
        ("2026-10-05", (D(2026, 10, 5), D(2026, 10, 5), D(2026, 10, 4), D(2026, 10, 4), "previous day")),
        ("ytd", (D(2026, 1, 1), D(2026, 11, 25), D(2025, 1, 1), D(2025, 11, 25), "same days last year")),
        (
            "this week",
            (D(2026, 11, 23), D(2026, 11, 25), D(2026, 11, 16), D(2026, 11, 18), "same days last week"),
        ),
        ("last week", (D(2026, 11, 16), D(2026, 11, 22), D(2026, 11, 9), D(2026, 11, 15), "previous week")),
        ("qtd", (D(2026, 10, 1), D(2026, 11, 25), D(2026, 7, 1), D(2026, 8, 25), "same days last quarter")),
        ("last quarter", (D(2026, 7, 1), D(2026, 9, 30), D(2026, 4, 1), D(2026, 6, 30), "previous quarter")),
        ("last year", (D(2025, 1, 1), D(2025, 12, 31), D(2024, 1, 1), D(2024, 12, 31), "previous year")),
        ("2025", (D(2025, 1, 1), D(2025, 12, 31), D(2024, 1, 1), D(2024, 12, 31), "previous year")),
    ],
)
def test_periods_and_their_default_compare(text: str, expected: tuple[date, date, date, date, str]) -> None:
    assert dates(text) == expected
    assert dates(text.upper()) == expected


def test_no_period_means_this_month_and_labels_say_how_far() -> None:
    q = parse("", TODAY)
    assert (q.period.start, q.period.end, q.period.label) == (D(2026, 11, 1), TODAY, "this month (to 25 Nov)")
    assert q.period.days == 25
    assert (q.group_by, q.filters, q.top, q.forecast) == ((), (), 10, False)
    assert parse("last month", TODAY).period.label == "October 2026"
    assert parse("last 7 days", TODAY).period.label == "last 7 days"
    assert parse("2026-10-01..2026-10-15", TODAY).period.label == "2026-10-01..2026-10-15"
    assert parse("last quarter", TODAY).period.label == "Q3 2026"


def test_a_period_reaching_past_today_is_cut_at_today() -> None:
    q = parse("2026-11", TODAY)
    assert (q.period.start, q.period.end) == (D(2026, 11, 1), TODAY)
    assert q.period.label == "November 2026 (to 25 Nov)"
    assert (q.compare.start, q.compare.end, q.compare_label) == (
        D(2026, 10, 1),
        D(2026, 10, 25),
        "same days last month",
    )
    q = parse("2026-11-20..2026-12-05", TODAY)
    assert (q.period.start, q.period.end, q.period.label) == (
        D(2026, 11, 20),
        TODAY,
        "2026-11-20..2026-11-25",
    )


def test_this_month_on_the_last_day_is_the_whole_month() -> None:
    assert dates("mtd", D(2026, 3, 31)) == (
        D(2026, 3, 1),
        D(2026, 3, 31),
        D(2026, 2, 1),
        D(2026, 2, 28),
        "previous month",
    )


def test_month_names_are_the_latest_such_month_not_after_today() -> None:
    assert dates("october")[:2] == (D(2026, 10, 1), D(2026, 10, 31))
    assert dates("december")[:2] == (D(2025, 12, 1), D(2025, 12, 31))
    assert dates("Oct 2025")[:2] == (D(2025, 10, 1), D(2025, 10, 31))
    assert parse("november", TODAY).period.end == TODAY


def test_a_future_period_is_refused() -> None:
    assert "December 2026 is in the future" in error("december 2026")
    assert "in the future" in error("2026-12-01")
    assert "in the future" in error("2027")


def test_a_reversed_range_is_refused() -> None:
    assert '"2026-10-15..2026-10-01" ends before it starts' in error("2026-10-15..2026-10-01")


def test_bad_dates_and_counts_are_refused() -> None:
    assert "not a date" in error("2026-02-30")
    assert "not a month" in error("2026-13")
    assert "1 to 400 days" in error("last 0 days")
    assert "1 to 400 days" in error("last 58 weeks")
    assert dates("last 400 days")[0] == D(2025, 10, 22)
    assert "too far back" in error("1999-01")


def test_only_one_period() -> None:
    assert 'both "last 7 days" and "last month"' in error("last 7 days last month")


def test_vs_last_month_clamps_to_month_ends() -> None:
    assert dates("2026-03-31 vs last month") == (
        D(2026, 3, 31),
        D(2026, 3, 31),
        D(2026, 2, 28),
        D(2026, 2, 28),
        "last month",
    )
    assert dates("2026-03-15..2026-03-31 vs last month")[2:4] == (D(2026, 2, 15), D(2026, 2, 28))
    assert dates("last 7 days vs last month")[2:4] == (D(2026, 10, 19), D(2026, 10, 25))


def test_vs_last_month_of_a_whole_month_is_the_previous_month() -> None:
    assert dates("2026-02 vs last month")[2:4] == (D(2026, 1, 1), D(2026, 1, 31))
    assert dates("vs last month 2026-10-01..2026-10-31")[2:4] == (D(2026, 9, 1), D(2026, 9, 30))


def test_vs_last_year_and_vs_previous() -> None:
    assert dates("last month vs last year")[2:] == (D(2025, 10, 1), D(2025, 10, 31), "last year")
    assert dates("2028-02 vs last year", D(2028, 3, 10))[2:4] == (D(2027, 2, 1), D(2027, 2, 28))
    assert dates("last 7 days vs previous") == dates("last 7 days")
    assert dates("mtd compared to prior") == dates("mtd")
    assert "Compare with what?" in error("last month vs tomorrow")


def test_group_by_one_or_two_dimensions() -> None:
    assert parse("by service and team", TODAY).group_by == ("service", "team")
    assert parse("by service, team", TODAY).group_by == ("service", "team")
    assert parse("by service by account", TODAY).group_by == ("service", "billing_account")
    assert parse("cost per project", TODAY).group_by == ("sub_account",)
    assert parse("by Services", TODAY).group_by == ("service",)


def test_three_group_by_dimensions_are_refused() -> None:
    assert "two things at most" in error("by service and team and region")
    assert "two things at most" in error("by service by team by region")


def test_unknown_group_by_word_names_the_valid_ones() -> None:
    message = error("by colour")
    assert 'group by "colour"' in message
    assert "service, account, project, team" in message
    assert "Group by one of" in error("last month by")


def test_by_words_are_storage_dimensions() -> None:
    assert set(BY_WORDS.values()) <= set(DIMENSIONS)
    assert BY_WORDS["account"] == "billing_account"
    assert BY_WORDS["project"] == BY_WORDS["subaccount"] == "sub_account"
    assert BY_WORDS["category"] == "service_category"


def test_filters_with_and_without_where() -> None:
    q = parse("where team=payments provider=aws", TODAY)
    assert q.filters == (Filter("team", ("payments",)), Filter("provider", ("aws",)))
    assert parse("team=payments", TODAY).filters == (Filter("team", ("payments",)),)


def test_filter_values_lists_quotes_and_negation() -> None:
    assert parse("team=payments,search", TODAY).filters == (Filter("team", ("payments", "search")),)
    assert parse('service="Amazon EC2"', TODAY).filters == (Filter("service", ("Amazon EC2",)),)
    assert parse("service='Amazon EC2' by team", TODAY).filters == (Filter("service", ("Amazon EC2",)),)
    assert parse("service=\u201cFoo, Inc.\u201d", TODAY).filters == (Filter("service", ("Foo, Inc.",)),)
    assert parse("team!=payments", TODAY).filters == (Filter("team", ("payments",), negate=True),)
    assert parse("team = a, b env != dev", TODAY).filters == (
        Filter("team", ("a", "b")),
        Filter("environment", ("dev",), negate=True),
    )


def test_the_same_filter_twice_merges_its_values() -> None:
    q = parse("team=payments team=search,payments Team=ops", TODAY)
    assert q.filters == (Filter("team", ("payments", "search", "ops")),)


def test_bad_filters_are_refused() -> None:
    assert 'filter on "colour"' in error("colour=red")
    assert "`team=` needs a value" in error("team=")
    assert "quote is not closed" in error("service='Amazon EC2")


def test_top() -> None:
    assert parse("top 5", TODAY).top == 5
    assert parse("top 50", TODAY).top == 50
    for text in ("top 0", "top 100", "top", "top five"):
        assert "from 1 to 50" in error(text)


def test_forecast_and_filler_words() -> None:
    q = parse("Please show me what's our total spend for last month by team, forecast?", TODAY)
    assert (q.period.label, q.group_by, q.forecast) == ("October 2026", ("team",), True)


def test_unknown_words_are_named_in_order_with_examples() -> None:
    message = error("last month florb by team zork")
    assert message.startswith('Sorry, I did not understand "florb", "zork".')
    assert "Try:" in message
    assert sum(f"`{example}`" in message for example in EXAMPLES) >= 3
    assert isinstance(QueryError("x"), UserError)


@pytest.mark.parametrize("today", [TODAY, D(2026, 1, 1), D(2028, 2, 29), D(2026, 12, 31)])
def test_every_example_parses(today: date) -> None:
    assert 6 <= len(EXAMPLES) <= 8
    for example in EXAMPLES:
        parse(example, today)
        assert f"`{example}`" in HELP


def test_help_words() -> None:
    for text in ("help", "?", "-h", "--help", " HELP "):
        assert is_help(text)
    assert not is_help("last month")


def test_text_is_kept_as_typed() -> None:
    assert parse("  Last Month  ", TODAY).text == "  Last Month  "


def parse_or_none(text: str) -> CostQuery | None:
    """The query, or None when it raised a QueryError with a message (any other exception fails)."""
    try:
        return parse(text, TODAY)
    except QueryError as caught:
        message = str(caught)
    assert message.strip()
    assert "/cost help" in message
    return None


WORDS = st.sampled_from(
    [
        *("last", "past", "this", "vs", "by", "top", "and", "where", "forecast", "7", "0", "400", "401"),
        *("days", "weeks", "month", "year", "quarter", "previous", "oct", "2026", "1999", "2026-02-30"),
        *("2026-10", "2026-13", "2026-10-01..2026-10-15", "team=a", "team!=", "=", "!=", ",", '"', "'"),
        *("service", "team", "region", "mtd", "ytd", "qtd", "today", "yesterday", "\u201c", "what's", "?"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_parses_or_raises_query_error(text: str) -> None:
    q = parse_or_none(text)
    if q is not None:
        assert q.period.start <= q.period.end <= TODAY
        assert q.compare.start <= q.compare.end < q.period.end
        assert q.compare.start < q.period.start


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, max_size=8).map(" ".join))
def test_any_mix_of_grammar_words_parses_or_raises_query_error(text: str) -> None:
    q = parse_or_none(text)
    if q is not None:
        assert q.period.start <= q.period.end <= TODAY
        assert q.compare.start <= q.compare.end < q.period.end
        assert q.compare.start < q.period.start
        assert 1 <= q.top <= 50
        assert len(q.group_by) <= 2
