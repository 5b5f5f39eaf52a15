"""`nkru add-source FILE [PATH] --title ... --publisher ... --date ... --date-basis ...`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

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
    missing = [name for name in curate.REQUIRED if not (values[name] or "").strip()]
    if missing and not sys.stdin.isatty():
        options = ", ".join(f"--{name.replace('_', '-')}" for name in missing)
        raise usage_error(f"missing {options} (no terminal to ask on); nothing added")
    for name in missing:
        values[name] = typer.prompt(prompts[name])
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


def _refuse(message: str) -> None:
    from rich.markup import escape

    from nkru.cli.common import stderr

    stderr().print(f"[red]refused:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_INVALID)
