"""The citation and release metadata beside datapackage.json: CITATION.cff, .zenodo.json and CHANGELOG.md.

Reading, checking helpers and the small, format-preserving edits `nkru release`
makes (a version and a date, a new CHANGELOG section). Nothing here judges the
files; the metadata layer turns what it reads into findings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from nkru.resources import CFF_PROFILE, profile_path
from nkru.dates import parse_date

#: The resource that records retracted IDs (see docs/releasing.md).
RETRACTIONS = "retractions"
#: The retractions table's fields (schemas/retractions.json): the withdrawn ID, the version that withdrew it,
#: why, and the ID that replaces it (optional).
RETRACTED_ID, RETRACTED_IN, RETRACTION_REASON, REPLACED_BY = "id", "retracted_in", "reason", "replaced_by"
RETRACTION_FIELDS = (RETRACTED_ID, RETRACTED_IN, RETRACTION_REASON, REPLACED_BY)

CITATION = "CITATION.cff"
ZENODO = ".zenodo.json"
CHANGELOG = "CHANGELOG.md"
METADATA_FILES = (CITATION, ZENODO, CHANGELOG)


_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\Z")


class MetadataError(ValueError):
    """A metadata file cannot be parsed; `line` is 1-based where known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


class Version(NamedTuple):
    """A semantic version X.Y.Z; tuples compare in version order."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: Any) -> "Version | None":
        if not isinstance(text, str):
            return None
        match = _SEMVER.match(text.strip())
        return cls(*(int(g) for g in match.groups())) if match else None

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def bump_kind(self, previous: "Version") -> str | None:
        """'major', 'minor' or 'patch': how this version moves on from `previous` (None if it does not)."""
        if self <= previous:
            return None
        if self.major > previous.major:
            return "major"
        if self.minor > previous.minor:
            return "minor"
        return "patch"


#: Between releases, datapackage.json carries a development version: the coming release's number with this
#: semantic-versioning pre-release suffix (1.1.0-dev sorts before 1.1.0). See docs/releasing.md, "Between releases".
DEV_SUFFIX = "-dev"


def dev_version(text: Any) -> Version | None:
    """The X.Y.Z of a development version `X.Y.Z-dev`; None for anything else (a release version included)."""
    if not isinstance(text, str) or not text.strip().endswith(DEV_SUFFIX):
        return None
    return Version.parse(text.strip()[: -len(DEV_SUFFIX)])


def is_date(text: Any) -> bool:
    """A real calendar date written YYYY-MM-DD (2024-02-31 is not one)."""
    return parse_date(text) is not None


def descriptor_license(descriptor: Any) -> dict[str, Any]:
    """The first licence of a Data Package descriptor as a dict (`name`, `path`, `title`), {} when none or malformed
    (`"licenses": {}` included)."""
    licenses = descriptor.get("licenses") if isinstance(descriptor, dict) else None
    first = licenses[0] if isinstance(licenses, list) and licenses else None
    return first if isinstance(first, dict) else {}


def descriptor_license_name(descriptor: Any) -> str | None:
    """The SPDX identifier (`name`) of the descriptor's first licence, or None."""
    name = descriptor_license(descriptor).get("name")
    return name if isinstance(name, str) else None


# -- CITATION.cff -----------------------------------------------------------------


class _CffLoader(yaml.SafeLoader):
    """Safe YAML that keeps dates as strings: the CFF schema expects `date-released` as a string."""


_CffLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


#: Most values a CITATION.cff may stand for once its YAML aliases are expanded (the real file has under 100).
#: Aliases make a small file stand for a huge one (`b: [*a, *a, ...]`, nine levels deep: 2 KB for
#: 400 million values); everything that walks the document (the CFF schema check, a finding's value)
#: would expand them, so a document beyond this is refused before anything walks it.
MAX_YAML_VALUES = 100_000
#: Deepest nesting of YAML sequences and mappings read (as for JSON, `nkru.safejson.MAX_DEPTH`).
MAX_YAML_DEPTH = 64


def yaml_expanded_size(data: Any, limit: int = MAX_YAML_VALUES, max_depth: int = MAX_YAML_DEPTH) -> int:
    """How many values `data` (parsed YAML) holds with every alias expanded, counting each shared node
    once per use but visiting it once (linear in the file's size). Raises MetadataError beyond `limit`
    values, beyond `max_depth` levels, or for an alias that contains itself (a recursive document)."""
    sizes: dict[int, int] = {}
    # An explicit stack (no recursion): (node, depth, children done?)
    stack: list[tuple[Any, int, bool]] = [(data, 1, False)]
    open_nodes: set[int] = set()
    while stack:
        node, level, done = stack.pop()
        if not isinstance(node, (list, dict)):
            continue
        key = id(node)
        if done:
            children = node.values() if isinstance(node, dict) else node
            total = 1 + sum(sizes.get(id(child), 1) for child in children)
            if isinstance(node, dict):
                total += len(node)  # the keys
            if total > limit:
                raise MetadataError(f"its YAML aliases expand to more than {limit:,} values; "
                                    "write the values out or use fewer aliases")
            sizes[key] = total
            open_nodes.discard(key)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise MetadataError("a YAML alias contains itself (a recursive document)")
        if level > max_depth:
            raise MetadataError(f"its YAML nests lists and mappings more than {max_depth} levels deep")
        open_nodes.add(key)
        stack.append((node, level, True))
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, level + 1, False) for child in children)
    return sizes.get(id(data), 1)


def load_cff(text: str) -> dict[str, Any]:
    """Parse CITATION.cff text; raises MetadataError with the line of a YAML error, and for a document
    whose aliases expand beyond MAX_YAML_VALUES values (see `yaml_expanded_size`)."""
    try:
        data = yaml.load(text, Loader=_CffLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise MetadataError("its YAML nests too deeply to be read") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise MetadataError(f"not valid YAML: {exc.problem or exc}", line) from exc
    except yaml.YAMLError as exc:
        raise MetadataError(f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise MetadataError("must be a YAML mapping of keys to values", 1)
    yaml_expanded_size(data)
    from nkru.safejson import without_surrogates

    return without_surrogates(data)  # a lone surrogate ("\ud800" in YAML) as text, as in JSON (nkru.safejson)


def cff_schema_errors(data: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(JSON pointer, message, offending value) for each way `data` breaks the CFF 1.2.0 schema."""
    import jsonschema

    schema = json.loads(profile_path(CFF_PROFILE).read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    found = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        pointer = "/" + "/".join(str(p) for p in error.absolute_path)
        found.append((pointer, error.message, error.instance))
    return found


def cff_licenses(data: dict[str, Any]) -> list[str]:
    value = data.get("license")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def cff_doi(data: dict[str, Any]) -> str | None:
    """The version DOI (`doi`), else the first DOI among `identifiers`."""
    if isinstance(data.get("doi"), str):
        return data["doi"]
    for item in data.get("identifiers") or []:
        if isinstance(item, dict) and item.get("type") == "doi" and isinstance(item.get("value"), str):
            return item["value"]
    return None


#: The one setting that says where the dataset lives: CITATION.cff's `repository-code` (the repository URL) and,
#: once Zenodo has minted one, `doi`. datapackage.json (`homepage`), .zenodo.json (`related_identifiers`) and every
#: `nkru cite` format take it from there (`nkru release` writes it into the first two; `nkru validate` checks them).
REPOSITORY_KEY = "repository-code"
#: How .zenodo.json points at the repository.
ZENODO_RELATION = "isSupplementTo"
#: Placeholders that must never reach a user (an address nobody filled in).
PLACEHOLDER = re.compile(r"github\.com/OWNER\b|\bOWNER/nkru\b|\bexample\.(?:com|org)\b|<repository[- ]url>", re.IGNORECASE)


def cff_repository(data: dict[str, Any]) -> str | None:
    """The repository URL CITATION.cff sets (`repository-code`, an http(s) address), or None while it is unset."""
    from nkru.text import safe_url

    value = data.get(REPOSITORY_KEY) if isinstance(data, dict) else None
    return safe_url(value.strip()) if isinstance(value, str) else None


def zenodo_repository(zenodo: dict[str, Any]) -> list[str]:
    """The URLs .zenodo.json relates the record to as `isSupplementTo` (the repository)."""
    found = []
    for item in zenodo.get("related_identifiers") or [] if isinstance(zenodo, dict) else []:
        if isinstance(item, dict) and item.get("relation") == ZENODO_RELATION and isinstance(item.get("identifier"), str):
            found.append(item["identifier"])
    return found


def with_zenodo_repository(zenodo: dict[str, Any], url: str) -> dict[str, Any]:
    """`zenodo` relating the record to `url` (and to no other repository URL)."""
    others = [item for item in zenodo.get("related_identifiers") or []
              if not (isinstance(item, dict) and item.get("relation") == ZENODO_RELATION)]
    result = dict(zenodo)
    result["related_identifiers"] = others + [{"identifier": url, "relation": ZENODO_RELATION, "scheme": "url"}]
    return result


def set_yaml_value(text: str, key: str, value: str, *, after: str | None = None) -> str:
    """Replace a top-level `key: value` line, keeping every other byte (comments, order, layout).

    The value is written double-quoted. When the key is absent and `after` names a top-level key that is
    there once, the line is inserted after that key's line. Raises MetadataError otherwise.
    """
    pattern = re.compile(rf"^{re.escape(key)}[ \t]*:.*$", re.MULTILINE)
    matches = pattern.findall(text)
    if not matches and after is not None:
        anchor = re.compile(rf"^{re.escape(after)}[ \t]*:.*$", re.MULTILINE)
        if len(anchor.findall(text)) == 1:
            line = f"{key}: {json.dumps(value, ensure_ascii=False)}"
            return anchor.sub(lambda m: m.group(0) + "\n" + line, text, count=1)
    if len(matches) != 1:
        raise MetadataError(f"expected exactly one top-level {key!r} line, found {len(matches)}")
    return pattern.sub(lambda _: f"{key}: {json.dumps(value, ensure_ascii=False)}", text, count=1)


# -- JSON files ---------------------------------------------------------------------


def load_json(text: str) -> dict[str, Any]:
    """A JSON object read within the limits of `nkru.safejson` (size, depth); raises MetadataError."""
    from nkru import safejson

    try:
        data = safejson.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"not valid JSON (column {exc.colno}: {exc.msg})", exc.lineno) from exc
    except ValueError as exc:  # safejson.JSONLimitError: too large or too deep
        raise MetadataError(str(exc)) from exc
    if not isinstance(data, dict):
        raise MetadataError("must be a JSON object", 1)
    return data


def dump_json(data: Any) -> str:
    """The project's JSON layout: 2-space indent, UTF-8 characters as they are, a final newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def key_line(text: str, key: str, *, yaml_style: bool = False) -> int | None:
    """1-based line of a top-level key in CFF (YAML) or JSON text, for editors to jump to."""
    if yaml_style:
        pattern = re.compile(rf"^{re.escape(key)}[ \t]*:", re.MULTILINE)
    else:
        pattern = re.compile(rf'^[ \t]*{re.escape(json.dumps(key))}[ \t]*:', re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


# -- CHANGELOG.md -------------------------------------------------------------------

_HEADING = re.compile(r"^##(?!#)[ \t]*(.*?)[ \t]*$")
_RELEASE = re.compile(r"^\[(?P<version>[^\]]+)\][ \t]+-[ \t]+(?P<date>\S+)$")
_UNRELEASED = re.compile(r"^\[Unreleased\]$", re.IGNORECASE)


@dataclass
class Section:
    """One `## ` section of the CHANGELOG; lines are 1-based, `end` is exclusive."""

    heading: str
    line: int
    end: int
    version: str | None = None  # None for [Unreleased] and for malformed headings
    date: str | None = None
    unreleased: bool = False


@dataclass
class Changelog:
    """A Keep a Changelog file: `## [Unreleased]` on top (optional), then `## [X.Y.Z] - YYYY-MM-DD` sections."""

    text: str
    sections: list[Section] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, what is wrong)

    @classmethod
    def parse(cls, text: str) -> "Changelog":
        log = cls(text)
        lines = text.split("\n")
        fence = False
        for number, raw in enumerate(lines, start=1):
            if raw.lstrip().startswith("```"):
                fence = not fence
            match = None if fence else _HEADING.match(raw)
            if not match:
                continue
            if log.sections:
                log.sections[-1].end = number
            heading = match.group(1)
            section = Section(heading=heading, line=number, end=len(lines) + 1)
            release = _RELEASE.match(heading)
            if _UNRELEASED.match(heading):
                section.unreleased = True
                if log.sections:
                    log.problems.append((number, "the [Unreleased] section must come before every release"))
            elif release:
                version, date = release.group("version"), release.group("date")
                if Version.parse(version) is None:
                    log.problems.append((number, f"version {version!r} is not a semantic version X.Y.Z"))
                elif not is_date(date):
                    log.problems.append((number, f"date {date!r} is not YYYY-MM-DD"))
                else:
                    section.version, section.date = version, date
            else:
                log.problems.append((number, f"heading {raw.strip()!r} is neither '## [Unreleased]' nor '## [X.Y.Z] - YYYY-MM-DD'"))
            log.sections.append(section)
        released = [s for s in log.sections if s.version]
        for newer, older in zip(released, released[1:], strict=False):
            if Version.parse(newer.version) <= Version.parse(older.version):
                log.problems.append((older.line, f"release {older.version} is listed below {newer.version}: newest first, each version once"))
            elif newer.date < older.date:
                log.problems.append((newer.line, f"release {newer.version} is dated {newer.date}, before {older.version} ({older.date})"))
        return log

    @property
    def latest(self) -> Section | None:
        """The newest released section (the first `## [X.Y.Z] - date`)."""
        return next((s for s in self.sections if s.version), None)

    @property
    def unreleased(self) -> Section | None:
        return next((s for s in self.sections if s.unreleased), None)

    def section(self, version: str) -> Section | None:
        return next((s for s in self.sections if s.version == version), None)

    def body(self, section: Section) -> str:
        lines = self.text.split("\n")
        return "\n".join(lines[section.line : section.end - 1]).strip("\n")

    def with_release(self, version: str, date: str, generated: dict[str, list[str]]) -> str:
        """The text with the [Unreleased] notes moved into a new `## [version] - date` section.

        `generated` maps Keep a Changelog categories (Added, Changed, Removed, ...) to bullet lines;
        they are merged under the notes' own `### Category` headings, or appended as new ones.
        A fresh, empty `## [Unreleased]` stays on top.
        """
        lines = self.text.split("\n")
        unreleased = self.unreleased
        if unreleased is not None:
            notes = self.body(unreleased)
            before = lines[: unreleased.line - 1]
            after = lines[unreleased.end - 1 :]
        else:
            notes = ""
            first = self.sections[0].line if self.sections else len(lines) + 1
            before = lines[: first - 1]
            after = lines[first - 1 :]
        body = merge_categories(notes, generated)
        while before and not before[-1].strip():
            before.pop()
        block = ["", "## [Unreleased]", "", f"## [{version}] - {date}", ""]
        if body:
            block += body.split("\n") + [""]
        rest = list(after)
        while rest and not rest[0].strip():
            rest.pop(0)
        text = "\n".join(before + block + rest)
        return text.rstrip("\n") + "\n"


#: Keep a Changelog's categories, in its order.
CATEGORIES = ["Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"]


def merge_categories(notes: str, generated: dict[str, list[str]]) -> str:
    """Merge generated bullets into hand-written notes by `### Category` heading."""
    preamble: list[str] = []
    order: list[str] = []
    blocks: dict[str, list[str]] = {}
    current: list[str] = preamble
    for line in notes.split("\n") if notes.strip() else []:
        match = re.match(r"^###[ \t]+(.+?)[ \t]*$", line)
        if match:
            name = match.group(1)
            if name not in blocks:
                order.append(name)
                blocks[name] = []
            current = blocks[name]
            continue
        current.append(line)
    for name, bullets in generated.items():
        if not bullets:
            continue
        if name not in blocks:
            order.append(name)
            blocks[name] = []
        existing = blocks[name]
        while existing and not existing[-1].strip():
            existing.pop()
        if existing:
            existing.append("")
        existing.extend(bullets)
    order.sort(key=lambda name: CATEGORIES.index(name) if name in CATEGORIES else len(CATEGORIES))
    out: list[str] = []
    text = "\n".join(preamble).strip("\n")
    if text:
        out += [text, ""]
    for name in order:
        content = "\n".join(blocks[name]).strip("\n")
        out += [f"### {name}", ""]
        if content:
            out += [content, ""]
    return "\n".join(out).strip("\n")


def next_version(previous: Version, bump: str) -> Version:
    if bump == "major":
        return Version(previous.major + 1, 0, 0)
    if bump == "minor":
        return Version(previous.major, previous.minor + 1, 0)
    return Version(previous.major, previous.minor, previous.patch + 1)
