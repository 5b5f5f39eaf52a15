"""Structure layer: the descriptor and every resource against its Table Schema, with frictionless.

Also what frictionless does not enforce: safe resource paths, remote URLs and
hash algorithms it would silently skip. frictionless is never run `trusted`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from nkru.findings import Finding, LayerResult, define
from nkru.resources import DATAPACKAGE_PROFILE, profile_path
from nkru.package import DESCRIPTOR, Package, UnsafePath, check_relative_path, is_remote

NAME = "structure"

V2 = "https://datapackage.org/profiles/2.0/datapackage.json"
HASH = re.compile(r"^sha256:[0-9a-f]{64}$")

define("descriptor-profile", NAME, "datapackage.json at {pointer}: {detail}",
       description="The descriptor does not pass the official Data Package 2.0 JSON Schema.")
define("descriptor-version", NAME, "datapackage.json must declare \"$schema\": \"{expected}\" (found {value!r}); without it frictionless treats the package as v1",
       description="The descriptor is not marked as Data Package v2.")
define("unsafe-path", NAME, "resource {resource!r}: {field} {value!r} is refused ({detail}); paths must be relative, inside the package and not hidden",
       description="A resource path is absolute, leaves the package, is hidden or uses a URL scheme.")
define("remote-path", NAME, "resource {resource!r}: remote path {value} refused (use --allow-remote to permit it)",
       description="A resource is a remote URL and remote resources were not allowed.")
define("unsupported-hash", NAME, "resource {resource!r}: hash {value!r} is not of the form sha256:<64 lowercase hex digits>; frictionless would not verify it",
       description="A resource hash uses an algorithm or spelling frictionless silently skips.")
# Everything frictionless reports keeps frictionless' own error type as its code.
FRICTIONLESS_TEMPLATES = {
    "foreign-key": "{resource} line {line}: {field}={value!r} has no match in {target} ({note})",
    "primary-key": "{resource} line {line}: duplicate primary key {row_id!r} ({note})",
    "unique-error": "{resource} line {line}: {field}={value!r} must be unique ({note})",
    "constraint-error": "{resource} line {line}: {field}={value!r} breaks a constraint: {note}",
    "type-error": "{resource} line {line}: {field}={value!r} is not of the field's type: {note}",
    "missing-label": "{resource}: column {field!r} is missing from the header",
    "extra-label": "{resource}: column {value!r} is not in the schema",
    "incorrect-label": "{resource}: header {value!r} where the schema expects {field!r}",
    "column-order": "{resource}: columns are not in the schema's order (header: {value}; schema: {expected})",
    "blank-label": "{resource}: a header cell is blank",
    "duplicate-label": "{resource}: column {value!r} appears twice in the header",
    "missing-cell": "{resource} line {line}: row has no cell for {field!r}",
    "extra-cell": "{resource} line {line}: row has an extra cell {value!r}",
    "blank-row": "{resource} line {line}: blank row",
    "hash-count": "{resource}: {note}",
    "byte-count": "{resource}: {note}",
    "scheme-error": "{resource}: cannot be loaded: {note}",
    "encoding-error": "{resource}: cannot be decoded: {note}",
    "source-error": "{resource}: {note}",
}
for _code, _template in FRICTIONLESS_TEMPLATES.items():
    define(_code, NAME, _template, description=f"frictionless `{_code}`.")
define("frictionless", NAME, "{resource}: {kind}: {note}", description="Any other frictionless error.")
define("table-unreadable", NAME, "{resource}: cannot be read as CSV: {detail}",
       description="A resource file cannot be decoded or parsed (e.g. an unterminated quote), so no other layer can check it.")
LOAD_ERRORS = ("encoding-error", "source-error", "scheme-error")


def check(package: Package, options: Any = None) -> LayerResult:
    result = LayerResult(NAME)
    allow_remote = bool(getattr(options, "allow_remote", False))
    result.findings.extend(_descriptor_findings(package))
    result.checks += 2
    unsafe = _path_findings(package, allow_remote)
    result.findings.extend(unsafe)
    result.checks += len(package.resources)
    if unsafe:
        # frictionless would open these paths; stop before it does.
        return result
    frictionless_findings, checks = _frictionless_findings(package)
    result.findings.extend(frictionless_findings)
    result.checks += checks
    return result


def _descriptor_findings(package: Package) -> list[Finding]:
    import jsonschema

    findings = []
    declared = package.descriptor.get("$schema")
    if declared != V2:
        findings.append(Finding.make("descriptor-version", path=DESCRIPTOR, field="$schema", value=declared, expected=V2))
    profile = json.loads(profile_path(DATAPACKAGE_PROFILE).read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft7Validator(profile).iter_errors(package.descriptor), key=lambda e: list(e.absolute_path))
    for error in errors:
        pointer = "/" + "/".join(str(p) for p in error.absolute_path)
        findings.append(Finding.make("descriptor-profile", path=DESCRIPTOR, field=pointer, value=_short_json(error.instance),
                                     pointer=pointer, detail=error.message[:300]))
    return findings


def _short_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…"


def _path_findings(package: Package, allow_remote: bool) -> list[Finding]:
    findings = []
    for spec in package.resources.values():
        res = spec.descriptor
        path = res.get("path")
        paths = path if isinstance(path, list) else [path]
        for item in paths:
            if isinstance(item, str) and is_remote(item):
                if not allow_remote:
                    findings.append(Finding.make("remote-path", resource=spec.name, path=DESCRIPTOR, field="path", value=item))
                continue
            try:
                package.resolve(item) if isinstance(item, str) else check_relative_path(item)
            except UnsafePath as exc:
                findings.append(Finding.make("unsafe-path", resource=spec.name, path=DESCRIPTOR, field="path", value=item, detail=str(exc)))
        schema = res.get("schema")
        if isinstance(schema, str):
            try:
                package.resolve(schema)
            except UnsafePath as exc:
                findings.append(Finding.make("unsafe-path", resource=spec.name, path=DESCRIPTOR, field="schema", value=schema, detail=str(exc)))
        digest = res.get("hash")
        if digest is not None and not (isinstance(digest, str) and HASH.match(digest)):
            findings.append(Finding.make("unsupported-hash", resource=spec.name, path=DESCRIPTOR, field="hash", value=digest))
    return findings


def _frictionless_findings(package: Package) -> tuple[list[Finding], int]:
    import frictionless

    try:
        report = frictionless.validate(str(package.root / DESCRIPTOR))
    except Exception as exc:  # frictionless raises on some descriptor shapes the profile check already reports
        return [Finding.make("frictionless", path=DESCRIPTOR, kind=type(exc).__name__, note=str(exc)[:300])], 1
    findings: list[Finding] = []
    checks = 0
    for error in report.errors:
        findings.append(_map_error(package, None, error))
    # frictionless matches columns by position, so one missing or moved column shifts every later
    # one and floods the report with row errors (also in tables whose foreign keys point at it):
    # for such a resource, say what is wrong with its header instead.
    bad_header = {task.name for task in report.tasks if any(e.type.endswith("-label") for e in task.errors)}
    # A file frictionless cannot load is also reported in every task whose foreign keys read it:
    # keep such an error in the task of the file itself (the one our reader fails on too), or where it is unique.
    load_notes = [e.note for task in report.tasks for e in task.errors if e.type in LOAD_ERRORS]
    for task in report.tasks:
        name = task.name or ""
        rows = (task.stats or {}).get("rows") or 0
        fields = (task.stats or {}).get("fields") or 0
        checks += max(1, rows * max(1, fields))
        if name in bad_header:
            findings.extend(_header_findings(package, name))
            continue
        own_file_unreadable = name in package.resources and package.table(name) is None
        for error in task.errors:
            if error.type == "foreign-key" and (getattr(error, "reference_name", "") or name) in bad_header:
                continue
            if error.type in LOAD_ERRORS and not own_file_unreadable and load_notes.count(error.note) > 1:
                continue
            findings.append(_map_error(package, name, error))
        # What frictionless read but our strict reader cannot (e.g. an unterminated quote) must not pass silently.
        if own_file_unreadable and not any(e.type in LOAD_ERRORS for e in task.errors) and name in package.read_errors:
            spec = package.resources.get(name)
            findings.append(Finding.make("table-unreadable", resource=name, path=spec.path if spec else DESCRIPTOR,
                                         detail=package.read_errors[name]))
    return findings, checks


def _header_findings(package: Package, resource: str) -> list[Finding]:
    table = package.table(resource)
    expected = package.field_names(resource)
    spec = package.resources[resource]
    if table is None:
        return []
    header = table.header
    where = dict(resource=resource, path=spec.path, line=1)
    findings = [Finding.make("missing-label", field=name, **where) for name in expected if name not in header]
    findings += [Finding.make("extra-label", field=name, value=name, **where) for name in header if name not in expected]
    seen = set()
    findings += [Finding.make("duplicate-label", field=name, value=name, **where)
                 for name in header if name in seen or seen.add(name)]
    if not findings and header != expected:
        findings.append(Finding.make("column-order", value=",".join(header), expected=",".join(expected), **where))
    return findings


def _map_error(package: Package, resource: str | None, error: Any) -> Finding:
    code = error.type if error.type in FRICTIONLESS_TEMPLATES else "frictionless"
    spec = package.resources.get(resource) if resource else None
    path = spec.path if spec and spec.path and not is_remote(spec.path) else DESCRIPTOR
    row_number = getattr(error, "row_number", None)
    line = row_id = None
    table = package.table(resource) if resource and row_number else None
    if table is not None and row_number:
        line, row_id = table.locate_record(row_number)
    elif code.endswith("-label"):
        line = 1
    field = getattr(error, "field_name", None) or getattr(error, "label", None)
    value = getattr(error, "cell", None)
    target = ""
    if code == "foreign-key":
        names = list(getattr(error, "field_names", None) or [])
        cells = list(getattr(error, "field_cells", None) or [])
        field = ",".join(names) or None
        value = ",".join(str(c) for c in cells) or None
        ref = getattr(error, "reference_name", "") or resource
        ref_fields = ",".join(getattr(error, "reference_field_names", None) or [])
        target = f"{ref}.{ref_fields}"
    if code == "primary-key" and resource:
        field = ",".join(package.primary_key(resource)) or None
        value = row_id
    if code in ("extra-label", "duplicate-label", "incorrect-label"):
        value = getattr(error, "label", None)
        field = getattr(error, "field_name", None) if code == "incorrect-label" else value
    return Finding.make(code, resource=resource, path=path, line=line, row_id=row_id, field=field, value=value,
                        note=error.note, kind=error.type, target=target)
