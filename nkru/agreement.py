"""Inter-coder agreement: the package's claims and denials against an independent second coding.

A second coding (`reliability/coder2/` in the repository) is a folder of CSV files in a format close to
the dataset's own (see docs/reliability.md):

- ``units.csv``: one row per claim or denial: ``unit_id, source_id, kind`` (claim | denial),
  ``claimant`` (the second coder's actor key), ``event_type``, ``type`` (claim_type for a claim,
  response_type for a denial), ``date_start``, ``date_end`` (empty = open), ``quote``,
  ``quote_start``, ``quote_end`` (code points, end exclusive), ``statement``, ``notes``;
- ``actors.csv``: the second coder's own actors (``actor_key, name, name_de, actor_type, country``);
- ``actor_map.csv`` (made after the coding, never by the second coder): ``actor_key, actor_id`` maps
  each of the second coder's actors to the package's actor, so that claimants can be compared.

Units are aligned by their quote spans: two units of the same source whose spans overlap are candidates,
and pairs are taken one to one, the largest overlap (then the smallest distance between the spans'
starts) first. Unit recall is the share of one coding's units that the other coding has too, in each
direction. Krippendorff's alpha (the `krippendorff` package) is computed per variable over the aligned
units with its level of measurement: nominal for kind, claimant, event type, claim type and response
type; interval for the date bounds in days (an open bound is a missing value). Confidence intervals are
percentile bootstraps over aligned units (resampled with replacement, a fixed seed, so the figures
recompute exactly).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

#: Variables compared, with Krippendorff's level of measurement.
VARIABLES: dict[str, str] = {
    "kind": "nominal",
    "claimant": "nominal",
    "event_type": "nominal",
    "claim_type": "nominal",
    "response_type": "nominal",
    "date_start": "interval",
    "date_end": "interval",
}
UNIT_COLUMNS = ("unit_id", "source_id", "kind", "claimant", "event_type", "type", "date_start", "date_end",
                "quote", "quote_start", "quote_end")
KINDS = ("claim", "denial")
#: Hayes & Krippendorff (2007): alpha >= 0.800 for conclusions, >= 0.667 for tentative ones.
RELIABLE, TENTATIVE = 0.800, 0.667
MAX_CODING_BYTES = 16 * 1024 * 1024


class AgreementError(ValueError):
    """A coding that cannot be compared: names the file, row, field and value."""


@dataclass(frozen=True)
class Unit:
    unit_id: str
    source_id: str
    kind: str
    claimant: str
    event_type: str
    type: str
    date_start: date | None
    date_end: date | None
    quote_start: int
    quote_end: int

    def value(self, variable: str) -> Any:
        if variable == "claim_type":
            return self.type if self.kind == "claim" else None
        if variable == "response_type":
            return self.type if self.kind == "denial" else None
        if variable in ("date_start", "date_end"):
            day = getattr(self, variable)
            return None if day is None else day.toordinal()
        return getattr(self, variable) or None


@dataclass(frozen=True)
class Coding:
    name: str
    units: tuple[Unit, ...]


@dataclass
class VariableAgreement:
    variable: str
    level: str
    alpha: float | None
    low: float | None
    high: float | None
    pairs: int  # aligned units where both codings have a value
    agree: int  # of those, how many have the same value (nominal) or the same day (interval)
    verdict: str


@dataclass
class SourceAgreement:
    source_id: str
    units_a: int
    units_b: int
    aligned: int
    variables: list[VariableAgreement]


@dataclass
class Agreement:
    coding_a: str
    coding_b: str
    units_a: int
    units_b: int
    aligned: int
    recall_a: float | None  # share of A's units that B has too
    recall_b: float | None  # share of B's units that A has too (B's precision against A)
    bootstrap: int
    seed: int
    variables: list[VariableAgreement]
    sources: list[SourceAgreement]
    pairs: list[dict[str, Any]] = field(default_factory=list)
    unmatched_a: list[str] = field(default_factory=list)
    unmatched_b: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- reading the two codings ---------------------------------------------------------------------------


def package_coding(path: str | Path = ".") -> Coding:
    """The package's own claims and denials as a coding (claimant = claimant_id / denier_id)."""
    from nkru.loader import load

    data = load(path, engine="polars", resources=["events", "claims", "denials"])
    event_type = dict(zip(data.events["event_id"].to_list(), data.events["event_type"].cast(str).to_list()))
    units = []
    for table, who, kind, typ in ((data.claims, "claimant_id", "claim", "claim_type"),
                                  (data.denials, "denier_id", "denial", "response_type")):
        key = "claim_id" if kind == "claim" else "denial_id"
        for row in table.select(key, "source_id", who, "event_id", typ, "date_start", "date_end",
                                "quote_start", "quote_end").iter_rows(named=True):
            units.append(Unit(row[key], row["source_id"], kind, row[who], event_type.get(row["event_id"], ""),
                              str(row[typ]), row["date_start"], row["date_end"], row["quote_start"], row["quote_end"]))
    return Coding(str(path), tuple(units))


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (physical line, row) pairs of a small UTF-8 CSV file; AgreementError on anything else."""
    if not path.is_file():
        raise AgreementError(f"{path}: not found (a coding needs units.csv and actors.csv)")
    if path.stat().st_size > MAX_CODING_BYTES:
        raise AgreementError(f"{path}: larger than {MAX_CODING_BYTES // (1024 * 1024)} MiB")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AgreementError(f"{path}: not UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, [])
        rows = []
        for values in reader:
            if not values:
                continue
            if len(values) != len(header):
                raise AgreementError(f"{path} line {reader.line_num}: {len(values)} cells, the header has {len(header)}")
            rows.append((reader.line_num, dict(zip(header, values))))
    except csv.Error as exc:
        raise AgreementError(f"{path} line {reader.line_num}: {exc}") from None
    return header, rows


def _day(path: Path, line: int, field_name: str, value: str) -> date | None:
    if value == "":
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise AgreementError(f"{path} line {line}: {field_name}={value!r} is not a date (YYYY-MM-DD) or empty") from None


def _offset(path: Path, line: int, field_name: str, value: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise AgreementError(f"{path} line {line}: {field_name}={value!r} is not a whole number of code points")
    return int(value)


def read_coding(folder: str | Path, package: str | Path = ".") -> Coding:
    """A second coding from `folder` (units.csv, actors.csv, optional actor_map.csv), checked against the
    package's texts: every quote is the text at its offsets, every claimant a known actor key."""
    from nkru.loader import load

    folder, package = Path(folder), Path(package)
    units_path, actors_path, map_path = folder / "units.csv", folder / "actors.csv", folder / "actor_map.csv"
    header, rows = _read_csv(units_path)
    missing = [c for c in UNIT_COLUMNS if c not in header]
    if missing:
        raise AgreementError(f"{units_path}: missing column(s) {', '.join(missing)}")
    _, actor_rows = _read_csv(actors_path)
    keys = {row.get("actor_key", "") for _, row in actor_rows}
    mapping: dict[str, str] = {}
    if map_path.exists():
        _, map_rows = _read_csv(map_path)
        for line, row in map_rows:
            if row.get("actor_key", "") not in keys:
                raise AgreementError(f"{map_path} line {line}: actor_key={row.get('actor_key', '')!r} is not in {actors_path.name}")
            if row.get("actor_id"):
                mapping[row["actor_key"]] = row["actor_id"]
    data = load(package, engine="polars", resources=["sources"])
    texts = {}
    for source_id, text_path in zip(data.sources["source_id"].to_list(), data.sources["text_path"].to_list()):
        texts[source_id] = (data.root / text_path).read_text(encoding="utf-8")
    units, seen = [], set()
    for line, row in rows:
        where = f"{units_path} line {line}"
        uid = row["unit_id"]
        if not uid or uid in seen:
            raise AgreementError(f"{where}: unit_id={uid!r} is empty or used twice")
        seen.add(uid)
        if row["kind"] not in KINDS:
            raise AgreementError(f"{where}: kind={row['kind']!r} is not one of {', '.join(KINDS)}")
        if row["source_id"] not in texts:
            raise AgreementError(f"{where}: source_id={row['source_id']!r} is not a source of the package")
        if row["claimant"] not in keys:
            raise AgreementError(f"{where}: claimant={row['claimant']!r} is not an actor_key in {actors_path.name}")
        start, end = (_offset(units_path, line, f, row[f]) for f in ("quote_start", "quote_end"))
        text = texts[row["source_id"]]
        if not start < end <= len(text) or text[start:end] != row["quote"]:
            raise AgreementError(f"{where}: quote_start={start}, quote_end={end} do not hold the quote "
                                 f"{row['quote'][:60]!r} in {row['source_id']}")
        first, last = (_day(units_path, line, f, row[f]) for f in ("date_start", "date_end"))
        if first and last and first > last:
            raise AgreementError(f"{where}: date_start={row['date_start']} is after date_end={row['date_end']}")
        units.append(Unit(uid, row["source_id"], row["kind"], mapping.get(row["claimant"], row["claimant"]),
                          row["event_type"], row["type"], first, last, start, end))
    return Coding(str(folder), tuple(units))


# -- aligning and comparing ----------------------------------------------------------------------------


def align(a: Coding, b: Coding) -> list[tuple[Unit, Unit]]:
    """One-to-one pairs of units of the same source whose quote spans overlap, the largest overlap first."""
    candidates = []
    for i, x in enumerate(a.units):
        for j, y in enumerate(b.units):
            if x.source_id != y.source_id:
                continue
            overlap = min(x.quote_end, y.quote_end) - max(x.quote_start, y.quote_start)
            if overlap > 0:
                candidates.append((-overlap, abs(x.quote_start - y.quote_start), i, j))
    candidates.sort()
    used_a, used_b, pairs = set(), set(), []
    for _, _, i, j in candidates:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    pairs.sort()
    return [(a.units[i], b.units[j]) for i, j in pairs]


def _matrix(pairs: list[tuple[Unit, Unit]], variable: str) -> tuple[np.ndarray, int, int]:
    """The 2 x units reliability matrix (nan = missing), with codes shared by both coders; pairable units, agreements."""
    values = [(x.value(variable), y.value(variable)) for x, y in pairs]
    if VARIABLES[variable] == "nominal":
        codes = {v: k for k, v in enumerate(sorted({v for pair in values for v in pair if v is not None}))}
        values = [tuple(None if v is None else codes[v] for v in pair) for pair in values]
    matrix = np.array([[np.nan if v is None else float(v) for v in column] for column in zip(*values)]) \
        if values else np.empty((2, 0))
    both = [(p, q) for p, q in values if p is not None and q is not None]
    return matrix, len(both), sum(1 for p, q in both if p == q)


def _alpha(matrix: np.ndarray, level: str) -> float | None:
    import krippendorff

    # Units with one value are not pairable and do not enter alpha; leave them out before the library
    # sees them, so that its value domain is that of the pairable units.
    observed = matrix[:, ~np.isnan(matrix).any(axis=0)]
    if observed.shape[1] == 0 or len(np.unique(observed)) < 2:
        return None  # no variation: alpha is undefined (0/0), not 1
    value = krippendorff.alpha(reliability_data=observed, level_of_measurement=level)
    return None if value is None or math.isnan(value) else float(value)


def _verdict(alpha: float | None, pairs: int) -> str:
    if alpha is None or pairs == 0:
        return "not computable"
    if alpha >= RELIABLE:
        return "reliable"
    if alpha >= TENTATIVE:
        return "tentative"
    return "unreliable"


def _variable(pairs: list[tuple[Unit, Unit]], variable: str, bootstrap: int, rng: np.random.Generator | None
              ) -> VariableAgreement:
    level = VARIABLES[variable]
    matrix, pairable, agree = _matrix(pairs, variable)
    alpha = _alpha(matrix, level)
    low = high = None
    if alpha is not None and bootstrap and rng is not None and matrix.shape[1] > 1:
        samples = []
        for _ in range(bootstrap):
            pick = rng.integers(0, matrix.shape[1], matrix.shape[1])
            value = _alpha(matrix[:, pick], level)
            if value is not None:
                samples.append(value)
        if samples:
            low, high = (round(float(q), 3) for q in np.percentile(samples, [2.5, 97.5]))
    return VariableAgreement(variable, level, None if alpha is None else round(alpha, 3), low, high, pairable, agree,
                             _verdict(alpha, pairable))


def compare(a: Coding, b: Coding, *, bootstrap: int = 1000, seed: int = 0) -> Agreement:
    """Unit recall in both directions and alpha per variable (with bootstrap intervals), overall and per source."""
    if bootstrap < 0:
        raise AgreementError(f"bootstrap={bootstrap} must be 0 or more")
    pairs = align(a, b)
    rng = np.random.default_rng(seed)
    variables = [_variable(pairs, v, bootstrap, rng) for v in VARIABLES]
    sources = []
    from nkru.manifest import id_sort_key

    for source in sorted({u.source_id for u in a.units} | {u.source_id for u in b.units}, key=id_sort_key):
        inside = [(x, y) for x, y in pairs if x.source_id == source]
        sources.append(SourceAgreement(
            source, sum(u.source_id == source for u in a.units), sum(u.source_id == source for u in b.units),
            len(inside), [_variable(inside, v, 0, None) for v in VARIABLES]))
    matched_a, matched_b = {x.unit_id for x, _ in pairs}, {y.unit_id for _, y in pairs}
    listed = []
    for x, y in pairs:
        differ = {v: [x.value(v), y.value(v)] for v in VARIABLES if x.value(v) != y.value(v)}
        for v in ("date_start", "date_end"):
            if v in differ:
                differ[v] = [None if d is None else date.fromordinal(d).isoformat() for d in differ[v]]
        listed.append({"a": x.unit_id, "b": y.unit_id, "source_id": x.source_id, "differ": differ})
    return Agreement(
        a.name, b.name, len(a.units), len(b.units), len(pairs),
        round(len(pairs) / len(a.units), 3) if a.units else None,
        round(len(pairs) / len(b.units), 3) if b.units else None,
        bootstrap, seed, variables, sources, listed,
        [u.unit_id for u in a.units if u.unit_id not in matched_a],
        [u.unit_id for u in b.units if u.unit_id not in matched_b])


#: Where a package keeps its second coding.
CODING_FOLDER = Path("reliability") / "coder2"


def agreement(package: str | Path = ".", coding: str | Path | None = None, *, bootstrap: int = 1000,
              seed: int = 0) -> Agreement:
    """The package's claims and denials (coding A) against the second coding in `coding` (B), by default
    the package's own `reliability/coder2`."""
    folder = Path(package) / CODING_FOLDER if coding is None else Path(coding)
    return compare(package_coding(package), read_coding(folder, package), bootstrap=bootstrap, seed=seed)


# -- output --------------------------------------------------------------------------------------------


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def to_text(result: Agreement, *, details: bool = False) -> str:
    """A plain-text table: units and recall, alpha per variable with its interval, per source."""
    lines = [f"Agreement of {result.coding_a} (A) and {result.coding_b} (B)",
             f"units: A {result.units_a}, B {result.units_b}, aligned {result.aligned}; "
             f"unit recall: A found by B {_figure(result.recall_a)}, B found by A {_figure(result.recall_b)}",
             "",
             f"{'variable':<14} {'level':<9} {'alpha':>6}  {'95% CI':<15} {'pairs':>5} {'agree':>5}  verdict"]
    for v in result.variables:
        interval = "—" if v.low is None else f"{v.low:.3f} – {v.high:.3f}"
        lines.append(f"{v.variable:<14} {v.level:<9} {_figure(v.alpha):>6}  {interval:<15} {v.pairs:>5} {v.agree:>5}  {v.verdict}")
    lines += ["", f"CI: percentile bootstrap over aligned units, {result.bootstrap} resamples, seed {result.seed}. "
              f"alpha >= {RELIABLE:.3f} reliable, >= {TENTATIVE:.3f} tentative (Hayes & Krippendorff 2007).", "",
              "per source (alpha, no interval):",
              f"{'source':<8} {'A':>3} {'B':>3} {'aligned':>7}  " + " ".join(f"{v:>13}" for v in VARIABLES)]
    for s in result.sources:
        lines.append(f"{s.source_id:<8} {s.units_a:>3} {s.units_b:>3} {s.aligned:>7}  "
                     + " ".join(f"{_figure(v.alpha):>13}" for v in s.variables))
    if details:
        lines += ["", "aligned units that differ:"]
        for pair in result.pairs:
            if pair["differ"]:
                what = "; ".join(f"{k}: {a!r} vs {b!r}" for k, (a, b) in pair["differ"].items())
                lines.append(f"  {pair['source_id']} {pair['a']} ~ {pair['b']}: {what}")
        lines.append("only in A: " + (", ".join(result.unmatched_a) or "none"))
        lines.append("only in B: " + (", ".join(result.unmatched_b) or "none"))
    return "\n".join(lines) + "\n"


def to_markdown(result: Agreement) -> str:
    """The figures as Markdown tables (docs/reliability.md carries this block; a test keeps it current)."""
    def interval(v: VariableAgreement) -> str:
        return "—" if v.low is None else f"{v.low:.3f} – {v.high:.3f}"

    lines = [f"<!-- nkru agreement --format markdown (bootstrap {result.bootstrap}, seed {result.seed}) -->",
             "",
             "| units in the package (A) | units in the second coding (B) | aligned | recall of A by B | recall of B by A |",
             "|---:|---:|---:|---:|---:|",
             f"| {result.units_a} | {result.units_b} | {result.aligned} | {_figure(result.recall_a)} | {_figure(result.recall_b)} |",
             "",
             "| variable | level | alpha | 95% interval | pairable units | same value | verdict |",
             "|---|---|---:|---|---:|---:|---|"]
    for v in result.variables:
        lines.append(f"| {v.variable} | {v.level} | {_figure(v.alpha)} | {interval(v)} | {v.pairs} | {v.agree} | {v.verdict} |")
    lines += ["", "| source | A | B | aligned | " + " | ".join(VARIABLES) + " |",
              "|---|---:|---:|---:|" + "---:|" * len(VARIABLES)]
    for s in result.sources:
        lines.append(f"| {s.source_id} | {s.units_a} | {s.units_b} | {s.aligned} | "
                     + " | ".join(_figure(v.alpha) for v in s.variables) + " |")
    lines += ["", "<!-- end of nkru agreement -->"]
    return "\n".join(lines) + "\n"


def to_json(result: Agreement) -> str:
    import json

    return json.dumps(result.to_dict(), indent=2, ensure_ascii=True) + "\n"


FORMATS = {"text": to_text, "markdown": to_markdown, "json": to_json}
