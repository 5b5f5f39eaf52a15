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

**Open bounds.** Where the text bounds only one side, the other side is empty (None / null): an open
start (no earliest day in the text) or an open end. EDTF writes them as open intervals,
``../2023-11-23`` and ``2022-02-24/..``. A range with an open side is never exactly one unit, so its
precision is ``range``; a range with both sides open says nothing and is not a date.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
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


def edtf(start: date | None, end: date | None) -> str | None:
    """The range as an EDTF / ISO 8601-2 string: ``2024-11-22``, ``2024-11``, ``2023`` or ``start/end``;
    an open side as ``..`` (``../2023-11-23``, ``2022-02-24/..``); None when both sides are open."""
    if start is None or end is None:
        if start is None and end is None:
            return None
        return f"{start.isoformat() if start else '..'}/{end.isoformat() if end else '..'}"
    precision = span_precision(start, end)
    if precision == DAY:
        return start.isoformat()
    if precision == MONTH:
        return f"{start.year:04d}-{start.month:02d}"
    if precision == YEAR:
        return f"{start.year:04d}"
    return f"{start.isoformat()}/{end.isoformat()}"


# -- column-wise (polars) ------------------------------------------------------------------------------


def to_dates(values):
    """ISO date strings (a polars or pandas Series, or a list) to a polars Date Series: anything not
    YYYY-MM-DD, or impossible, becomes null (as `parse_date` gives None)."""
    import polars as pl

    text = _series(values)
    if text.dtype == pl.Date:
        return text
    text = text.cast(pl.String)
    shaped = text.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$").fill_null(False)
    return text.set(~shaped, None).str.strptime(pl.Date, "%Y-%m-%d", strict=False)


def _series(values):
    import polars as pl

    if isinstance(values, pl.Series):
        return values
    if type(values).__module__.startswith("pandas"):
        return pl.from_pandas(values)
    return pl.Series(values)


def span_precision_expr(start, end):
    """`span_precision` as a polars expression over two Date expressions (names or `pl.Expr`):
    day, month, year or range; null where a date is missing or the range reversed."""
    import polars as pl

    first, last = _col(start), _col(end)
    same_year = first.dt.year() == last.dt.year()
    is_day = first == last
    is_month = (same_year & (first.dt.month() == last.dt.month()) & (first.dt.day() == 1)
                & (last == last.dt.month_end()))
    is_year = (same_year & (first.dt.month() == 1) & (first.dt.day() == 1)
               & (last.dt.month() == 12) & (last.dt.day() == 31))
    return (pl.when(first.is_null() | last.is_null() | (first > last)).then(pl.lit(None, dtype=pl.String))
            .when(is_day).then(pl.lit(DAY))
            .when(is_month).then(pl.lit(MONTH))
            .when(is_year).then(pl.lit(YEAR))
            .otherwise(pl.lit(RANGE)))


def precision_agrees_expr(start, end, precision):
    """True per row unless `precision` (a String expression) is a known value that is not the range's
    span precision. Rows with a missing or malformed date, a reversed range or an unknown precision
    pass here: those are the structure layer's and the date-order rule's to report."""
    given = _col(precision)
    actual = span_precision_expr(start, end)
    bad = given.is_in(list(PRECISIONS)) & actual.is_not_null() & (actual != given)
    return ~bad.fill_null(False)


def open_precision_agrees_expr(start_open, end_open, precision):
    """True per row unless exactly one side is open (two Boolean expressions or names) and `precision`
    is a known unit other than ``range``: an open range is never exactly one day, month or year."""
    one_open = _col(start_open) ^ _col(end_open)
    bad = one_open & _col(precision).is_in(list(UNITS))
    return ~bad.fill_null(False)


def order_agrees_expr(start, end):
    """True per row unless both dates are set and `start` is after `end` (two Date expressions or names)."""
    return ~(_col(start) > _col(end)).fill_null(False)


def _col(name):
    """A column name as a polars expression (an expression as it is)."""
    import polars as pl

    return pl.col(name) if isinstance(name, str) else name


def precision_agrees(start, end, precision):
    """`precision_agrees_expr` for whole columns (ISO date strings or dates, and the precision text):
    a polars Boolean Series."""
    import polars as pl

    frame = pl.DataFrame({"s": to_dates(start), "e": to_dates(end), "p": _series(precision).cast(pl.String)})
    return frame.select(precision_agrees_expr("s", "e", "p")).to_series()


def order_agrees(start, end):
    """True per row unless both dates parse and date_start is after date_end (a polars Boolean Series)."""
    import polars as pl

    frame = pl.DataFrame({"s": to_dates(start), "e": to_dates(end)})
    return frame.select(order_agrees_expr("s", "e")).to_series()


def edtf_expr(start: str = "date_start", end: str = "date_end"):
    """`edtf()` as a polars expression over two Date columns: an open (null) side as ``..``; null where
    both sides are open or the range is reversed."""
    import polars as pl

    first, last = pl.col(start), pl.col(end)
    same_year = first.dt.year() == last.dt.year()
    is_day = first == last
    is_month = (same_year & (first.dt.month() == last.dt.month()) & (first.dt.day() == 1)
                & (last == last.dt.month_end()) & ~is_day)
    is_year = (same_year & (first.dt.month() == 1) & (first.dt.day() == 1)
               & (last.dt.month() == 12) & (last.dt.day() == 31))
    day = first.dt.strftime("%Y-%m-%d")
    return (pl.when(first.is_null() & last.is_null()).then(None)
            .when(first.is_null()).then(pl.lit("../") + last.dt.strftime("%Y-%m-%d"))
            .when(last.is_null()).then(first.dt.strftime("%Y-%m-%d") + pl.lit("/.."))
            .when(first > last).then(None)
            .when(is_day).then(day)
            .when(is_month).then(first.dt.strftime("%Y-%m"))
            .when(is_year).then(first.dt.strftime("%Y"))
            .otherwise(day + "/" + last.dt.strftime("%Y-%m-%d")))
