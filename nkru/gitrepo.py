"""The few read-only git questions releases ask: is this a repository, is it clean, which releases are tagged.

Every call runs `git -C <package root>`; nothing here writes to a repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterable

from nkru.metadata import Version

TAG = re.compile(r"^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


class GitError(RuntimeError):
    """git is missing, or a git command failed."""


def run(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    if shutil.which("git") is None:
        raise GitError("git is not installed")
    process = subprocess.run(["git", "-C", str(root), *args], capture_output=True)
    if check and process.returncode != 0:
        message = process.stderr.decode("utf-8", "replace").strip()
        raise GitError(f"git {' '.join(args)}: {message}")
    return process


def is_repository(root: Path) -> bool:
    try:
        process = run(root, "rev-parse", "--is-inside-work-tree", check=False)
    except GitError:
        return False
    return process.returncode == 0 and process.stdout.strip() == b"true"


def dirty_paths(root: Path, exclude: Iterable[str] = ()) -> list[str]:
    """Changed, staged or untracked (not ignored) paths under `root`, as git prints them, leaving out
    the paths under `exclude` (POSIX paths relative to `root`, e.g. the release output folder)."""
    pathspecs = [f":(exclude){path}" for path in exclude]
    process = run(root, "status", "--porcelain", "--untracked-files=all", "--", ".", *pathspecs)
    return [line[3:] for line in process.stdout.decode("utf-8", "replace").splitlines() if line.strip()]


def release_tags(root: Path) -> list[tuple[Version, str]]:
    """Every `vX.Y.Z` tag, newest version first; empty when `root` is not in a git repository."""
    if not is_repository(root):
        return []
    process = run(root, "tag", "--list", "v*")
    tags = []
    for tag in process.stdout.decode("utf-8", "replace").split():
        match = TAG.match(tag)
        if match:
            tags.append((Version(*(int(g) for g in match.groups())), tag))
    return sorted(tags, reverse=True)


def latest_release(root: Path) -> tuple[Version, str] | None:
    """The highest `vX.Y.Z` tag and its version, or None."""
    tags = release_tags(root)
    return tags[0] if tags else None


def resolve_commit(root: Path, ref: str) -> str | None:
    """The commit a ref names, or None if it names none (or `root` is not in a repository)."""
    if ref.startswith("-") or not is_repository(root):
        return None
    process = run(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    return process.stdout.decode().strip() or None if process.returncode == 0 else None


def read_blob(root: Path, commit: str, path: str) -> bytes | None:
    """The bytes of `path` (relative to `root`) at `commit`, exactly as committed; None if it is not there."""
    process = run(root, "cat-file", "blob", f"{commit}:./{path}", check=False)
    return process.stdout if process.returncode == 0 else None


def tracked_files(root: Path, *paths: str) -> list[str]:
    """Tracked files under `paths` (relative to `root`), as POSIX paths relative to `root`."""
    process = run(root, "ls-files", "-z", "--", *paths)
    return sorted(p for p in process.stdout.decode("utf-8").split("\0") if p)



def tree_files(root: Path, commit: str, *paths: str) -> list[str]:
    """Files under `paths` (relative to `root`) in the tree of `commit`, as POSIX paths relative to `root`."""
    # Run from `root`, ls-tree takes and prints paths relative to it.
    process = run(root, "ls-tree", "-r", "-z", "--name-only", commit, "--", *(paths or (".",)), check=False)
    if process.returncode != 0:
        raise GitError(f"git ls-tree {commit}: {process.stderr.decode('utf-8', 'replace').strip()}")
    return sorted(p for p in process.stdout.decode("utf-8").split("\0") if p)


def commit_adding(root: Path, path: str) -> str | None:
    """The newest commit (reachable from HEAD) that added `path`, or None (not there, or not in a shallow history)."""
    process = run(root, "log", "-1", "--diff-filter=A", "--format=%H", "--", f"./{path}", check=False)
    commit = process.stdout.decode().strip()
    if process.returncode != 0 or not commit:
        return None
    # In a shallow clone the oldest fetched commit seems to add every file: it proves nothing.
    return None if commit in shallow_commits(root) else commit


def shallow_commits(root: Path) -> set[str]:
    """The boundary commits of a shallow clone (empty for a full one)."""
    process = run(root, "rev-parse", "--git-path", "shallow", check=False)
    name = process.stdout.decode().strip()
    if process.returncode != 0 or not name:
        return set()
    path = Path(name) if Path(name).is_absolute() else Path(root) / name
    try:
        return set(path.read_text(encoding="ascii").split())
    except OSError:
        return set()


def has_commit(root: Path, commit: str) -> bool:
    """Whether the repository holding `root` has the commit object `commit` (False outside a repository)."""
    if not is_repository(root) or commit.startswith("-"):
        return False
    return run(root, "cat-file", "-e", f"{commit}^{{commit}}", check=False).returncode == 0


def child_adding(root: Path, parent: str, path: str) -> str | None:
    """The commit (reachable from HEAD) whose parent is `parent` and which adds `path`, or None."""
    process = run(root, "log", "--diff-filter=A", "--format=%H %P", "--", f"./{path}", check=False)
    if process.returncode != 0:
        return None
    for line in process.stdout.decode().splitlines():
        commit, *parents = line.split()
        if parent in parents:
            return commit
    return None
