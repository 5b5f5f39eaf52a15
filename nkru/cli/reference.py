"""The command-line reference in the README, generated from the commands themselves.

README.md holds a cog block that calls `markdown()`; `cog -r README.md` regenerates it and
`cog --check README.md` (tests/test_cli_help.py) fails while it is stale, so the reference is always the help
the commands print.
"""

from __future__ import annotations

import click
from typer.main import get_command

#: The width the reference is wrapped at (whatever the terminal that regenerates it).
WIDTH = 100


def commands() -> dict[str, click.Command]:
    """Every registered command, in registration order (nkru.cli.COMMANDS)."""
    from nkru.cli import app

    return dict(get_command(app).commands)


def help_text(name: str | None = None) -> str:
    """`nkru NAME --help` (`nkru --help` for None), wrapped at WIDTH columns."""
    from nkru.cli import app

    root = get_command(app)
    command = root if name is None else root.commands[name]
    width = {"terminal_width": WIDTH, "max_content_width": WIDTH}
    parent = click.Context(root, info_name="nkru", **root.context_settings, **width)
    context = parent if name is None else click.Context(command, parent=parent, info_name=name,
                                                        **command.context_settings, **width)
    return command.get_help(context)


def markdown() -> str:
    """The reference: `nkru --help`, then each command's help, as Markdown."""
    parts = ["```text", help_text(), "```", ""]
    for name in commands():
        parts += [f"#### `nkru {name}`", "", "```text", help_text(name), "```", ""]
    return "\n".join(parts)
