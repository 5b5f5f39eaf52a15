"""GitHub Actions output (`--format github`): workflow-command annotations and a step summary.

Each finding becomes `::error file=…,line=…,title=…::message` (`::warning` for
warnings). GitHub keeps only a few annotations of a kind per step and drops the
rest silently, so at most `MAX_PER_CODE` are printed per finding code, followed
by a line saying how many were left out. When `$GITHUB_STEP_SUMMARY` is set,
the full list is appended there as a Markdown table.

Escaping follows GitHub's workflow-command rules: in the message `%`, CR and
LF are percent-encoded; in property values also `:` and `,`. Every line printed
is thus exactly one command, whatever a cell of the data contains.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from nkru.render.text import counted
from nkru.findings import Finding, Report, sort_findings
from nkru.fsutil import toplevel
from nkru.text import escape_controls, markdown_cell

MAX_PER_CODE = 10
#: GitHub accepts up to 1 MiB per step summary; stay below it.
SUMMARY_LIMIT = 1_000_000


def escape_data(text: str) -> str:
    text = escape_controls(text, keep="\r\n")  # bidi and other controls as visible \uXXXX
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _workspace() -> Path:
    return Path(os.environ.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()


def file_of(finding: Finding, report: Report, workspace: Path | None = None) -> str | None:
    """The finding's file relative to the repository root (what GitHub needs, wherever the package is in
    it): `workspace` when given, else the outermost git working tree inside `$GITHUB_WORKSPACE` (or the
    current directory) that holds the file — the checked-out repository, also when actions/checkout put it
    in a subfolder or the package is in a submodule —, else the workspace; a file outside it as the package
    names it."""
    if not finding.path:
        return None
    full = (Path(report.package) / finding.path).resolve()
    base = workspace or toplevel(full, within=_workspace()) or _workspace()
    try:
        return full.relative_to(base.resolve()).as_posix()
    except ValueError:
        return finding.path


def annotation(finding: Finding, report: Report, workspace: Path | None = None) -> str:
    kind = "error" if finding.severity == "error" else "warning"
    properties = []
    file = file_of(finding, report, workspace)
    if file:
        properties.append(f"file={escape_property(file)}")
        if finding.line:
            properties.append(f"line={finding.line}")
    properties.append(f"title={escape_property(f'nkru {finding.layer}: {finding.code}')}")
    message = f"{finding.message}\nhint: {finding.hint}" if finding.hint else finding.message
    return f"::{kind} {','.join(properties)}::{escape_data(message)}"


def lines(report: Report, *, timings: bool = False, workspace: Path | None = None) -> list[str]:
    """The annotation lines, the left-out counts and a summary line."""
    out = []
    shown: Counter[str] = Counter()
    left_out: Counter[str] = Counter()
    for finding in sort_findings(report.findings):
        if shown[finding.code] < MAX_PER_CODE:
            shown[finding.code] += 1
            out.append(annotation(finding, report, workspace))
        else:
            left_out[finding.code] += 1
    for code, count in sorted(left_out.items()):
        out.append(f"{count} more {code} finding{'s' if count != 1 else ''} not annotated "
                   f"(GitHub shows at most {MAX_PER_CODE} per type; the step summary lists all)")
    if timings:
        out.extend(f"{layer.layer}: {layer.seconds:.2f} s" for layer in report.layers)
    status = "valid" if report.valid else "invalid"
    out.append(f"nkru validate: {status} — {counted(report.checks, 'check')}, {counted(len(report.errors), 'error')}, "
               f"{counted(len(report.findings) - len(report.errors), 'warning')}"
               + (f", {sum(left_out.values())} not annotated" if left_out else ""))
    return out


_cell = markdown_cell


def _with_hint(finding: Finding) -> str:
    return f"{finding.message} — hint: {finding.hint}" if finding.hint else finding.message


def summary(report: Report, workspace: Path | None = None) -> str:
    """The full report as Markdown for `$GITHUB_STEP_SUMMARY`."""
    status = "✅ valid" if report.valid else "❌ invalid"
    parts = [
        f"## nkru validate: {status}",
        "",
        f"{counted(report.checks, 'check')}, {counted(len(report.errors), 'error')}, "
        f"{counted(len(report.findings) - len(report.errors), 'warning')}.",
        "",
        "| layer | checks | errors | warnings | seconds |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for layer in report.layers:
        parts.append(f"| {_cell(layer.layer)} | {layer.checks} | {layer.errors} | {len(layer.findings) - layer.errors} "
                     f"| {layer.seconds:.2f} |")
    findings = sort_findings(report.findings)
    if findings:
        parts += ["", "### Findings", "", "| severity | layer | code | file | line | row | field | message |",
                  "| --- | --- | --- | --- | ---: | --- | --- | --- |"]
    size = sum(len(p.encode("utf-8")) + 1 for p in parts)
    for index, f in enumerate(findings):
        row = (f"| {f.severity} | {_cell(f.layer)} | {_cell(f.code)} | {_cell(file_of(f, report, workspace))} "
               f"| {f.line or ''} | {_cell(f.row_id)} | {_cell(f.field)} | {_cell(_with_hint(f))} |")
        size += len(row.encode("utf-8")) + 1
        if size > SUMMARY_LIMIT - 200:
            parts.append(f"\n… and {len(findings) - index} more findings: GitHub limits the summary to 1 MiB "
                         "(use `nkru validate --format json` for the full list).")
            break
        parts.append(row)
    return "\n".join(parts) + "\n"


def write_summary(report: Report, target: str | Path, workspace: Path | None = None) -> None:
    # GitHub collects the step's summary from this file: append, as every step does, in one write.
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(summary(report, workspace))


def render(report: Report, console, *, timings: bool = False, base: Path | None = None, **_: object) -> None:
    workspace = base  # None: each file relative to its repository's root (file_of)
    # Plain write: rich would wrap long lines and break the commands.
    console.file.write("\n".join(lines(report, timings=timings, workspace=workspace)) + "\n")
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        try:
            write_summary(report, target, workspace)
        except OSError as exc:
            console.file.write(f"::warning title=nkru validate::{escape_data(f'cannot append the step summary to {target}: {exc}')}\n")
