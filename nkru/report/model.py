"""What the report shows, as plain Python objects built from the package's tables.

Nothing here knows HTML: the charts and templates turn these objects into
pictures and pages. Tables are read as text with the package's one CSV reader
(`Package.table`) and every cell is normalised with the Table Schema (dates to
ISO strings, integers to int, empty to None); a cell that does not parse is
shown as missing (the validation section names it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from nkru.coverage import EXCLUSIONS
from nkru.dates import parse_date
from nkru.package import SOURCES, Package

#: The resource whose rows are the actors (foreign keys into it name who said something).
ACTORS = "actors"

#: Roles (from the event_actors vocabulary) that make a "supplies" edge: from the first kind to the second.
#: Checked against the schema's enum when the model is built (an unknown role becomes a note).
SUPPLY_FROM = ("supplier", "sender")
SUPPLY_TO = ("recipient",)
ROLE = ("event_actors", "role")

#: How a claim's quantity_qualifier reads before its figure (checked against the schema's enum like the roles).
QUANTITY_QUALIFIERS = {"more_than": "more than ", "approximately": "about ", "up_to": "up to ",
                       "order_of_magnitude": "order of "}
QUALIFIER = ("claims", "quantity_qualifier")


def vocabulary_notes(package: Package) -> list[str]:
    """Notes for the report's own vocabulary words that the package's schemas do not list (renamed values
    would otherwise drop edges or qualifiers without a word)."""
    notes = []
    for (resource, field_name), words, what in ((ROLE, (*SUPPLY_FROM, *SUPPLY_TO), "supply links"),
                                                (QUALIFIER, tuple(QUANTITY_QUALIFIERS), "quantity qualifiers")):
        enum = package.enum(resource, field_name) if resource in package.resources else None
        if enum is None:
            continue
        unknown = [w for w in words if w not in enum]
        if unknown:
            notes.append(f"{resource}.{field_name}: the report's {what} use {', '.join(unknown)}, which the schema's "
                         f"vocabulary does not list ({', '.join(map(str, enum))}); they are not shown.")
    return notes


# -- reading ---------------------------------------------------------------------

def _is_missing(value: Any) -> bool:
    return value is None or value == ""


def normalise(value: Any, kind: str) -> Any:
    """One text cell as the report uses it: None, an ISO date string, an int, or a string."""
    if _is_missing(value):
        return None
    if kind == "date":
        parsed = parse_date(str(value))
        return parsed.isoformat() if parsed else None
    if kind == "integer":
        try:
            return int(str(value).strip())
        except ValueError:
            return None
    return str(value)


def read_tables(package: Package) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Every resource's rows as dicts of normalised cells, and notes on what could not be read."""
    notes: list[str] = []
    tables: dict[str, list[dict[str, Any]]] = {}
    for name in package.resources:
        table = package.table(name)
        if table is None:
            notes.append(f"{name}: not readable ({package.read_errors.get(name, 'unknown problem')}).")
            tables[name] = []
            continue
        types = package.field_types(name)
        tables[name] = [{key: normalise(value, types.get(key, "string")) for key, value in row.items()}
                        for row in table.rows]
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
        prefix = QUANTITY_QUALIFIERS.get(qualifier or "", "")
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
        """At least one bound, and (when both are given) not ending before it starts. An empty date_start or
        date_end means the text gives no bound on that side: an open bound, drawn as open."""
        if self.start is None and self.end is None:
            return False
        return self.start is None or self.end is None or self.end >= self.start

    @property
    def open_start(self) -> bool:
        return self.start is None and self.end is not None

    @property
    def open_end(self) -> bool:
        return self.end is None and self.start is not None

    @property
    def lasts(self) -> bool:
        """An event that lasts (events.aspect = state): its dates bound a duration, drawn as a solid bar. For any
        other event the range is uncertainty about when it happened, drawn faded with whiskers."""
        return self.row.get("aspect") == "state"

    @property
    def date_kind(self) -> str:
        """How the timeline draws the dates: `day` (one known day), `duration` (a state over its range) or
        `uncertain` (an occurrence or prospect somewhere in the range, or with an open bound)."""
        if self.start is not None and self.start == self.end:
            return "day"
        return "duration" if self.lasts else "uncertain"

    @property
    def end_exclusive(self) -> date | None:
        """The day after date_end: a range drawn to here covers its last day."""
        if self.end is None:
            return None
        return self.end + timedelta(days=1) if self.end < date.max else self.end  # 9999-12-31 has no next day

    @property
    def date_text(self) -> str:
        return date_range_text(self.row.get("date_start"), self.row.get("date_end"))


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


def date_range_text(start: Any, end: Any) -> str:
    """A row's date range for people: one day, `start – end`, or an open side said in words (an empty bound)."""
    if not start and not end:
        return "undated"
    if not start:
        return f"no earlier bound – {end}"
    if not end:
        return f"{start} – no later bound"
    return str(start) if start == end else f"{start} – {end}"


def _date(value: Any) -> date | None:
    return parse_date(str(value)) if value else None


def _sort_key(event: Event) -> tuple:
    # An open start sorts by its end (the only date known), before events that start on that day.
    return (event.start or event.end or date.max, event.end or date.max, event.id or "")


def build(package: Package) -> Model:
    tables, notes = read_tables(package)
    notes += vocabulary_notes(package)
    actors: dict[str, Actor] = {}
    for row in tables.get(ACTORS, []):
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
                 sources=tables.get(SOURCES, []), exclusions=tables.get(EXCLUSIONS, []))


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
