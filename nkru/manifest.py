"""Release manifests: `releases/X.Y.Z.json`, one per release, committed in the repository.

A manifest says what a release was, so that nothing needs a git tag or the network to know it:

```json
{
  "manifest": 1,
  "name": "nkru",
  "version": "1.0.0",
  "date": "2026-11-30",
  "commit": "…",
  "archives": {"nkru-1.0.0.zip": {"sha256": "…", "bytes": 123456}},
  "files": {"nkru-1.0.0/data/claims.csv": {"sha256": "…", "bytes": 4567}, …},
  "resources": {
    "claims": {"path": "data/claims.csv", "rows": 84, "primaryKey": ["claim_id"], "ids": ["C001..C084"]},
    "event_actors": {"path": "…", "rows": 73, "primaryKey": ["event_id", "actor_id", "role"],
                     "keysSha256": "…"}
  }
}
```

`ids` lists a one-field primary key's values sorted and run-length compressed: a run of
consecutive numbers with one prefix and one digit width is written `C001..C084`, so a
million-row table of `C0000001`…`C1000000` is one string. IDs that contain `..` themselves
are kept apart in `literalIds`, so a range is never misread. `id_series` reads them back
column-wise; however many IDs its ranges span, a manifest may list at most `MAX_RELEASED_IDS`
(counted before any is expanded). Composite keys are not used by the stable-ID check; they are
recorded as a count and the SHA-256 of their sorted, tab-joined rows (`keysSha256`), which
stays small.

The stable-ID check (metadata layer) compares the working tree with the newest manifest;
`nkru release --verify X.Y.Z` rebuilds the release and compares it with `files` and `archives`.

`commit` (since 1.1; absent from 1.0.0's manifest) is the commit `nkru release` ran on. The manifest
cannot name the commit that holds it, so the release commit (tagged vX.Y.Z) is the one on top of
`commit` that adds this manifest; `--verify` rebuilds from it. Member names in `files` are the
paths inside the zip: under `nkru-X.Y.Z/` in 1.0.0, at the zip's root since (the Data Package zip
convention: datapackage.json at the top).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from itertools import takewhile
from pathlib import Path
from typing import Any, Callable, Iterable

from nkru import gitrepo
from nkru.metadata import MetadataError, Version, dump_json, load_json
from nkru.package import DESCRIPTOR, TEXTS_EXCLUDED, TEXTS_KEY

#: Folder of the manifests, relative to the package root.
RELEASES = "releases"
#: The release zips' name: NAME-X.Y.Z.zip
NAME = "nkru"
FORMAT = 1
#: The most IDs the ID lists of one manifest may span, all resources together (ManifestError beyond it,
#: checked before anything is expanded). A range is one string however many IDs it spans, so a manifest
#: of a few bytes could otherwise ask for a billion IDs ("C000000001..C999999999": tens of GB). A release
#: of a million claims lists 3.9M IDs (benchmarks/scale_package.py), and a claims file holds at most
#: 2 GiB (nkru.limits.MAX_FILE_BYTES), about 2.6M claims at the real package's sizes, whose release would
#: list about 10M: the ceiling. Expanding 10M IDs peaks at about 0.5 GiB and keeps 0.15 GiB (16 bytes an ID).
MAX_RELEASED_IDS = 10_000_000

_NUMBERED = re.compile(r"^(.*?)([0-9]+)$")
_NAME = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.json\Z")


class ManifestError(ValueError):
    """A manifest cannot be read or is malformed."""


# -- compact ID lists ------------------------------------------------------------------


def id_sort_key(ident: str) -> tuple:
    """Sort IDs by prefix, then number: C999 before C1000 (IDs grow past three digits without leading zeros)."""
    match = _NUMBERED.match(ident)
    if match is None:
        return (ident, -1, 0)
    prefix, digits = match.groups()
    return (prefix, len(digits), int(digits))


def compress_ids(ids: Iterable[str]) -> tuple[list[str], list[str]]:
    """(ranges, literals): the IDs sorted, runs of consecutive numbers written `P001..P084`.

    Two IDs are in one run when they share the prefix and the digit width (`C9`, `C10` are not).
    IDs containing `..` go to `literals` unchanged. Duplicates are kept once. Column-wise (polars):
    a million IDs take well under a second.
    """
    import polars as pl

    unique = pl.Series("id", list(ids), dtype=pl.String).drop_nulls().unique()
    literals = sorted(unique.filter(unique.str.contains(".", literal=True) & unique.str.contains("..", literal=True)).to_list())
    frame = pl.DataFrame({"id": unique.filter(~unique.str.contains("..", literal=True))})
    frame = frame.with_columns(pl.col("id").str.extract(r"[0-9]+$", 0).alias("digits")).with_columns(
        pl.col("digits").str.len_chars().alias("width"),
        pl.col("digits").cast(pl.Int64, strict=False).alias("number"),
    ).with_columns(pl.col("id").str.slice(0, pl.col("id").str.len_chars() - pl.col("width")).alias("prefix"))
    numbered = frame.filter(pl.col("number").is_not_null() & (pl.col("width") <= 18))
    plain = frame.filter(pl.col("number").is_null() | (pl.col("width") > 18)).get_column("id").to_list()
    numbered = numbered.sort(["prefix", "width", "number"])
    runs = numbered.with_columns(
        ((pl.col("prefix") != pl.col("prefix").shift(1)) | (pl.col("width") != pl.col("width").shift(1))
         | (pl.col("number") != pl.col("number").shift(1) + 1)).fill_null(True).cum_sum().alias("run")
    ).group_by("run", maintain_order=True).agg(
        pl.col("prefix").first(), pl.col("width").first(), pl.col("number").first().alias("first"),
        pl.col("number").last().alias("last"))
    items: list[tuple[tuple, str]] = [(id_sort_key(ident), ident) for ident in plain]
    for prefix, width, first, last in runs.select("prefix", "width", "first", "last").iter_rows():
        start = f"{prefix}{first:0{width}d}"
        if last == first:
            items.append(((prefix, width, first), start))
        elif last == first + 1:
            items += [((prefix, width, first), start), ((prefix, width, last), f"{prefix}{last:0{width}d}")]
        else:
            items.append(((prefix, width, first), f"{start}..{prefix}{last:0{width}d}"))
    return [text for _, text in sorted(items)], literals


def id_series(ranges: Iterable[str], literals: Iterable[str] = (), limit: int | None = MAX_RELEASED_IDS):
    """The IDs that `compress_ids` wrote, column-wise: a polars String Series named "id", each ID once, sorted
    as text (C1000 before C999). Raises ManifestError on a malformed range, and before expanding anything
    when the ranges span more than `limit` IDs (None: no limit)."""
    parsed = _IdList.parse(ranges, literals)
    if limit is not None and parsed.count > limit:
        raise ManifestError(too_many_ids(parsed.count, limit))
    return parsed.expand()


def expand_ids(ranges: Iterable[str], literals: Iterable[str] = ()) -> set[str]:
    """The IDs that `compress_ids` wrote, as a set (`id_series`, for a few IDs); raises ManifestError on a
    malformed range or more than MAX_RELEASED_IDS IDs."""
    return set(id_series(ranges, literals).to_list())


def too_many_ids(count: int, limit: int) -> str:
    return f"its ID ranges span {count:,} IDs, more than the {limit:,} a manifest may list (nkru.manifest.MAX_RELEASED_IDS)"


#: A range: prefix, digits, `..`, prefix, digits (`\n?$`: as Python's `$` did, before a final newline too).
_RANGE = r"^(.*?)([0-9]+)\.\.(.*?)([0-9]+)\n?$"
#: Wider numbers than this do not fit an Int64; compress_ids writes none in a range (they are rare, so
#: `_IdList` expands such a range in Python, after the count is checked).
_INT_DIGITS = 18
#: IDs expanded at a time (memory, not a limit): see `_IdList.expand`.
_BATCH = 1 << 20


@dataclass
class _IdList:
    """An ID list of a manifest (`ids`, `literalIds`) parsed column-wise, not yet expanded: the runs
    (prefix, width, first, last) and the IDs written as they are."""

    runs: Any  # polars frame: prefix, width, first, last (Int64), numbers of up to _INT_DIGITS digits
    wide: list[tuple[str, int, int, int]]  # the same, for wider numbers
    plain: Any  # polars String Series: the items that are no range, and the literals

    @classmethod
    def parse(cls, ranges: Iterable[str], literals: Iterable[str] = ()) -> "_IdList":
        """Raises ManifestError for the first item that is no string or a malformed range, in the order listed
        (literals are never ranges: they contain `..` themselves)."""
        import polars as pl

        items, literals = list(ranges), list(literals)
        others = [item for item in [*items, *literals] if not isinstance(item, str)]
        frame = pl.DataFrame({"item": list(takewhile(lambda item: isinstance(item, str), items))}, schema={"item": pl.String})
        frame = pl.concat([frame, frame.get_column("item").str.extract_groups(_RANGE).struct.rename_fields(
            ["prefix", "first", "prefix2", "last"]).struct.unnest()], how="horizontal")
        runs = frame.filter(pl.col("first").is_not_null())
        malformed = runs.filter((pl.col("prefix") != pl.col("prefix2"))
                                | (pl.col("first").str.len_bytes() != pl.col("last").str.len_bytes())
                                | (pl.col("last") < pl.col("first")))  # digits of one width compare as text as by number
        if malformed.height:
            item = malformed.get_column("item")[0]
            raise ManifestError(f"malformed ID range {item!r} (expected e.g. C001..C084: one prefix, one width, ascending)")
        if others:
            raise ManifestError(f"an ID must be a string, not {others[0]!r}")
        runs = runs.select("prefix", pl.col("first").str.len_bytes().cast(pl.Int64).alias("width"), "first", "last")
        narrow = pl.col("width") <= _INT_DIGITS
        wide = [(prefix, width, int(first), int(last)) for prefix, width, first, last in runs.filter(~narrow).iter_rows()]
        plain = pl.concat([frame.filter(pl.col("first").is_null()).get_column("item"), pl.Series(literals, dtype=pl.String)])
        return cls(runs.filter(narrow).with_columns(pl.col("first", "last").cast(pl.Int64)), wide, plain.alias("id"))

    @property
    def count(self) -> int:
        """How many IDs the list spans (an ID listed twice counts twice): the work of expanding it."""
        import polars as pl

        spans = self.runs.select((pl.col("last") - pl.col("first") + 1).cast(pl.Float64).sum()).item()
        return int(spans or 0) + sum(last - first + 1 for _, _, first, last in self.wide) + self.plain.len()

    def expand(self):
        """The IDs, each once (a polars String Series). The runs are cut into pieces of at most _BATCH numbers
        and expanded a batch of about _BATCH IDs at a time, so that the intermediate columns (the numbers,
        their text, the prefix of each) never hold more than a batch."""
        import polars as pl

        pieces = (self.runs.with_columns(pl.int_ranges("first", pl.col("last") + 1, _BATCH).alias("start"))
                  .explode("start").with_columns(pl.min_horizontal(pl.col("start") + (_BATCH - 1), "last").alias("end")))
        pieces = pieces.with_columns(((pl.col("end") - pl.col("start") + 1).cum_sum() // _BATCH).alias("batch"))
        parts = [batch.select("prefix", "width", pl.int_ranges("start", pl.col("end") + 1).alias("n")).explode("n")
                 .select(pl.concat_str("prefix", pl.col("n").cast(pl.String).str.zfill(pl.col("width")))).to_series()
                 for batch in pieces.partition_by("batch", maintain_order=True)]
        wide = [f"{prefix}{n:0{width}d}" for prefix, width, first, last in self.wide for n in range(first, last + 1)]
        # each ID once: sorted, then those equal to the one before dropped (a third of unique()'s memory)
        ids = pl.concat([*parts, pl.Series(wide, dtype=pl.String), self.plain], rechunk=False).sort().alias("id")
        repeated = ids.eq_missing(ids.shift(1))
        return ids.filter(~repeated) if repeated.any() else ids


def keys_digest(rows: Iterable[Iterable[str]]) -> str:
    """SHA-256 of composite keys: each key's values tab-joined, the keys sorted, one per line."""
    lines = sorted("\t".join(values) for values in rows)
    return hashlib.sha256(("\n".join(lines) + "\n").encode("utf-8")).hexdigest()


# -- the manifest ------------------------------------------------------------------------


@dataclass
class Manifest:
    version: str
    date: str
    name: str = "nkru"
    archives: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: str | None = None  # where it was read from, relative to the package root
    commit: str | None = None  # the commit `nkru release` ran on (the release commit is its child); None before 1.1

    @property
    def folder(self) -> str:
        """The folder the members are in inside the zip: `nkru-X.Y.Z/` (1.0.0) or "" (datapackage.json at the root)."""
        prefix = f"{self.name}-{self.version}/"
        return prefix if self.files and all(name.startswith(prefix) for name in self.files) else ""

    def package_path(self, member: str) -> str:
        """A member's path relative to the package root."""
        return member[len(self.folder):]

    @property
    def label(self) -> str:
        return self.path or f"{RELEASES}/{self.version}.json"

    def to_dict(self) -> dict[str, Any]:
        head = {"manifest": FORMAT, "name": self.name, "version": self.version, "date": self.date}
        if self.commit:
            head["commit"] = self.commit
        return {**head,
                "archives": {k: self.archives[k] for k in sorted(self.archives)},
                "files": {k: self.files[k] for k in sorted(self.files)},
                "resources": self.resources}

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def ids(self, resource: str):
        """The IDs of `resource` in this release (its `ids` and `literalIds`, `id_series`): a polars String
        Series. Raises ManifestError on a malformed range of this resource, or when the ranges of all
        resources together span more than MAX_RELEASED_IDS IDs."""
        if self.id_count > MAX_RELEASED_IDS:
            raise ManifestError(too_many_ids(self.id_count, MAX_RELEASED_IDS))
        entry = self.resources.get(resource) or {}
        return id_series(entry.get("ids") or [], entry.get("literalIds") or [], limit=None)

    @cached_property
    def id_count(self) -> int:
        """How many IDs the ID lists of all resources span (a malformed list counts 0: asking for its IDs
        says what is wrong with it)."""
        count = 0
        for entry in self.resources.values():
            try:
                count += _IdList.parse(entry.get("ids") or [], entry.get("literalIds") or []).count
            except ManifestError:
                pass
        return count

    def id_field(self, resource: str) -> str | None:
        key = (self.resources.get(resource) or {}).get("primaryKey") or []
        return key[0] if len(key) == 1 else None

    @classmethod
    def from_dict(cls, data: Any, path: str | None = None) -> "Manifest":
        where = path or "manifest"
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: must be a JSON object")
        if data.get("manifest") != FORMAT:
            raise ManifestError(f"{where}: unknown manifest format {data.get('manifest')!r} (this toolkit reads {FORMAT})")
        version = data.get("version")
        if Version.parse(version) is None:
            raise ManifestError(f"{where}: version {version!r} is not X.Y.Z")
        for key in ("archives", "files", "resources"):
            if not isinstance(data.get(key), dict):
                raise ManifestError(f"{where}: {key!r} must be an object")
        for name, entry in data["resources"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("ids", []), list) \
                    or not isinstance(entry.get("primaryKey", []), list):
                raise ManifestError(f"{where}: resource {name!r} is malformed (ids and primaryKey must be lists)")
        commit = data.get("commit")
        if commit is not None and not (isinstance(commit, str) and re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit)):
            raise ManifestError(f"{where}: commit {commit!r} is not a full git commit id")
        for name, entry in data["files"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) or not isinstance(entry.get("bytes"), int):
                raise ManifestError(f"{where}: file {name!r} is malformed (sha256 and bytes are needed)")
        return cls(version=version, date=str(data.get("date")), name=str(data.get("name", "nkru")),
                   archives=data["archives"], files=data["files"], resources=data["resources"], path=path,
                   commit=commit)

    @classmethod
    def loads(cls, text: str | bytes, path: str | None = None) -> "Manifest":
        from nkru import safejson

        try:
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            data = safejson.loads(text, name=path or "manifest")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"{path or 'manifest'}: not valid JSON ({exc})") from exc
        except ValueError as exc:  # safejson.JSONLimitError: too large or nested too deeply
            raise ManifestError(str(exc)) from exc
        return cls.from_dict(data, path)


def resource_entry(path: str | None, primary_key: list[str], key_columns: list[list[str]], rows: int) -> dict[str, Any]:
    """A manifest's `resources` entry for one table: `key_columns` are the primary key's columns, as text."""
    entry: dict[str, Any] = {"path": path, "rows": rows, "primaryKey": list(primary_key)}
    if len(primary_key) == 1:
        ranges, literals = compress_ids(value or "" for value in key_columns[0])
        entry["ids"] = ranges
        if literals:
            entry["literalIds"] = literals
    elif primary_key:
        entry["keysSha256"] = keys_digest(zip(*[[value or "" for value in column] for column in key_columns]))
    return entry


def manifest_names(root: Path) -> list[tuple[Version, str]]:
    """(version, file name) of every `releases/X.Y.Z.json` under `root`, newest first."""
    folder = Path(root) / RELEASES
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _NAME.match(child.name)
        if match and child.is_file():
            found.append((Version(*(int(g) for g in match.groups())), child.name))
    return sorted(found, reverse=True)


def read_manifest(root: Path, version: str) -> Manifest:
    """`releases/<version>.json`; raises ManifestError when it is missing or malformed."""
    rel = f"{RELEASES}/{version}.json"
    path = Path(root) / rel
    if not path.is_file():
        raise ManifestError(f"{rel}: no such manifest (release {version} was not made from this repository)")
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{rel}: cannot be read ({exc})") from exc
    manifest = Manifest.loads(text, rel)
    if manifest.version != version:
        raise ManifestError(f"{rel}: says version {manifest.version!r}, but its name says {version}")
    return manifest


def latest_manifest(root: Path, below: Version | None = None) -> Manifest | None:
    """The newest manifest (below `below` when given), or None when there is none."""
    for version, _ in manifest_names(root):
        if below is None or version < below:
            return read_manifest(root, str(version))
    return None


def zip_name(version: str) -> str:
    return f"{NAME}-{version}.zip"


def previous_commit_from(root: Path, manifest: Manifest) -> str | None:
    """The release commit of `manifest`: tag vX.Y.Z, else the child of its recorded commit that adds it,
    else (a manifest without a commit, 1.0.0) the commit that added it; None when not in this clone."""
    tag = gitrepo.resolve_commit(root, f"v{manifest.version}")
    if tag:
        return tag
    if manifest.commit:
        if not gitrepo.has_commit(root, manifest.commit):
            return None
        return gitrepo.child_adding(root, manifest.commit, manifest.label)
    return gitrepo.commit_adding(root, manifest.label)


# -- a release compared with a package (used by `nkru release --verify` and the metadata layer) --


def release_descriptor(descriptor: dict[str, Any], read: Callable[[str], bytes]) -> dict[str, Any]:
    """The descriptor for the zip: every resource with its `bytes` and `hash` (sha256:<hex>), texts marked excluded."""
    result = dict(descriptor)
    resources = []
    for res in descriptor.get("resources") or []:
        res = dict(res)
        if isinstance(res.get("path"), str):
            data = read(res["path"])
            res["bytes"] = len(data)
            res["hash"] = "sha256:" + hashlib.sha256(data).hexdigest()
        resources.append(res)
    result["resources"] = resources
    result[TEXTS_KEY] = TEXTS_EXCLUDED
    return result


@dataclass
class FileMatch:
    """One file of a release compared with a copy of the package (no rebuild): same, changed or missing."""

    member: str  # the name inside the zip
    path: str  # relative to the package root
    status: str  # "same", "changed" or "missing"


def compare_tree(root: Path, manifest: Manifest) -> list[FileMatch]:
    """Every file of the release compared with the package at `root` as it is now (no git needed).

    datapackage.json is compared as the release writes it (with each resource's bytes and hash).
    """
    root = Path(root)

    def read(path: str) -> bytes | None:
        full = root / path
        try:
            return full.read_bytes() if full.is_file() else None
        except OSError:
            return None

    found = []
    for member, recorded in sorted(manifest.files.items()):
        path = manifest.package_path(member)
        data = read(path)
        if path == DESCRIPTOR and data is not None:
            try:
                data = dump_json(release_descriptor(load_json(data.decode("utf-8")), lambda p: read(p) or b"")).encode("utf-8")
            except (MetadataError, UnicodeDecodeError, ValueError):
                pass
        if data is None:
            status = "missing"
        elif hashlib.sha256(data).hexdigest() == recorded.get("sha256") and len(data) == recorded.get("bytes"):
            status = "same"
        else:
            status = "changed"
        found.append(FileMatch(member, path, status))
    return found
