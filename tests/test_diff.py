"""`nkru diff`: rows added, removed and changed by primary key, schema changes, and the bump they need."""

from __future__ import annotations

import copy
import csv
import io
import json
import zipfile
from pathlib import Path

import pytest

from tests.helpers import git, init_repo, run_cli
from nkru import diff as diffmod
from nkru.snapshot import SnapshotError

V2 = "https://datapackage.org/profiles/2.0/datapackage.json"

# A handmade package: resource -> fields [(name, type)], primary key, rows.
OLD = {
    "events": {
        "fields": [("event_id", "string"), ("title", "string"), ("date_start", "date"), ("count", "integer")],
        "key": ["event_id"],
        "rows": [["E001", "Talks", "2024-01-01", "1"],
                 ["E002", "Visit", "2024-02-01", "2"],
                 ["E003", "Treaty, signed", "2024-06-19", "3"]],
    },
    "event_actors": {
        "fields": [("event_id", "string"), ("actor_id", "string"), ("role", "string")],
        "key": ["event_id", "actor_id", "role"],
        "rows": [["E001", "A001", "host"], ["E001", "A002", "visitor"], ["E002", "A001", "host"]],
    },
    "places": {
        "fields": [("place_id", "string"), ("name", "string"), ("lat", "number"), ("code", "integer"), ("old", "string")],
        "key": ["place_id"],
        "rows": [["P001", "Pyongyang", "39.02", "1", "x"]],
    },
    "notes": {
        "fields": [("note_id", "string"), ("text", "string")],
        "key": ["note_id"],
        "rows": [["N001", "gone with its table"]],
    },
}


def new_version() -> dict:
    new = copy.deepcopy(OLD)
    events = new["events"]["rows"]
    events[0][1] = "Arms talks"          # E001: title and count changed
    events[0][3] = "10"
    del events[1]                        # E002 removed
    events.append(["E004", "Sanctions | new", "2024-09-01", "4"])  # E004 added
    ea = new["event_actors"]["rows"]
    del ea[1]                            # E001|A002|visitor removed
    ea.append(["E002", "A003", "sanctioning_party"])
    places = new["places"]
    places["fields"] = [("place_id", "string"), ("name", "string"), ("lat", "integer"), ("code", "number"), ("country", "string")]
    places["rows"] = [["P001", "Pyongyang", "39", "1", "PRK"]]
    del new["notes"]
    new["tags"] = {"fields": [("tag", "string")], "key": ["tag"], "rows": [["arms"], ["treaty"]]}
    return new


def make_package(root: Path, spec: dict, *, version: str = "0.1.0", edit_schema=None) -> Path:
    """Write a small Data Package: datapackage.json, schemas/<name>.json, data/<name>.csv."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "schemas").mkdir(exist_ok=True)
    resources = []
    for name, table in spec.items():
        schema = {"fields": [{"name": n, "type": t} for n, t in table["fields"]], "primaryKey": table["key"]}
        if edit_schema:
            edit_schema(name, schema)
        (root / "schemas" / f"{name}.json").write_text(json.dumps(schema, indent=2), encoding="utf-8")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([n for n, _ in table["fields"]])
        writer.writerows(table["rows"])
        (root / "data" / f"{name}.csv").write_text(buffer.getvalue(), encoding="utf-8")
        resources.append({"name": name, "type": "table", "path": f"data/{name}.csv", "format": "csv",
                          "schema": f"schemas/{name}.json"})
    descriptor = {"$schema": V2, "name": "handmade", "version": version, "resources": resources}
    (root / "datapackage.json").write_text(json.dumps(descriptor, indent=2), encoding="utf-8")
    return root


@pytest.fixture
def versions(tmp_path: Path) -> tuple[Path, Path]:
    return make_package(tmp_path / "old", OLD), make_package(tmp_path / "new", new_version(), version="0.2.0")


def test_rows_added_removed_changed_by_primary_key(versions):
    old, new = versions
    result = diffmod.diff(old, new)
    events = result.resource("events")
    assert events.key == ["event_id"]
    assert events.added_keys == ["E004"]
    assert events.added[0] == {"event_id": "E004", "title": "Sanctions | new", "date_start": "2024-09-01", "count": "4"}
    assert events.removed_keys == ["E002"]
    assert [(c.key, c.changes) for c in events.changed] == [("E001", {"title": ("Talks", "Arms talks"), "count": ("1", "10")})]
    assert events.schema == []
    # Composite primary key: rows are matched by all three fields.
    pairs = result.resource("event_actors")
    assert pairs.added_keys == ["E002|A003|sanctioning_party"]
    assert pairs.removed_keys == ["E001|A002|visitor"]
    assert pairs.changed == []


def test_schema_changes_and_required_bump(versions):
    old, new = versions
    result = diffmod.diff(old, new)
    places = result.resource("places")
    found = {(c.kind, c.field, str(c.old), str(c.new), c.bump) for c in places.schema}
    assert found == {
        ("field-removed", "old", "string", "None", "major"),
        ("field-added", "country", "None", "string", "minor"),
        ("field-retyped", "lat", "number", "integer", "major"),   # narrowed
        ("field-retyped", "code", "integer", "number", "minor"),  # widened
    }
    # Rows are compared on the columns both versions share; the retyped value changed.
    assert [(c.key, c.changes) for c in places.changed] == [("P001", {"lat": ("39.02", "39")})]
    assert result.resource("notes").status == "removed"
    assert result.resource("notes").removed_keys == ["N001"]
    assert result.resource("tags").status == "added"
    assert result.resource("tags").added_keys == ["arms", "treaty"]
    bump, reasons = result.required_bump()
    assert bump == "major"
    assert "places: field old removed (was string)" in reasons
    assert "notes: table removed" in reasons
    assert any("lat retyped number → integer (narrowed)" in r for r in reasons)


def test_text_markdown_and_json_output(versions):
    old, new = versions
    result = diffmod.diff(old, new)
    text = diffmod.render_text(result)
    assert "events [kept]: 1 added, 1 removed, 1 changed (key: event_id)" in text
    assert "  + E004\n" in text and "  - E002\n" in text and "  ~ E001\n" in text
    assert '      title: "Talks" → "Arms talks"\n' in text
    assert "  schema: field lat retyped number → integer (narrowed)" in text
    assert "required version bump: major" in text
    markdown = diffmod.render_markdown(result)
    assert "| E001 | title | Talks | Arms talks |" in markdown
    assert "| E004 |" not in markdown  # added rows are listed by key, not tabulated
    assert "Added: `E004`" in markdown
    assert "Removed: `E001|A002|visitor`" in markdown
    data = json.loads(diffmod.render_json(result))
    events = next(r for r in data["resources"] if r["resource"] == "events")
    assert events["changed"] == [{"key": "E001", "changes": {"title": {"old": "Talks", "new": "Arms talks"},
                                                              "count": {"old": "1", "new": "10"}}}]
    assert events["added"][0]["row"]["title"] == "Sanctions | new"
    assert data["required_bump"] == "major"
    assert data["old"]["version"] == "0.1.0" and data["new"]["version"] == "0.2.0"


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_cli_formats(versions, fmt):
    old, new = versions
    result = run_cli("diff", str(old), str(new), "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert "E004" in result.stdout and "E002" in result.stdout


def test_cli_usage_errors(versions, tmp_path):
    old, new = versions
    assert run_cli("diff", str(old), str(new), "--format", "yaml").exit_code == 2
    result = run_cli("diff", str(tmp_path / "nowhere"), str(new), "--repo", str(tmp_path))
    assert result.exit_code == 2
    assert "nowhere" in result.stderr


def _mutate(case: str) -> tuple[dict, object]:
    """A copy of OLD changed in one way, and a schema editor (or None)."""
    spec = copy.deepcopy(OLD)
    editor = None
    if case == "row changed":
        spec["events"]["rows"][0][1] = "Corrected"
    elif case == "row added":
        spec["events"]["rows"].append(["E009", "New", "2024-10-01", "9"])
    elif case == "row removed":
        del spec["events"]["rows"][2]
    elif case == "field added":
        spec["notes"]["fields"].append(("lang", "string"))
        spec["notes"]["rows"][0].append("en")
    elif case == "field removed":
        spec["places"]["fields"].pop()
        spec["places"]["rows"][0].pop()
    elif case == "retyped integer to number":
        spec["events"]["fields"][3] = ("count", "number")
    elif case == "retyped string to date":
        spec["places"]["fields"][4] = ("old", "date")
    elif case == "primary key changed":
        spec["events"]["key"] = ["event_id", "title"]
    elif case == "description edited":
        def editor(name, schema):
            if name == "events":
                schema["fields"][1]["description"] = "Clarified."
    elif case == "table added":
        spec["tags"] = {"fields": [("tag", "string")], "key": ["tag"], "rows": [["a"]]}
    elif case == "table removed":
        del spec["notes"]
    return spec, editor


@pytest.mark.parametrize("case, bump", [
    ("nothing", None),
    ("row changed", "patch"),
    ("description edited", "patch"),
    ("row added", "minor"),
    ("row removed", "minor"),
    ("field added", "minor"),
    ("retyped integer to number", "minor"),
    ("table added", "minor"),
    ("field removed", "major"),
    ("retyped string to date", "major"),
    ("primary key changed", "major"),
    ("table removed", "major"),
])
def test_required_bump_follows_the_policy(tmp_path, case, bump):
    old = make_package(tmp_path / "old", OLD)
    spec, editor = _mutate(case)
    new = make_package(tmp_path / "new", spec, edit_schema=editor)
    result = diffmod.diff(old, new)
    assert result.required_bump()[0] == bump
    assert len(result.resources) >= len(OLD) - 1


def test_empty_side_and_header_only_tables(tmp_path):
    spec = copy.deepcopy(OLD)
    spec["events"]["rows"] = []
    old = make_package(tmp_path / "old", spec)
    new = make_package(tmp_path / "new", OLD)
    result = diffmod.diff(old, new)
    assert result.resource("events").added_keys == ["E001", "E002", "E003"]
    back = diffmod.diff(new, old)
    assert back.resource("events").removed_keys == ["E001", "E002", "E003"]


def test_git_refs_and_release_zips(tmp_path):
    repo = make_package(tmp_path / "repo", OLD)
    init_repo(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v0.1.0")
    make_package(repo, new_version(), version="0.2.0")
    (repo / "data" / "notes.csv").unlink()
    (repo / "schemas" / "notes.json").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v2")
    by_ref = diffmod.diff("v0.1.0", "HEAD", root=repo)
    assert by_ref.old == "v0.1.0" and by_ref.old_version == "0.1.0" and by_ref.new_version == "0.2.0"
    assert by_ref.resource("events").added_keys == ["E004"]
    assert by_ref.resource("events").removed_keys == ["E002"]
    # A release zip (folder inside, as `nkru release` builds it) against the working tree.
    archive = tmp_path / "old.zip"
    old = make_package(tmp_path / "old-copy", OLD)
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(p for p in old.rglob("*") if p.is_file()):
            handle.write(path, f"nkru-0.1.0/{path.relative_to(old).as_posix()}")
    by_zip = diffmod.diff(archive, repo)
    assert by_zip.to_dict()["resources"] == by_ref.to_dict()["resources"]
    result = run_cli("diff", "v0.1.0", "HEAD", "--repo", str(repo), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["required_bump"] == "major"
    with pytest.raises(SnapshotError, match="not a commit"):
        diffmod.diff("v9.9.9", "HEAD", root=repo)


def test_real_package_against_itself_has_no_changes(real_package):
    result = diffmod.diff(real_package, real_package)
    assert len(result.resources) >= 7
    assert result.changed == []
    assert result.required_bump() == (None, [])
    # Every resource was read and compared row by row.
    from nkru.snapshot import from_directory

    with from_directory(real_package) as snap:
        assert sum(len(snap.table(r.name).rows) for r in result.resources if snap.table(r.name) is not None) > 0


def test_compress_ids():
    assert diffmod.compress_ids(["E003", "E001", "E002", "E007", "A001"]) == "A001, E001–E003, E007"
    assert diffmod.compress_ids(["x"]) == "x"


# -- damaged release zips (review B1) -------------------------------------------------------------------


def damaged_zip(package: Path, archive: Path, damage: str, member: str) -> Path:
    """A release zip of `package` with `member` damaged: one flipped byte (bad CRC) or the file cut short."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as handle:
        for path in sorted(p for p in package.rglob("*") if p.is_file()):
            handle.write(path, f"nkru-0.1.0/{path.relative_to(package).as_posix()}")
    data = bytearray(archive.read_bytes())
    if damage == "truncated":
        archive.write_bytes(bytes(data[: len(data) // 2]))
        return archive
    with zipfile.ZipFile(archive) as handle:
        info = handle.getinfo(f"nkru-0.1.0/{member}")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 5] ^= 0xFF
    archive.write_bytes(bytes(data))
    return archive


@pytest.mark.parametrize("damage, member", [("bad-crc", "datapackage.json"), ("bad-crc", "data/events.csv"),
                                            ("truncated", "")])
def test_a_damaged_release_zip_is_a_usage_error(versions, tmp_path, damage, member):
    old, new = versions
    archive = damaged_zip(old, tmp_path / "old.zip", damage, member)
    result = run_cli("diff", str(archive), str(new))
    assert result.exit_code == 2, result.output
    assert "old.zip" in result.stderr and "Traceback" not in result.output
    if damage == "bad-crc":
        assert f"member nkru-0.1.0/{member} is damaged" in result.stderr and "CRC" in result.stderr
    with pytest.raises(SnapshotError):
        diffmod.diff(archive, new)


@pytest.mark.parametrize("damage", ["missing", "unreadable"])
def test_a_table_missing_or_unreadable_on_one_side_is_shown_in_every_format_and_needs_a_bump(tmp_path, damage):
    old = make_package(tmp_path / "old", OLD)
    new = make_package(tmp_path / "new", OLD)
    target = new / "data" / "events.csv"
    if damage == "missing":
        target.unlink()
    else:
        target.write_bytes(b"event_id,title\n\"E001,unterminated\n")
    word = "missing" if damage == "missing" else "cannot be read"
    result = diffmod.diff(old, new)
    events = result.resource("events")
    assert not events.unchanged and not events.compared
    assert [c.kind for c in events.schema] == [f"table-{damage}"]
    bump, reasons = result.required_bump()
    assert bump == "major" and any("data/events.csv" in r for r in reasons)
    text = diffmod.render_text(result)
    assert f"table file data/events.csv {word} in {new}" in text
    assert "required version bump: major" in text
    unchanged = next(line for line in text.splitlines() if line.startswith("unchanged:"))
    assert "events" not in unchanged.replace("event_actors", "") and "\nevents [kept]" in text
    markdown = diffmod.render_markdown(result)
    assert f"data/events.csv {word}" in markdown and "**major**" in markdown
    data = json.loads(diffmod.render_json(result))
    entry = next(r for r in data["resources"] if r["resource"] == "events")
    assert entry["compared"] is False and entry["schema"][0]["kind"] == f"table-{damage}"
    assert data["required_bump"] == "major"
    # The other way round the rows only appear: a minor bump.
    back = diffmod.diff(new, old)
    assert back.required_bump()[0] == "minor"
    assert f"{word} in {new}" in diffmod.render_text(back)


def _require_title(name, schema):
    if name == "events":
        schema["fields"][1]["constraints"] = {"required": True}


@pytest.mark.parametrize(("old_editor", "new_editor", "bump", "kinds"), [
    (_require_title, None, "minor", ["field-optional", "field-edited"]),  # readers now meet empty cells
    (None, _require_title, "patch", ["field-edited"]),                    # a constraint tightened: readers unharmed
    (_require_title, _require_title, None, []),
])
def test_dropping_required_is_a_minor_change(tmp_path, old_editor, new_editor, bump, kinds):
    old = make_package(tmp_path / "old", OLD, edit_schema=old_editor)
    new = make_package(tmp_path / "new", OLD, edit_schema=new_editor)
    result = diffmod.diff(old, new)
    assert result.required_bump()[0] == bump
    assert [c.kind for c in result.resource("events").schema] == kinds
    if "field-optional" in kinds:
        assert any("title may now be empty" in reason for reason in result.required_bump()[1])


@pytest.mark.parametrize("hostile_type", [[None], [1, "x"], None, 3, {"a": 1}])
def test_a_hostile_field_type_is_described_not_a_crash(tmp_path, hostile_type):
    def editor(name, schema):
        if name == "events":
            schema["fields"][1]["type"] = hostile_type

    old = make_package(tmp_path / "old", OLD)
    new = make_package(tmp_path / "new", OLD, edit_schema=editor)
    result = diffmod.diff(old, new)
    text = json.loads(diffmod.FORMATS["json"](result))
    assert text["required_bump"] == "major"
    assert any("title retyped string → " in reason for reason in text["reasons"])


# -- versions resolved through releases/ (no git tag) -----------------------------------------------------


def _released_repo(tmp_path: Path) -> Path:
    from tests.conftest import copy_package
    from tests.helpers import set_cell
    from nkru import release

    repo = init_repo(copy_package(tmp_path / "repo"), commit="the package")
    plan = release.plan_release(repo, "1.0.0", date="2026-11-30", validate=False)
    assert plan.ok, plan.refusals
    release.write_release(plan)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Release 1.0.0")
    set_cell(repo, "actors", 0, "notes", "corrected after 1.0.0")
    git(repo, "commit", "-qam", "a correction")
    assert git(repo, "tag", "--list") == ""
    return repo


@pytest.mark.slow
def test_a_release_version_is_resolved_through_releases_without_a_tag(tmp_path, monkeypatch):
    repo = _released_repo(tmp_path)
    monkeypatch.chdir(repo)
    for spec in ("1.0.0", "v1.0.0"):
        result = run_cli("diff", spec, "--format", "json")
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        actors = next(r for r in data["resources"] if r["resource"] == "actors")
        assert len(actors["changed"]) == 1 and list(actors["changed"][0]["changes"]) == ["notes"]
        assert data["required_bump"] == "patch" and data["old"]["version"] == "1.0.0"
        assert data["old"]["label"].startswith("releases/1.0.0.json at ")
    # Two versions: the release against itself is empty; the version is named in the output.
    same = run_cli("diff", "1.0.0", "1.0.0", "--format", "json")
    assert same.exit_code == 0 and json.loads(same.stdout)["required_bump"] is None
    assert "releases/1.0.0.json" in run_cli("diff", "1.0.0").stdout
    # --repo says where releases/ is; a version with no manifest is still tried as a git ref, and fails clearly.
    monkeypatch.chdir(tmp_path)
    assert run_cli("diff", "1.0.0", str(repo), "--repo", str(repo)).exit_code == 0
    unknown = run_cli("diff", "0.9.0", str(repo), "--repo", str(repo))
    assert unknown.exit_code == 2 and "0.9.0" in unknown.stderr and "Traceback" not in unknown.output
    # Two released versions, neither tagged: 1.0.1 carries the correction.
    from nkru import release

    monkeypatch.chdir(repo)
    assert run_cli("release", "1.0.1-dev").exit_code == 0
    git(repo, "commit", "-qam", "1.0.1-dev")
    plan = release.plan_release(repo, "1.0.1", date="2026-12-24", validate=False)
    assert plan.ok, plan.refusals
    release.write_release(plan)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Release 1.0.1")
    both = run_cli("diff", "1.0.0", "v1.0.1", "--format", "json")
    assert both.exit_code == 0, both.stderr
    data = json.loads(both.stdout)
    assert (data["old"]["version"], data["new"]["version"], data["required_bump"]) == ("1.0.0", "1.0.1", "patch")
    assert data["new"]["label"].startswith("releases/1.0.1.json at ")
    monkeypatch.chdir(tmp_path)
    # The metadata layer's --baseline takes a version the same way.
    from nkru.api import Options, validate_package

    report = validate_package(repo, only=["metadata"], options=Options(baseline="1.0.0"))
    assert not [f for f in report.findings if f.code.startswith("baseline")]
    cli = run_cli("validate", str(repo), "--only", "metadata", "--baseline", "v1.0.0")
    assert "baseline-unreadable" not in cli.stdout


def test_a_release_version_in_a_shallow_clone_uses_the_verified_zip_or_says_what_is_missing(tmp_path):
    import subprocess

    repo = _released_repo(tmp_path)
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(clone)], check=True)
    import shutil

    shutil.rmtree(clone / "dist", ignore_errors=True)  # the test repository has no .gitignore: dist/ was committed
    missing = run_cli("diff", "1.0.0", str(clone), "--repo", str(clone))
    assert missing.exit_code == 2
    message = " ".join(missing.stderr.split())
    assert "release 1.0.0 (releases/1.0.0.json): its commit is not in this clone" in message
    assert "git fetch --unshallow --tags" in message and "Traceback" not in missing.output
    # The release zip in dist/ stands in when its SHA-256 is the manifest's (and only then).
    (clone / "dist").mkdir()
    zip_bytes = (repo / "dist" / "nkru-1.0.0.zip").read_bytes()
    (clone / "dist" / "nkru-1.0.0.zip").write_bytes(zip_bytes + b"x")
    assert run_cli("diff", "1.0.0", str(clone), "--repo", str(clone)).exit_code == 2
    (clone / "dist" / "nkru-1.0.0.zip").write_bytes(zip_bytes)
    found = run_cli("diff", "1.0.0", str(clone), "--repo", str(clone), "--format", "json")
    assert found.exit_code == 0, found.stderr
    assert json.loads(found.stdout)["required_bump"] == "patch"
