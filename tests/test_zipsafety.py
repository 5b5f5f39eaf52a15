"""Release zips are hostile input: bombs, encrypted members, zip-slip, links and too many members are refused
(before anything is inflated, with bounded memory) as findings, never as tracebacks."""

from __future__ import annotations

import json
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.helpers import run_cli
from nkru import archive, snapshot
from nkru.api import Options, validate_package
from nkru.package import Package, PackageError, UnsafePath


def _descriptor_zip(path: Path, extra: list[tuple[zipfile.ZipInfo, bytes]] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("nkru-9.9.9/datapackage.json", json.dumps({"name": "x", "resources": []}))
        for info, data in extra:
            archive.writestr(info, data)
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A real zip bomb: about 1 MB that inflates to 1 GiB of zeros (one deflate stream of 1 MiB blocks).

    Each 1 MiB of zeros is deflated once and ends with a full flush, which resets the compressor, so the
    stream is that block repeated (what deflating every MiB in turn with a full flush gives, in
    milliseconds instead of seconds), then the final empty block."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    size = 1 << 30
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH) == block  # the flush did reset it
    data = block * (size // len(chunk)) + compressor.flush()
    crc = 0
    for _ in range(size // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    info = zipfile.ZipInfo("nkru-9.9.9/data/claims.csv", date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    # Write the member by hand (zipfile would inflate nothing, but writestr needs the whole 1 GiB in memory).
    with open(path, "wb") as handle:
        name = info.filename.encode()
        local = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 8, 0, 0x21, crc, len(data), size, len(name), 0)
        handle.write(local + name + data)
        descriptor = json.dumps({"name": "x", "resources": []}).encode()
        dname = b"nkru-9.9.9/datapackage.json"
        offset2 = handle.tell()
        handle.write(struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0x21, zlib.crc32(descriptor),
                                 len(descriptor), len(descriptor), len(dname), 0) + dname + descriptor)
        central = handle.tell()
        entries = [(name, 8, crc, len(data), size, 0), (dname, 0, zlib.crc32(descriptor), len(descriptor), len(descriptor), offset2)]
        for ename, method, ecrc, csize, usize, offset in entries:
            handle.write(struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, method, 0, 0x21, ecrc, csize, usize,
                                     len(ename), 0, 0, 0, 0, 0o100644 << 16, offset) + ename)
        end = handle.tell()
        handle.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 2, 2, end - central, central, 0))
    assert path.stat().st_size < 1_500_000
    return path


def test_a_zip_bomb_is_refused_quickly_with_bounded_memory(bomb):
    with zipfile.ZipFile(bomb) as archive:
        assert archive.getinfo("nkru-9.9.9/data/claims.csv").file_size == 1 << 30
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(snapshot.ZipRefused, match="ratio over 100"):
        snapshot.from_zip(bomb)
    report = validate_package(bomb)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seconds < 5 and peak < 50 << 20
    [finding] = report.findings
    assert finding.code == "release-zip-refused" and "data/claims.csv" in finding.message and not report.valid
    result = run_cli("validate", str(bomb))
    assert result.exit_code == 1 and "Traceback" not in result.output and "zip bomb" in result.stdout


def test_a_member_that_inflates_beyond_what_it_declares_is_cut_off(tmp_path):
    """zipfile stops at the declared size; the CRC then fails: a damaged member, not an unbounded read."""
    path = tmp_path / "liar.zip"
    _descriptor_zip(path, [(zipfile.ZipInfo("nkru-9.9.9/data/a.csv"), b"x" * 5000)])
    raw = bytearray(path.read_bytes())
    # Shrink the declared size in both headers to 10 bytes.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := raw.find(signature, start)) != -1:
            name_len = struct.unpack_from("<H", raw, start + (26 if signature == b"PK\x03\x04" else 28))[0]
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if raw[name_at:name_at + name_len].endswith(b"a.csv"):
                struct.pack_into("<L", raw, start + offset, 10)
            start += 4
    path.write_bytes(bytes(raw))
    with snapshot.from_zip(path) as snap:
        with pytest.raises(snapshot.SnapshotError, match="a.csv"):
            snap.read_bytes("data/a.csv")


def _info(name: str, **attrs) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


@pytest.mark.parametrize("name, attrs, data, message", [
    ("nkru-9.9.9/../../evil.txt", {}, b"x", "leaves the archive"),
    ("/etc/evil", {}, b"x", "absolute path"),
    ("nkru-9.9.9\\..\\evil", {}, b"x", "backslash"),
    ("nkru-9.9.9/data/link.csv", {"create_system": 3, "external_attr": (0o120777 << 16)}, b"/etc/passwd", "symbolic link"),
    ("nkru-9.9.9/data/secret.csv", {"flag_bits": 0x1}, b"x", "encrypted"),
])
def test_unsafe_members_are_refused(tmp_path, name, attrs, data, message):
    encrypted = attrs.pop("flag_bits", 0) & 0x1
    path = _descriptor_zip(tmp_path / "bad.zip", [(_info(name, **attrs), data)])
    if encrypted:  # zipfile cannot write encrypted members: set the flag in both headers of that member
        raw = bytearray(path.read_bytes())
        for signature, flag_at, name_len_at, name_at in ((b"PK\x03\x04", 6, 26, 30), (b"PK\x01\x02", 8, 28, 46)):
            start = 0
            while (start := raw.find(signature, start)) != -1:
                length = struct.unpack_from("<H", raw, start + name_len_at)[0]
                if raw[start + name_at:start + name_at + length] == name.encode():
                    raw[start + flag_at] |= 0x1
                start += 4
        path.write_bytes(bytes(raw))
    with pytest.raises(snapshot.ZipRefused, match=message):
        snapshot.from_zip(path)
    with pytest.raises(PackageError, match=message):
        Package.open(path)
    report = validate_package(path)
    assert [f.code for f in report.findings] == ["release-zip-refused"]
    assert not (tmp_path / "evil.txt").exists() and not Path("/etc/evil").exists()
    # As a --baseline it is a finding of the metadata layer.
    from tests.conftest import copy_package

    package = copy_package(tmp_path / "pkg")
    layer = validate_package(package, only=["metadata"], options=Options(baseline=path)).layers[0]
    assert [f.code for f in layer.findings if f.code == "baseline-unreadable"] == ["baseline-unreadable"]


def test_too_many_members_and_duplicates_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_MEMBERS", 5)
    path = _descriptor_zip(tmp_path / "many.zip", [(_info(f"nkru-9.9.9/f{i}"), b"") for i in range(5)])
    with pytest.raises(snapshot.ZipRefused, match="6 members, over the limit of 5"):
        snapshot.from_zip(path)
    monkeypatch.undo()
    with pytest.warns(UserWarning):
        dup = _descriptor_zip(tmp_path / "dup.zip", [(_info("nkru-9.9.9/a"), b"1"), (_info("nkru-9.9.9/a"), b"2")])
    with pytest.raises(snapshot.ZipRefused, match="appears twice"):
        snapshot.from_zip(dup)


def test_the_total_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 1000)
    path = _descriptor_zip(tmp_path / "big.zip", [(_info(f"nkru-9.9.9/f{i}"), b"x" * 400) for i in range(3)])
    with pytest.raises(snapshot.ZipRefused, match="more than 1,000 bytes"):
        snapshot.from_zip(path)


def test_a_safe_zip_still_reads(tmp_path):
    path = _descriptor_zip(tmp_path / "ok.zip", [(_info("nkru-9.9.9/data/a.csv", compress_type=zipfile.ZIP_DEFLATED), b"a\n1\n" * 100)])
    with snapshot.from_zip(path) as snap:
        assert snap.read_bytes("data/a.csv") == b"a\n1\n" * 100
        with pytest.raises(UnsafePath):
            snap.read_bytes("../x")
        with pytest.raises(FileNotFoundError):
            snap.read_bytes("data/b.csv")
