"""One finding record that every validation layer maps its failures into.

A finding's message is built from a template registered for its code, never
written at the call site, so the same problem always reads the same way and
the list of codes can be documented in one place (`nkru codes`).
"""

from __future__ import annotations

import contextlib
import string
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Mapping, Union

SEVERITIES = ("error", "warning")

#: A fix hint: a template filled like the message, or a function of the finding's values (its `value` in full)
#: returning the hint, or None where this finding has no usual fix.
Hint = Union[str, Callable[[Mapping[str, Any]], Union[str, None]], None]


@dataclass(frozen=True)
class Code:
    """A kind of problem: its name, layer, message template and default severity."""

    code: str
    layer: str
    template: str
    severity: str = "error"
    description: str = ""
    #: The usual next step for this kind of problem (see `Hint`), shown under the message.
    hint: Hint = None


#: Every code any layer can emit, by name. Layers add theirs with `define()`.
CODES: dict[str, Code] = {}


def define(code: str, layer: str, template: str, *, severity: str = "error", description: str = "",
           hint: Hint = None) -> Code:
    """Register a finding code; returns it so layers can keep a handle.

    `hint` says what usually fixes the problem ("run `nkru offsets`"): a template with the message's
    placeholders, or a function of the finding's values returning the hint or None (no usual fix here)."""
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    existing = CODES.get(code)
    entry = Code(code, layer, template, severity, description, hint)
    if existing is not None and existing != entry:
        raise ValueError(f"finding code {code!r} is defined twice with different meanings")
    CODES[code] = entry
    return entry


class _Blank(dict):
    # A template placeholder with no value renders as an empty string, never as a KeyError.
    def __missing__(self, key: str) -> str:
        return ""


def _shorten(value: Any, limit: int = 120) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Finding:
    """One problem found in a package.

    `line` is the 1-based line in the file (a CSV header is line 1), so an
    editor can jump to it; `row_id` is the row's primary key.
    """

    layer: str
    code: str
    message: str
    severity: str = "error"
    resource: str | None = None
    path: str | None = None
    line: int | None = None
    row_id: str | None = None
    field: str | None = None
    value: str | None = None
    #: Codes of the consequences folded into this finding (`fold`: a source below the coverage threshold
    #: into its first uncovered sentence); empty otherwise.
    aliases: tuple[str, ...] = ()
    #: Other places ("path:line") where this same mistake shows, e.g. the source-text line a wrong quote
    #: was meant to cover (the coverage layer then leaves that sentence to this finding).
    also_at: tuple[str, ...] = ()
    #: What usually fixes it, from the code's `hint` (None: no usual fix).
    hint: str | None = None

    @classmethod
    def make(
        cls,
        code: str,
        *,
        resource: str | None = None,
        path: str | None = None,
        line: int | None = None,
        row_id: str | None = None,
        field: str | None = None,
        value: Any = None,
        severity: str | None = None,
        also_at: Iterable[str] = (),
        **context: Any,
    ) -> "Finding":
        """Build a finding, rendering the message from the code's template.

        Extra keyword arguments fill template placeholders beyond the record's own fields.
        """
        spec = CODES.get(code)
        if spec is None:
            raise KeyError(f"finding code {code!r} is not defined")
        budget = _BUDGET.get()
        if budget is not None and budget.spent(code, resource, path, severity or spec.severity):
            # Over the budget of this check in this file: a placeholder, dropped when the layer is done
            # (no message is built: that is most of a finding's cost).
            return _Dropped(layer=spec.layer, code=code, message="", severity=severity or spec.severity,
                            resource=resource, path=path, line=line, row_id=row_id, field=field)
        shown = None if value is None else str(value)
        values = _Blank(
            resource=resource or "",
            path=path or "",
            line=line if line is not None else "",
            row_id=row_id or "",
            field=field or "",
            value=_shorten(shown),
        )
        values.update({k: v for k, v in context.items()})
        message = string.Formatter().vformat(spec.template, (), values)
        return cls(
            layer=spec.layer,
            code=code,
            message=message,
            severity=severity or spec.severity,
            resource=resource,
            path=path,
            line=line,
            row_id=row_id,
            field=field,
            value=shown,
            also_at=tuple(also_at),
            hint=_hint(spec, values, shown),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        data["also_at"] = list(self.also_at)
        return data

    @property
    def location(self) -> str:
        """`path:line` (or just the path) for people and editors."""
        if self.path and self.line:
            return f"{self.path}:{self.line}"
        return self.path or self.resource or "datapackage.json"


def _hint(spec: Code, values: _Blank, shown: str | None) -> str | None:
    if spec.hint is None:
        return None
    if callable(spec.hint):
        full = _Blank(values)
        full["value"] = shown if shown is not None else ""
        return spec.hint(full) or None
    return string.Formatter().vformat(spec.hint, (), values) or None


class _Dropped(Finding):
    """A finding over its check's budget (`finding_budget`): counted, never reported."""


define("findings-capped", "package", "{where}: {count:,} more {check} findings are not listed (the first {limit:,} are); "
       "fix those and run again",
       description="One check failed more often than a report lists (limits.MAX_FINDINGS_PER_CHECK per check and "
                   "file): the first are listed, the rest counted here, so that a file of garbage rows is "
                   "reported in bounded time and memory.")


class FindingBudget:
    """How many findings of each check in each file have been made, and how many went over `limit`."""

    def __init__(self, limit: int):
        self.limit = limit
        self.made: dict[tuple[str, str | None, str | None], int] = {}
        #: (code, resource, path) -> (findings over the limit, severity)
        self.over: dict[tuple[str, str | None, str | None], tuple[int, str]] = {}

    def spent(self, code: str, resource: str | None, path: str | None, severity: str) -> bool:
        key = (code, resource, path)
        made = self.made.get(key, 0)
        if made < self.limit:
            self.made[key] = made + 1
            return False
        count, _ = self.over.get(key, (0, severity))
        self.over[key] = (count + 1, severity)
        return True

    def settle(self, result: "LayerResult", *, any_layer: bool = False) -> "LayerResult":
        """`result` without the findings that went over the budget, and one `findings-capped` finding for
        each check and file that did (in the layer whose check it is; with `any_layer`, every one left)."""
        if any(isinstance(f, _Dropped) for f in result.findings):
            result.findings = [f for f in result.findings if not isinstance(f, _Dropped)]
        for (code, resource, path), (count, severity) in list(self.over.items()):
            if CODES[code].layer != result.layer and not any_layer:
                continue
            del self.over[(code, resource, path)]
            capped = Finding.make("findings-capped", resource=resource, path=path, severity=severity,
                                  where=path or resource or "package", count=count, check=code, limit=self.limit)
            result.findings.append(replace(capped, layer=result.layer))
        return result


_BUDGET: ContextVar[FindingBudget | None] = ContextVar("nkru_finding_budget", default=None)


def budget_room(code: str, resource: str | None, path: str | None) -> int | None:
    """How many more findings of `code` in this file will be listed (None: no budget is active). A
    caller with many failures at hand makes that many and hands the rest to `budget_drop` in one go."""
    budget = _BUDGET.get()
    if budget is None:
        return None
    return max(0, budget.limit - budget.made.get((code, resource, path), 0))


def dropped(code: str, resource: str | None, path: str | None) -> Finding:
    """Count one finding of `code` in this file as over the budget and return a placeholder for it (dropped
    when the layer is settled): for callers that checked `budget_room` and found none."""
    budget_drop(code, resource, path, 1)
    return _Dropped(layer=CODES[code].layer, code=code, message="", resource=resource, path=path)


def budget_drop(code: str, resource: str | None, path: str | None, count: int, severity: str | None = None) -> None:
    """Count `count` findings of `code` in this file as over the budget, without making them."""
    budget = _BUDGET.get()
    if budget is None or count <= 0:
        return
    key = (code, resource, path)
    done, _ = budget.over.get(key, (0, severity or CODES[code].severity))
    budget.over[key] = (done + count, severity or CODES[code].severity)


@contextlib.contextmanager
def finding_budget(limit: int) -> Iterator[FindingBudget]:
    """While active, at most `limit` findings of one check in one file (code, resource, path) are made;
    the rest are counted (`FindingBudget.settle` turns the count into one finding)."""
    budget = FindingBudget(limit)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


@dataclass
class LayerResult:
    """What one layer did: its findings, how many checks it made, and how long it took."""

    layer: str
    findings: list[Finding] = field(default_factory=list)
    checks: int = 0
    seconds: float = 0.0
    skipped_reason: str | None = None

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "valid": self.errors == 0,
            "checks": self.checks,
            "errors": self.errors,
            "warnings": len(self.findings) - self.errors,
            "seconds": round(self.seconds, 3),
            "skipped": self.skipped_reason,
        }


@dataclass
class Report:
    """The result of validating one package: every layer's result, in order."""

    package: str
    layers: list[LayerResult] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for layer in self.layers for f in layer.findings]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def checks(self) -> int:
        return sum(layer.checks for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "valid": self.valid,
            "checks": self.checks,
            "errors": len(self.errors),
            "warnings": len(self.findings) - len(self.errors),
            "layers": [layer.to_dict() for layer in self.layers],
            "findings": [f.to_dict() for f in self.findings],
        }


# -- consequences --------------------------------------------------------------------------------

#: A finding of the first code is a consequence of the second's for the same row_id: it is folded into
#: the finding of that cause. A source below the coverage threshold is so because of its uncovered
#: sentences. (Each kind of mistake has one owner, `nkru.layers`: nothing else is folded.)
CONSEQUENCES: dict[str, str] = {"coverage-below-threshold": "uncovered-sentence"}


def _worst(a: str, b: str) -> str:
    return a if SEVERITIES.index(a) <= SEVERITIES.index(b) else b


def fold(layers: list[LayerResult]) -> None:
    """Fold each consequence (`CONSEQUENCES`) into the first finding of its cause for the same row_id, in
    place: the kept finding gets the consequence's code as an alias and the worse severity. Each layer
    keeps only its own kept findings, so the layers' counts add up to the report's."""
    causes: dict[tuple[str, str | None], tuple[LayerResult, int]] = {}
    for layer in layers:
        for position, f in enumerate(layer.findings):
            causes.setdefault((f.code, f.row_id), (layer, position))
    folded: set[int] = set()
    for layer in layers:
        for f in layer.findings:
            cause = CONSEQUENCES.get(f.code)
            home = causes.get((cause, f.row_id)) if cause else None
            if home is None:
                continue
            owner, position = home
            kept = owner.findings[position]
            aliases = tuple(dict.fromkeys([*kept.aliases, f.code, *f.aliases]))
            owner.findings[position] = replace(kept, aliases=aliases, severity=_worst(kept.severity, f.severity),
                                               also_at=tuple(dict.fromkeys([*kept.also_at, *f.also_at])))
            folded.add(id(f))
    if folded:
        for layer in layers:
            layer.findings = [f for f in layer.findings if id(f) not in folded]


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Stable order for output: by file, then line, then code."""
    return sorted(findings, key=lambda f: (f.path or "", f.line or 0, f.code, f.field or ""))


def summarise(findings: Iterable[Finding], limit: int = 10, *, indent: str = "    ") -> str:
    """The first `limit` findings, one per line ("location: message"), then "… and N more" when there are more.

    Each line starts with a newline and `indent`, so the result can follow a heading line directly.
    """
    findings = list(findings)
    shown = "".join(f"\n{indent}{f.location}: {f.message}" for f in findings[:limit])
    more = f"\n{indent}… and {len(findings) - limit} more" if len(findings) > limit else ""
    return shown + more


# -- hints --------------------------------------------------------------------------------------------

def _named(chars: str) -> str:
    import unicodedata

    distinct = list(dict.fromkeys(chars))
    return " ".join(f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}" for c in distinct[:3]) + (" …" if len(distinct) > 3 else "")


def marked_difference(quote: str, passage: str, *, context: int = 12, limit: int = 3) -> str | None:
    """Where `quote` differs from `passage` (the text's closest passage), marked in place as `[quote→text]`
    with a few characters of context, and each differing character named (a straight `"` and a German `„`
    look alike): for the hint of a near-miss quote. None when they differ only at their ends (where an
    alignment of two passages of equal length cuts), so there is nothing certain to show."""
    import difflib

    passage = passage.strip()
    ops = [op for op in difflib.SequenceMatcher(None, quote, passage, autojunk=False).get_opcodes() if op[0] != "equal"]
    # An insertion or deletion at either end is the alignment's cut, not a difference worth showing.
    ops = [op for op in ops if not (op[0] in ("insert", "delete") and (op[1] == 0 and op[3] == 0
                                                                      or op[2] == len(quote) and op[4] == len(passage)))]
    if not ops:
        return None
    marks, names = [], []
    for tag, i1, i2, j1, j2 in ops[:limit]:
        before = quote[max(0, i1 - context):i1]
        after = quote[i2:i2 + context]
        marks.append(f"{'…' if i1 > context else ''}{before}[{quote[i1:i2]}→{passage[j1:j2]}]{after}"
                     f"{'…' if i2 + context < len(quote) else ''}")
        if _lookalike(quote[i1:i2] + passage[j1:j2]):  # plain letters and digits need no names
            if quote[i1:i2]:
                names.append(f"{quote[i1:i2]!r} ({_named(quote[i1:i2])}) in the quote")
            if passage[j1:j2]:
                names.append(f"{passage[j1:j2]!r} ({_named(passage[j1:j2])}) in the text")
    more = f" and {len(ops) - limit} more" if len(ops) > limit else ""
    named = f" — {', '.join(dict.fromkeys(names))}" if names else ""
    return (f"the quote differs from the text at {len(ops)} place{'s' if len(ops) != 1 else ''} "
            f"([quote→text]): {'; '.join(marks)}{more}{named}")


def _lookalike(chars: str) -> bool:
    """Whether characters may look like others: anything but ASCII letters and digits (quotation marks, dashes,
    spaces, ß, letters with accents …)."""
    return any(not (c.isascii() and c.isalnum()) for c in chars)


#: The fields `nkru offsets` fills.
OFFSET_FIELDS = ("quote_start", "quote_end")


def missing_offsets_hint(values: Mapping[str, Any]) -> str | None:
    """The hint of a cell finding: for an empty quote_start or quote_end, `nkru offsets` (None otherwise)."""
    if values.get("field") in OFFSET_FIELDS and not str(values.get("value") or "").strip():
        return ("run `nkru offsets` to fill quote_start and quote_end from the quote "
                "(it sets only empty offsets; --dry-run shows what it would do)")
    return None


def near_miss_hint(values: Mapping[str, Any]) -> str:
    """The hint of a quote not found in its text: the characters that differ from the closest passage."""
    copy = "copy the passage from the archived text instead of retyping it (`nkru code SOURCE` does it for new rows)"
    try:
        score = float(values.get("score") or 0)
    except (TypeError, ValueError):
        score = 0.0
    shown = marked_difference(str(values.get("value") or ""), str(values.get("closest") or "")) if score >= 80 else None
    return f"{shown}; {copy}" if shown else copy
