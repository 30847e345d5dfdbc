"""SOQL's relative date literals (``TODAY``, ``LAST_N_DAYS:7``, ``NEXT_FISCAL_QUARTER``) and
the range of days each one means on a given day."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Unit = Literal["day", "week", "month", "quarter", "year"]
_UNITS: dict[str, Unit] = {
    "DAYS": "day",
    "WEEKS": "week",
    "MONTHS": "month",
    "QUARTERS": "quarter",
    "YEARS": "year",
}
_PLAIN_PERIODS: dict[str, tuple[Unit, int, int]] = {
    "YESTERDAY": ("day", -1, 1),
    "TODAY": ("day", 0, 1),
    "TOMORROW": ("day", 1, 1),
    "LAST_90_DAYS": ("day", -90, 91),
    "NEXT_90_DAYS": ("day", 1, 90),
}
# Fiscal periods are calendar ones: an org's fiscal year starts in January unless configured.
_PERIODS: tuple[tuple[str, Unit], ...] = (
    ("WEEK", "week"),
    ("MONTH", "month"),
    ("QUARTER", "quarter"),
    ("YEAR", "year"),
    ("FISCAL_QUARTER", "quarter"),
    ("FISCAL_YEAR", "year"),
)
for _name, _unit in _PERIODS:
    for _prefix, _start in (("LAST", -1), ("THIS", 0), ("NEXT", 1)):
        _PLAIN_PERIODS[f"{_prefix}_{_name}"] = (_unit, _start, 1)
_COUNTED = re.compile(
    r"(LAST_N|NEXT_N|N)_(?:FISCAL_(?=QUARTERS|YEARS))?(DAYS|WEEKS|MONTHS|QUARTERS|YEARS)(_AGO)?"
)


@dataclass(frozen=True)
class RelativeDate:
    """A relative date literal (``TODAY``, ``LAST_N_DAYS:7``): a run of whole periods.

    The range starts `start` periods away from the period holding today and lasts `length`
    periods.
    """

    literal: str
    unit: Unit
    start: int
    length: int


def relative_date(text: str) -> RelativeDate:
    name, _, amount = text.upper().partition(":")
    if name in _PLAIN_PERIODS and not amount:
        return RelativeDate(name, *_PLAIN_PERIODS[name])
    match = _COUNTED.fullmatch(name)
    if match is None or not amount or (match[1] == "N") != bool(match[3]):
        raise ValueError(text)
    unit, n = _UNITS[match[2]], int(amount)
    if match[1] == "N":
        return RelativeDate(text.upper(), unit, -n, 1)
    if match[1] == "NEXT_N":
        return RelativeDate(text.upper(), unit, 1, n)
    # LAST_N_DAYS:n includes today; the longer LAST_N_* periods stop before the current one.
    return RelativeDate(text.upper(), unit, -n, n + 1 if unit == "day" else n)


def bounds(literal: RelativeDate, today: date) -> tuple[date, date]:
    """The half-open range of days a relative literal means on `today`.

    Weeks start on Sunday (Salesforce's en_US locale); the emulator's users all live in UTC.
    """
    anchor = _period_start(today, literal.unit)
    first = _shift(anchor, literal.unit, literal.start)
    return first, _shift(anchor, literal.unit, literal.start + literal.length)


def _period_start(day: date, unit: Unit) -> date:
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=(day.weekday() + 1) % 7)
    first_month = {"month": day.month, "quarter": (day.month - 1) // 3 * 3 + 1, "year": 1}[unit]
    return date(day.year, first_month, 1)


def _shift(day: date, unit: Unit, count: int) -> date:
    if unit in ("day", "week"):
        return day + timedelta(days=count * (7 if unit == "week" else 1))
    months = count * {"month": 1, "quarter": 3, "year": 12}[unit]
    year, month = divmod(day.month - 1 + months, 12)
    last_day = calendar.monthrange(day.year + year, month + 1)[1]
    return date(day.year + year, month + 1, min(day.day, last_day))
