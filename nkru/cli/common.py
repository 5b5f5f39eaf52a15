"""Helpers shared by CLI commands: consoles and turning usage errors into exit code 2."""

from __future__ import annotations

import io
import re
import sys

import typer
from rich.console import Console
from rich.markup import escape

from nkru.text import escape_controls

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

#: The colour codes rich itself writes to a terminal (and nothing else starting with ESC).
_SGR = re.compile(r"(\x1b\[[0-9;]*m)")


class SafeStream(io.TextIOBase):
    """stdout/stderr that never carry a raw control or bidi character: each is written as a visible
    `\\uXXXX` escape (valid inside JSON strings), line feeds excepted. On a terminal, the colour
    codes rich writes are let through; data reaches rich already escaped (SafeConsole)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        if self._stream.isatty() if hasattr(self._stream, "isatty") else False:
            parts = _SGR.split(text)
            safe = "".join(part if index % 2 else escape_controls(part) for index, part in enumerate(parts))
        else:
            safe = escape_controls(text)
        self._stream.write(safe)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return getattr(self._stream, "encoding", "utf-8")

    @property
    def errors(self):
        return getattr(self._stream, "errors", "strict")

    def __getattr__(self, name):
        return getattr(self._stream, name)


def install_safe_streams() -> None:
    """Route sys.stdout and sys.stderr through SafeStream (once)."""
    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout)
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr)


class SafeConsole(Console):
    """A rich Console whose text has its control and bidi characters escaped before rich sees them
    (rich would drop some silently and pass the rest, ESC included, to the terminal)."""

    def render_str(self, text: str, **kwargs):
        return super().render_str(escape_controls(text), **kwargs)


def stdout() -> Console:
    """The console for a command's output: the real terminal width on a terminal (rich measures it); when piped,
    lines are never wrapped (soft wrap), so a path or a `file:line` stays on one line for grep and editors."""
    piped = not sys.stdout.isatty()
    return SafeConsole(file=sys.stdout, highlight=False, soft_wrap=piped)


def stderr() -> Console:
    return SafeConsole(file=sys.stderr, highlight=False)


def usage_error(message: str) -> typer.Exit:
    """Print `message` to stderr and return the exit to raise (code 2)."""
    stderr().print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USAGE)


def split_names(values: list[str] | None) -> list[str] | None:
    """`--only a,b --only c` -> ['a', 'b', 'c']."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]
