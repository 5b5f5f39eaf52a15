"""Date ranges with a precision: the pure logic behind the rules layer's date checks.

A dated row says when something happened as a range (`date_start`, `date_end`)
and how precisely it is known (`date_precision`). The precision vocabulary
itself lives in the schemas; this module knows what each unit means:

- ``day``: the range is one day;
- ``month``: the range runs from the first to the last day of one month;
- ``year``: the range runs from 1 January to 31 December of one year.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: The four columns that make a table "dated" (read from the schemas, never listed per resource).
DATE_COLUMNS = ("date_start", "date_end", "date_precision", "date_basis")

#: Units this module can check. A precision the schemas add later is simply not checked here.
PRECISIONS = ("day", "month", "year")


def parse_date(value: object) -> date | None:
    """An ISO 8601 calendar date (YYYY-MM-DD) or None when the value is empty or malformed.

    Malformed dates are the structure layer's to report; here they only make a rule skip the row.
    (`date.fromisoformat` alone would also accept forms such as ``20230101`` or ``2023-W01-1``.)
    """
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def canonical_range(day: date, precision: str) -> tuple[date, date]:
    """The range of `precision` that contains `day`; ValueError for an unknown precision."""
    if precision == "day":
        return day, day
    if precision == "month":
        last = calendar.monthrange(day.year, day.month)[1]
        return day.replace(day=1), day.replace(day=last)
    if precision == "year":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    raise ValueError(f"unknown date precision {precision!r}")


def precision_problem(start: date, end: date, precision: str) -> str | None:
    """Why `start`..`end` is not one whole unit of `precision`, or None when it is (or the unit is unknown)."""
    if precision not in PRECISIONS:
        return None
    expected = canonical_range(start, precision)
    if (start, end) == expected:
        return None
    wanted = {
        "day": "a day-precise range starts and ends on the same day",
        "month": "a month-precise range runs from the first to the last day of one month",
        "year": "a year-precise range runs from 1 January to 31 December of one year",
    }[precision]
    return f"{wanted} (expected {expected[0].isoformat()} to {expected[1].isoformat()})"


def agrees(start: date, end: date, precision: str) -> bool:
    """True when the range is exactly one unit of a known precision."""
    return precision in PRECISIONS and precision_problem(start, end, precision) is None
