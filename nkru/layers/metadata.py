"""Metadata layer: one version everywhere, a valid CITATION.cff, and stable IDs across releases.

- datapackage.json, CITATION.cff, .zenodo.json and the newest CHANGELOG.md
  release heading agree on version (and the three files on title, licence and
  release date); CITATION.cff passes the official CFF 1.2.0 JSON Schema.
- Stable IDs: every primary-key ID (of each resource with a one-field primary
  key) in the previous release is still there or listed in the retractions
  table, and a retracted ID is never used again. The previous release is the
  newest manifest `releases/X.Y.Z.json` (no git tag or network needed: it works
  in a shallow clone and in an unpacked release), or `Options.baseline` (a
  release zip, a package directory or a git ref).
- The same previous release gives each table's row-count floor (`row_floors`), which the
  expectations layer checks: no fewer rows than released, less the rows retracted since.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field as dc_field
from functools import cached_property
from typing import Any, Callable

from nkru.findings import Finding, LayerResult, define
from nkru.metadata import (
    CHANGELOG,
    CITATION,
    REPLACED_BY,
    RETRACTED_ID,
    RETRACTED_IN,
    RETRACTION_FIELDS,
    RETRACTION_REASON,
    RETRACTIONS,
    ZENODO,
    Changelog,
    MetadataError,
    Version,
    PLACEHOLDER,
    REPOSITORY_KEY,
    cff_licenses,
    cff_repository,
    cff_schema_errors,
    descriptor_license_name,
    dev_version,
    is_date,
    key_line,
    load_cff,
    load_json,
    zenodo_repository,
)
from nkru.manifest import RELEASES, Manifest, ManifestError, latest_manifest, manifest_names
from nkru.package import DESCRIPTOR, Package, Table, texts_excluded
from nkru.snapshot import Snapshot, SnapshotError, open_snapshot
from nkru.transaction import STATE_DIR
from nkru.options import Options

NAME = "metadata"

_WHY = {
    CITATION: "it says how to cite the dataset (nkru cite reads it)",
    ZENODO: "it tells Zenodo how to archive a release (upload_type dataset, title, version, licence)",
    CHANGELOG: "it records what changed in each release",
}

define("metadata-file-missing", NAME, "{path} is missing: {why}; see docs/releasing.md",
       description="CITATION.cff, .zenodo.json or CHANGELOG.md is not in the package directory.")
define("metadata-file-unreadable", NAME, "{path} line {line}: {detail}",
       description="A metadata file is not valid YAML/JSON or not UTF-8.")
define("citation-schema", NAME, "CITATION.cff at {field}: {detail}",
       description="CITATION.cff does not pass the official Citation File Format 1.2.0 JSON Schema.")
define("citation-type", NAME, "CITATION.cff: type must be 'dataset' (found {value!r})",
       description="CITATION.cff does not declare the work a dataset.")
define("zenodo-field", NAME, ".zenodo.json: {field} {detail}",
       description=".zenodo.json lacks a field Zenodo needs, or upload_type is not 'dataset'.")
define("changelog-format", NAME, "CHANGELOG.md line {line}: {detail}",
       description="CHANGELOG.md is not in Keep a Changelog form: '## [Unreleased]' on top, then '## [X.Y.Z] - YYYY-MM-DD', newest first.")
define("metadata-field-missing", NAME, "{path} has no {field} (datapackage.json says {expected!r})",
       description="CITATION.cff or .zenodo.json lacks the version, title or licence that datapackage.json gives.")
define("version-invalid", NAME, "datapackage.json version {value!r} is not a semantic version X.Y.Z (a release) or X.Y.Z-dev "
       "(between releases)",
       description="The descriptor's version is missing, or neither X.Y.Z nor the development version X.Y.Z-dev.")
define("version-claims-release", NAME,
       "datapackage.json says version {value}, the release recorded in {manifest}, but {count} of that release's files "
       "differ here ({files}): between releases the version is a development version; set it to {expected} "
       "(docs/releasing.md, 'Between releases')",
       description="The working tree claims to be a published release although its release files are no longer that "
                   "release's (`nkru release --verify` would not match them).")
define("repository-url-unset", NAME,
       "CITATION.cff sets no repository-code (the repository URL), so no citation can be followed to the data: set it "
       "once the repository is public (docs/releasing.md, 'The repository URL')", severity="warning",
       description="The one setting that says where the dataset lives is unset: `nkru cite` prints no address.")
define("repository-url-mismatch", NAME,
       "{path} {field} is {value!r}, but CITATION.cff repository-code is {expected!r}: it takes the address from there "
       "(`nkru release` writes it)",
       description="datapackage.json `homepage` or .zenodo.json `related_identifiers` (isSupplementTo) disagree with "
                   "CITATION.cff `repository-code`, the one place the repository URL is set.")
define("placeholder-url", NAME, "{value!r} is a placeholder, not an address: refer to the repository URL of "
       "CITATION.cff (repository-code) or leave the address out",
       description="A placeholder address (OWNER/nkru, example.com) in a file the release ships.")
define("dev-version-behind", NAME,
       "datapackage.json says development version {value}, but {expected_from} is already released: use a version after "
       "it, such as {expected}",
       description="A development version X.Y.Z-dev must name a version after the newest release.")
define("version-mismatch", NAME, "{path} says version {value!r}, but datapackage.json says {expected!r}",
       description="The metadata files disagree on the version.")
define("title-mismatch", NAME, "{path} says title {value!r}, but datapackage.json says {expected!r}",
       description="The metadata files disagree on the title.")
define("license-mismatch", NAME, "{path} says licence {value!r}, but datapackage.json says {expected!r}",
       description="The metadata files disagree on the licence (SPDX identifiers, compared case-insensitively).")
define("date-mismatch", NAME, "{path} says the release date is {value!r}, but {reference} says {expected!r}",
       description="CITATION.cff date-released, .zenodo.json publication_date and the newest CHANGELOG heading disagree.")
define("baseline-missing", NAME, "stable IDs not checked: {detail}", severity="warning",
       description="There is no previous release to compare IDs with (no manifest in releases/ and no --baseline).")
define("manifest-unreadable", NAME, "stable IDs not checked: {detail}",
       description="A release manifest in releases/ is not valid JSON or not in the manifest format.")
define("release-interrupted", NAME,
       "an interrupted `nkru release` left {path}/: rerun the same `nkru release X.Y.Z` to complete or undo it",
       description="`nkru release` was killed while writing; its next run finishes or undoes the transaction.")
define("date-without-release", NAME,
       "{path} gives the release date {value!r}, but nothing has been released (no manifest in releases/, no release "
       "in CHANGELOG.md): remove it; `nkru release` sets it",
       description="CITATION.cff or .zenodo.json claims a release date before any release was made.")
define("changelog-release-missing", NAME, "CHANGELOG.md has no section for release {value} ({manifest})",
       description="A release recorded in releases/ has no '## [X.Y.Z] - date' section in CHANGELOG.md.")
define("baseline-unreadable", NAME, "stable IDs not checked: baseline {value!r} cannot be read: {detail}",
       description="The release given as baseline (or the latest tag) cannot be opened.")
define("released-id-missing", NAME,
       "{resource}: {row_id} was released in {baseline} but is gone; restore the row, or record it in data/retractions.csv "
       f"({', '.join(RETRACTION_FIELDS)})",
       description="A primary-key ID of the previous release disappeared without a retraction.")
define("retraction-removed", NAME, "{resource}: the retraction of {row_id} in {baseline} was removed; retractions are permanent",
       description="A retraction recorded in the previous release is gone.")
define("retracted-id-reused", NAME,
       "{resource} line {line}: {row_id} was retracted in {retracted_in} ({reason}) and must never be used again; give the row a new ID",
       description="An ID listed in the retractions table appears in the data.")
define("retraction-replacement-unknown", NAME, "{resource} line {line}: {row_id} is replaced_by {value!r}, which is not an ID in the data",
       description="A retraction's replaced_by names an ID no resource has.")
define("retraction-version", NAME,
       "{resource} line {line}: {row_id} has retracted_in {value}, but {baseline} ({baseline_version}) still has it; "
       "it is retracted in a later version",
       description="A retraction is dated to a release that still contains the ID.")


def columns_read(package: Package) -> dict[str, set[str]]:
    """The ID columns (primary keys, always kept) and every column of the retractions table."""
    retractions = package.table(RETRACTIONS) if RETRACTIONS in package.resources else None
    return {RETRACTIONS: set(retractions.header)} if retractions is not None else {}


def check(package: Package, options: Options | None = None) -> LayerResult:
    result = LayerResult(NAME)
    result.checks += 1
    if (package.root / STATE_DIR).exists():
        result.findings.append(Finding.make("release-interrupted", path=STATE_DIR))
    _check_metadata(package, result)
    _check_stable_ids(package, options, result)
    return result


# -- one version everywhere ----------------------------------------------------------


def _read(package: Package, name: str, result: LayerResult) -> str | None:
    result.checks += 1
    path = package.root / name
    if not path.is_file():
        result.findings.append(Finding.make("metadata-file-missing", path=name, why=_WHY[name]))
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result.findings.append(Finding.make("metadata-file-unreadable", path=name, line=1, detail=str(exc)))
        return None


def _parse(name: str, text: str | None, loader, result: LayerResult) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        return loader(text)
    except MetadataError as exc:
        result.findings.append(Finding.make("metadata-file-unreadable", path=name, line=exc.line or 1, detail=str(exc)))
        return None


def _check_metadata(package: Package, result: LayerResult) -> None:
    descriptor = package.descriptor
    descriptor_text = (package.root / DESCRIPTOR).read_text(encoding="utf-8")

    def dline(key: str) -> int | None:
        return key_line(descriptor_text, key)

    version = descriptor.get("version")
    result.checks += 1
    development = dev_version(version)
    if Version.parse(version) is None and development is None:
        result.findings.append(Finding.make("version-invalid", path=DESCRIPTOR, line=dline("version"), field="version", value=version))
    title = descriptor.get("title")
    licence = descriptor_license_name(descriptor)

    cff_text = _read(package, CITATION, result)
    zenodo_text = _read(package, ZENODO, result)
    changelog_text = _read(package, CHANGELOG, result)
    cff = _parse(CITATION, cff_text, load_cff, result)
    zenodo = _parse(ZENODO, zenodo_text, load_json, result)
    # Released = there is a manifest in releases/ (or, in an unpacked release, a CHANGELOG release heading).
    # Before the first release no file may claim a release date.
    manifests = manifest_names(package.root)
    # A changelog whose headings cannot be read (its own finding) cannot say that nothing was released.
    log = Changelog.parse(changelog_text) if changelog_text is not None else None
    released = bool(manifests) or (log is not None and (log.latest is not None or bool(log.problems)))
    if development is not None:
        # Between releases: CITATION.cff, .zenodo.json and CHANGELOG.md keep describing the newest release (the one
        # to cite); the development version must come after it.
        newest = manifests[0][0] if manifests else None
        if newest is None and changelog_text is not None:
            latest_heading = Changelog.parse(changelog_text).latest
            newest = Version.parse(latest_heading.version) if latest_heading else None
        result.checks += 1
        if newest is not None and development <= newest:
            from nkru.metadata import next_version

            result.findings.append(Finding.make("dev-version-behind", path=DESCRIPTOR, line=dline("version"), field="version",
                                                value=version, expected_from=str(newest),
                                                expected=f"{next_version(newest, 'minor')}-dev"))
        version = str(newest) if newest is not None else version
    elif Version.parse(version) is not None:
        _check_release_claim(package, version, manifests, result, dline("version"))

    def agree(code: str, path: str, text: str, key: str, value: Any, expected: Any, *, casefold: bool = False, **extra: Any) -> None:
        result.checks += 1
        same = (str(value).casefold() == str(expected).casefold()) if casefold and value is not None else value == expected
        if not same:
            line = key_line(text, key, yaml_style=path == CITATION)
            if value is None and expected is not None:
                code = "metadata-field-missing"
            result.findings.append(Finding.make(code, path=path, line=line, field=key, value=value, expected=expected, **extra))

    _check_repository(package, descriptor, descriptor_text, cff, zenodo, zenodo_text, result)

    dates: list[tuple[str, str, str, Any]] = []  # (path, text, key, value)
    if cff is not None:
        result.checks += 1
        for pointer, message, instance in cff_schema_errors(cff):
            top = pointer.strip("/").split("/")[0]
            result.findings.append(Finding.make("citation-schema", path=CITATION, line=key_line(cff_text, top, yaml_style=True) if top else None,
                                                field=pointer, value=_short(instance), detail=message[:300]))
        result.checks += 1
        if cff.get("type") != "dataset":
            result.findings.append(Finding.make("citation-type", path=CITATION, line=key_line(cff_text, "type", yaml_style=True),
                                                field="type", value=cff.get("type")))
        agree("version-mismatch", CITATION, cff_text, "version", _text(cff.get("version")), version)
        agree("title-mismatch", CITATION, cff_text, "title", cff.get("title"), title)
        cff_licence = cff_licenses(cff)
        agree("license-mismatch", CITATION, cff_text, "license", cff_licence[0] if len(cff_licence) == 1 else cff.get("license"),
              licence, casefold=True)
        if released or cff.get("date-released") is not None:
            dates.append((CITATION, cff_text, "date-released", cff.get("date-released")))
        result.checks += 1
        if not released and cff.get("date-released") is not None:
            result.findings.append(Finding.make("date-without-release", path=CITATION, field="date-released",
                                                line=key_line(cff_text, "date-released", yaml_style=True),
                                                value=cff.get("date-released")))

    if zenodo is not None:
        _check_zenodo(zenodo, zenodo_text, result, released)
        agree("version-mismatch", ZENODO, zenodo_text, "version", zenodo.get("version"), version)
        agree("title-mismatch", ZENODO, zenodo_text, "title", zenodo.get("title"), title)
        zlicence = zenodo.get("license")
        if isinstance(zlicence, dict):
            zlicence = zlicence.get("id")
        agree("license-mismatch", ZENODO, zenodo_text, "license", zlicence, licence, casefold=True)
        if released or zenodo.get("publication_date") is not None:
            dates.append((ZENODO, zenodo_text, "publication_date", zenodo.get("publication_date")))
        result.checks += 1
        if not released and zenodo.get("publication_date") is not None:
            result.findings.append(Finding.make("date-without-release", path=ZENODO, field="publication_date",
                                                line=key_line(zenodo_text, "publication_date"),
                                                value=zenodo.get("publication_date")))

    if changelog_text is not None:
        log = Changelog.parse(changelog_text)
        result.checks += 1
        for line, detail in log.problems:
            result.findings.append(Finding.make("changelog-format", path=CHANGELOG, line=line, detail=detail))
        latest = log.latest
        result.checks += 1
        for manifest_version, name in manifests:
            result.checks += 1
            if log.section(str(manifest_version)) is None:
                result.findings.append(Finding.make("changelog-release-missing", path=CHANGELOG, line=1,
                                                    value=str(manifest_version), manifest=f"{RELEASES}/{name}"))
        if latest is None:
            if manifests and not log.problems:
                result.findings.append(Finding.make("changelog-format", path=CHANGELOG, line=1,
                                                    detail="no release heading '## [X.Y.Z] - YYYY-MM-DD'"))
        else:
            result.checks += 1
            if latest.version != version:
                result.findings.append(Finding.make("version-mismatch", path=CHANGELOG, line=latest.line, field="version",
                                                    value=latest.version, expected=version))
            dates.append((CHANGELOG, changelog_text, "", latest.date))

    # The release date: the files agree; the date most of them give is taken as meant (ties: CHANGELOG first).
    if len(dates) > 1:
        dates.sort(key=lambda item: (item[0] != CHANGELOG, item[0] != CITATION))
        values = [value for _, _, _, value in dates]
        ref_path, _, ref_key, ref_value = max(dates, key=lambda item: (values.count(item[3]), -dates.index(item)))
        reference = f"{ref_path} {ref_key}".strip() if ref_key else f"{ref_path} (newest release heading)"
        for path, text, key, value in dates:
            if path == ref_path:
                continue
            result.checks += 1
            if value != ref_value:
                line = key_line(text, key, yaml_style=path == CITATION) if key else _changelog_line(text)
                result.findings.append(Finding.make("date-mismatch", path=path, line=line, field=key or "heading",
                                                    value=value, expected=ref_value, reference=reference))


def _check_repository(package: Package, descriptor: dict[str, Any], descriptor_text: str, cff: dict[str, Any] | None,
                      zenodo: dict[str, Any] | None, zenodo_text: str | None, result: LayerResult) -> None:
    """One setting holds the repository URL: CITATION.cff repository-code. The others agree with it; no placeholder."""
    for name in ("README.md", CITATION, ZENODO, DESCRIPTOR):
        path = package.root / name
        result.checks += 1
        try:
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = PLACEHOLDER.search(line)
            if match:
                result.findings.append(Finding.make("placeholder-url", path=name, line=number, value=match.group(0)))
    if cff is None:
        return
    url = cff_repository(cff)
    result.checks += 1
    if url is None:
        result.findings.append(Finding.make("repository-url-unset", path=CITATION, field=REPOSITORY_KEY,
                                            value=cff.get(REPOSITORY_KEY)))
    homepage = descriptor.get("homepage")
    result.checks += 1
    if homepage is not None and homepage != url:
        result.findings.append(Finding.make("repository-url-mismatch", path=DESCRIPTOR, line=key_line(descriptor_text, "homepage"),
                                            field="homepage", value=homepage, expected=url))
    if zenodo is not None:
        related = zenodo_repository(zenodo)
        result.checks += 1
        if related and related != [url]:
            result.findings.append(Finding.make("repository-url-mismatch", path=ZENODO, line=key_line(zenodo_text, "related_identifiers"),
                                                field="related_identifiers", value=", ".join(related), expected=url))


def _check_release_claim(package: Package, version: str, manifests, result: LayerResult, line: int | None) -> None:
    """A released version in datapackage.json is a claim that the release files are that release's."""
    name = f"{version}.json"
    if not any(file_name == name for _, file_name in manifests):
        return
    from nkru.manifest import read_manifest
    from nkru.manifest import compare_tree
    from nkru.metadata import next_version

    result.checks += 1
    try:
        manifest = read_manifest(package.root, version)
    except ManifestError:
        return  # reported by the stable-ID check (manifest-unreadable)
    differ = [f.path for f in compare_tree(package.root, manifest) if f.status != "same"]
    if differ:
        shown = ", ".join(differ[:6]) + (f" and {len(differ) - 6} more" if len(differ) > 6 else "")
        result.findings.append(Finding.make(
            "version-claims-release", path=DESCRIPTOR, line=line, field="version", value=version, manifest=manifest.label,
            count=len(differ), files=shown, expected=f"{next_version(Version.parse(version), 'minor')}-dev"))


def _changelog_line(text: str) -> int | None:
    latest = Changelog.parse(text).latest
    return latest.line if latest else None


def _check_zenodo(zenodo: dict[str, Any], text: str, result: LayerResult, released: bool = True) -> None:
    def problem(key: str, detail: str, value: Any = None) -> None:
        result.findings.append(Finding.make("zenodo-field", path=ZENODO, line=key_line(text, key), field=key, value=value, detail=detail))

    result.checks += 1
    if zenodo.get("upload_type") != "dataset":
        problem("upload_type", f"must be \"dataset\" (found {zenodo.get('upload_type')!r})", zenodo.get("upload_type"))
    result.checks += 1
    if not zenodo.get("description"):  # title, version and licence are compared with datapackage.json
        problem("description", "is missing or empty")
    result.checks += 1
    creators = zenodo.get("creators")
    if not isinstance(creators, list) or not creators or not all(isinstance(c, dict) and c.get("name") for c in creators):
        problem("creators", "must be a non-empty list of objects with a name")
    result.checks += 1
    if (released or zenodo.get("publication_date") is not None) and not is_date(zenodo.get("publication_date")):
        problem("publication_date", f"must be a date YYYY-MM-DD (found {zenodo.get('publication_date')!r})", zenodo.get("publication_date"))


def _text(value: Any) -> Any:
    # YAML may read an unquoted version such as 1.0 as a number.
    return value if value is None or isinstance(value, str) else str(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


# -- stable IDs ------------------------------------------------------------------------


def id_resources(resources: list[str], primary_key) -> dict[str, str]:
    """resource -> its ID field, for every resource with a one-field primary key (not the retractions)."""
    found = {}
    for name in resources:
        key = primary_key(name)
        if len(key) == 1 and name != RETRACTIONS:
            found[name] = key[0]
    return found


@dataclass
class Baseline:
    """What the previous release held: its IDs by resource (one-field keys), its retractions and row counts.
    IDs are polars String Series (each ID once): a release of a million claims lists 3.9M of them."""

    label: str
    version: str | None
    read_ids: Callable[[], dict[str, tuple[str, Any]]]  # resource -> (ID field, IDs), read when first asked
    retracted: Any  # the released retracted IDs (a polars String Series)
    rows: dict[str, int] = dc_field(default_factory=dict)  # resource -> rows, where the release records it
    source: str | None = None  # where it was read: releases/X.Y.Z.json, or the zip, folder or git ref given

    @cached_property
    def ids(self) -> dict[str, tuple[str, Any]]:
        """resource -> (ID field, IDs); raises ManifestError on a malformed ID range."""
        return self.read_ids()


def _manifest_baseline(manifest: Manifest) -> Baseline:
    def read_ids() -> dict[str, tuple[str, Any]]:
        ids = {}
        for name in manifest.resources:
            field = manifest.id_field(name)
            if field is not None and name != RETRACTIONS:
                ids[name] = (field, manifest.ids(name))
        return ids

    retracted = manifest.ids(RETRACTIONS) if RETRACTIONS in manifest.resources else _no_ids()
    rows = {name: entry["rows"] for name, entry in manifest.resources.items()
            if isinstance(entry.get("rows"), int) and not isinstance(entry.get("rows"), bool) and entry["rows"] >= 0}
    return Baseline(f"{manifest.label} ({manifest.version})", manifest.version, read_ids, retracted, rows, manifest.label)


def _snapshot_baseline(snapshot: Snapshot) -> Baseline:
    ids = {}
    rows = {}
    for name, key in id_resources(list(snapshot.resources), snapshot.primary_key).items():
        table = snapshot.table(name)
        if table is not None:
            ids[name] = (key, _id_set(table, key))
            rows[name] = len(table)
    old = snapshot.table(RETRACTIONS) if RETRACTIONS in snapshot.resources else None
    retracted = _id_set(old, RETRACTED_ID) if old is not None else _no_ids()
    if old is not None:
        rows[RETRACTIONS] = len(old)
    label = snapshot.label if snapshot.version is None else f"{snapshot.label} ({snapshot.version})"
    return Baseline(label, snapshot.version, lambda: ids, retracted, rows, snapshot.label)


def _no_ids():
    import polars as pl

    return pl.Series("id", [], dtype=pl.String)


def _id_set(table: Table, field: str):
    """The values of a table's column, each once ("" for an empty cell), as a polars String Series."""
    return table.select([field]).to_series().fill_null("").unique().alias("id")


#: The previous release, read once per package (a Package lives for one run) until `forget_baseline`: the
#: row-count floors, the distributions and the stable-ID check compare with it, and a million-claim
#: release's 3.9M IDs are expanded once for all of them. package -> baseline spec -> (baseline or None,
#: checks, the finding to report: code, fields).
_BASELINES: "weakref.WeakKeyDictionary[Package, dict[str | None, tuple[Baseline | None, int, tuple | None]]]" = \
    weakref.WeakKeyDictionary()


def _baseline(package: Package, options: Options | None, result: LayerResult) -> Baseline | None:
    """The previous release: `--baseline` (zip, directory or git ref), else the newest releases/X.Y.Z.json;
    None when there is none or it cannot be read (then `result` gets the finding that says why)."""
    spec = options.baseline if options is not None else None
    known = _BASELINES.setdefault(package, {})
    if spec not in known:
        known[spec] = _read_baseline(package, spec)
    baseline, checks, problem = known[spec]
    result.checks += checks
    if problem is not None:
        code, fields = problem
        result.findings.append(Finding.make(code, **fields))
    return baseline


def forget_baseline(package: Package) -> None:
    """Drop the previous release read for `package` (with its expanded IDs); the next use reads it again.
    The expectations layer calls it when it is done: the metadata layer, the last, reads it once more (1 s
    at a million claims) rather than have the layers between hold it."""
    _BASELINES.pop(package, None)


def _read_baseline(package: Package, spec: str | None) -> tuple[Baseline | None, int, tuple | None]:
    if spec:
        try:
            with open_snapshot(spec, root=package.root) as snapshot:
                snapshot.descriptor  # noqa: B018 - read it now, to report problems here
                return _snapshot_baseline(snapshot), 0, None
        except SnapshotError as exc:  # unreadable, refused (a zip bomb, encrypted) or damaged
            return None, 0, ("baseline-unreadable", {"value": str(spec), "detail": str(exc)})
    try:
        manifest = latest_manifest(package.root)
    except ManifestError as exc:
        return None, 1, ("manifest-unreadable", {"path": RELEASES, "detail": str(exc)})
    if manifest is None:
        if texts_excluded(package.descriptor):
            return None, 1, None  # an unpacked first release: every release zip carries the manifests before it, and it has none
        return None, 1, ("baseline-missing", {
            "detail": f"no release manifest in {RELEASES}/ (nothing has been released from here yet); "
                      "pass --baseline with a release zip, directory or git ref to compare against it"})
    try:
        return _manifest_baseline(manifest), 1, None  # its IDs are expanded when first used (see _check_stable_ids)
    except ManifestError as exc:
        return None, 1, ("manifest-unreadable", {"path": manifest.label, "detail": str(exc)})


@dataclass(frozen=True)
class RowFloor:
    """The fewest rows a resource may hold (`minimum`), and where that number comes from.

    `released` is the row count of the last release (None when there is no release, the resource is
    new, or its rows carry no ID), `retracted` how many of those rows were retracted since, `missing`
    how many released IDs are gone without a retraction (each the stable-ID check's `released-id-missing`,
    or `retraction-removed` for the retractions: that check owns a removed released row, so the floor
    does not count it a second time).
    """

    minimum: int
    released: int | None = None
    retracted: int = 0
    release: str | None = None  # the release's version, or its label when it has none
    source: str | None = None  # where the count was read: releases/X.Y.Z.json, a zip, a folder, a git ref
    missing: int = 0


def row_floors(package: Package, options: Options | None = None) -> dict[str, RowFloor]:
    """resource -> its row-count floor: a resource whose rows carry an ID (a one-field primary key) never
    holds fewer rows than in the previous release (the one the stable-ID check compares with: `--baseline`,
    else the newest manifest), less its released IDs retracted since; retractions are permanent. Otherwise
    (no release, a new resource, a composite key) the floor is `min_rows`: 1, or 0 for a table that may be empty.

    One owner for "a released row was removed": the stable-ID check, which names the ID
    (`released-id-missing`; `retraction-removed` for a retraction). So the floor also leaves out the
    released IDs gone without a retraction (`RowFloor.missing`), and fails only for rows no ID accounts
    for: a release that counted more rows than it listed IDs, or a table without its released IDs. They are
    counted only when the table holds fewer rows than the release less its retractions (else no floor fails).

    Problems reading the previous release are not reported here: the stable-ID check reports them.
    """
    from nkru.suites.generate import has_release_floor, min_rows

    floors = {name: RowFloor(min_rows(name)) for name in package.resources}
    baseline = _baseline(package, options, LayerResult(NAME))
    if baseline is None:
        return floors
    retracted_now = _retracted_now(package.table(RETRACTIONS) if RETRACTIONS in package.resources else None)
    # IDs retracted since the release: their rows were in it and may now be gone.
    new = retracted_now.filter(~retracted_now.is_in(baseline.retracted.implode()))
    try:
        released_ids = baseline.ids if new.len() else {}  # expanded only when something was retracted since
    except ManifestError:
        return floors  # a malformed manifest: the stable-ID check says so, and no floor is trusted
    for name, spec in package.resources.items():
        released = baseline.rows.get(name)
        if released is None or not has_release_floor(spec.schema):
            continue
        gone = int(released_ids[name][1].is_in(new.implode()).sum()) if name in released_ids else 0
        table = package.table(name)
        missing = 0
        if table is not None and len(table) < released - gone:
            try:
                missing = _released_missing(package, baseline, name, table, retracted_now)
            except ManifestError:
                return {name: RowFloor(min_rows(name)) for name in package.resources}
        floors[name] = RowFloor(max(floors[name].minimum, released - gone - missing), released, gone,
                                baseline.version or baseline.label, baseline.source, missing)
    return floors


def released_ids_gone(package: Package, options: Options | None, names: list[str]) -> dict[str, int]:
    """resource -> how many of its released IDs are gone without a retraction, for those of `names` with IDs in
    the previous release (`row_floors`'): each is the stable-ID check's finding (`released-id-missing`,
    `retraction-removed`), so a check that counts rows (the package rules) leaves such a table to it."""
    baseline = _baseline(package, options, LayerResult(NAME))
    if baseline is None:
        return {}
    retracted_now = _retracted_now(package.checkable(RETRACTIONS) if RETRACTIONS in package.resources else None)
    gone = {}
    for name in names:
        table = package.table(name) if name in package.resources else None
        if table is None:
            continue
        try:
            gone[name] = _released_missing(package, baseline, name, table, retracted_now)
        except ManifestError:
            return {}
    return gone


def _retracted_now(table: Table | None):
    """The IDs the current retractions table lists (none empty), as a polars String Series."""
    import polars as pl

    if table is None:
        return _no_ids()
    return table.select([RETRACTED_ID]).filter(pl.col(RETRACTED_ID).is_not_null() & (pl.col(RETRACTED_ID) != "")).to_series()


def _released_missing(package: Package, baseline: Baseline, name: str, table: Table, retracted_now) -> int:
    """How many of the released IDs of `name` are gone without a retraction (what the stable-ID check reports):
    for the retractions, the released retracted IDs no longer listed. 0 when the IDs cannot be read."""
    if name == RETRACTIONS:
        released, field = baseline.retracted, RETRACTED_ID
    elif name in baseline.ids:
        field, released = baseline.ids[name]
        released = released.filter(~released.is_in(retracted_now.implode()))
    else:
        return 0
    if package.checkable(name) is None or field not in table.header:
        return 0  # IDs that cannot be read: the structure layer reports the table
    present = table.select([field]).to_series().drop_nulls()
    return int((~released.is_in(present.implode())).sum())


def released_ids(package: Package, options: Options | None = None) -> tuple[str, dict[str, Any]] | None:
    """(the previous release's version or label, resource -> the IDs of its rows in that release), for
    the release `row_floors` compares with; None when there is none or it cannot be read (the stable-ID
    check reports why). The IDs are polars String Series. The expectations layer compares distributions with
    the released rows."""
    baseline = _baseline(package, options, LayerResult(NAME))
    if baseline is None:
        return None
    try:
        ids = baseline.ids
    except ManifestError:
        return None
    return baseline.version or baseline.label, {name: values for name, (_, values) in ids.items()}


def _check_stable_ids(package: Package, options: Options | None, result: LayerResult) -> None:
    import polars as pl

    current_ids = id_resources(list(package.resources), package.primary_key)
    # Every current ID and where it is, read from the ID columns only (a polars frame: id, resource, index)
    # A table whose columns cannot be trusted (`Package.checkable`) is reported once by the structure layer:
    # its IDs are neither present nor missing, so no check below judges them.
    tables = {name: package.checkable(name) for name in current_ids}
    unreadable = {name for name, table in tables.items() if table is None}
    present = _IdIndex({name: table.select([key]).to_series() for name, key in current_ids.items()
                        if (table := tables[name]) is not None})
    retractions = package.checkable(RETRACTIONS) if RETRACTIONS in package.resources else None
    if RETRACTIONS in package.resources and retractions is None:
        unreadable.add(RETRACTIONS)  # then no released ID can be told retracted from gone
    retracted = _Retracted(retractions)

    # Each retracted ID once (its last row, in the order of its first), joined with the current IDs: column-wise.
    rejected = package.rejected_rows(RETRACTIONS, [REPLACED_BY])  # reported by the structure layer
    check_replacement = (pl.col(REPLACED_BY) != "") & pl.lit(not unreadable)  # unreadable: it may be in that table
    if rejected:
        check_replacement = check_replacement & ~pl.col("index").is_in(pl.Series(sorted(rejected), dtype=pl.UInt32))
    ids = present.first_rows(retracted.latest.get_column("id")).select(
        "id", pl.col("resource").alias("in"), pl.col("index").alias("at"))
    judged = (retracted.latest.join(ids, on="id", how="left", maintain_order="left")
              .with_columns(present.contains(retracted.latest.get_column(REPLACED_BY)).alias("known"),
                            check_replacement.alias("checked")))
    result.checks += judged.height + int(judged.get_column("checked").sum())
    hits = judged.filter(pl.col("in").is_not_null() | (pl.col("checked") & ~pl.col("known")))
    for row in hits.iter_rows(named=True):
        ident, index = row["id"], row["index"]
        if row["in"] is not None:
            name, at = row["in"], row["at"]
            table = tables[name]
            result.findings.append(Finding.make("retracted-id-reused", resource=name, path=table.path, line=table.lines[at],
                                                row_id=ident, field=current_ids[name], value=ident,
                                                retracted_in=row[RETRACTED_IN], reason=row[RETRACTION_REASON]))
        if row["checked"] and not row["known"]:
            result.findings.append(Finding.make("retraction-replacement-unknown", field=REPLACED_BY, value=row[REPLACED_BY],
                                                resource=RETRACTIONS, path=retractions.path, line=retractions.lines[index],
                                                row_id=ident))

    baseline = _baseline(package, options, result)
    if baseline is not None:
        try:
            baseline.ids  # noqa: B018 - expand the manifest's ID ranges now, to report a malformed one here
        except ManifestError as exc:
            result.findings.append(Finding.make("manifest-unreadable", path=baseline.source, detail=str(exc)))
            return
        _compare_with_baseline(package, baseline, current_ids, present, retractions, retracted, result, unreadable)


class _Retracted:
    """The current retractions, column-wise: `latest` holds each retracted ID once (in the order of its first
    row, with the cells of its last row, as a dict of rows would), with its row index."""

    COLUMNS = (RETRACTED_ID, REPLACED_BY, RETRACTED_IN, RETRACTION_REASON)

    def __init__(self, table: Any):
        import polars as pl

        if table is None:
            frame = pl.DataFrame(schema={name: pl.String for name in self.COLUMNS})
        else:
            frame = table.select(list(self.COLUMNS)).with_columns(pl.all().fill_null(""))
        frame = frame.with_row_index("index")
        latest = frame.group_by(RETRACTED_ID, maintain_order=True).agg(pl.col("index").last())
        self.latest = (latest.join(frame.drop(RETRACTED_ID), on="index", how="left", maintain_order="left")
                       .rename({RETRACTED_ID: "id"}))


class _IdIndex:
    """Every current ID, as the ID column of each resource (polars String Series sharing the tables' buffers,
    neither copied into one frame nor de-duplicated: 4.3M IDs at a million claims)."""

    def __init__(self, columns: dict[str, Any]):
        """`columns`: resource -> its ID column (a polars String Series; an empty cell, null, is no ID)."""
        self.columns = columns

    def contains(self, values: Any) -> Any:
        """Whether each of `values` (a few: a polars String Series) is a current ID, as a Boolean Series: the
        ID columns are filtered by `values`, so only the few are hashed."""
        import polars as pl

        found = [column.filter(column.is_in(values.implode())) for column in self.columns.values()]
        return values.is_in(pl.concat(found).implode() if found else pl.Series([], dtype=pl.String).implode())

    def missing(self, name: str, ids: Any) -> Any:
        """Those of `ids` (a polars String Series, IDs of resource `name`) that are no current ID, in no order:
        those not in `name`'s own column (one column hashed at a time, not every ID at once: 0.5 GiB at a
        million claims), then those of them in no other column (where only those few are hashed)."""
        own = self.columns.get(name)
        if own is not None:
            ids = ids.filter(~ids.is_in(own.implode()))
        for other, column in self.columns.items():
            if other != name and ids.len():
                ids = ids.filter(~ids.is_in(column.filter(column.is_in(ids.implode())).implode()))
        return ids

    def first_rows(self, ids: Any) -> Any:
        """id, resource, index: where each of `ids` (a few) that is a current ID first occurs (by resource, then row)."""
        import polars as pl

        parts = [pl.DataFrame({"id": column}).with_row_index("index").filter(pl.col("id").is_in(ids.implode()))
                 .with_columns(pl.lit(name, dtype=pl.String).alias("resource")) for name, column in self.columns.items()]
        frame = pl.concat(parts) if parts else pl.DataFrame(schema={"index": pl.UInt32, "id": pl.String, "resource": pl.String})
        return frame.unique(subset="id", keep="first", maintain_order=True)


def _compare_with_baseline(package: Package, baseline: Baseline, current_ids: dict[str, str], present: _IdIndex,
                           retractions, retracted: _Retracted, result: LayerResult,
                           unreadable: set[str] = frozenset()) -> None:
    if RETRACTIONS in unreadable:
        return
    import polars as pl

    released_in = Version.parse(baseline.version or "")
    retracted_rows = retracted.latest.select("id", "index", RETRACTED_IN)
    for name, (key, ids) in baseline.ids.items():
        if name in unreadable or package.rejected_rows(name, [key]):
            continue  # reported once by the structure layer, not once per released ID (a rejected ID may be one)
        spec = package.resources.get(name)
        path = spec.path if spec is not None and spec.path else DESCRIPTOR
        result.checks += ids.len()
        # the missing ones, each with its retraction (index None: none), sorted after the anti-join
        missing = pl.DataFrame({"id": present.missing(name, ids)}).join(retracted_rows, on="id", how="left").sort("id")
        for ident, index, retracted_in_text in missing.iter_rows():
            if index is not None:
                retracted_in = Version.parse(retracted_in_text)
                if released_in is not None and retracted_in is not None and retracted_in <= released_in:
                    result.findings.append(Finding.make(
                        "retraction-version", resource=RETRACTIONS, path=retractions.path, line=retractions.lines[index], row_id=ident,
                        field=RETRACTED_IN, value=retracted_in_text, baseline=baseline.label, baseline_version=baseline.version))
                continue
            result.findings.append(Finding.make("released-id-missing", resource=name, path=path, row_id=ident, field=key,
                                                value=ident, baseline=baseline.label))
    result.checks += baseline.retracted.len()
    if package.rejected_rows(RETRACTIONS, [RETRACTED_ID]):
        return  # a retraction whose ID the structure layer rejected may be any of them
    listed = retracted.latest.get_column("id").implode()
    for ident in baseline.retracted.filter(~baseline.retracted.is_in(listed)).sort().to_list():
        result.findings.append(Finding.make("retraction-removed", resource=RETRACTIONS,
                                            path=retractions.path if retractions else DESCRIPTOR,
                                            row_id=ident, field=RETRACTED_ID, value=ident, baseline=baseline.label))
