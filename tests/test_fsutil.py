"""Atomic writes: a failed write leaves the old file or folder as it was, and no temp files behind."""

from __future__ import annotations

import pytest

import nkru.fsutil as fsutil


def test_atomic_write_replaces_the_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")
    fsutil.atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failed_file_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with fsutil.atomic_path(target) as temp:
            temp.write_text("half", encoding="utf-8")
            raise RuntimeError("interrupted")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_directory_swaps_in_the_new_folder(tmp_path):
    target = tmp_path / "site"
    target.mkdir()
    (target / "old.html").write_text("old", encoding="utf-8")
    with fsutil.atomic_directory(target) as staging:
        (staging / "new.html").write_text("new", encoding="utf-8")
    assert [p.name for p in target.iterdir()] == ["new.html"]
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


def test_failed_directory_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    target = tmp_path / "site"
    target.mkdir()
    (target / "old.html").write_text("old", encoding="utf-8")
    real_replace = fsutil.os.replace

    def failing(source, destination):
        if str(source).endswith(".tmp"):
            raise OSError("disk full")
        return real_replace(source, destination)

    monkeypatch.setattr(fsutil.os, "replace", failing)
    with pytest.raises(OSError):
        with fsutil.atomic_directory(target) as staging:
            (staging / "new.html").write_text("new", encoding="utf-8")
    assert [p.name for p in target.iterdir()] == ["old.html"]
    assert [p.name for p in tmp_path.iterdir()] == ["site"]
