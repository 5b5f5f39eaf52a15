"""A small curated dataset for report tests, written into a copy of the real package.

Quotes are verbatim passages of the real archived texts (S001, S004), so the
package validates and coverage can be computed; rows follow the schemas. Quote
offsets are filled by `nkru.offsets.fill` (set here only for a repeated passage). The
real dataset is tested separately; this one makes the report tests
self-sufficient while the curation is in progress.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers import write_table

ACTORS = [
    dict(actor_id="A001", name="North Korea", name_de="Nordkorea", actor_type="state", country="PRK"),
    dict(actor_id="A002", name="Russia", name_de="Russland", actor_type="state", country="RUS"),
    dict(actor_id="A003", name="United States", name_de="USA", actor_type="state", country="USA"),
    dict(actor_id="A004", name="South Korea", name_de="Südkorea", actor_type="state", country="KOR"),
    dict(actor_id="A005", name="Kremlin", name_de="Kreml", actor_type="government_body", country="RUS", affiliation_id="A002"),
    dict(actor_id="A006", name="Wagner Group", name_de="Wagner Group", actor_type="armed_group", country="RUS"),
    dict(actor_id="A007", name="John Kirby", name_de="John Kirby", actor_type="person", country="USA", affiliation_id="A003"),
]

EVENTS = [
    dict(event_id="E001", event_type="arms_transfer", aspect="occurrence", title="North Korean arms delivered to Wagner",
         description="North Korea completed a first arms delivery to the Wagner Group.",
         date_start="2022-11-01", date_end="2022-11-30", date_precision="month", date_basis="inferred"),
    dict(event_id="E002", event_type="arms_transfer", aspect="occurrence", title="Containers of munitions shipped to Russia",
         description="North Korea shipped containers of military equipment and munitions to Russia.",
         date_start="2023-10-01", date_end="2023-10-31", date_precision="month", date_basis="inferred",
         location="Vladivostok"),
    dict(event_id="E003", event_type="export_control", aspect="occurrence", title="US export restrictions on Wagner",
         description="The United States issued additional export restrictions against the Wagner Group.",
         date_start="2023-01-01", date_end="2023-01-01", date_precision="day", date_basis="inferred"),
]

EVENT_ACTORS = [
    dict(event_id="E001", actor_id="A001", role="supplier"),
    dict(event_id="E001", actor_id="A006", role="recipient"),
    dict(event_id="E002", actor_id="A001", role="supplier"),
    dict(event_id="E002", actor_id="A002", role="recipient"),
    dict(event_id="E003", actor_id="A003", role="sanctioning_party"),
    dict(event_id="E003", actor_id="A006", role="target"),
]

_DATED = dict(date_start="2023-10-01", date_end="2023-10-31", date_precision="month", date_basis="inferred")

CLAIMS = [
    dict(claim_id="C001", event_id="E001", claimant_id="A007", source_id="S001",
         date_start="2023-01-01", date_end="2023-12-31", date_precision="year", date_basis="inferred",
         claim_type="confirmation", statement="Kirby confirms that North Korea completed a first arms delivery to Wagner.",
         quote="Wir können mit Sicherheit bestätigen, dass Nordkorea eine erste Waffenlieferung an Wagner abgeschlossen hat",
         quote_en="We can confirm with certainty that North Korea has completed an initial arms delivery to Wagner"),
    dict(claim_id="C002", event_id="E002", claimant_id="A003", source_id="S004", **_DATED,
         claim_type="assessment", statement="The US assumes North Korea handed Russia more than 1,000 containers.",
         quote="Während die Vereinigten Staaten davon ausgehen, dass das abgeschottete ostasiatische Land Russland "
               "mehr als 1.000 Container mit militärischer Ausrüstung und Munition überlassen hat",
         quote_en="While the United States assumes that the isolated East Asian country has given Russia more than "
                  "1,000 containers of military equipment and munitions",
         quantity="1000", quantity_unit="containers", quantity_qualifier="more_than"),
    dict(claim_id="C003", event_id="E002", claimant_id="A004", source_id="S004", **_DATED,
         claim_type="report", statement="South Korea speaks of 2,000 containers shipped to Vladivostok.",
         quote="spricht Südkorea sogar von 2.000 Containern, die nach Wladiwostock verschifft worden sein sollen",
         quote_en="South Korea even speaks of 2,000 containers said to have been shipped to Vladivostok",
         quantity="2000", quantity_unit="containers", quantity_qualifier="exact"),
    dict(claim_id="C004", event_id="E003", claimant_id="A007", source_id="S001",
         date_start="2023-01-01", date_end="2023-12-31", date_precision="year", date_basis="inferred",
         claim_type="report", statement="Additional export restrictions were issued against Wagner on Wednesday.",
         quote="Am Mittwoch wurden zusätzliche Exportbeschränkungen erlassen",
         quote_en="On Wednesday, additional export restrictions were issued"),
]

DENIALS = [
    dict(denial_id="D001", event_id="E002", claim_id="C002", denier_id="A005", source_id="S004", **_DATED,
         response_type="rejection", statement="The Kremlin rejected the reports of North Korean arms deliveries as unsubstantiated.",
         quote="Obwohl der Kreml die Berichte über Waffenlieferungen aus Nordkorea bislang als unbelegt zurückgewiesen hatte",
         quote_en="Although the Kremlin had so far rejected reports of arms deliveries from North Korea as unsubstantiated"),
]

EXCLUSIONS = [
    dict(exclusion_id="X001", source_id="S004", quote="Politik", reason="boilerplate"),
    dict(exclusion_id="X002", source_id="S004", reason="headline",
         quote="Wladimir Putin: 2.000 Container mit Waffen und Munition! Nordkorea in Putins Kriegspläne involviert"),
    # printed twice in S001 (first and last line): the offsets say which printing is meant
    dict(exclusion_id="X003", source_id="S001", reason="headline", quote="Nordkorea bewaffnet russische Wagner-Söldner",
         quote_start="0", quote_end="44"),
]

TABLES = {
    "actors": ACTORS,
    "events": EVENTS,
    "event_actors": EVENT_ACTORS,
    "claims": CLAIMS,
    "denials": DENIALS,
    "exclusions": EXCLUSIONS,
}


def write_fixture(package: Path) -> Path:
    """Replace the curated tables of a package copy with the small dataset above."""
    import json

    for resource, rows in TABLES.items():
        schema = json.loads((package / "schemas" / f"{resource}.json").read_text(encoding="utf-8"))
        header = [f["name"] for f in schema["fields"]]
        write_table(package, resource, header, [{name: row.get(name, "") for name in header} for row in rows])
    from nkru.offsets import fill

    assert fill(package).complete  # every other quote occurs once: its offsets are found, never guessed
    return package
