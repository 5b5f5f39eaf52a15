"""The SQLite export in Datasette itself: table pages load and foreign-key cell links lead somewhere.

Datasette serves the exported database in-process through its ASGI test client (no network, no port).
A database file name with dots (`nkru-0.1.0.sqlite`) breaks every foreign-key link, because Datasette
tilde-encodes the dots in its own links but not in foreign-key cell links; the export is `nkru.sqlite`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

datasette_app = pytest.importorskip("datasette.app", reason="datasette is in the test extra: pip install -e '.[test]'")
from bs4 import BeautifulSoup  # noqa: E402

from nkru import export as exporter  # noqa: E402
from tests.helpers import REPO, covering, first  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("exports")
    result = exporter.export(REPO, to="sqlite", out=f"{out}/")  # the default file name, in a folder of ours
    database, metadata = result.files[0], result.files[1]
    return database, metadata


def test_the_export_is_named_without_dots(exported):
    database, metadata = exported
    assert database.name == "nkru.sqlite" and "." not in database.stem
    assert metadata.is_file()


def _fetch(database: Path, metadata: Path, walk):
    async def run():
        ds = datasette_app.Datasette([str(database)], metadata=json.loads(metadata.read_text(encoding="utf-8")))
        return await walk(ds)

    return asyncio.run(run())


@pytest.mark.parametrize("table, column, target", covering([("claims", "event_id", "events"), ("claims", "claimant_id", "actors"),
                                                              ("denials", "source_id", "sources")], first))
def test_a_foreign_key_link_from_a_table_page_returns_200(exported, table, column, target):
    database, metadata = exported

    async def walk(ds):
        home = await ds.client.get("/")
        assert home.status_code == 200
        page = await ds.client.get(ds.urls.table(database.stem, table))
        assert page.status_code == 200, page.text[:300]
        soup = BeautifulSoup(page.text, "html.parser")
        links = [a["href"] for cell in soup.select(f"td.col-{column}") for a in cell.find_all("a", href=True)]
        assert links, f"no foreign-key links in column {column} of {table}"
        try:
            followed = await ds.client.get(links[0])
        except Exception as exc:  # Datasette 0.65's 404 page crashes when rich is installed: a broken link either way
            return links[0], f"no page ({type(exc).__name__})", ""
        return links[0], followed.status_code, followed.text

    href, status, text = _fetch(database, metadata, walk)
    assert f"/{target}/" in href
    assert status == 200, f"{href} -> {status}"
    assert href.rsplit("/", 1)[-1] in text
