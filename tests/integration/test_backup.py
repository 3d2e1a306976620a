"""``appliance backup create|restore`` through the real command line: a data directory with
bookings (scripted chat) and call recordings (a real SIP call to ``appliance run``) is backed up
while the daemon runs, wiped, restored, and compared; damaged archives are refused with a clear
error and change nothing; restore refuses while the daemon runs."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import soundfile as sf

from tests.support.run_daemon import Daemon
from tests.support.sip_harness import ROOT, caller

NOW = "2026-12-01T10:00:00+02:00"
BOOKING = "I need a room for my dog Max next weekend\nMari Tamm\n+372 5123 4567\nyes\n"


def cli(*args: str, stdin: str | None = None, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "APPLIANCE__LLM__MODE": "off"}
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args, "--data-dir", str(data)],
        input=stdin, capture_output=True, text=True, timeout=180, env=env, cwd=ROOT,
    )  # fmt: skip


def tree(path: Path) -> dict[str, str]:
    """Every file under ``path`` -> sha256 (what "changes nothing" compares)."""
    return {
        p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.name.endswith(".sock")
    }


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("backup")
    data = base / "data"
    r = cli("chat", "--now", NOW, "--session", "backup-1", stdin=BOOKING, data=data)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["booking_id"]
    d = Daemon(data, sip=True, env={"APPLIANCE__SIP__RECORD": "true"})
    try:
        call = caller(f"sip:appliance@127.0.0.1:{d.sip_port}", "--dtmf", "1@1", "--max-s", "40")
        call.wait_event("done", 90)
        archive = base / "backup.tar.gz"
        r = cli("backup", "create", str(archive), "--json", data=data)  # online, while the daemon runs
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout)
        # restore refuses while the daemon runs, and touches nothing
        before = tree(data)
        r = cli("backup", "restore", str(archive), data=data)
        assert r.returncode == 1 and "running" in r.stderr and "stop it first" in r.stderr, r.stderr
        assert tree(data) == before
    finally:
        assert d.stop() == 0
    bookings = cli("bookings", "list", "--json", data=data)
    assert bookings.returncode == 0 and json.loads(bookings.stdout), bookings.stderr
    return {"data": data, "archive": archive, "info": info, "bookings": bookings.stdout, "files": tree(data)}


def test_round_trip_restores_bookings_and_playable_recordings(original: dict, tmp_path: Path) -> None:
    data: Path = original["data"]
    wavs = sorted((data / "recordings").glob("*.wav"))
    assert wavs and original["info"]["recordings"] >= 3  # two legs + the call record
    expected = {w.name: w.read_bytes() for w in wavs}
    target = tmp_path / "restored"
    shutil.copytree(data, target)
    shutil.rmtree(target / "recordings")
    (target / "appliance.db").write_bytes(b"")  # wiped
    r = cli("backup", "restore", str(original["archive"]), "--json", data=target)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["recordings"] >= 3
    bookings = cli("bookings", "list", "--json", data=target)
    assert bookings.stdout == original["bookings"]
    for name, raw in expected.items():
        restored = target / "recordings" / name
        assert restored.read_bytes() == raw
        audio, rate = sf.read(str(restored))
        assert rate > 0 and len(audio) > rate  # more than a second of audio, readable as WAV
    assert not list(target.glob(".pre-restore-*"))  # the old files went away only after success


def _repack(src: Path, dest: Path, change: str) -> None:
    """Copy the archive with one file changed: its bytes (``recording``) or the database made
    unreadable with the manifest updated to match (``database``)."""
    with tarfile.open(src, "r:gz") as tin:
        members = [(m, tin.extractfile(m).read() if m.isfile() else b"") for m in tin.getmembers()]  # type: ignore[union-attr]
    files = dict((m.name, b) for m, b in members)
    manifest = json.loads(files["manifest.json"])
    if change == "recording":
        name = next(n for n in files if n.endswith(".wav"))
        raw = bytearray(files[name])
        raw[len(raw) // 2] ^= 0xFF
        files[name] = bytes(raw)
    else:
        name = next(n for n in files if n.endswith(".db"))
        raw = bytearray(files[name])
        raw[4096 : 4096 + 12] = b"\xa5" * 12  # the second page's b-tree header: no valid page type
        files[name] = bytes(raw)
        manifest["files"][name] = {"sha256": hashlib.sha256(files[name]).hexdigest(), "size": len(files[name])}
        files["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(dest, "w:gz") as tout:
        for m, _ in members:
            m.size = len(files[m.name])
            tout.addfile(m, io.BytesIO(files[m.name]))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("recording", "checksum mismatch for data/recordings/"),
        ("database", "integrity_check"),
        ("truncated", "not a readable backup archive"),
    ],
)
def test_damaged_archive_is_refused_and_changes_nothing(
    original: dict, tmp_path: Path, damage: str, message: str
) -> None:
    bad = tmp_path / "bad.tar.gz"
    if damage == "truncated":
        raw = Path(original["archive"]).read_bytes()
        bad.write_bytes(raw[: len(raw) * 2 // 3])
    else:
        _repack(original["archive"], bad, damage)
    target = tmp_path / "live"
    shutil.copytree(original["data"], target)
    before = tree(target)
    r = cli("backup", "restore", str(bad), data=target)
    assert r.returncode == 1, r.stdout
    assert message in r.stderr, r.stderr
    assert tree(target) == before
    assert not list(target.glob(".restore-*"))  # the staging directory is gone too


def test_doctor_reports_the_last_backup(original: dict) -> None:
    r = cli("doctor", "--json", data=original["data"])
    checks = {c["name"]: c for c in json.loads(r.stdout)}
    last = checks["last backup"]
    assert last["status"] == "ok" and str(original["archive"]) in last["detail"], last
    assert checks["systemd notify/watchdog"]["status"] == "ok", checks["systemd notify/watchdog"]


def test_plain_tar_archive_round_trip_into_an_empty_data_dir(original: dict, tmp_path: Path) -> None:
    """A ``.tar`` name gives an uncompressed archive (WAV barely compresses); it restores into a
    data directory that does not exist yet; archives are 0600 (the config file inside has secrets)."""
    archive = tmp_path / "backup.tar"
    r = cli("backup", "create", str(archive), data=original["data"])
    assert r.returncode == 0, r.stderr
    assert tarfile.is_tarfile(archive) and archive.read_bytes()[:2] != b"\x1f\x8b"  # not gzip
    assert archive.stat().st_mode & 0o777 == 0o600
    fresh = tmp_path / "new-box" / "data"
    r = cli("backup", "restore", str(archive), data=fresh)
    assert r.returncode == 0, r.stderr
    assert cli("bookings", "list", "--json", data=fresh).stdout == original["bookings"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand files to another user")
def test_restore_as_root_leaves_files_to_the_data_dir_owner(original: dict, tmp_path: Path) -> None:
    """``sudo appliance backup restore``: the service user must still own (and write) its database."""
    target = tmp_path / "data"
    target.mkdir()
    os.chown(target, 65534, 65534)  # nobody: stands in for the service user
    r = cli("backup", "restore", str(original["archive"]), data=target)
    assert r.returncode == 0, r.stderr
    owned = [target / "appliance.db", target / "recordings", *(target / "recordings").iterdir()]
    assert all(p.stat().st_uid == 65534 and p.stat().st_gid == 65534 for p in owned), [
        (p.name, p.stat().st_uid) for p in owned
    ]
