"""One finding record that every validation layer maps its failures into.

A finding's message is built from a template registered for its code, never
written at the call site, so the same problem always reads the same way and
the list of codes can be documented in one place (`nkru codes`).
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Code:
    """A kind of problem: its name, layer, message template and default severity."""

    code: str
    layer: str
    template: str
    severity: str = "error"
    description: str = ""


#: Every code any layer can emit, by name. Layers add theirs with `define()`.
CODES: dict[str, Code] = {}


def define(code: str, layer: str, template: str, *, severity: str = "error", description: str = "") -> Code:
    """Register a finding code; returns it so layers can keep a handle."""
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    existing = CODES.get(code)
    entry = Code(code, layer, template, severity, description)
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
        **context: Any,
    ) -> "Finding":
        """Build a finding, rendering the message from the code's template.

        Extra keyword arguments fill template placeholders beyond the record's own fields.
        """
        spec = CODES.get(code)
        if spec is None:
            raise KeyError(f"finding code {code!r} is not defined")
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
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def location(self) -> str:
        """`path:line` (or just the path) for people and editors."""
        if self.path and self.line:
            return f"{self.path}:{self.line}"
        return self.path or self.resource or "datapackage.json"


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
