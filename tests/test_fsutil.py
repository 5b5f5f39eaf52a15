"""The one write mechanism (nkru.transaction): a file, several files or a folder change all together or not at all;
a failed write leaves the old state and no temporary item behind; a killed writer's journal is completed or undone
by the next write, and never while its writer is alive. (Killed processes: tests/hostile/test_kill9.py.)"""

from __future__ import annotations

import json
import os

import pytest

import nkru.fsutil as fsutil
import nkru.transaction as tx


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_replaces_the_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")
    os.chmod(target, 0o600)
    tx.atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert os.stat(target).st_mode & 0o777 == 0o600  # the file's mode is kept
    assert names(tmp_path) == ["out.txt"]  # no journal, no staged file


@pytest.mark.parametrize("how", ["path", "folder", "several"])
def test_an_error_in_the_block_keeps_the_old_state(tmp_path, how):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "old.html").write_text("old", encoding="utf-8")
    (tmp_path / "out.txt").write_text("old", encoding="utf-8")
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError):
        if how == "path":
            with tx.atomic_path(tmp_path / "out.txt") as temp:
                temp.write_text("half", encoding="utf-8")
                raise RuntimeError("interrupted")
        elif how == "folder":
            with tx.atomic_directory(tmp_path / "site") as staging:
                (staging / "new.html").write_text("new", encoding="utf-8")
                raise RuntimeError("interrupted")
        else:
            with tx.Transaction(tmp_path) as transaction:
                transaction.add(tmp_path / "out.txt", b"new")
                transaction.add(tmp_path / "b" / "c.txt", b"new")
                raise RuntimeError("interrupted")
    assert {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert names(tmp_path) == ["out.txt", "site"]  # the folder `b` it created is gone too


def test_atomic_directory_swaps_in_the_new_folder(tmp_path):
    target = tmp_path / "site"
    target.mkdir()
    (target / "old.html").write_text("old", encoding="utf-8")
    for _ in range(2):  # into an existing folder, and again
        with tx.atomic_directory(target) as staging:
            (staging / "new.html").write_text("new", encoding="utf-8")
        assert names(target) == ["new.html"] and os.stat(target).st_mode & 0o777 == 0o755
        assert names(tmp_path) == ["site"]


def test_several_files_in_several_folders_are_written_together(tmp_path):
    with tx.Transaction(tmp_path) as transaction:
        for name in ("a.txt", "docs/b.md", "deep/er/c.json"):
            transaction.add(tmp_path / name, name.encode())
        site = transaction.folder_for(tmp_path / "site")
        (site / "index.html").write_text("<html>", encoding="utf-8")
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["a.txt", "deep/er/c.json", "docs/b.md", "site/index.html"]
    assert len(transaction.targets) == 4


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_failed_rename_before_anything_changed_puts_everything_back(tmp_path, monkeypatch, kind):
    target = tmp_path / "site"
    if kind == "folder":
        target.mkdir()
        (target / "old.html").write_text("old", encoding="utf-8")
    else:
        target.write_text("old", encoding="utf-8")
    real = os.replace

    def failing(source, destination):
        if str(source).endswith(tx.SUFFIX):
            raise OSError(28, "disk full")
        return real(source, destination)

    monkeypatch.setattr(tx.os, "replace", failing)
    with pytest.raises(OSError, match="disk full"):
        if kind == "folder":
            with tx.atomic_directory(target) as staging:
                (staging / "new.html").write_text("new", encoding="utf-8")
        else:
            tx.atomic_write_text(target, "new")
    if kind == "folder":
        assert names(target) == ["old.html"]
    else:
        assert target.read_text(encoding="utf-8") == "old"
    assert names(tmp_path) == ["site"]


def plant_journal(root, targets, committed):
    (root / tx.STATE_DIR).mkdir()
    (root / tx.STATE_DIR / tx.STATE).write_text(json.dumps({"committed": committed, "targets": [str(t) for t in targets]}),
                                                encoding="utf-8")


@pytest.mark.parametrize("committed", [False, True])
def test_the_next_write_finishes_or_undoes_what_a_killed_writer_left(tmp_path, committed):
    """The states a kill leaves: a file staged, a folder parked but not yet replaced, a SQLite journal beside a
    staged database, a journal that never got into place."""
    text, site, db = tmp_path / "out.txt", tmp_path / "site", tmp_path / "nkru.sqlite"
    text.write_text("old", encoding="utf-8")
    tx.staged_path(text).write_text("new", encoding="utf-8")
    tx.old_path(site).mkdir()
    (tx.old_path(site) / "old.html").write_text("old", encoding="utf-8")  # parked: `site` itself is missing
    tx.staged_path(site).mkdir()
    (tx.staged_path(site) / "new.html").write_text("new", encoding="utf-8")
    db.write_text("old", encoding="utf-8")
    tx.staged_path(db).write_text("new", encoding="utf-8")
    (tmp_path / (tx.staged_path(db).name + "-journal")).write_text("sqlite's", encoding="utf-8")
    (tmp_path / f"{tx.STATE_DIR}.0123abcd.tmp").mkdir()
    (tmp_path / "unrelated.nkru-staged.txt").write_text("mine", encoding="utf-8")
    plant_journal(tmp_path, [text, site, db], committed)
    assert "pending" in tx.pending(tmp_path)
    tx.atomic_write_text(tmp_path / "other.txt", "x")  # any write into the same folder recovers first
    state = "new" if committed else "old"
    assert text.read_text(encoding="utf-8") == state
    assert names(site) == [f"{state}.html"]  # a parked folder is back when the swap is undone
    assert db.read_text(encoding="utf-8") == state
    assert names(tmp_path) == ["nkru.sqlite", "other.txt", "out.txt", "site", "unrelated.nkru-staged.txt"]
    assert tx.pending(tmp_path) is None


def test_a_live_writers_journal_is_never_recovered(tmp_path):
    transaction = tx.Transaction(tmp_path)
    transaction.begin()
    transaction.add(tmp_path / "out.txt", b"new")
    with pytest.raises(fsutil.PackageBusy):
        tx.recover(tmp_path)  # the journal's flock is held (as by another process: flock is per open file)
    assert (tmp_path / tx.STATE_DIR).is_dir() and tx.staged_path(tmp_path / "out.txt").is_file()
    transaction.commit()
    assert names(tmp_path) == ["out.txt"]


def test_the_kill_hook_names_a_step(monkeypatch):
    kills = []
    monkeypatch.setattr(tx.os, "kill", lambda pid, sig: kills.append(sig))
    monkeypatch.setattr(tx, "_passed", tx.Counter())
    monkeypatch.setenv(tx.KILL_ENV, "replaced:2")
    for name in ("begun", "replaced", "replaced", "replaced"):
        tx.step(name)
    assert kills == [tx.signal.SIGKILL]
    monkeypatch.setattr(tx, "_passed", tx.Counter())
    monkeypatch.setenv(tx.KILL_ENV, "*:3:STOP")
    for name in tx.STEPS:
        tx.step(name)
    assert kills == [tx.signal.SIGKILL, tx.signal.SIGSTOP]


def test_a_failed_write_removes_the_folders_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with tx.atomic_path(tmp_path / "a" / "b" / "out.txt") as temp:
            temp.write_text("half", encoding="utf-8")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_read_regular_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(fsutil.NotRegularFile, match="named pipe"):
        fsutil.read_regular(fifo)
    with pytest.raises(fsutil.NotRegularFile, match="folder"):
        fsutil.read_regular(tmp_path)
    (tmp_path / "file.txt").write_bytes(b"data")
    assert fsutil.read_regular(tmp_path / "file.txt") == b"data"
    assert fsutil.special_kind(fifo) == "named pipe (FIFO)" and fsutil.special_kind(tmp_path / "file.txt") is None
