"""The one type system (`nkru.types`): every Table Schema type typed column-wise, one value through the
same vectorised parser (`FieldSpec.parse`), the reasons the structure layer and `load()` report."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import polars as pl
import pytest

from nkru.types import CellError, FieldSpec, LoadError, type_column

UTC = timezone.utc
CASES = [
    # (type, options, format, text, value or None, reason when it does not parse)
    ("string", {}, None, " any text ", " any text ", None),
    ("integer", {}, None, "+42", 42, None),
    ("integer", {}, None, "1.5", None, "is not an integer"),
    ("integer", {"groupChar": ","}, None, "1,234", 1234, None),
    ("integer", {"bareNumber": False}, None, "EUR 12", 12, None),
    ("number", {}, None, "-1.5e3", -1500.0, None),
    ("number", {}, None, "1,5", None, "is not a number"),
    ("number", {"decimalChar": ",", "groupChar": "."}, None, "1.234,5", 1234.5, None),
    ("number", {"bareNumber": False}, None, "12.5%", 12.5, None),
    ("boolean", {}, None, "TRUE", True, None),
    ("boolean", {"trueValues": ["ja"], "falseValues": ["nein"]}, None, "nein", False, None),
    ("boolean", {}, None, "yes", None, "is not a boolean"),
    ("date", {}, None, "2024-06-01", date(2024, 6, 1), None),
    ("date", {}, None, "2023-02-30", None, "is not a date in the form YYYY-MM-DD"),
    ("date", {}, None, "2024-6-1", None, "is not a date in the form YYYY-MM-DD"),
    ("date", {}, None, "0000-01-01", None, "is not a date in the form YYYY-MM-DD"),
    ("date", {}, None, "9999-12-31", date(9999, 12, 31), None),
    ("date", {}, "%d/%m/%Y", "01/06/2024", date(2024, 6, 1), None),
    ("date", {}, "%d/%m/%Y", "2024-06-01", None, "is not a date in the form %d/%m/%Y"),
    ("datetime", {}, None, "2024-06-01T10:00:00", datetime(2024, 6, 1, 10, tzinfo=UTC), None),
    ("datetime", {}, None, "2024-06-01T10:00:00Z", datetime(2024, 6, 1, 10, tzinfo=UTC), None),
    ("datetime", {}, None, "2024-06-01T10:00:00.5+05:30", datetime(2024, 6, 1, 4, 30, 0, 500000, tzinfo=UTC), None),
    ("datetime", {}, None, "2024-06-01 10:00:00", None, "is not a datetime"),
    ("time", {}, None, "23:59:59", time(23, 59, 59), None),
    ("time", {}, None, "24:00:00", None, "is not a time"),
    ("year", {}, None, "2017", 2017, None),
    ("year", {}, None, "17", None, "is not a year"),
    ("geopoint", {}, None, "1,2", "1,2", None),  # a type kept as text
]


@pytest.mark.parametrize("kind, options, fmt, text, value, reason", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_a_column_and_a_single_value_type_alike(kind, options, fmt, text, value, reason):
    spec = FieldSpec(name="f", type=kind, format=fmt, options=options)
    column = pl.Series("f", [text, "", None, text], dtype=pl.String)
    values, bad, why = type_column(spec, column)
    assert bad.to_list() == [reason is not None, False, False, reason is not None]
    assert values.to_list()[1:3] == [None, None]  # missing: null, never bad
    if reason is None:
        assert values.to_list()[0] == value and spec.parse(text) == value
    else:
        assert values.to_list()[0] is None
        assert (why if isinstance(why, str) else why[0]).startswith(reason)
        with pytest.raises(CellError, match=reason.split(" (")[0]):
            spec.parse(text)


def test_an_enum_is_typed_as_its_field_and_checked_per_cell():
    spec = FieldSpec.from_descriptor({"name": "n", "type": "integer", "constraints": {"enum": ["1", 2]}}, frozenset({""}))
    assert spec.enum == (1, 2)
    values, bad, why = type_column(spec, pl.Series("n", ["1", "3", ""]))
    assert values.to_list() == [1, None, None] and bad.to_list() == [False, True, False]
    assert why[1].startswith("is not in the field's controlled vocabulary (1, 2)")
    for enum, message in ((["x"], "is not an integer"), ([[1]], "not a single value"), (["1", 2.5], "mixed types")):
        with pytest.raises(LoadError, match=message):
            FieldSpec.from_descriptor({"name": "n", "type": "integer", "constraints": {"enum": enum}}, frozenset({""}))
