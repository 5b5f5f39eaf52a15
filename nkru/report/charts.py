"""The report's pictures as inline SVG, which needs no script and no network to show.

- The timeline is a Vega-Lite chart (Altair) rendered to SVG by vl-convert; every
  event's bar is then wrapped in a link to the event's section and given
  `class="event-mark"`, `data-event-id` and a tooltip (`<title>`).
- The actor network is laid out on two rings (a deterministic layout: the same
  data always gives the same picture) and drawn as SVG by a template.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from nkru.report.model import Edge, Event, Model

SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG)
ET.register_namespace("xlink", XLINK)

#: Tableau 10 followed by darker tones of d3's category20b: neighbouring values never get near-identical colours.
#: Colours go to controlled values in schema order, so a value keeps its colour from report to report.
PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#393b79", "#637939", "#843c39", "#bd9e39", "#7b4173", "#17becf", "#8c6d31", "#6b6ecf", "#ce6dbd", "#9edae5",
]
OTHER = "#555555"


def colours(values: list[str]) -> dict[str, str]:
    """Colour per controlled value, by its position in the vocabulary (stable across reports)."""
    return {value: PALETTE[index % len(PALETTE)] for index, value in enumerate(values)}


def vocabulary(model: Model, resource: str, field_name: str) -> list[str]:
    """The controlled values of a field, read from its schema (never listed here)."""
    if resource not in model.package.resources:
        return []
    return [str(v) for v in model.package.enum(resource, field_name) or []]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- timeline ---------------------------------------------------------------------------


def event_tooltip(event: Event) -> str:
    how = {"day": "one day", "duration": "lasts over this span",
           "uncertain": "happened at some point in this span (the range is uncertainty, not duration)"}[event.date_kind]
    parts = [f"{event.id}: {event.row.get('title') or ''}",
             f"{event.row.get('event_type') or ''}, {event.date_text} ({event.row.get('date_precision') or '?'}; {how})",
             f"{len(event.claims)} claim(s), {len(event.denials)} denial(s)"]
    return "\n".join(parts)


#: A gap between dated events at least this long, and this share of the whole span, gets an axis break:
#: the events before it are drawn in a narrow lane of their own (one 2017 event must not squeeze 2022-2024).
BREAK_MIN_DAYS = 365
BREAK_MIN_SHARE = 0.15
EARLY_SHARE = 0.25
#: The chart's own size in CSS pixels. It never shrinks below it (a narrow window scrolls the chart sideways,
#: text keeps its size; see `responsive`).
PLOT_WIDTH, EARLY_WIDTH, LABEL_LIMIT = 560, 110, 250
#: How far a chart may grow beyond its own size in a wide window (text stays readable, not huge).
GROW = 1.3
#: Opacity of a range that is uncertainty about when something happened (a duration is drawn solid).
UNCERTAIN_OPACITY = 0.28


def _bounds(event: Event) -> tuple[date | None, date | None]:
    """(first day, day after the last) of an event; None on an open side."""
    return event.start, event.end_exclusive


def timeline_break(events: list[Event]) -> tuple[date, date] | None:
    """(end of the early lane, start of the main lane) when a few events start long before the rest, else None.

    The break goes into the latest long empty stretch (at least BREAK_MIN_DAYS, and BREAK_MIN_SHARE of the
    span after it) with at most EARLY_SHARE of the events before it. An event that
    starts early and runs on (a range from 2006 to 2023) is drawn in both lanes, across the break. Only
    events with both bounds are considered (an open bound has no place to break at).
    """
    events = [e for e in events if e.start is not None and e.end_exclusive is not None]
    if not events:
        return None
    starts = sorted(e.start for e in events)
    last = max(e.end_exclusive for e in events)
    best = None
    ends = sorted((e.start, e.end_exclusive) for e in events)
    for index in range(1, len(starts)):
        before, after = starts[index - 1], starts[index]
        # empty from the last end of the early bars that stop before `after` (bars that run on cross the break)
        stopped = [end for begin, end in ends[:index] if end <= after]
        gap = (after - max([before, *stopped])).days
        rest = (last - after).days  # the span the main lane would show
        if index <= max(1, EARLY_SHARE * len(starts)) and gap >= BREAK_MIN_DAYS and gap >= BREAK_MIN_SHARE * rest:
            best = (before, after)
    if best is None:
        return None
    early_end = max([e.end_exclusive for e in events if e.start <= best[0] and e.end_exclusive <= best[1]] + [best[0]])
    return date(early_end.year + (early_end != date(early_end.year, 1, 1)), 1, 1), best[1]


def _time_axis(first: date, last: date, **extra: Any):
    import altair as alt

    months = (last.year - first.year) * 12 + last.month - first.month + 1
    step = 1 if months <= 15 else 3 if months <= 48 else 6 if months <= 96 else 12
    options = dict(format="%b %Y" if step < 12 else "%Y", labelAngle=0, grid=True, orient="top",
                   tickCount=alt.TickCount(interval="month", step=step), labelOverlap=True)
    return alt.Axis(**{**options, **extra})


def timeline_spec(model: Model, type_colours: dict[str, str], *, width: int = PLOT_WIDTH) -> dict[str, Any] | None:
    """The Vega-Lite spec of the timeline: one mark per dated event, from date_start to date_end + 1 day.

    Dates are drawn for what they mean: an event that lasts (aspect `state`) is a solid bar over its span;
    any other range is uncertainty about one moment, drawn as a faded band with whiskers at its bounds; a
    known day is a solid mark. An open bound (an empty date_start or date_end: the text gives none) runs to
    the edge of the chart and ends in an arrowhead instead of a whisker. When a long empty stretch separates a
    few early events from the rest, the early ones get a narrow lane of their own left of an axis break.
    """
    events = model.dated_events
    if not events:
        return None
    import altair as alt

    cut = timeline_break(events)
    known = [d for e in events for d in _bounds(e) if d is not None]
    main_first = (cut[1] if cut else min(known)).replace(day=1)
    main_last = max(known)
    if any(e.open_end for e in events) or main_last == main_first:
        main_last = main_last + (main_last - main_first) / 20 + timedelta(days=1)  # room to show an open end
    early_first = date(min(known).year, 1, 1)
    rows = []
    for index, event in enumerate(events):
        first, last = _bounds(event)
        start = first or (early_first if cut else main_first)
        end = last or main_last
        rows.append({
            "event_id": event.id,
            "label": f"{event.id} · {_shorten(event.row.get('title') or '', 40)}",
            "event_type": event.row.get("event_type") or "(none)",
            "kind": event.date_kind,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "open_start": event.open_start,
            "open_end": event.open_end,
            # the lanes a bar shows in (an early event that runs on is drawn in both, across the break)
            "early": bool(cut) and start < cut[0],
            "main": not cut or end > cut[1],
            "order": index,
        })
    present = [t for t in type_colours if any(r["event_type"] == t for r in rows)]
    present += sorted({r["event_type"] for r in rows} - set(present))
    scale = alt.Scale(domain=present, range=[type_colours.get(t, OTHER) for t in present])
    labels = [r["label"] for r in rows]
    colour = alt.Color("event_type:N", scale=scale, title="Event type",
                       legend=alt.Legend(orient="bottom", columns=3, symbolType="square", labelFontSize=11))
    solid = (alt.datum.kind != "uncertain") & ~alt.datum.open_start & ~alt.datum.open_end
    bars = alt.Chart().mark_bar(strokeWidth=2.5, height=12, clip=True).encode(
        x2="end:T", color=colour, stroke=alt.Stroke("event_type:N", scale=scale, legend=None),
        opacity=alt.condition(solid, alt.value(1.0), alt.value(UNCERTAIN_OPACITY)),
        strokeOpacity=alt.condition(alt.datum.kind == "uncertain", alt.value(0.0), alt.value(1.0)),
        description=alt.Description("event_id:N"))
    # Whiskers: a line through an uncertain range, a cap at each bound the text gives, an arrowhead on an open side.
    uncertain = alt.Chart().transform_filter((alt.datum.kind == "uncertain") | alt.datum.open_start | alt.datum.open_end)
    line = uncertain.mark_rule(strokeWidth=1.2, clip=True).encode(x2="end:T", color=alt.Color("event_type:N", scale=scale, legend=None))
    caps = [uncertain.transform_filter(~alt.datum[flag]).mark_tick(thickness=1.6, size=14, clip=True).encode(
                x=alt.X(f"{field}:T"), color=alt.Color("event_type:N", scale=scale, legend=None))
            for flag, field in (("open_start", "start"), ("open_end", "end"))]
    arrows = [uncertain.transform_filter(alt.datum[flag]).mark_point(shape=shape, size=110, filled=True, clip=True).encode(
                  x=alt.X(f"{field}:T"), color=alt.Color("event_type:N", scale=scale, legend=None))
              for flag, field, shape in (("open_start", "start", "triangle-left"), ("open_end", "end", "triangle-right"))]
    y_labels = alt.Y("label:N", sort=labels, title=None, scale=alt.Scale(domain=labels),
                     axis=alt.Axis(labelLimit=LABEL_LIMIT, labelFontSize=11))
    y_plain = alt.Y("label:N", sort=labels, title=None, scale=alt.Scale(domain=labels), axis=None)

    def lane(name: str, first: date, last: date, lane_width: int, y, **axis: Any):
        domain = [first.isoformat(), last.isoformat()]
        x = alt.X("start:T", title=None, scale=alt.Scale(type="utc", domain=domain), axis=_time_axis(first, last, **axis))
        layers = [bars.encode(x=x, y=y), line.encode(x=x, y=y)]
        layers += [layer.encode(y=y) for layer in caps + arrows]
        return (alt.layer(*layers, data=alt.Data(values=rows)).transform_filter(alt.datum[name])
                .resolve_scale(x="shared").properties(width=lane_width, height=alt.Step(20)))

    if cut:
        years = cut[0].year - early_first.year
        left = lane("early", early_first, cut[0], EARLY_WIDTH, y_labels, format="%Y",
                    tickCount=alt.TickCount(interval="year", step=max(1, -(-years // 4))), title="earlier")
        right = lane("main", main_first, main_last, width - EARLY_WIDTH, y_plain)
        chart = alt.hconcat(left, right, spacing=14).resolve_scale(y="shared", color="shared", stroke="shared")
    else:
        chart = lane("main", main_first, main_last, width, y_labels)
    chart = chart.configure_view(stroke=None).configure_axis(
        labelFont="sans-serif", labelColor="#222", domainColor="#999", tickColor="#999", gridColor="#e6e6e6",
        titleFontSize=11, titleFontWeight="normal", titleColor="#666")
    return chart.to_dict()


def responsive(root: ET.Element) -> None:
    """Scale with the window: the intrinsic size becomes the viewBox and a maximum width; width 100%."""
    width, height = root.get("width"), root.get("height")
    if width and height and not root.get("viewBox"):
        root.set("viewBox", f"0 0 {width} {height}")
    if width:
        # never narrower than its own size: in a narrow window the chart scrolls sideways (.chart has
        # overflow-x: auto) and its text keeps its size, instead of shrinking to a few pixels
        root.set("style", f"width: 100%; min-width: {float(width):g}px; max-width: {float(width) * GROW:g}px; height: auto")
        root.set("width", "100%")
    root.attrib.pop("height", None)
    root.set("preserveAspectRatio", "xMinYMin meet")


def timeline_svg(model: Model, type_colours: dict[str, str]) -> str:
    """The timeline as SVG markup, each event's bar linked to `#event-<id>` with `data-event-id`."""
    spec = timeline_spec(model, type_colours)
    if spec is None:
        return ""
    import vl_convert

    raw = vl_convert.vegalite_to_svg(spec, allowed_base_urls=[])
    # Vega numbers clip paths per process (clip1, clip2, ...): renumber them so the same data gives the same SVG.
    ids = list(dict.fromkeys(re.findall(r'id="(clip\d+)"', raw)))
    for number, old_id in enumerate(ids, 1):
        raw = re.sub(rf'(["#]){old_id}(["\)])', rf"\g<1>timeline-clip-{number}\g<2>", raw)
    events = {event.id: event for event in model.dated_events}
    return link_marks(raw, events)


def link_marks(svg_text: str, events: dict[str, Event]) -> str:
    """Turn every bar whose aria-label is an event ID into a linked, labelled, tooltipped event mark."""
    root = ET.fromstring(svg_text)
    responsive(root)
    root.set("class", "timeline-chart")
    root.set("aria-label", f"Timeline of {len(events)} events; each bar links to its event")
    parents = {child: parent for parent in root.iter() for child in parent}
    seen: set[str] = set()
    for path in list(root.iter(f"{{{SVG}}}path")):
        event_id = path.get("aria-label")
        if path.get("aria-roledescription") != "bar" or event_id not in events:
            continue
        event = events[event_id]
        continued = event_id in seen  # the part of a bar after the axis break
        seen.add(event_id)
        parent = parents[path]
        position = list(parent).index(path)
        link = ET.Element(f"{{{SVG}}}a", {"href": f"#event-{event_id}", "class": "event-link"})
        parent.remove(path)
        parent.insert(position, link)
        link.append(path)
        path.set("class", "event-continued" if continued else "event-mark")
        path.set("data-event-id", event_id)
        path.set("data-event-type", event.row.get("event_type") or "")
        path.set("data-date-kind", event.date_kind)
        if event.open_start or event.open_end:
            path.set("data-open", " ".join(side for side, is_open in (("start", event.open_start), ("end", event.open_end)) if is_open))
        path.set("aria-label", event_tooltip(event).replace("\n", "; "))
        title = ET.SubElement(path, f"{{{SVG}}}title")
        title.text = event_tooltip(event)
    text = ET.tostring(root, encoding="unicode")
    return re.sub(r"^<\?xml[^>]*>\s*", "", text)


# -- actor network ------------------------------------------------------------------------


EDGE_KINDS = {
    "supplies": ("supplies", "#b2182b"),
    "claims": ("makes claims about", "#2166ac"),
    "denies": ("denies claims of", "#e08214"),
}


#: Line width of a link backed by one item; supplies are few and matter most, so they are drawn boldest.
BASE_WIDTH = {"supplies": 2.5, "claims": 1.0, "denies": 1.5}


#: Actor types drawn as one node each in the network: a dozen one-off unnamed sources would otherwise crowd
#: the rings and pull lines across the picture. The node lists its members (hover) and links to the first one.
FOLD_TYPES = ("unnamed_source",)
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_-]+\Z")


@dataclass
class Node:
    actor_id: str
    name: str
    actor_type: str
    x: float
    y: float
    r: float
    colour: str
    ring: str  # inner (takes part in events) | outer (only claims or denies)
    label_x: float
    label_y: float
    anchor: str  # text-anchor of the label
    members: list[str] | None = None  # the actors folded into this node (None: an actor of its own)
    event_types: list[str] | None = None

    @property
    def href(self) -> str:
        return f"#actor-{self.members[0] if self.members else self.actor_id}"


@dataclass
class DrawnEdge:
    edge: Edge
    path: str
    colour: str
    width: float
    title: str
    dashed: bool
    event_types: list[str] | None = None


@dataclass
class Network:
    width: int
    height: int
    nodes: list[Node]
    edges: list[DrawnEdge]
    kinds: dict[str, tuple[str, str]]
    event_types: list[str] | None = None  # the event types behind the links, for the filter (schema order)


def _circular_mean(angles: list[float]) -> float:
    return math.atan2(sum(math.sin(a) for a in angles), sum(math.cos(a) for a in angles)) % (2 * math.pi)


def network_layout(model: Model, edges: list[Edge], actor_colours: dict[str, str], *,
                   width: int = 1100, height: int = 900) -> Network | None:
    """Two rings: actors taking part in events inside, actors who only claim or deny outside.

    The layout is deterministic: inner actors are ordered by type and ID; each outer actor sits
    at the mean angle of the actors it points at (so its lines stay short), then the outer ring
    is spread evenly in that order. Edges are quadratic curves bent towards the centre.
    """
    if not edges:
        return None
    edges, groups = fold_actors(model, edges)
    item_types = _item_event_types(model)
    actor_ids = sorted({e.source for e in edges} | {e.target for e in edges})
    home = {member: group for group, members in groups.items() for member in members}
    participants = {home.get(actor_id, actor_id) for event in model.events for _, actor_id, _ in event.actors}
    inner = [a for a in actor_ids if a in participants]
    outer = [a for a in actor_ids if a not in participants]
    if not inner:
        inner, outer = outer, []

    def type_of(actor_id: str) -> str:
        if actor_id in groups:
            return actor_id.removeprefix("group-")
        actor = model.actors.get(actor_id)
        return (actor.actor_type if actor else None) or "(unknown)"

    type_order = {t: i for i, t in enumerate(actor_colours)}
    inner.sort(key=lambda a: (type_order.get(type_of(a), len(type_order)), a))
    angle: dict[str, float] = {a: 2 * math.pi * i / len(inner) - math.pi / 2 for i, a in enumerate(inner)}
    if outer:
        wanted = {}
        for actor_id in outer:
            targets = [angle[e.target] for e in edges if e.source == actor_id and e.target in angle]
            targets += [angle[e.source] for e in edges if e.target == actor_id and e.source in angle]
            wanted[actor_id] = _circular_mean(targets) if targets else 0.0
        ordered = sorted(outer, key=lambda a: (wanted[a], a))
        offset = wanted[ordered[0]]
        for i, actor_id in enumerate(ordered):
            angle[actor_id] = offset + 2 * math.pi * i / len(ordered)
    cx, cy = width / 2, height / 2
    radius_outer = min(width, height) / 2 - 110
    radius_inner = radius_outer * (0.6 if outer else 1.0)
    degree = {a: 0 for a in actor_ids}
    for edge in edges:
        degree[edge.source] += edge.weight
        degree[edge.target] += edge.weight
    nodes: dict[str, Node] = {}
    for actor_id in actor_ids:
        ring = "inner" if actor_id in inner else "outer"
        radius = radius_inner if ring == "inner" else radius_outer
        a = angle[actor_id]
        x, y = cx + radius * math.cos(a), cy + radius * math.sin(a)
        r = round(min(5 + 1.6 * math.sqrt(degree[actor_id]), 16), 1)
        label_distance = r + 6
        lx, ly = x + label_distance * math.cos(a), y + label_distance * math.sin(a) + 4
        anchor = "start" if math.cos(a) > 0.2 else "end" if math.cos(a) < -0.2 else "middle"
        if anchor == "middle":
            ly += 6 if math.sin(a) > 0 else -4
        actor = model.actors.get(actor_id)
        kind = type_of(actor_id)
        members = groups.get(actor_id)
        name = f"{kind.replace('_', ' ')}s ({len(members)})" if members else actor.name if actor else actor_id
        nodes[actor_id] = Node(actor_id, name, kind, round(x, 1), round(y, 1), r,
                               actor_colours.get(kind, OTHER), ring, round(lx, 1), round(ly, 1), anchor, members)
    drawn = []
    for edge in edges:
        a, b = nodes[edge.source], nodes[edge.target]
        # bend towards the centre (more for long chords), a little sideways so A->B and B->A differ
        mx, my = (a.x + b.x) / 2, (a.y + b.y) / 2
        pull = 0.35
        qx, qy = mx + (cx - mx) * pull, my + (cy - my) * pull
        dx, dy = b.x - a.x, b.y - a.y
        length = math.hypot(dx, dy) or 1.0
        qx += -dy / length * 12
        qy += dx / length * 12
        # start and end on the circles, in the direction of the control point
        sx, sy = _towards(a.x, a.y, qx, qy, a.r)
        tx, ty = _towards(b.x, b.y, qx, qy, b.r + 2)
        label, colour = EDGE_KINDS[edge.kind]
        types = sorted({item_types[i] for i in edge.items if i in item_types}, key=_type_order(model))
        drawn.append(DrawnEdge(
            edge=edge,
            path=f"M{sx:.1f},{sy:.1f} Q{qx:.1f},{qy:.1f} {tx:.1f},{ty:.1f}",
            colour=colour,
            width=round(min(BASE_WIDTH[edge.kind] + 0.8 * math.log2(edge.weight), BASE_WIDTH[edge.kind] + 3), 1),
            title=f"{a.name} {label} {b.name}: {', '.join(edge.items)}",
            dashed=edge.kind == "denies",
            event_types=types,
        ))
    for node in nodes.values():
        node.event_types = sorted({t for d in drawn if node.actor_id in (d.edge.source, d.edge.target)
                                   for t in d.event_types or []}, key=_type_order(model))
    present = sorted({t for d in drawn for t in d.event_types or []}, key=_type_order(model))
    return Network(width, height, list(nodes.values()), drawn, EDGE_KINDS, present)


def fold_actors(model: Model, edges: list[Edge]) -> tuple[list[Edge], dict[str, list[str]]]:
    """Edges with the actors of `FOLD_TYPES` folded into one node per type (`group-<type>`), and the groups.

    Links between two members of one group disappear; links that fold onto the same pair are merged.
    """
    groups: dict[str, list[str]] = {}
    for actor_id, actor in sorted(model.actors.items()):
        if actor.actor_type in FOLD_TYPES and _SAFE_TOKEN.match(actor.actor_type):
            groups.setdefault(f"group-{actor.actor_type}", []).append(actor_id)
    used = {e.source for e in edges} | {e.target for e in edges}
    groups = {g: [m for m in members if m in used] for g, members in groups.items()}
    groups = {g: members for g, members in groups.items() if len(members) > 1}
    home = {member: group for group, members in groups.items() for member in members}
    merged: dict[tuple[str, str, str], Edge] = {}
    for edge in edges:
        source, target = home.get(edge.source, edge.source), home.get(edge.target, edge.target)
        if source == target:
            continue
        into = merged.setdefault((source, target, edge.kind), Edge(source, target, edge.kind))
        into.items.extend(i for i in edge.items if i not in into.items)
    return list(merged.values()), groups


def _item_event_types(model: Model) -> dict[str, str]:
    """Event, claim and denial ID -> the type of the event it is about (only filter-safe values)."""
    found: dict[str, str] = {}
    for event in model.events:
        kind = event.row.get("event_type") or ""
        if not _SAFE_TOKEN.match(kind):
            continue
        found[event.id] = kind
        for item in [*event.claims, *event.denials]:
            found[item.id] = kind
    return found


def _type_order(model: Model):
    order = {t: i for i, t in enumerate(vocabulary(model, "events", "event_type"))}
    return lambda t: (order.get(t, len(order)), t)


def _towards(x: float, y: float, to_x: float, to_y: float, distance: float) -> tuple[float, float]:
    dx, dy = to_x - x, to_y - y
    length = math.hypot(dx, dy) or 1.0
    return x + dx / length * distance, y + dy / length * distance
