"""What the report shows, as plain Python objects built from the package's tables.

Nothing here knows HTML: the charts and templates turn these objects into
pictures and pages. Tables are read with the typed loader (`validate.loader`)
when it is available and works on the package, else as text; either way every
cell is normalised with the Table Schema (dates to ISO strings, integers to
int, empty to None), so the report reads the same whichever way was used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from validate.package import Package

#: Roles (from the event_actors vocabulary) that make a "supplies" edge: from the first kind to the second.
SUPPLY_FROM = ("supplier", "sender")
SUPPLY_TO = ("recipient",)


# -- reading ---------------------------------------------------------------------


def _field_types(package: Package, resource: str) -> dict[str, str]:
    schema = package.resources[resource].schema or {}
    return {f.get("name"): f.get("type", "string") for f in schema.get("fields", []) if isinstance(f, dict)}


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return True
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return isinstance(value, str) and value == ""


def normalise(value: Any, kind: str) -> Any:
    """One cell as the report uses it: None, an ISO date string, an int, or a string."""
    if _is_missing(value):
        return None
    if kind == "date":
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        text = str(value)[:10]
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    if kind == "integer":
        try:
            return int(str(value).strip())
        except ValueError:
            return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return str(value)


def read_tables(package: Package) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Every resource's rows as dicts of normalised cells, and notes on what could not be read."""
    notes: list[str] = []
    frames: dict[str, Any] | None = None
    from validate import loader

    try:
        frames = dict(loader.load(package.root))
    except (ValueError, OSError) as exc:  # LoadError is a ValueError: a broken package still gets a report
        notes.append(f"The typed loader could not read the package ({type(exc).__name__}: {exc}); "
                     "the report shows the tables as text.")
    tables: dict[str, list[dict[str, Any]]] = {}
    for name in package.resources:
        types = _field_types(package, name)
        records: list[dict[str, Any]] | None = None
        frame = frames.get(name) if frames else None
        if frame is not None and hasattr(frame, "to_dict"):
            records = frame.to_dict(orient="records")
        elif frame is not None and hasattr(frame, "to_dicts"):  # polars
            records = frame.to_dicts()
        if records is None:
            table = package.table(name)
            if table is None:
                notes.append(f"{name}: not readable ({package.read_errors.get(name, 'unknown problem')}).")
                records = []
            else:
                records = table.rows
        tables[name] = [{key: normalise(value, types.get(key, "string")) for key, value in row.items()}
                        for row in records]
    return tables, notes


# -- the report's objects ----------------------------------------------------------


@dataclass
class Actor:
    actor_id: str
    name: str
    actor_type: str | None
    country: str | None
    row: dict[str, Any]
    events: list[tuple[str, str]] = field(default_factory=list)  # (event_id, role)
    claims: list[str] = field(default_factory=list)
    denials: list[str] = field(default_factory=list)


@dataclass
class Claim:
    row: dict[str, Any]
    claimant: Actor | None
    reported_via: Actor | None
    denials: list["Denial"] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.row["claim_id"]

    @property
    def quantity_text(self) -> str | None:
        quantity = self.row.get("quantity")
        if quantity is None:
            return None
        qualifier = self.row.get("quantity_qualifier")
        prefix = {"more_than": "more than ", "approximately": "about ", "up_to": "up to ",
                  "order_of_magnitude": "order of "}.get(qualifier or "", "")
        unit = self.row.get("quantity_unit") or ""
        return f"{prefix}{quantity:,} {unit}".strip()


@dataclass
class Denial:
    row: dict[str, Any]
    denier: Actor | None
    claim: Claim | None

    @property
    def id(self) -> str:
        return self.row["denial_id"]


@dataclass
class Event:
    row: dict[str, Any]
    actors: list[tuple[Actor | None, str, str]] = field(default_factory=list)  # (actor, actor_id, role)
    claims: list[Claim] = field(default_factory=list)
    denials: list[Denial] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.row["event_id"]

    @property
    def start(self) -> date | None:
        return _date(self.row.get("date_start"))

    @property
    def end(self) -> date | None:
        return _date(self.row.get("date_end"))

    @property
    def dated(self) -> bool:
        return self.start is not None and self.end is not None and self.end >= self.start

    @property
    def end_exclusive(self) -> date | None:
        """The day after date_end: a range drawn to here covers its last day."""
        return self.end + timedelta(days=1) if self.end else None

    @property
    def date_text(self) -> str:
        start, end = self.row.get("date_start"), self.row.get("date_end")
        if not start and not end:
            return "undated"
        return start if start == end else f"{start or '?'} – {end or '?'}"


@dataclass
class Contested:
    """An event whose claims give different figures, with the quantified claims side by side."""

    event: Event
    figures: list[Claim]  # the claims that carry a quantity, in claim order
    distinct: list[str]  # the distinct figures (quantity, qualifier and unit), as text


@dataclass
class Edge:
    source: str  # actor_id
    target: str  # actor_id
    kind: str  # supplies | claims | denies
    items: list[str] = field(default_factory=list)  # event, claim or denial ids behind the edge

    @property
    def weight(self) -> int:
        return len(self.items)


@dataclass
class Model:
    package: Package
    tables: dict[str, list[dict[str, Any]]]
    notes: list[str]
    actors: dict[str, Actor]
    events: list[Event]  # by date_start, date_end, id
    claims: dict[str, Claim]
    denials: dict[str, Denial]
    sources: list[dict[str, Any]]
    exclusions: list[dict[str, Any]]

    @property
    def dated_events(self) -> list[Event]:
        return [e for e in self.events if e.dated]

    @property
    def undated_events(self) -> list[Event]:
        return [e for e in self.events if not e.dated]

    def event(self, event_id: str) -> Event | None:
        return next((e for e in self.events if e.id == event_id), None)

    def actor_name(self, actor_id: str | None) -> str:
        if not actor_id:
            return ""
        actor = self.actors.get(actor_id)
        return actor.name if actor else actor_id


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _sort_key(event: Event) -> tuple:
    return (event.start or date.max, event.end or date.max, event.id or "")


def build(package: Package) -> Model:
    tables, notes = read_tables(package)
    actors: dict[str, Actor] = {}
    for row in tables.get("actors", []):
        if row.get("actor_id"):
            actors[row["actor_id"]] = Actor(row["actor_id"], row.get("name") or row["actor_id"],
                                            row.get("actor_type"), row.get("country"), row)
    events: dict[str, Event] = {}
    for row in tables.get("events", []):
        if row.get("event_id"):
            events[row["event_id"]] = Event(row)
    for row in tables.get("event_actors", []):
        event = events.get(row.get("event_id") or "")
        actor_id = row.get("actor_id") or ""
        if event is not None:
            event.actors.append((actors.get(actor_id), actor_id, row.get("role") or ""))
        if actor_id in actors and row.get("event_id"):
            actors[actor_id].events.append((row["event_id"], row.get("role") or ""))
    claims: dict[str, Claim] = {}
    for row in tables.get("claims", []):
        if not row.get("claim_id"):
            continue
        claim = Claim(row, actors.get(row.get("claimant_id") or ""), actors.get(row.get("reported_via_id") or ""))
        claims[row["claim_id"]] = claim
        if row.get("event_id") in events:
            events[row["event_id"]].claims.append(claim)
        if claim.claimant:
            claim.claimant.claims.append(claim.id)
    denials: dict[str, Denial] = {}
    for row in tables.get("denials", []):
        if not row.get("denial_id"):
            continue
        denial = Denial(row, actors.get(row.get("denier_id") or ""), claims.get(row.get("claim_id") or ""))
        denials[row["denial_id"]] = denial
        if row.get("event_id") in events:
            events[row["event_id"]].denials.append(denial)
        if denial.claim:
            denial.claim.denials.append(denial)
        if denial.denier:
            denial.denier.denials.append(denial.id)
    return Model(package=package, tables=tables, notes=notes, actors=actors,
                 events=sorted(events.values(), key=_sort_key), claims=claims, denials=denials,
                 sources=tables.get("sources", []), exclusions=tables.get("exclusions", []))


# -- contested facts ---------------------------------------------------------------


def contested(model: Model) -> list[Contested]:
    """Events whose claims disagree: their quantified claims give more than one quantity.

    Claims with the same number in differently worded units ("rockets and shells",
    "rockets and artillery shells") agree; the side-by-side view shows the units.
    """
    found = []
    for event in model.events:
        figures = [c for c in event.claims if c.row.get("quantity") is not None]
        if len({c.row["quantity"] for c in figures}) > 1:
            texts = list(dict.fromkeys(c.quantity_text or "" for c in figures))
            found.append(Contested(event, figures, texts))
    return found


def denied(model: Model) -> list[Event]:
    """Events that are both claimed and denied (or otherwise answered)."""
    return [e for e in model.events if e.claims and e.denials]


# -- actor network ------------------------------------------------------------------


def network(model: Model) -> list[Edge]:
    """Who supplies whom (from event roles), who makes claims about whom, who denies whose claims.

    - supplies: a supplier or sender of an event -> a recipient of the same event;
    - claims: a claimant -> every actor taking part in the event the claim is about;
    - denies: a denier -> the claimant of the claim it answers (or, when the denial names no
      claim, the claimants of the event's claims).
    """
    edges: dict[tuple[str, str, str], Edge] = {}

    def add(source: str | None, target: str | None, kind: str, item: str) -> None:
        if not source or not target or source == target:
            return
        edge = edges.setdefault((source, target, kind), Edge(source, target, kind))
        if item not in edge.items:
            edge.items.append(item)

    for event in model.events:
        givers = [actor_id for _, actor_id, role in event.actors if role in SUPPLY_FROM]
        takers = [actor_id for _, actor_id, role in event.actors if role in SUPPLY_TO]
        for giver in givers:
            for taker in takers:
                add(giver, taker, "supplies", event.id)
        for claim in event.claims:
            for _, actor_id, _ in event.actors:
                add(claim.row.get("claimant_id"), actor_id, "claims", claim.id)
        for denial in event.denials:
            answered = [denial.claim] if denial.claim else event.claims
            for claim in answered:
                add(denial.row.get("denier_id"), claim.row.get("claimant_id"), "denies", denial.id)
    order = {"supplies": 0, "claims": 1, "denies": 2}
    return sorted(edges.values(), key=lambda e: (order[e.kind], e.source, e.target))
