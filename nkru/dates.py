"""Date ranges with a precision: the pure logic behind the rules layer's date checks.

A dated row says when something happened as a range (`date_start`, `date_end`:
the earliest and the latest possible day) and describes that span
(`date_precision`). The precision vocabulary itself lives in the schemas; this
module knows what each value means, and that the value is always the most
specific true description of the range:

- ``day``: the range is one day (start = end);
- ``month``: the range runs from the first to the last day of one month;
- ``year``: the range runs from 1 January to 31 December of one year;
- ``range``: any other span (start <= end, and not exactly one day, month or year).

Every range therefore has exactly one correct precision (`span_precision`), and a
row whose precision differs from it is wrong in one of two directions: a unit
recorded as ``range`` (say "month" when the span is a month), or a span that is
not the unit it claims (a "month" that runs over two months).

`edtf()` writes a range as an Extended Date/Time Format (ISO 8601-2) string: the
unit itself for a day, month or year (``2024-11-22``, ``2024-11``, ``2023``), an
interval otherwise (``2022-12-01/2023-08-31``).
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: The four columns that make a table "dated" (read from the schemas, never listed per resource).
DATE_COLUMNS = ("date_start", "date_end", "date_precision", "date_basis")

DAY, MONTH, YEAR, RANGE = "day", "month", "year", "range"
#: Units this module can check. A precision the schemas add later is simply not checked here.
UNITS = (DAY, MONTH, YEAR)
PRECISIONS = (DAY, MONTH, YEAR, RANGE)

_UNIT_TEXT = {
    DAY: "one day (date_start = date_end)",
    MONTH: "one whole month (the first to the last day of one month)",
    YEAR: "one whole year (1 January to 31 December)",
}


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
    """The range of unit `precision` (day, month, year) that contains `day`; ValueError otherwise."""
    if precision == DAY:
        return day, day
    if precision == MONTH:
        last = calendar.monthrange(day.year, day.month)[1]
        return day.replace(day=1), day.replace(day=last)
    if precision == YEAR:
        return date(day.year, 1, 1), date(day.year, 12, 31)
    raise ValueError(f"{precision!r} is not a unit (day, month or year)")


def span_precision(start: date, end: date) -> str | None:
    """The most specific precision that describes `start`..`end` exactly; None for a reversed range."""
    if start > end:
        return None
    for unit in UNITS:
        if canonical_range(start, unit) == (start, end):
            return unit
    return RANGE


def precision_problem(start: date, end: date, precision: str) -> str | None:
    """Why `precision` does not describe `start`..`end`, or None when it does (or is unknown, or the range reversed)."""
    if precision not in PRECISIONS:
        return None
    actual = span_precision(start, end)
    if actual is None or actual == precision:
        return None
    if precision == RANGE:
        return (f"the range is exactly {_UNIT_TEXT[actual]}, so its precision is {actual!r}, not 'range' "
                "(the most specific true description is used)")
    expected = canonical_range(start, precision)
    wanted = f"a {precision}-precise range is {_UNIT_TEXT[precision]}"
    return (f"{wanted} (from date_start: {expected[0].isoformat()} to {expected[1].isoformat()}); "
            f"this range's precision is {actual!r}")


def agrees(start: date, end: date, precision: str) -> bool:
    """True when `precision` is a known value and the most specific true description of the range."""
    return precision in PRECISIONS and span_precision(start, end) == precision


def edtf(start: date, end: date) -> str:
    """The range as an EDTF / ISO 8601-2 string: ``2024-11-22``, ``2024-11``, ``2023`` or ``start/end``."""
    precision = span_precision(start, end)
    if precision == DAY:
        return start.isoformat()
    if precision == MONTH:
        return f"{start.year:04d}-{start.month:02d}"
    if precision == YEAR:
        return f"{start.year:04d}"
    return f"{start.isoformat()}/{end.isoformat()}"


# -- column-wise -------------------------------------------------------------------------------------


def to_dates(values: "pd.Series") -> "pd.Series":
    """Strings to datetime64 (a day each); anything not YYYY-MM-DD, or impossible, becomes NaT."""
    import pandas as pd

    text = values.astype("string")
    parsed = pd.to_datetime(text.where(text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False)),
                            format="%Y-%m-%d", errors="coerce")
    return parsed


def span_precisions(start: "pd.Series", end: "pd.Series") -> "pd.Series":
    """`span_precision` for whole columns of ISO date strings (or datetimes): <NA> where a date is
    missing or malformed, or the range reversed."""
    import numpy as np
    import pandas as pd

    first = start if pd.api.types.is_datetime64_any_dtype(start) else to_dates(start)
    last = end if pd.api.types.is_datetime64_any_dtype(end) else to_dates(end)
    valid = first.notna() & last.notna() & (first <= last)
    same_year = first.dt.year == last.dt.year
    same_month = same_year & (first.dt.month == last.dt.month)
    is_day = first == last
    is_month = same_month & first.dt.is_month_start & last.dt.is_month_end & ~is_day
    is_year = (same_year & (first.dt.month == 1) & (first.dt.day == 1)
               & (last.dt.month == 12) & (last.dt.day == 31))
    chosen = np.select([is_day.fillna(False).to_numpy(bool), is_month.fillna(False).to_numpy(bool),
                        is_year.fillna(False).to_numpy(bool)], [DAY, MONTH, YEAR], RANGE)
    result = pd.Series(chosen, index=start.index, dtype="string")
    return result.where(valid.fillna(False).to_numpy(bool), pd.NA)


def precision_agrees(start: "pd.Series", end: "pd.Series", precision: "pd.Series") -> "pd.Series":
    """True per row unless `precision` is a known value that is not the range's span precision.

    Rows with a missing or malformed date, a reversed range or an unknown precision pass here:
    those are the structure layer's and the date-order rule's to report.
    """
    import pandas as pd

    actual = span_precisions(start, end)
    given = precision.astype("string")
    known = given.isin(PRECISIONS).fillna(False)
    bad = known & actual.notna() & (actual != given).fillna(False)
    return ~bad.astype(bool)


def order_agrees(start: "pd.Series", end: "pd.Series") -> "pd.Series":
    """True per row unless both dates parse and date_start is after date_end."""
    first, last = to_dates(start), to_dates(end)
    return ~((first > last).fillna(False)).astype(bool)


def edtf_column(start: "pd.Series", end: "pd.Series") -> "pd.Series":
    """`edtf()` for whole columns; <NA> where a date is missing, malformed or the range reversed."""
    import pandas as pd

    first = start if pd.api.types.is_datetime64_any_dtype(start) else to_dates(start)
    last = end if pd.api.types.is_datetime64_any_dtype(end) else to_dates(end)
    precision = span_precisions(first, last)
    day = first.dt.strftime("%Y-%m-%d")
    out = (day + "/" + last.dt.strftime("%Y-%m-%d")).astype("string")
    out = out.mask(precision == DAY, day)
    out = out.mask(precision == MONTH, first.dt.strftime("%Y-%m"))
    out = out.mask(precision == YEAR, first.dt.strftime("%Y"))
    return out.where(precision.notna(), pd.NA).astype("string")


def edtf_expr(start: str = "date_start", end: str = "date_end"):
    """`edtf()` as a polars expression over two Date columns (null where a date is missing or the range reversed)."""
    import polars as pl

    first, last = pl.col(start), pl.col(end)
    same_year = first.dt.year() == last.dt.year()
    is_day = first == last
    is_month = (same_year & (first.dt.month() == last.dt.month()) & (first.dt.day() == 1)
                & (last == last.dt.month_end()) & ~is_day)
    is_year = (same_year & (first.dt.month() == 1) & (first.dt.day() == 1)
               & (last.dt.month() == 12) & (last.dt.day() == 31))
    day = first.dt.strftime("%Y-%m-%d")
    return (pl.when(first.is_null() | last.is_null() | (first > last)).then(None)
            .when(is_day).then(day)
            .when(is_month).then(first.dt.strftime("%Y-%m"))
            .when(is_year).then(first.dt.strftime("%Y"))
            .otherwise(day + "/" + last.dt.strftime("%Y-%m-%d")))
