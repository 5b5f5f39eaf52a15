"""The last line of the promise: even a bug is one clear line and exit 1, never a traceback."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.slow  # hostile packages through the report


def test_an_internal_error_is_one_line_not_a_traceback(monkeypatch, capsys, tmp_path):
    from nkru import api
    from nkru.cli import main

    def boom(*args, **kwargs):
        raise TypeError("[bold]not markup[/bold] \u202e")

    monkeypatch.setattr(api, "validate_package", boom)
    monkeypatch.setattr(sys, "argv", ["nkru", "validate", str(tmp_path)])
    monkeypatch.delenv("NKRU_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error (TypeError: [bold]not markup[/bold] \\u202e)" in err
    assert "\u202e" not in err and err.count("\n") == 1
    monkeypatch.setenv("NKRU_DEBUG", "1")
    with pytest.raises(TypeError):
        main()


def test_a_report_of_a_table_missing_a_column_is_refused_not_a_traceback(package_copy, tmp_path):
    """Found by the fuzzer: sources.csv without its date_end column."""
    import csv
    import io

    from tests.helpers import run_cli

    path = package_copy / "data" / "sources.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    drop = rows[0].index("date_end")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([row[:drop] + row[drop + 1:] for row in rows])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    result = run_cli("report", str(package_copy), "--out", str(tmp_path / "report"), "--no-validate")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2 and "date_end" in result.stderr and "nkru validate" in result.stderr
    assert not (tmp_path / "report").exists()
