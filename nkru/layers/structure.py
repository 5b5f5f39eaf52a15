"""Structure layer: the descriptor and every resource against its Table Schema.

frictionless judges the descriptor and the Table Schemas (metadata only: it never reads a row
here). The rows are read once by the one reader (`nkru.reader`) and typed by the one type system
(`nkru.loader.type_frame`); every row constraint (type, required, unique, enum, pattern,
min/max length, minimum/maximum, primary and foreign keys) is evaluated column-wise with polars.
Error codes are frictionless' own, so its reports and ours line up; `tests/test_differential.py`
runs stock frictionless over broken packages and checks that every error it reports is reported
here at the same line and field.

Also what frictionless does not enforce: safe resource paths, remote URLs, hash algorithms it
would silently skip, and the reader's strictness (unpadded dates, a wrong delimiter, oversized
cells, encoding errors with their line).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from nkru.findings import Finding, LayerResult, budget_drop, budget_room, define, dropped, missing_offsets_hint
from nkru.resources import DATAPACKAGE_PROFILE, profile_path
from nkru.package import DESCRIPTOR, Package, UnsafePath, check_relative_path, is_remote
from nkru.types import full_match
from nkru.options import Options

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
    "blank-row": "{resource} line {line}: {note}",
    "hash-count": "{resource}: {note}",
    "byte-count": "{resource}: {note}",
    "scheme-error": "{resource}: cannot be loaded: {note}",
    "encoding-error": "{resource}: cannot be decoded: {note}",
    "source-error": "{resource}: {note}",
}
#: How to re-save a CSV as UTF-8 (for an encoding error).
SAVE_AS_UTF8 = ("re-save it as UTF-8: LibreOffice Calc 'Save As… › Text CSV', character set Unicode (UTF-8); "
                "Excel 'CSV UTF-8 (Comma delimited)'; or `iconv -f WINDOWS-1252 -t UTF-8 {path} > fixed.csv`")
FRICTIONLESS_HINTS = {"constraint-error": missing_offsets_hint, "encoding-error": SAVE_AS_UTF8}
for _code, _template in FRICTIONLESS_TEMPLATES.items():
    define(_code, NAME, _template, description=f"frictionless `{_code}`.", hint=FRICTIONLESS_HINTS.get(_code))
define("frictionless", NAME, "{resource}: {kind}: {note}", description="Any other frictionless error.")
define("table-unreadable", NAME, "{resource}: cannot be read as CSV: {detail}",
       description="A resource file cannot be decoded or parsed (e.g. an unterminated quote), so no other layer can check it.")
define("remote-not-read", NAME, "resource {resource!r}: remote path {value} is allowed but not read; its rows are not checked",
       severity="warning", description="A remote resource was allowed (--allow-remote); nkru does not fetch it.")
define("file-too-large", NAME, "{resource}: {detail}",
       description="A resource file is larger than nkru reads (nkru.limits.MAX_FILE_BYTES).")
define("too-many-columns", NAME, "{resource} line {line}: {detail}",
       description="The header has more columns than nkru reads (nkru.limits.MAX_COLUMNS); the table is not read.")
define("cell-too-large", NAME, "{resource} line {line}: {field} {detail}",
       description="A cell is longer than nkru.limits.MAX_CELL_CHARS (the most an Excel cell holds).")
define("wrong-delimiter", NAME, "{resource}: the file looks separated by {detail}, not by the declared delimiter {expected}; "
       "save it comma-separated (or declare the dialect in datapackage.json)",
       description="The header is one cell that another delimiter (e.g. ';' from a German Excel) would split into the schema's columns.",
       hint="re-save it with ',' as the field delimiter: LibreOffice Calc 'Save As… › Text CSV › Edit filter settings', "
            "field delimiter ','; Excel 'CSV UTF-8 (Comma delimited)' (a German Excel's plain 'CSV' uses ';')")
define("byte-order-mark", NAME, "{resource}: the file starts with a byte-order mark (as Excel's \"CSV UTF-8\" saves it); "
       "nkru reads past it, but other tools read it as part of the first column's name: save it as UTF-8 without one",
       severity="warning",
       description="A UTF-8 resource file starts with the bytes EF BB BF. nkru and frictionless read past them; many "
                   "tools (base R, `cut`, Python's csv with utf-8) do not.")
define("unsafe-name", NAME,
       "datapackage.json: {field} {value!r} is refused: it may hold only letters, digits and '.', '_', '-', '+' "
       "(no '/', '\\', '..' or leading '.'), as it names files the toolkit writes",
       description="The package name or version could steer where a file is written (e.g. `../../x`).")
define("resource-name", NAME, "datapackage.json: resource {index} has name {value}; a resource name must be a non-empty "
       "string of letters, digits, '.', '_' or '-' (not starting with '.')",
       description="A resource's name is missing, not a string, or could not name a table or file.")
define("duplicate-resource-name", NAME, "datapackage.json: resource name {value!r} is used by resources {indexes}; "
       "every resource needs its own name",
       description="Two resources share a name.")
define("schema-unreadable", NAME, "resource {resource!r}: {detail}",
       description="A resource's Table Schema file cannot be read (not a file, not UTF-8, not JSON, or over the JSON limits).")
#: A package name or version that can safely appear in a file name.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*\Z")  # \Z: "$" would let a final newline through


def check(package: Package, options: Options | None = None) -> LayerResult:
    result = LayerResult(NAME)
    allow_remote = bool(options.allow_remote if options is not None else False)
    result.findings.extend(_descriptor_findings(package))
    result.checks += 2
    named = _name_findings(package)
    result.findings.extend(named)
    result.checks += 2 + len(package.resources)
    unsafe = _path_findings(package, allow_remote)
    result.findings.extend(unsafe)
    result.checks += len(package.resources)
    if unsafe:
        # these paths must not be opened; stop before anything does.
        return result
    result.findings.extend(_metadata_findings(package))
    result.checks += len(package.resources)
    table_findings, checks = _table_findings(package, allow_remote)
    result.findings.extend(table_findings)
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


def _name_findings(package: Package) -> list[Finding]:
    """Package name and version safe for file names; resource names strings, unique and file-safe;
    schema files readable."""
    findings = []
    for key in ("name", "version"):
        value = package.descriptor.get(key)
        if value is not None and not (isinstance(value, str) and SAFE_NAME.match(value) and ".." not in value):
            findings.append(Finding.make("unsafe-name", path=DESCRIPTOR, field=key, value=value))
    seen: dict[str, list[int]] = {}
    resources = package.descriptor.get("resources")
    for index, res in enumerate(resources if isinstance(resources, list) else [], 1):
        if not isinstance(res, dict):
            continue
        name = res.get("name")
        if not (isinstance(name, str) and SAFE_NAME.match(name) and ".." not in name) or "+" in str(name):
            findings.append(Finding.make("resource-name", path=DESCRIPTOR, field=f"/resources/{index - 1}/name",
                                         value=_short_json(name), index=index))
        if isinstance(name, str):
            seen.setdefault(name, []).append(index)
    for name, indexes in seen.items():
        if len(indexes) > 1:
            findings.append(Finding.make("duplicate-resource-name", resource=name, path=DESCRIPTOR, field="name", value=name,
                                         indexes=", ".join(str(i) for i in indexes)))
    for spec in package.resources.values():
        schema = spec.descriptor.get("schema")
        if isinstance(schema, str) and spec.schema is None and spec.problem and spec.problem.startswith("schema "):
            try:
                package.resolve(schema)
            except UnsafePath:
                continue  # reported as unsafe-path
            findings.append(Finding.make("schema-unreadable", resource=spec.name, path=DESCRIPTOR, field="schema",
                                         value=spec.descriptor.get("schema"), detail=spec.problem))
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


def _metadata_findings(package: Package) -> list[Finding]:
    """frictionless as the judge of the descriptor and of every Table Schema (no rows are read here)."""
    import frictionless

    findings: list[Finding] = []

    def judge(kind: Any, target: Any, resource: str | None) -> None:
        try:
            errors = list(kind.validate_descriptor(target).errors)
        except Exception as exc:  # noqa: BLE001 - frictionless raises on some shapes instead of listing them
            findings.append(Finding.make("frictionless", resource=resource, path=DESCRIPTOR, kind=type(exc).__name__,
                                         note=str(exc)[:300]))
            return
        for error in errors:
            findings.append(Finding.make("frictionless", resource=resource, path=DESCRIPTOR, kind=error.type,
                                         note=str(getattr(error, "note", "") or error.message)[:300]))

    judge(frictionless.Package, package.descriptor, None)
    for name, spec in package.resources.items():
        if isinstance(spec.schema, dict):
            judge(frictionless.Schema, spec.schema, name)
    return findings


def _header_findings(package: Package, resource: str) -> list[Finding]:
    table = package.table(resource)
    expected = package.field_names(resource)
    spec = package.resources[resource]
    if table is None:
        return []
    header = table.header
    where = dict(resource=resource, path=spec.path, line=1)
    suspect = table.suspect_delimiter
    if suspect is not None:
        from nkru.reader import csv_dialect, delimiter_name

        declared = csv_dialect(spec.descriptor).get("delimiter", ",")
        return [Finding.make("wrong-delimiter", value=header[0][:80], detail=delimiter_name(suspect),
                             expected=delimiter_name(declared), **where)]
    missing = [name for name in expected if name not in header]
    extra = [name for name in header if name not in expected]
    # A label the schema does not know, where the schema has a column the header lacks: one renamed header.
    renamed = [(expected[i], label) for i, label in enumerate(header)
               if i < len(expected) and label in extra and expected[i] in missing] if len(header) == len(expected) else []
    findings = [Finding.make("incorrect-label", field=name, value=label, **where) for name, label in renamed]
    missing = [name for name in missing if name not in {n for n, _ in renamed}]
    extra = [label for label in extra if label not in {lab for _, lab in renamed}]
    findings += [Finding.make("missing-label", field=name, **where) for name in missing]
    findings += [Finding.make("extra-label", field=name, value=name, **where) for name in extra]
    seen = set()
    findings += [Finding.make("duplicate-label", field=name, value=name, **where)
                 for name in header if name in seen or seen.add(name)]
    if not findings and header != expected:
        findings.append(Finding.make("column-order", value=",".join(header), expected=",".join(expected), **where))
    return findings


# -- rows: every Table Schema constraint, column-wise on the one reader's frames ------------------------


def _is_table(spec: Any) -> bool:
    res = spec.descriptor
    return res.get("type") == "table" or isinstance(res.get("schema"), (dict, str))


class _Rows:
    """Row checks of one resource: the text table, its typed frame and where its rows are."""

    def __init__(self, package: Package, name: str, table: Any, fields: list[Any], frame: Any, problems: list[Any]):
        self.package, self.name, self.table, self.fields, self.frame = package, name, table, fields, frame
        self.problems = problems
        self.path = table.path
        self._ids: list[str | None] | None = None

    def row_id(self, index: int) -> str | None:
        if self._ids is None:
            self._ids = self.table.row_ids()
        return self._ids[index]

    def finding(self, code: str, index: int, **kw: Any) -> Finding:
        self.package.reject(self.name, kw.get("field"), (index,))
        if budget_room(code, self.name, self.path) == 0:  # over the budget: counted, nothing looked up or built
            return dropped(code, self.name, self.path)
        return Finding.make(code, resource=self.name, path=self.path, line=self.table.lines[index],
                            row_id=self.row_id(index), **kw)

    def text(self, name: str):
        return self.table.cells(name).fill_null("")


def _table_findings(package: Package, allow_remote: bool) -> tuple[list[Finding], int]:
    import polars as pl

    from nkru.types import LoadError, schema_field_specs, type_frame

    findings: list[Finding] = []
    checks = 0
    ready: dict[str, _Rows] = {}
    key_columns = package.foreign_key_columns() if package.spills else {}
    _read_largest_first(package)
    for name, spec in package.resources.items():
        if not _is_table(spec) or spec.path is None or spec.schema is None:
            continue
        if is_remote(spec.path):
            findings.append(Finding.make("remote-not-read", resource=name, path=DESCRIPTOR, field="path", value=spec.path))
            continue
        findings.extend(_file_findings(package, spec))
        findings.extend(_bom_findings(package, spec))
        table = package.table(name)
        if table is None:
            findings.append(_read_failure(package, spec))
            package.reported.add(name)
            continue
        try:
            fields = schema_field_specs(package, name)
        except LoadError as exc:  # an enum value of the wrong type: the schema checks say why
            findings.append(Finding.make("frictionless", resource=name, path=DESCRIPTOR, kind="schema-error", note=str(exc)[:300]))
            continue
        names = [f.name for f in fields]
        if table.header != names:
            findings.extend(_header_findings(package, name))
            package.reported.add(name)
            continue
        for start, count in table.blank_runs:
            findings.append(Finding.make("blank-row", resource=name, path=spec.path, line=start,
                                         note="blank row" if count == 1 else f"{count:,} blank rows, lines {start:,} to {start + count - 1:,}"))
        if table.schema_fields == fields:  # typed once, shared with the rules layer and load() (`Table.typed`)
            frame, problems = table.typed, table.problems
        else:
            frame, problems = type_frame(table, fields)
        rows = _Rows(package, name, table, fields, frame, problems)
        findings.extend(_cell_findings(rows))
        findings.extend(_constraint_findings(rows))
        rows.frame = None  # the typed frame is done with; foreign keys compare the text
        table.spill(keep=key_columns.get(name, set()))  # a package too large to hold: only its keys stay (`Package.spills`)
        checks += max(1, len(table) * max(1, len(fields)))
        ready[name] = rows
    for rows in ready.values():
        for fk in package.foreign_keys(rows.name):
            parent = ready.get(fk.resource)
            if parent is None:
                continue  # the referenced table is unreadable or its header is wrong: reported there
            findings.extend(_foreign_key_findings(rows, parent, fk))
            checks += len(rows.table)
    del pl
    return findings, checks


def _read_largest_first(package: Package) -> None:
    """Read the local tables largest file first: the reader's peak memory while parsing the largest
    one then comes while no other table is held (a million claims: about 0.3 GB less at the peak).
    A package that spills reads each table when its turn comes instead: the others are spilled by then."""
    if package.spills:
        return
    sizes = {name: size for name, size in package.file_sizes().items()
             if _is_table(package.resources[name]) and package.resources[name].schema is not None}
    for name in sorted(sizes, key=lambda n: -sizes[n]):
        package.table(name)


def _file_findings(package: Package, spec: Any) -> list[Finding]:
    """A declared `bytes` or sha256 `hash` that the file does not match."""
    import hashlib

    res = spec.descriptor
    if "hash" not in res and "bytes" not in res:
        return []
    try:
        full = package.resolve(spec.path)
        size = full.stat().st_size
    except (UnsafePath, OSError):
        return []
    findings = []
    if isinstance(res.get("bytes"), int) and res["bytes"] != size:
        findings.append(Finding.make("byte-count", resource=spec.name, path=DESCRIPTOR, field="bytes", value=size,
                                     note=f"the file has {size} bytes, the descriptor says {res['bytes']}"))
    digest = res.get("hash")
    if isinstance(digest, str) and HASH.match(digest):
        sha = hashlib.sha256()
        with open(full, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
        actual = "sha256:" + sha.hexdigest()
        if actual != digest:
            findings.append(Finding.make("hash-count", resource=spec.name, path=DESCRIPTOR, field="hash", value=actual,
                                         note=f"the file's hash is {actual}, the descriptor says {digest}"))
    return findings


def _bom_findings(package: Package, spec: Any) -> list[Finding]:
    """A UTF-8 file that starts with a byte-order mark (Excel's "CSV UTF-8"): nkru reads it, but many
    tools take the mark for part of the first column's name."""
    encoding = spec.descriptor.get("encoding")
    if isinstance(encoding, str) and encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return []
    try:
        with open(package.resolve(spec.path), "rb") as handle:
            start = handle.read(3)
    except (UnsafePath, OSError):
        return []  # reported where the table is read
    if start != b"\xef\xbb\xbf":
        return []
    return [Finding.make("byte-order-mark", resource=spec.name, path=spec.path, line=1)]


def _read_failure(package: Package, spec: Any) -> Finding:
    exc = package.read_failures.get(spec.name)
    detail = exc.detail if exc is not None else package.read_errors.get(spec.name, "cannot be read")
    kind = exc.kind if exc is not None else "unreadable"
    line = exc.line if exc is not None else None
    if kind == "encoding":
        return Finding.make("encoding-error", resource=spec.name, path=spec.path, line=line, note=detail)
    if kind == "too-large":
        return Finding.make("file-too-large", resource=spec.name, path=spec.path, detail=detail)
    if kind == "too-wide":
        return Finding.make("too-many-columns", resource=spec.name, path=spec.path, line=line, detail=detail)
    if kind in ("missing", "unreadable"):
        return Finding.make("scheme-error", resource=spec.name, path=spec.path, note=f"{spec.path}: {detail}")
    return Finding.make("table-unreadable", resource=spec.name, path=spec.path, line=line, detail=detail)


def _cell_findings(rows: _Rows) -> list[Finding]:
    """What the one type system refuses: wrong row widths, oversized cells, unparseable or off-vocabulary values."""
    findings = []
    table = rows.table
    width = len(table.header)
    index_of = {line: i for i, line in enumerate(table.lines)} if rows.problems else {}
    for problem in rows.problems:
        index = index_of[problem.line]
        if problem.field is None:  # a row of the wrong width: frictionless' missing-cell / extra-cell
            got = table.widths[index]
            if got < width:
                for name in table.header[got:]:
                    findings.append(rows.finding("missing-cell", index, field=name, note=f"row has {got} cells, the header {width}"))
            else:
                findings.append(rows.finding("extra-cell", index, value=f"{got - width} more cells than the header",
                                             note=f"row has {got} cells, the header {width}"))
            continue
        reason = problem.reason
        if reason.startswith("has ") and "more than a cell may hold" in reason:
            findings.append(rows.finding("cell-too-large", index, field=problem.field, value=problem.value, detail=reason))
        elif reason.startswith("is not in the field's controlled vocabulary"):
            findings.append(rows.finding("constraint-error", index, field=problem.field, value=problem.value, note=reason))
        else:
            findings.append(rows.finding("type-error", index, field=problem.field, value=problem.value, note=reason))
    return findings


def _mask_findings(rows: _Rows, mask: Any, code: str, field: str | None, values: Any, note: str) -> list[Finding]:
    if not mask.any():
        return []
    indices = mask.arg_true()
    rows.package.reject(rows.name, field, indices.to_list())
    room = budget_room(code, rows.name, rows.path)
    if room is not None and len(indices) > room:  # the rest are counted, not made (garbage rows: millions)
        budget_drop(code, rows.name, rows.path, len(indices) - room)
        indices = indices.head(room)
    indices = indices.to_list()
    shown = values.gather(indices).to_list() if values is not None else [None] * len(indices)
    return [rows.finding(code, i, field=field, value=v, note=note) for i, v in zip(indices, shown)]


def _constraint_findings(rows: _Rows) -> list[Finding]:
    """required, unique, pattern, minLength/maxLength, minimum/maximum and the primary key, column-wise."""
    import polars as pl

    findings: list[Finding] = []
    bad_cells = {(p.line, p.field) for p in rows.problems}
    unparsed: dict[str, Any] = {}
    if bad_cells:
        lines = pl.Series(rows.table.lines)
        by_field: dict[str, list[int]] = {}
        for line, field in bad_cells:  # one pass (per field it was fields x cells: seconds on garbage rows)
            by_field.setdefault(field, []).append(line)
        for spec in rows.fields:
            unparsed[spec.name] = lines.is_in(by_field.get(spec.name, []))
    primary = set(rows.package.primary_key(rows.name))
    for spec in rows.fields:
        descriptor = next(f for f in rows.package.fields(rows.name) if f["name"] == spec.name)
        constraints = descriptor.get("constraints") if isinstance(descriptor.get("constraints"), dict) else {}
        text = rows.text(spec.name)
        value = rows.frame.get_column(spec.name)
        skip = unparsed.get(spec.name)
        present = ~text.is_in(list(spec.missing_values)) if spec.missing_values else pl.repeat(True, len(text), eager=True)
        checked = present if skip is None else present & ~skip
        if constraints.get("required") is True or spec.name in primary:
            findings += _mask_findings(rows, ~present, "constraint-error", spec.name, text, 'constraint "required" is "True"')
        if constraints.get("unique") is True and [spec.name] != rows.package.primary_key(rows.name):
            # (a one-field primary key is unique by definition: its duplicates are `primary-key` findings)
            dup = checked & ~value.is_first_distinct()
            # every row holding a repeated value is rejected (which one is wrong is not known); the later ones reported
            rows.package.reject(rows.name, spec.name, (checked & value.is_duplicated()).fill_null(False).arg_true().to_list())
            findings += _mask_findings(rows, dup.fill_null(False), "unique-error", spec.name, text,
                                       "the value appears in an earlier row")
        pattern = constraints.get("pattern")
        if isinstance(pattern, str) and spec.kind == "string":
            findings += _mask_findings(rows, checked & ~full_match(text, pattern), "constraint-error", spec.name, text,
                                       f'constraint "pattern" is "{pattern}"')
        for key, op in (("minLength", "lt"), ("maxLength", "gt")):
            bound = constraints.get(key)
            if isinstance(bound, int) and not isinstance(bound, bool):
                length = text.str.len_chars()
                broken = (length < bound) if op == "lt" else (length > bound)
                findings += _mask_findings(rows, checked & broken, "constraint-error", spec.name, text,
                                           f'constraint "{key}" is "{bound}"')
        for key, op in (("minimum", "lt"), ("maximum", "gt")):
            bound = constraints.get(key)
            if bound is None or spec.kind == "string":
                continue
            try:
                limit = spec.parse(bound) if isinstance(bound, str) else bound
                broken = (value < limit) if op == "lt" else (value > limit)
            except Exception:  # noqa: BLE001 - a bound of the wrong type is the schema check's to report
                continue
            findings += _mask_findings(rows, (checked & broken).fill_null(False), "constraint-error", spec.name, text,
                                       f'constraint "{key}" is "{bound}"')
    key = rows.package.primary_key(rows.name)
    if key and all(k in rows.table.header for k in key):
        findings += _primary_key_findings(rows, key)
    return findings


def _primary_key_findings(rows: _Rows, key: list[str]) -> list[Finding]:
    """Rows whose primary key repeats an earlier row's, each naming that row's line.

    A compound key is hashed to one 64-bit number a row first (a struct of strings would be encoded
    row by row: 0.2 GB at a million rows); only rows whose hash repeats are then grouped by the key
    itself, so a hash collision never makes a duplicate. Every duplicate's first row comes from one
    group-by, not a search per duplicate."""
    import polars as pl

    keys = pl.DataFrame([rows.text(k).alias(f"k{i}") for i, k in enumerate(key)])
    names = keys.columns
    probe = keys.get_column(names[0]) if len(names) == 1 else keys.select(pl.struct(names).hash()).to_series()
    repeated = probe.is_duplicated()
    if not repeated.any():
        return []
    candidates = keys.with_row_index("index").filter(repeated)
    duplicates = candidates.with_columns(pl.col("index").min().over(names).alias("first")) \
        .filter(pl.col("index") != pl.col("first")).select("index", "first")
    rows.package.reject(rows.name, ",".join(key), duplicates.get_column("first").to_list())  # which is wrong is not known
    return [rows.finding("primary-key", index, field=",".join(key), value=rows.row_id(index),
                         note=f"the same key as the row on line {rows.table.lines[first]}")
            for index, first in duplicates.iter_rows()]


def _foreign_key_findings(rows: _Rows, parent: _Rows, fk: Any) -> list[Finding]:
    """Rows whose key (all cells present) is not a key of the referenced table (a join, not a loop)."""
    import polars as pl

    if any(f not in rows.table.header for f in fk.fields) or any(f not in parent.table.header for f in fk.reference_fields):
        return []
    if parent.package.rejected_rows(parent.name, fk.reference_fields):
        return []  # a referenced key is itself reported (blank, malformed, repeated): the rows pointing at it stay silent
    skip = sorted(rows.package.rejected_rows(rows.name, fk.fields))  # reported already (e.g. a malformed ID)
    child_cols = [rows.text(f) for f in fk.fields]
    child_missing = [c.is_in(list(s.missing_values)) for c, s in zip(child_cols, (rows.fields[[x.name for x in rows.fields].index(f)] for f in fk.fields))]
    keys = [f"k{i}" for i in range(len(fk.fields))]
    child = pl.DataFrame({k: c for k, c in zip(keys, child_cols)}).with_row_index("i")
    all_missing = child_missing[0]
    for m in child_missing[1:]:
        all_missing = all_missing & m
    if skip:
        all_missing = all_missing | pl.Series(range(len(all_missing))).is_in(skip)
    child = child.filter(~all_missing)
    # The referenced keys the child uses (a semi-join hashing the child's distinct keys), then the
    # child's orphans against those: no hash table the size of a million-row parent.
    wanted = child.select(keys).unique()
    target = pl.DataFrame({k: parent.text(f) for k, f in zip(keys, fk.reference_fields)}) \
        .join(wanted, on=keys, how="semi", nulls_equal=False).unique()
    orphans = child.join(target, on=keys, how="anti", nulls_equal=False, maintain_order="left")
    findings = []
    ref = f"{fk.resource}.{','.join(fk.reference_fields)}"
    for record in orphans.iter_rows(named=True):
        value = ",".join(record[k] for k in keys)
        findings.append(rows.finding("foreign-key", record["i"], field=",".join(fk.fields), value=value, target=ref,
                                     note=f"not found in {ref}"))
    return findings
