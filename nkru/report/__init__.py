"""The offline HTML report: timeline, contested facts, actor network, sources with coverage, codebook, validation.

`write_report(out, path)` builds one self-contained `index.html` (styles
inlined, charts as inline SVG, no scripts, nothing loaded from the network) in
a temporary directory beside `out` and then moves it into place, so a failed
run never leaves a half-written report. An existing `out` is replaced only if
it is empty or holds exactly an earlier nkru report: `index.html` and the marker `nkru-report.json`,
whose recorded SHA-256 of `index.html` still matches. A folder holding anything else (or a marker
that does not describe what is there) is refused: the report never deletes a file it did not write.
"""

from __future__ import annotations

import os

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nkru.transaction import atomic_directory
from nkru.package import Package
from nkru.text import escape_controls, safe_url

MARKER = "nkru-report.json"
INDEX = "index.html"
FINDING_LIMIT = 500


class ReportError(Exception):
    """The report cannot be written where asked (a usage error)."""


@dataclass
class ReportResult:
    out: Path
    index: Path
    events: int
    marks: int
    contested: list[str]
    sources: dict[str, float | None]
    validation: Any = None
    notes: list[str] = field(default_factory=list)
    package_root: Path | None = None
    texts: bool = False  # whether the page holds the full article texts


def _code_spans(text: Any):
    """Escape text for HTML and show `backticked` words as code (as the schemas' descriptions write them)."""
    import re

    from markupsafe import Markup, escape

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape("" if text is None else text))))


def _templates():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("nkru.report", "templates"),
                      autoescape=select_autoescape(["html", "j2", "svg"], default_for_string=True, default=True),
                      undefined=StrictUndefined, trim_blocks=False, lstrip_blocks=False)
    env.filters["code_spans"] = _code_spans
    env.filters["safe_url"] = safe_url  # only http(s) addresses ever become links
    from nkru.report.model import date_range_text

    env.filters["date_range"] = date_range_text  # an empty bound is said in words, never "None"
    return env


def without_root(text: object, root: Path) -> str:
    """`text` with the package's absolute folder written as a relative path: the page names no local paths."""
    shown = "" if text is None else str(text)
    for form in dict.fromkeys([str(root), root.as_posix()]):
        shown = shown.replace(form + "/", "").replace(form + os.sep, "").replace(form, ".")
    return shown


def codebook_html(book) -> str:
    """The codebook (nkru.codebook.Codebook) as an HTML fragment."""
    from nkru import codebook

    return _templates().get_template("codebook.html.j2").render(
        book=book, anchor=codebook.field_anchor, words=codebook.words)


def render(path: str | Path = ".", *, validate: bool = True, skip: list[str] | None = None,
           texts: bool = False) -> tuple[str, ReportResult]:
    """The report page for the package at `path`, and a summary of what it shows.

    `validate=False` leaves the validation summary out; `skip` names validation layers not to run. Without
    `texts` the page shows each quote in its sentences, never a whole article text (they are their publishers'
    copyright, and the open release leaves them out too); `texts=True` puts them in, for a private build.
    Raises PackageError when there is no package and ValueError for an unknown layer.
    """
    from nkru import __version__, codebook
    from nkru.coverage import DEFAULT_LANGUAGE
    from nkru.report import charts, model as model_module, sources as sources_module

    package = Package.open(path)
    book = codebook.build(package)  # first: a malformed schema shape stops here with a clear CodebookError
    validation, validation_note = None, None
    if validate:
        from nkru.api import validate_package

        validation = validate_package(package.root, skip=skip)
    else:
        validation_note = "skipped on request"
    m = model_module.build(package)
    type_colours = charts.colours(charts.vocabulary(m, "events", "event_type"))
    actor_colours = charts.colours(charts.vocabulary(m, "actors", "actor_type"))
    timeline_svg = charts.timeline_svg(m, type_colours)
    edges = model_module.network(m)
    net = charts.network_layout(m, edges, actor_colours)
    env = _templates()
    env.filters["local"] = lambda text: without_root(text, package.root)
    network_svg = env.get_template("network.svg.j2").render(net=net) if net else ""
    source_views = sources_module.views(m)
    located = {p.row_id for s in source_views for p in s.passages if p.found}
    contested = model_module.contested(m)
    from nkru.findings import sort_findings

    descriptor = package.descriptor
    description = str(descriptor.get("description") or "")
    from jinja2 import UndefinedError

    try:
        html = env.get_template("report.html.j2").render(
            m=m,
            title=str(descriptor.get("title") or descriptor.get("name") or "Data Package"),
            description_first=description.split("\n\n")[0],
            version=str(descriptor.get("version") or ""),
            toolkit_version=__version__,
            generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            package_name=str(descriptor.get("name") or package.root.name),
            css=(Path(__file__).parent / "templates" / "style.css").read_text(encoding="utf-8"),
            type_colours=type_colours,
            actor_colours=actor_colours,
            actor_types_present=[t for t in actor_colours if net and any(n.actor_type == t for n in net.nodes)],
            timeline_svg=timeline_svg,
            network=net,
            network_svg=network_svg,
            contested=contested,
            denied=model_module.denied(m),
            sources=source_views,
            located=located,
            default_language=DEFAULT_LANGUAGE,
            source_language={s.get("source_id"): s.get("language") or DEFAULT_LANGUAGE for s in m.sources},
            codebook_html=codebook_html(book),
            validation=validation,
            validation_note=validation_note,
            skipped_layers=list(skip or []),
            findings=sort_findings(validation.findings) if validation else [],
            finding_limit=FINDING_LIMIT,
            texts=texts,
        )
    except UndefinedError as exc:  # a table lacks a column the page shows (the structure layer says which)
        raise ReportError(f"the package lacks a column the report shows ({exc}); "
                          "run `nkru validate` to see which") from None
    from nkru.report.offline import external_references, unsafe_links

    # No raw control or bidi character from the data (they would reorder or hide what is shown).
    html = escape_controls(html, keep="\n\t")
    unsafe = unsafe_links(html)
    if unsafe:  # the template only links to anchors and http(s) addresses; anything else is a bug
        raise ReportError(f"the report would hold {len(unsafe)} link(s) that are not http(s) (first: {unsafe[0][:80]!r}); "
                          "refusing to write it")
    leaks = external_references(html)
    if leaks:  # the page must work offline; never write one that would fetch something
        raise ReportError(f"the report would load {len(leaks)} resource(s) from the network "
                          f"(first: {leaks[0]}); refusing to write it")
    result = ReportResult(
        out=Path(), index=Path(), events=len(m.events), marks=timeline_svg.count('class="event-mark"'),
        contested=[c.event.id for c in contested],
        sources={s.id: s.coverage_percent for s in source_views},
        validation=validation, notes=list(m.notes), package_root=package.root, texts=texts)
    return html, result


def _sha256(path: Path) -> str:
    import hashlib

    from nkru.fsutil import read_regular

    return hashlib.sha256(read_regular(path)).hexdigest()


def _is_previous_report(out: Path) -> bool:
    """True when `out` holds exactly what an earlier `nkru report` wrote: index.html (unchanged since,
    by the SHA-256 the marker records) and the marker; nothing else, no links, no folders."""
    from nkru import safejson

    try:
        entries = {entry.name: entry for entry in os.scandir(out)}
        if set(entries) - {INDEX, MARKER} or MARKER not in entries:
            return False
        if not all(entry.is_file(follow_symlinks=False) for entry in entries.values()):
            return False
        from nkru.fsutil import read_regular

        marker = safejson.loads(read_regular(out / MARKER), name=MARKER)
        if not isinstance(marker, dict) or marker.get("generator") != "nkru report":
            return False
        recorded = marker.get("sha256") if isinstance(marker.get("sha256"), dict) else {}
        if INDEX in entries:
            return recorded.get(INDEX) == _sha256(out / INDEX)
        return True
    except (OSError, ValueError):
        return False


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out} exists and is not a directory")
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise ReportError(f"{out}: {ancestor} is not a directory")
    if out.is_dir() and any(out.iterdir()) and not _is_previous_report(out):
        raise ReportError(f"{out} is not empty and does not hold exactly an earlier nkru report ({INDEX} and "
                          f"{MARKER}, unchanged since); the report never replaces files it did not write: "
                          "choose a new or empty directory")


#: Where the report goes when no --out is given (relative to the current directory).
DEFAULT_OUT = Path("report")


def write_report(out: str | Path | None = None, path: str | Path = ".", *, validate: bool = True,
                 skip: list[str] | None = None, texts: bool = False) -> ReportResult:
    """Build the report of the package at `path` into the directory `out` (atomically); `texts`: see `render`."""
    from nkru.fsutil import confine, lock_for, write_error

    named = None if out is None else out
    out = Path(out) if out is not None else DEFAULT_OUT
    try:
        confine(out, Path.cwd(), named=named)  # a planted `report` link, or one above --out inside the package
    except OSError as exc:
        raise ReportError(write_error(exc)) from None
    _check_target(out)
    html, result = render(path, validate=validate, skip=skip, texts=texts)
    try:
        with lock_for(result.package_root, out), atomic_directory(confine(out, Path.cwd(), named=named), named=named) as staging:
            (staging / INDEX).write_bytes(html.encode("utf-8"))
            marker = {"generator": "nkru report", "package": str(result.package_root), "index": INDEX,
                      "sha256": {INDEX: _sha256(staging / INDEX)},
                      "events": result.events, "contested": result.contested, "coverage": result.sources,
                      "texts": "included" if result.texts else "excluded"}
            (staging / MARKER).write_text(json.dumps(marker, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            _check_target(out)  # again: it may have changed while the report was built
    except OSError as exc:
        raise ReportError(write_error(exc, out)) from exc
    result.out = out
    result.index = out / INDEX
    return result


