"""The small, forgiving grammar of `/cost QUERY` and `finops-bot cost "QUERY"`.

Words in any order, case-insensitive. Periods end today at the latest: cost data arrives late
anyway, so `last 7 days` is the 7 days ending today (today-6..today) and a period that reaches
past today is cut at today (its label says so). Filter values keep their case as typed.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from finops.errors import UserError

DEFAULT_TOP, MAX_TOP, MAX_DAYS, MIN_YEAR = 10, 50, 400, 2000

BY_WORDS: dict[str, str] = {
    "service": "service",
    "account": "billing_account",
    "subaccount": "sub_account",
    "sub_account": "sub_account",
    "project": "sub_account",
    "team": "team",
    "region": "region",
    "environment": "environment",
    "env": "environment",
    "provider": "provider",
    "cloud": "provider",
    "cost_center": "cost_center",
    "costcenter": "cost_center",
    "category": "service_category",
    # the storage names work as themselves too
    "billing_account": "billing_account",
    "service_category": "service_category",
    "charge_category": "charge_category",
}
MAIN_WORDS = "service, account, project, team, region, env, provider, category, cost_center"
FILLER = frozenset(
    {"cost", "costs", "spend", "spending", "spent", "show", "me", "the", "of", "for", "in", "please"}
    | {"total", "what", "what's", "whats", "was", "is", "our", "my", "and", "where", "group", "grouped"}
    | {"how", "much", "did", "we"}
)
EXAMPLES = (
    "last 7 days by service",
    "mtd by team",
    "last month by service and team top 5",
    "yesterday where provider=aws by account",
    'last 30 days service="Amazon EC2" by region',
    "this quarter by team forecast",
    "ytd env!=dev by provider vs last year",
    "october by project",
)
HELP = (
    '*`/cost QUERY`* (CLI: `finops-bot cost "QUERY"`). Words in any order; case does not matter.\n'
    "*When* (one; default `this month`): `today`, `yesterday`, `last 7 days`, `last 4 weeks`, "
    "`this week`, `last week`, `this month`/`mtd`, `last month`, `october`, `oct 2025`, `2026-10`, "
    "`2026-10-05`, `2026-10-01..2026-10-15`, `this quarter`/`qtd`, `last quarter`, `this year`/`ytd`, "
    "`last year`, `2025`. Periods end today at the latest: `last 7 days` includes today.\n"
    f"*Group* (at most two): `by service`, `by service and team`. Words: {MAIN_WORDS}.\n"
    '*Filter* (`where` is optional): `team=payments`, `team=payments,search`, `service="Amazon EC2"`, '
    "`env!=dev`.\n"
    "*Compare* (default: the period just before, of the same length; a period to date compares with "
    "the same days of the last month, quarter or year): `vs previous`, `vs last month`, `vs last year`.\n"
    "*More*: `top 5` (rows shown, 1-50, default 10), `forecast`.\n"
    "*Examples*:\n" + "\n".join(f"• `{example}`" for example in EXAMPLES)
)

MONTH_NAMES = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)
MONTHS = {name.lower(): n for n, name in enumerate(MONTH_NAMES, 1)} | {
    name[:3].lower(): n for n, name in enumerate(MONTH_NAMES, 1)
}
MONTHS["sept"] = 9
DAY_UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7}
UNIT_MONTHS = {"month": 1, "quarter": 3, "year": 12}
VS_WORDS = frozenset({"vs", "vs.", "versus", "against", "compared"})
COMPARE_WORDS = {"previous": "previous", "prior": "previous", "previous period": "previous"} | {
    f"{word} {unit}": unit for word in ("last", "previous", "prior") for unit in ("month", "year")
}
_NUMBER = re.compile(r"[0-9]{1,6}")
_DATE = r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
_COMMA = "\ue000"  # a comma inside quotes: part of the value, not a separator
_QUOTES = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'", _COMMA: ""}
)


class QueryError(UserError):
    """A query that could not be read; the message says what, and how to say it instead."""


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # inclusive
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Filter:
    dimension: str  # a storage dimension (storage.models.DIMENSIONS)
    values: tuple[str, ...]  # any of
    negate: bool = False


@dataclass(frozen=True)
class CostQuery:
    text: str
    period: Period
    compare: Period
    compare_label: str
    group_by: tuple[str, ...]
    filters: tuple[Filter, ...]
    top: int
    forecast: bool


@dataclass(frozen=True)
class _Span:
    """A period as named, before it is cut at today; `unit` says how to compare it by default."""

    start: date
    end: date
    label: str
    unit: str | None = None  # week, month, quarter, year; None: the same number of days before
    before: str = ""  # the default compare label when unit is None


def _error(message: str) -> QueryError:
    return QueryError(f"{message}\nSee `/cost help` for what I understand.")


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _add_months(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _day_month(day: date) -> str:
    return f"{day.day} {MONTH_NAMES[day.month - 1][:3]}"


def _describe(start: date, end: date) -> str:
    if start == end:
        return start.isoformat()
    if start.day == 1 and end == _month_end(end) and start.year == end.year:
        if start.month == end.month:
            return f"{MONTH_NAMES[start.month - 1]} {start.year}"
        if (start.month, end.month) == (1, 12):
            return str(start.year)
        if start.month % 3 == 1 and end.month == start.month + 2:
            return f"Q{(start.month + 2) // 3} {start.year}"
    return f"{start.isoformat()}..{end.isoformat()}"


def _week(monday: date, label: str) -> _Span:
    return _Span(monday, monday + timedelta(days=6), label, "week")


def _month(first: date, label: str = "") -> _Span:
    return _Span(first, _month_end(first), label or _describe(first, _month_end(first)), "month")


def _quarter(day: date, label: str = "") -> _Span:
    first = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    end = _month_end(_add_months(first, 2))
    return _Span(first, end, label or _describe(first, end), "quarter")


def _year(year: int, label: str = "") -> _Span:
    return _Span(date(year, 1, 1), date(year, 12, 31), label or str(year), "year")


def _last_week(today: date) -> _Span:
    monday = today - timedelta(days=today.weekday() + 7)
    sunday = monday + timedelta(days=6)
    return _week(monday, f"last week ({_day_month(monday)}-{_day_month(sunday)})")


PHRASES: dict[str, Callable[[date], _Span]] = {
    "today": lambda t: _Span(t, t, "today", before="yesterday"),
    "yesterday": lambda t: _Span(
        t - timedelta(days=1), t - timedelta(days=1), "yesterday", before="the day before"
    ),
    "this week": lambda t: _week(t - timedelta(days=t.weekday()), "this week"),
    "last week": _last_week,
    "this month": lambda t: _month(t.replace(day=1), "this month"),
    "last month": lambda t: _month(_add_months(t.replace(day=1), -1)),
    "this quarter": lambda t: _quarter(t, "this quarter"),
    "last quarter": lambda t: _quarter(_add_months(t.replace(day=1), -3)),
    "this year": lambda t: _year(t.year, "this year"),
    "last year": lambda t: _year(t.year - 1),
}
PHRASES |= {"mtd": PHRASES["this month"], "qtd": PHRASES["this quarter"], "ytd": PHRASES["this year"]}


def _checked_year(text: str) -> int:
    if int(text) < MIN_YEAR:
        raise _error(f'"{text}" is too far back: dates start in {MIN_YEAR}.')
    return int(text)


def _to_date(text: str) -> date:
    year, month, day = text.split("-")
    try:
        return date(_checked_year(year), int(month), int(day))
    except ValueError:
        raise _error(f'"{text}" is not a date; write it as YYYY-MM-DD.') from None


def _last_n(count: str, unit: str, today: date) -> _Span:
    n, days = int(count), int(count) * DAY_UNITS[unit]
    if not 1 <= days <= MAX_DAYS:
        raise _error(f"`last N days` can go back 1 to {MAX_DAYS} days (`last {n} {unit}` is not that).")
    size = f"{n} {unit.rstrip('s')}{'s' if n != 1 else ''}"
    return _Span(today - timedelta(days=days - 1), today, f"last {size}", before=f"previous {size}")


def _dated(word: str, today: date) -> _Span | None:
    """A period written with digits: a range, a day, a month or a year."""
    if m := re.fullmatch(rf"({_DATE})\.\.({_DATE})", word):
        start, end = _to_date(m[1]), _to_date(m[2])
        if start > end:
            raise _error(f'"{word}" ends before it starts; write the earlier date first.')
        shown = end if start > today else min(end, today)
        return _Span(start, shown, _describe(start, shown))
    if re.fullmatch(_DATE, word):
        day = _to_date(word)
        return _Span(day, day, day.isoformat(), before="previous day")
    if m := re.fullmatch(r"([0-9]{4})-([0-9]{1,2})", word):
        if not 1 <= int(m[2]) <= 12:
            raise _error(f'"{word}" is not a month; write it as YYYY-MM.')
        return _month(date(_checked_year(m[1]), int(m[2]), 1))
    if re.fullmatch(r"[0-9]{4}", word):
        return _year(_checked_year(word))
    return None


def _match_period(words: list[str], today: date) -> tuple[_Span, int] | None:
    """The period named by the first of `words` (lower case, padded with ""), and its length."""
    for n in (2, 1):
        if (phrase := " ".join(words[:n])) in PHRASES:
            return PHRASES[phrase](today), n
    if words[0] in ("last", "past") and _NUMBER.fullmatch(words[1]) and words[2] in DAY_UNITS:
        return _last_n(words[1], words[2], today), 3
    if words[0] in MONTHS:
        month = MONTHS[words[0]]
        if re.fullmatch(r"[0-9]{4}", words[1]):
            return _month(date(_checked_year(words[1]), month, 1)), 2
        year = today.year if month <= today.month else today.year - 1
        return _month(date(year, month, 1)), 1
    span = _dated(words[0], today)
    return (span, 1) if span else None


def _clip(span: _Span, today: date) -> Period:
    if span.start > today:
        raise _error(f"{span.label} is in the future (today is {today.isoformat()}).")
    if span.end <= today:
        return Period(span.start, span.end, span.label)
    return Period(span.start, today, f"{span.label} (to {_day_month(today)})")


def _months_back(period: Period, months: int) -> Period:
    """The same dates `months` back, clamped to month ends; whole months stay whole months."""
    start, end = _add_months(period.start, -months), _add_months(period.end, -months)
    if period.start.day == 1 and period.end == _month_end(period.end):
        end = _month_end(end)
    return Period(start, end, _describe(start, end))


def _compare(span: _Span, period: Period, versus: str) -> tuple[Period, str]:
    if versus in UNIT_MONTHS:
        return _months_back(period, UNIT_MONTHS[versus]), f"last {versus}"
    to_date = period.end < span.end
    name = f"same days last {span.unit}" if to_date else f"previous {span.unit}"
    if span.unit == "week":
        start, end = period.start - timedelta(days=7), period.end - timedelta(days=7)
        return Period(start, end, _describe(start, end)), name
    if span.unit in UNIT_MONTHS:
        return _months_back(period, UNIT_MONTHS[span.unit]), name
    start, end = period.start - timedelta(days=period.days), period.start - timedelta(days=1)
    days = f"{period.days} days" if period.days > 1 else "day"
    return Period(start, end, _describe(start, end)), span.before or f"previous {days}"


def _split(text: str) -> list[str]:
    """Whitespace-separated tokens; a quote opens only at the start of a word or a value."""
    tokens: list[str] = []
    chars: list[str] = []
    quote, started = "", False
    for ch in text.translate(_QUOTES):
        if quote:
            quote = "" if ch == quote else quote
            chars += [_COMMA if ch == "," else ch] if quote else []
        elif ch in "\"'" and (not chars or chars[-1] in "=,"):
            quote, started = ch, True
        elif ch.isspace():
            if started:
                tokens.append("".join(chars))
            chars, started = [], False
        else:
            chars.append(ch)
            started = True
    if quote:
        raise _error('A quote is not closed. Quote values with spaces like this: service="Amazon EC2".')
    return [*tokens, "".join(chars)] if started else tokens


def _words(text: str) -> list[str]:
    """Words and `key=value` filters; `team = a, b` is glued into one filter."""
    glued: list[str] = []
    for token in _split(text):
        last = glued[-1] if glued else ""
        if last and (
            last.endswith("=") or ("=" in last and last.endswith(",")) or token.startswith(("=", "!="))
        ):
            glued[-1] += token
        else:
            glued.append(token)
    words: list[str] = []
    for token in glued:
        if "=" in token:
            words.append(token)  # its values are split by the filter, quoted commas kept
        else:
            words += [word.strip("?!").replace(_COMMA, ",") for word in re.split(r"[\s,]+", token)]
    return [word for word in words if word]


def _dimension(word: str) -> str | None:
    word = word.lower().replace("-", "_")
    if word.endswith("s") and word not in BY_WORDS:
        word = word[:-1]  # services, teams, accounts
    return BY_WORDS.get(word)


def _not_understood(words: list[str]) -> str:
    shown = ", ".join(f'"{w[:30]}"' for w in words[:6]) + (
        f" and {len(words) - 6} more" if len(words) > 6 else ""
    )
    tries = "\n".join(f"• `{example}`" for example in EXAMPLES[:4])
    return (
        f"Sorry, I did not understand {shown}.\nTry:\n{tries}\nor `/cost help` for everything I understand."
    )


class _Parser:
    def __init__(self, text: str, today: date) -> None:
        self.words, self.today, self.i = _words(text), today, 0
        self.span: _Span | None = None
        self.span_text = ""
        self.versus = "previous"
        self.group_by: list[str] = []
        self.filters: dict[tuple[str, bool], list[str]] = {}
        self.top, self.forecast = DEFAULT_TOP, False
        self.unknown: list[str] = []

    def word(self, k: int = 0) -> str:
        j = self.i + k
        return self.words[j].lower() if j < len(self.words) else ""

    def run(self) -> None:
        while self.i < len(self.words):
            self.i += self._step()

    def _step(self) -> int:
        if "=" in self.word():
            self._filter(self.words[self.i])
            return 1
        for rule in (self._period, self._by, self._versus, self._top):
            if used := rule():
                return used
        if self.word() == "forecast":
            self.forecast = True
        elif self.word() not in FILLER:
            self.unknown.append(self.words[self.i])
        return 1

    def _period(self) -> int:
        found = _match_period([self.word(k) for k in range(3)], self.today)
        if found is None:
            return 0
        span, used = found
        text = " ".join(self.words[self.i : self.i + used])
        if self.span is not None:
            raise _error(f'Give one period only; I read both "{self.span_text}" and "{text}".')
        self.span, self.span_text = span, text
        return used

    def _by(self) -> int:
        if self.word() not in ("by", "per"):
            return 0
        used = 1
        while True:
            if self.word(used) == "and" and used > 1 and _dimension(self.word(used + 1)):
                used += 1
            dimension = _dimension(self.word(used))
            if dimension is None:
                break
            if dimension not in self.group_by:
                self.group_by.append(dimension)
            used += 1
        if used == 1:
            what = f'group by "{self.words[self.i + 1][:30]}"' if self.word(1) else 'use "by" alone'
            raise _error(f"I can't {what}. Group by one of: {MAIN_WORDS}.")
        if len(self.group_by) > 2:
            raise _error("I can group by two things at most, e.g. `by service and team`.")
        return used

    def _versus(self) -> int:
        if self.word() not in VS_WORDS:
            return 0
        skip = 2 if self.word(1) in ("to", "with") else 1
        for n in (2, 1):
            if (phrase := " ".join(self.word(skip + k) for k in range(n))) in COMPARE_WORDS:
                self.versus = COMPARE_WORDS[phrase]
                return skip + n
        raise _error("Compare with what? Say `vs previous`, `vs last month` or `vs last year`.")

    def _top(self) -> int:
        if self.word() != "top":
            return 0
        if not (_NUMBER.fullmatch(self.word(1)) and 1 <= int(self.word(1)) <= MAX_TOP):
            raise _error(f"`top` takes a number from 1 to {MAX_TOP}, e.g. `top 5`.")
        self.top = int(self.word(1))
        return 2

    def _filter(self, token: str) -> None:
        key, _, value = token.partition("=")
        negate = key.endswith("!")
        key = key.removesuffix("!").strip()
        dimension = _dimension(key)
        if dimension is None:
            what = f'filter on "{key[:30]}"' if key else 'read "=" without a name before it'
            raise _error(f"I can't {what}. Filter on one of: {MAIN_WORDS}, e.g. `team=payments`.")
        values = [v.strip().replace(_COMMA, ",") for v in value.lstrip("=").split(",")]
        if not any(values):
            raise _error(f"`{key}=` needs a value, e.g. `{key.lower()}=payments`.")
        merged = self.filters.setdefault((dimension, negate), [])
        merged += [v for v in dict.fromkeys(values) if v and v not in merged]

    def query(self, text: str) -> CostQuery:
        if self.unknown:
            raise QueryError(_not_understood(self.unknown))
        span = self.span or PHRASES["this month"](self.today)
        period = _clip(span, self.today)
        compare, compare_label = _compare(span, period, self.versus)
        filters = tuple(Filter(dim, tuple(values), negate) for (dim, negate), values in self.filters.items())
        return CostQuery(
            text, period, compare, compare_label, tuple(self.group_by), filters, self.top, self.forecast
        )


def parse(text: str, today: date) -> CostQuery:
    """Read a `/cost` query as of `today`; raises `QueryError` with a message for the person."""
    parser = _Parser(text, today)
    parser.run()
    return parser.query(text)


def is_help(text: str) -> bool:
    return text.strip().lower() in {"help", "?", "-h", "--help"}
