"""`nkru add-source FILE [PATH] --title ... --publisher ... --date ... --date-basis ...`."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from nkru.cli.common import EXIT_INVALID, EXIT_VALID, package_argument, stdout, usage_error


def command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The article's text (UTF-8), archived byte for byte.")],
    path: Annotated[Path, package_argument()] = Path("."),
    title: Annotated[Optional[str], typer.Option("--title", metavar="TEXT", help="The headline as printed.")] = None,
    publisher: Annotated[Optional[str], typer.Option("--publisher", metavar="TEXT", help="The outlet, as far as the text shows it ('unknown' where it does not).")] = None,
    date: Annotated[Optional[str], typer.Option("--date", metavar="START[/END]", help="Publication date: YYYY-MM-DD, YYYY-MM, YYYY, or START/END (earliest and latest possible day).")] = None,
    date_basis: Annotated[Optional[str], typer.Option("--date-basis", metavar="BASIS", help="stated (printed in the text) or inferred (explain in --notes).")] = None,
    language: Annotated[Optional[str], typer.Option("--language", metavar="TAG", help="BCP 47 tag of the text (default: the language of the archived sources, if they share one).")] = None,
    attribution: Annotated[str, typer.Option("--attribution", metavar="TEXT", help="Credits as printed, e.g. 'RND/AP'.")] = "",
    url: Annotated[str, typer.Option("--url", metavar="URL", help="Where the article was retrieved from (never invented).")] = "",
    notes: Annotated[str, typer.Option("--notes", metavar="TEXT", help="Curator's notes, e.g. how an inferred date was worked out.")] = "",
) -> None:
    """Archive an article's text as the next S### source, append its sources.csv row and list the sentences to curate.

    Missing values are asked for on a terminal; without one, a missing value is a usage error (exit 2).
    Exit 0 added, 1 the text is already archived, 2 usage error.
    """
    from nkru import curate
    from nkru.package import Package, PackageError

    try:
        package = Package.open(path)
    except PackageError as exc:
        raise usage_error(str(exc))
    if not file.is_file():
        raise usage_error(f"{file}: no such file")
    try:
        existing = curate.archived_as(package, file.read_bytes())
    except OSError as exc:
        raise usage_error(f"{file}: cannot be read ({exc.strerror or exc})")
    if existing:
        _refuse(str(curate.DuplicateText(*existing)))
    values = {"title": title, "publisher": publisher, "date": date, "date_basis": date_basis,
              "language": language or curate.default_language(package)}
    prompts = {"title": "Title (headline as printed)", "publisher": "Publisher ('unknown' if the text does not say)",
               "date": "Date (YYYY-MM-DD, YYYY-MM, YYYY or START/END)",
               "date_basis": f"Date basis ({'/'.join(curate.vocabulary(package, 'sources', 'date_basis')) or 'stated/inferred'})",
               "language": "Language (BCP 47, e.g. de)"}
    checks = _checks(package)
    terminal = sys.stdin.isatty()
    missing = [name for name in curate.REQUIRED if not (values[name] or "").strip()]
    if missing and not terminal:
        options = ", ".join(f"--{name.replace('_', '-')}" for name in missing)
        raise usage_error(f"missing {options} (no terminal to ask on); nothing added")
    for name in curate.REQUIRED:
        if name not in missing and name in checks and terminal:
            try:  # a value given on the command line that will not do is asked for again, with the reason
                checks[name](values[name])
            except typer.BadParameter as exc:
                stdout().print(f"--{name.replace('_', '-')} {values[name]!r}: {exc.message}", soft_wrap=True,
                               highlight=False, markup=False)
                missing.append(name)
    for name in curate.REQUIRED:
        if name in missing:
            # typer (its click) asks again, with the reason, until the answer will do (Ctrl-C or Ctrl-D gives up: exit 1).
            values[name] = typer.prompt(prompts[name], value_proc=checks.get(name, _non_empty))
    info = curate.NewSource(title=values["title"], publisher=values["publisher"], date=values["date"],
                            date_basis=values["date_basis"], language=values["language"], attribution=attribution,
                            url=url, notes=notes)
    try:
        added = curate.add_source(package.root, file, info)
    except curate.DuplicateText as exc:
        _refuse(str(exc))
    except (curate.AddSourceError, ValueError) as exc:
        raise usage_error(str(exc))
    out = stdout()
    out.print(f"Added {added.source_id}: {added.text_path} (sha256 {added.sha256}) and its row in data/sources.csv.",
              soft_wrap=True, highlight=False, markup=False)
    out.print(f"\nSentences to curate ({len(added.sentences)}, written as units to data/units.csv):", highlight=False, markup=False)
    for sentence in added.sentences:
        out.print(f"{added.text_path}:{sentence.line}  {sentence.unit_id}  {sentence.text}", soft_wrap=True, highlight=False,
                  markup=False)
    out.print("\nNext steps (docs/curation.md, 'Adding an article'):", highlight=False, markup=False)
    for number, step in enumerate(curate.next_steps(added), 1):
        out.print(f"  {number}. {step}", soft_wrap=True, highlight=False, markup=False)
    raise typer.Exit(EXIT_VALID)


_DOTTED = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*$")


def _non_empty(value: str) -> str:
    if not value.strip():
        raise typer.BadParameter("an answer is needed")
    return value.strip()


def _checks(package) -> dict[str, Callable[[str], str]]:
    """What an answer to each prompt must be: the same tests `curate.add_source` makes, asked at once so that a
    wrong answer is asked again (typer re-prompts on BadParameter) instead of ending the command."""
    from nkru import curate

    precisions = curate.vocabulary(package, "sources", "date_precision")
    bases = curate.vocabulary(package, "sources", "date_basis")

    def date(value: str) -> str:
        value = _non_empty(value)
        try:
            curate.parse_date_range(value, precisions)
        except ValueError as exc:
            reason = str(exc).split(": ", 1)[-1]
            dotted = _DOTTED.match(value)
            if dotted:  # 12.03.2025, as Germans write it
                day, month, year = dotted.groups()
                reason += f" (for {value} as day.month.year, type {year}-{int(month):02d}-{int(day):02d})"
            raise typer.BadParameter(reason) from None
        return value

    def basis(value: str) -> str:
        value = _non_empty(value)
        if bases and value not in bases:
            raise typer.BadParameter(f"choose from {', '.join(bases)}")
        return value

    def language(value: str) -> str:
        import langcodes  # what the rules layer checks the column with

        value = _non_empty(value)
        if not langcodes.tag_is_valid(value):
            raise typer.BadParameter("not a BCP 47 language tag (e.g. de, en, ru)")
        return value

    return {"title": _non_empty, "publisher": _non_empty, "date": date, "date_basis": basis, "language": language}


def _refuse(message: str) -> None:
    from rich.markup import escape

    from nkru.cli.common import stderr

    stderr().print(f"[red]refused:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_INVALID)
