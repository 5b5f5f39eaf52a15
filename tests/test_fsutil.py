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


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_failed_directory_swap_puts_the_old_folder_back(tmp_path, monkeypatch, exchange):
    target = tmp_path / "site"
    target.mkdir()
    (target / "old.html").write_text("old", encoding="utf-8")
    real_rename = fsutil.os.rename

    def failing_exchange(a, b):
        raise OSError("disk full")

    def failing_rename(source, destination):
        if str(source).endswith(".nkru-tmp"):
            raise OSError("disk full")
        return real_rename(source, destination)

    if exchange:
        monkeypatch.setattr(fsutil, "_exchange", failing_exchange)
    else:
        monkeypatch.setattr(fsutil, "_exchange", lambda a, b: False)
        monkeypatch.setattr(fsutil.os, "rename", failing_rename)
    with pytest.raises(OSError):
        with fsutil.atomic_directory(target) as staging:
            (staging / "new.html").write_text("new", encoding="utf-8")
    assert [p.name for p in target.iterdir()] == ["old.html"]
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_directory_swap_works_with_and_without_renameat2(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(fsutil, "_exchange", lambda a, b: False)
    target = tmp_path / "site"
    target.mkdir()
    (target / "old.html").write_text("old", encoding="utf-8")
    with fsutil.atomic_directory(target) as staging:
        (staging / "new.html").write_text("new", encoding="utf-8")
    assert [p.name for p in target.iterdir()] == ["new.html"]
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


def test_a_rerun_removes_what_a_killed_writer_left_and_restores_a_parked_folder(tmp_path):
    import subprocess

    dead = subprocess.run(["true"]).returncode or 0
    pid = subprocess.Popen(["true"])
    pid.wait()  # a process id that is surely no longer running
    target = tmp_path / "site"
    (tmp_path / f".site.{pid.pid}-abcd0123.nkru-old").mkdir()
    (tmp_path / f".site.{pid.pid}-abcd0123.nkru-old" / "old.html").write_text("old", encoding="utf-8")
    (tmp_path / f".site.{pid.pid}-ffff0000.nkru-tmp").mkdir()
    (tmp_path / f".out.txt.{pid.pid}-00000000.nkru-tmp").write_text("half", encoding="utf-8")
    (tmp_path / f".out.txt.{pid.pid}-00000000.nkru-tmp.wal").write_text("half", encoding="utf-8")
    (tmp_path / f".out.txt.{pid.pid}-00000000.nkru-tmp-journal").write_text("half", encoding="utf-8")  # SQLite's
    (tmp_path / "unrelated.nkru-tmp").write_text("mine", encoding="utf-8")
    fsutil.recover(target)
    assert (target / "old.html").read_text(encoding="utf-8") == "old"  # the parked folder is back
    fsutil.atomic_write_text(tmp_path / "out.txt", "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "site", "unrelated.nkru-tmp"]
    assert dead == 0


def test_a_failed_write_removes_the_folders_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with fsutil.atomic_path(tmp_path / "a" / "b" / "out.txt") as temp:
            temp.write_text("half", encoding="utf-8")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_read_regular_refuses_a_fifo_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(fsutil.NotRegularFile, match="named pipe"):
        fsutil.read_regular(fifo)
    with pytest.raises(fsutil.NotRegularFile, match="folder"):
        fsutil.read_regular(tmp_path)
    (tmp_path / "file.txt").write_bytes(b"data")
    assert fsutil.read_regular(tmp_path / "file.txt") == b"data"
    assert fsutil.special_kind(fifo) == "named pipe (FIFO)" and fsutil.special_kind(tmp_path / "file.txt") is None
