"""The codebook: every resource, field, constraint and controlled value, read from the Table Schemas.

The schemas are the single source of truth. A field's controlled values and
their meanings are parsed from its description, which ends in a list like

    Controlled vocabulary:
    - `value`: what it means. Example: an example.

and are checked against `constraints.enum` (see `vocabulary_problems`). The
same structure is rendered as Markdown (`docs/codebook.md`, via `nkru codebook`)
and as HTML inside the report (`nkru/report/templates/codebook.html.j2`).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nkru.package import Package
from nkru.text import escape_controls

VOCABULARY_HEADING = "Controlled vocabulary:"
_TERM = re.compile(r"^- `(?P<value>[^`]+)`:\s*(?P<rest>.*)$")
_EXAMPLE = " Example: "

#: Constraints shown in their own columns, not in "Constraints".
_OWN_COLUMNS = ("required", "unique", "enum")


class CodebookError(ValueError):
    """The codebook cannot be built, read or written (a usage error)."""


@dataclass(frozen=True)
class Term:
    """One controlled value, its meaning and an example, as the field description gives them."""

    value: str
    meaning: str
    example: str = ""


@dataclass
class FieldDoc:
    name: str
    title: str
    type: str
    format: str | None
    description: str  # the description without its vocabulary list
    required: bool
    unique: bool
    constraints: dict[str, Any]  # everything except required, unique and enum
    enum: list[Any] | None
    vocabulary: list[Term]

    @property
    def constraint_items(self) -> list[tuple[str, str]]:
        """(kind, value) pairs, e.g. ('pattern', '^A[0-9]{3}$'), ('minimum', '0'), ('enum', '3')."""
        items = []
        if self.format and self.format != "default":
            items.append(("format", str(self.format)))
        for key, value in self.constraints.items():
            items.append((key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))
        if self.enum is not None:
            items.append(("enum", str(len(self.enum))))
        return items


@dataclass
class ForeignKeyDoc:
    fields: list[str]
    resource: str  # the referenced resource (this one for a self-reference)
    reference_fields: list[str]


@dataclass
class ResourceDoc:
    name: str
    title: str
    description: str
    schema_description: str
    path: str | None
    schema_path: str | None
    primary_key: list[str]
    foreign_keys: list[ForeignKeyDoc]
    fields: list[FieldDoc]

    @property
    def vocabulary_fields(self) -> list[FieldDoc]:
        return [f for f in self.fields if f.vocabulary or f.enum is not None]


@dataclass
class Codebook:
    title: str
    version: str
    resources: list[ResourceDoc] = field(default_factory=list)


def _words(key: str) -> str:
    """minLength -> min length."""
    return re.sub(r"(?<!^)([A-Z])", lambda m: " " + m.group(1).lower(), key)


def parse_vocabulary(description: str) -> tuple[str, list[Term]]:
    """Split a field description into its prose and its controlled vocabulary list.

    Returns (prose, terms); terms is empty when the description has no vocabulary.
    """
    if VOCABULARY_HEADING not in description:
        return description.strip(), []
    prose, _, listing = description.partition(VOCABULARY_HEADING)
    terms: list[Term] = []
    for line in listing.splitlines():
        line = line.strip()
        if not line:
            continue
        match = _TERM.match(line)
        if match is None:
            raise ValueError(f"controlled vocabulary line is not '- `value`: meaning. Example: ...': {line!r}")
        rest = match.group("rest").strip()
        meaning, sep, example = rest.partition(_EXAMPLE)
        terms.append(Term(match.group("value"), meaning.strip(), example.strip() if sep else ""))
    return prose.strip(), terms


def vocabulary_problems(field_spec: dict[str, Any]) -> list[str]:
    """Differences between a field's enum and the values its description documents (empty = consistent)."""
    constraints = field_spec.get("constraints")
    enum = constraints.get("enum") if isinstance(constraints, dict) else None
    enum = enum if isinstance(enum, list) else None
    description = field_spec.get("description")
    try:
        _, terms = parse_vocabulary(description if isinstance(description, str) else "")
    except ValueError as exc:
        return [str(exc)]
    documented = [t.value for t in terms]
    problems = []
    if enum is None:
        if documented:
            problems.append(f"documents controlled values {documented} but has no constraints.enum")
        return problems
    for value in enum:
        count = documented.count(str(value))
        if count != 1:
            problems.append(f"enum value {value!r} is documented {count} times (expected exactly once)")
    for value in dict.fromkeys(documented):
        if value not in [str(v) for v in enum]:
            problems.append(f"documented value {value!r} is not in constraints.enum")
    return problems


def field_doc(spec: dict[str, Any]) -> FieldDoc:
    """A field's documentation; malformed parts (a non-object `constraints`, a non-text title) are left out
    here and reported by the structure layer."""
    constraints = dict(spec["constraints"]) if isinstance(spec.get("constraints"), dict) else {}
    description = spec.get("description")
    prose, terms = parse_vocabulary(description if isinstance(description, str) else "")
    enum = constraints.get("enum")
    return FieldDoc(
        name=str(spec.get("name", "")),
        title=str(spec.get("title") or ""),
        type=str(spec.get("type") or "any"),
        format=spec.get("format") if isinstance(spec.get("format"), str) else None,
        description=prose,
        required=bool(constraints.get("required")),
        unique=bool(constraints.get("unique")),
        constraints={k: v for k, v in constraints.items() if k not in _OWN_COLUMNS},
        enum=enum if isinstance(enum, list) else None,
        vocabulary=terms,
    )


def _field_doc_in(spec: dict[str, Any], resource: str, schema_ref: Any) -> FieldDoc:
    try:
        return field_doc(spec)
    except ValueError as exc:
        where = schema_ref if isinstance(schema_ref, str) else f"resource {resource}"
        raise ValueError(f"{where}, field {spec.get('name')!r}: {exc}") from exc


def shape_problems(package: Package, name: Any) -> list[str]:
    """Parts of a resource's schema that the Package accessors had to skip as malformed (a codebook
    built without them would document the wrong keys or constraints)."""
    schema = package.resources[name].schema or {}
    problems = []
    if not isinstance(name, str) or package.resources[name].name_problem:
        problems.append(package.resources[name].name_problem or f"resource name {name!r} is not a string")
    if "primaryKey" in schema and not package.primary_key(name):
        problems.append(f"primaryKey {schema['primaryKey']!r} is not a field name or a list of them")
    raw_keys = schema.get("foreignKeys", [])
    if not isinstance(raw_keys, list) or len(raw_keys) != len(package.foreign_keys(name)):
        problems.append("foreignKeys holds a key that is not {fields, reference: {resource, fields}}")
    raw_fields = schema.get("fields")
    if not isinstance(raw_fields, list) or len(raw_fields) != len(package.fields(name)):
        problems.append("fields holds an entry that is not an object with a name")
    for f in package.fields(name):
        if "constraints" in f and not isinstance(f["constraints"], dict):
            problems.append(f"field {f['name']!r}: constraints {f['constraints']!r} is not an object")
    return problems


def build(package: Package | str | Path = ".") -> Codebook:
    """The codebook of a package, from its descriptor and Table Schemas (in descriptor order).

    Raises CodebookError (a ValueError) when a schema's shape is malformed."""
    if not isinstance(package, Package):
        package = Package.open(package)
    descriptor = package.descriptor
    book = Codebook(title=str(descriptor.get("title") or descriptor.get("name") or "Data Package"),
                    version=str(descriptor.get("version") or ""))
    for name, spec in package.resources.items():
        schema = spec.schema
        if schema is None:
            continue
        schema_ref = spec.descriptor.get("schema")
        problems = shape_problems(package, name)
        if problems:
            where = schema_ref if isinstance(schema_ref, str) else f"resource {name!r}"
            raise CodebookError(f"{where}: {'; '.join(problems)} (run `nkru validate --only structure`)")
        foreign = [ForeignKeyDoc(list(fk.fields), fk.resource, list(fk.reference_fields))
                   for fk in package.foreign_keys(name)]
        book.resources.append(ResourceDoc(
            name=str(name),
            title=str(spec.descriptor.get("title") or name),
            description=str(spec.descriptor.get("description") or ""),
            schema_description=str(schema.get("description") or ""),
            path=spec.path,
            schema_path=schema_ref if isinstance(schema_ref, str) else None,
            primary_key=package.primary_key(name),
            foreign_keys=foreign,
            fields=[_field_doc_in(f, name, schema_ref) for f in package.fields(name)],
        ))
    return book


# -- Markdown -------------------------------------------------------------------


def _cell(text: Any) -> str:
    """Text shown as text in Markdown (a table cell, a heading, a paragraph): schema descriptions and titles
    are text, not markup. Whitespace runs become one space; control and bidi characters (NUL, ESC,
    U+202E, ...) become visible `\\uXXXX` escapes; `&`, `<` and `>` become HTML entities (no tag, no
    `onerror=`, no autolink); backslashes, brackets and pipes are escaped (no link such as
    `[x](javascript:...)`, no image, no extra table column)."""
    text = escape_controls(" ".join(str(text).split()), keep="")
    text = html.escape(text.replace("\\", "\\\\"), quote=False)
    return text.replace("[", "\\[").replace("]", "\\]").replace("|", "\\|")


def _code(text: Any, *, table: bool = True) -> str:
    """`text` as inline code: a code span, or `<code>` with HTML entities when a backtick would end the span
    early. Control characters and line breaks are visible escapes; in a table a pipe is escaped (GFM reads
    `\\|` as `|` inside code too)."""
    text = escape_controls(str(text), keep="")
    code = f"`{text}`" if "`" not in text and text.strip() == text and text else f"<code>{html.escape(text, quote=False)}</code>"
    return code.replace("|", "\\|") if table else code


def slug(heading: Any) -> str:
    """The anchor GitHub gives a Markdown heading (lower case, punctuation dropped, spaces to hyphens)."""
    kept = re.sub(r"[^\w\- ]", "", str(heading).strip().lower())
    return kept.replace(" ", "-")


def vocabulary_heading(resource: str, field_name: str) -> str:
    return f"Values of {field_name} in {resource}"


def field_anchor(resource: str, field_name: str) -> str:
    """Anchor of a field's controlled-values table (the same in Markdown and in the HTML report)."""
    return slug(vocabulary_heading(resource, field_name))


def words(key: str) -> str:
    """A constraint name in words: minLength -> min length."""
    return _words(key)


def _constraint_markdown(kind: str, value: str, resource: str, field_name: str) -> str:
    if kind == "enum":
        return f"one of {value} [controlled values](#{field_anchor(resource, field_name)})"
    if kind == "pattern":
        return f"pattern {_code(value)}"
    return _cell(f"{_words(kind)} {value}")


def to_markdown(book: Codebook) -> str:
    """The codebook as GitHub-flavoured Markdown (deterministic: same schemas, same bytes)."""
    out: list[str] = []
    add = out.append
    heading = f"# Codebook: {_cell(book.title)}"
    add(heading)
    add("")
    add("<!-- Generated by `nkru codebook` from the Table Schemas (schemas/*.json via datapackage.json). "
        "Do not edit by hand: change the schemas and run `nkru codebook`. -->")
    add("")
    version = f" (package version {_cell(book.version)})" if book.version else ""
    add(f"Every resource, field, constraint and controlled value of the package{version}, "
        "generated from its Table Schemas.")
    add("")
    add("| Resource | Title | File | Fields | Primary key |")
    add("|---|---|---|---|---|")
    for res in book.resources:
        add(f"| [{_code(res.name)}](#{slug(res.name)}) | {_cell(res.title)} | "
            f"{_code(res.path) if res.path else ''} | {len(res.fields)} | "
            f"{', '.join(_code(k) for k in res.primary_key)} |")
    for res in book.resources:
        add("")
        add(f"## {_cell(res.name)}")
        add("")
        add(f"**{_cell(res.title)}.** {_cell(res.description)}")
        if res.schema_description and res.schema_description != res.description:
            add("")
            add(_cell(res.schema_description))
        add("")
        if res.path:
            add(f"- File: {_code(res.path, table=False)}"
                + (f"; schema: {_code(res.schema_path, table=False)}" if res.schema_path else ""))
        add(f"- Primary key: {', '.join(_code(k, table=False) for k in res.primary_key) or '(none)'}")
        if res.foreign_keys:
            keys = "; ".join(
                f"{', '.join(_code(f, table=False) for f in fk.fields)} → "
                f"{', '.join(_code(f'{fk.resource}.{r}', table=False) for r in fk.reference_fields)}"
                for fk in res.foreign_keys)
            add(f"- Foreign keys: {keys}")
        else:
            add("- Foreign keys: (none)")
        add("")
        add("| Field | Title | Type | Required | Unique | Constraints | Description |")
        add("|---|---|---|---|---|---|---|")
        for f in res.fields:
            constraints = "; ".join(_constraint_markdown(kind, value, res.name, f.name)
                                    for kind, value in f.constraint_items)
            add(f"| {_code(f.name)} | {_cell(f.title)} | {_cell(f.type)} | {'yes' if f.required else ''} | "
                f"{'yes' if f.unique else ''} | {constraints} | {_cell(f.description)} |")
        for f in res.vocabulary_fields:
            add("")
            add(f"### {_cell(vocabulary_heading(res.name, f.name))}")
            add("")
            add(f"Controlled values of {_code(f.name, table=False)} ({_cell(f.title)}): {_cell(f.description)}")
            add("")
            add("| Value | Meaning | Example |")
            add("|---|---|---|")
            for term in f.vocabulary:
                add(f"| {_code(term.value)} | {_cell(term.meaning)} | {_cell(term.example)} |")
    add("")
    return "\n".join(out)


def default_output(package_root: Path) -> Path:
    return package_root / "docs" / "codebook.md"


#: The states `check` reports: the file matches the schemas, does not exist, or differs.
OK, MISSING, STALE = "ok", "missing", "stale"


def check(package: Package | str | Path, target: str | Path | None = None) -> str:
    """Whether the codebook file (default: PACKAGE/docs/codebook.md) is what the schemas give now:
    OK, MISSING or STALE. Raises CodebookError when the file cannot be read as UTF-8 text."""
    if not isinstance(package, Package):
        package = Package.open(package)
    target = Path(target) if target is not None else default_output(package.root)
    if not target.exists():
        return MISSING
    try:
        current = target.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CodebookError(f"{target}: is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CodebookError(f"{target}: cannot be read: {exc.strerror or exc}") from None
    return OK if current == to_markdown(build(package)) else STALE


def write(package: Package | str | Path, target: str | Path | None = None) -> tuple[Path, Codebook]:
    """Write the codebook Markdown (atomically) to `target` (default: PACKAGE/docs/codebook.md).

    Raises CodebookError when the target cannot be written."""
    from nkru.fsutil import confine, lock_for, write_error
    from nkru.transaction import atomic_write_text

    if not isinstance(package, Package):
        package = Package.open(package)
    book = build(package)
    named = target
    target = Path(target) if target is not None else default_output(package.root)
    if target.is_dir():
        raise CodebookError(f"{target} is a directory; give a file name with --out")
    try:
        with lock_for(package.root, target):
            confine(target, package.root, named=named)  # docs/ (or a parent of --out) planted as a link
            atomic_write_text(target, to_markdown(book), named=named)
    except OSError as exc:
        raise CodebookError(write_error(exc, target)) from None
    return target, book
