"""Helpers shared by CLI commands: consoles and turning usage errors into exit code 2."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def stdout() -> Console:
    """The console for a command's output: the real terminal width on a terminal (rich measures it); when piped,
    lines are never wrapped (soft wrap), so a path or a `file:line` stays on one line for grep and editors."""
    piped = not sys.stdout.isatty()
    return Console(file=sys.stdout, highlight=False, soft_wrap=piped)


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False)


def usage_error(message: str) -> typer.Exit:
    """Print `message` to stderr and return the exit to raise (code 2)."""
    stderr().print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USAGE)


def split_names(values: list[str] | None) -> list[str] | None:
    """`--only a,b --only c` -> ['a', 'b', 'c']."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]
