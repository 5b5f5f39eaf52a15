"""The last line of the promise: even a bug is one clear line and exit 1, never a traceback."""

from __future__ import annotations

import sys

import pytest


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
