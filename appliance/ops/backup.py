"""``appliance backup create|restore``: the database, the call recordings and the effective
configuration in one archive, with a manifest of sha256 checksums.

Archive (a tar, gzip'd for ``.gz``/``.tgz`` names), in this order::

    data/appliance.db        SQLite online backup (consistent while the daemon runs)
    data/recordings/...      call recordings (WAV + JSON), streamed in
    effective-config.json    the configuration the appliance ran with (secrets masked)
    config/<file>.toml       the configuration file in use, when there is one (not restored)
    manifest.json            format, versions, created_at, every other file's sha256 and size
    SHA256SUMS               the same checksums for ``sha256sum -c``

Restore refuses while the daemon runs (its local API socket answers), unpacks into a staging
directory inside the data directory (``.restore-*``), verifies every checksum and ``PRAGMA integrity_check``
before anything is replaced, then swaps the database and the recordings in, keeping the old ones
aside until the restored database opened and passed its checks; on any failure the old ones are
put back. Everything else in the data directory (models, the derived knowledge index) is left.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import socket
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from appliance.core.config import SYSTEM_CONFIG, Config, dump_config
from appliance.core.errors import ApplianceError

FORMAT = "appliance-backup"
VERSION = 1
LAST_BACKUP = "last-backup.json"  # in the data directory: what `appliance doctor` reports
_RESERVED = {"manifest.json", "SHA256SUMS"}


class BackupError(ApplianceError):
    """A backup could not be made or restored; nothing was changed."""

    def __init__(self, message: str, *, code: str = "backup_failed") -> None:
        super().__init__(message, code=code)


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    files: int
    bytes: int
    recordings: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "files": self.files, "bytes": self.bytes,
                "recordings": self.recordings, "sha256": self.sha256}  # fmt: skip


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _config_file(config_path: str | Path | None) -> Path | None:
    if config_path:
        return Path(config_path)
    if os.environ.get("APPLIANCE_CONFIG"):
        return Path(os.environ["APPLIANCE_CONFIG"])
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None


class _Hashing:
    """A file read for the archive exactly once, ``size`` bytes (a recording may still be growing),
    hashing what goes in."""

    def __init__(self, f: Any, size: int) -> None:
        self.f, self.left, self.sha = f, size, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.f.read(n) if n > 0 else b""
        self.left -= len(data)
        self.sha.update(data)
        return bytes(data)


def _add_file(tar: tarfile.TarFile, src: Path, name: str) -> dict[str, Any]:
    with src.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, int(src.stat().st_mtime), 0o600
        reader = _Hashing(f, size)
        tar.addfile(info, reader)  # type: ignore[arg-type]
    return {"sha256": reader.sha.hexdigest(), "size": size}


def _add_bytes(tar: tarfile.TarFile, data: bytes, name: str) -> dict[str, Any]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(dt.datetime.now().timestamp()), 0o600
    tar.addfile(info, io.BytesIO(data))
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def create(cfg: Config, dest: Path, *, config_path: str | Path | None = None) -> BackupInfo:
    """Write the archive to ``dest`` (atomically: a ``.partial`` file renamed at the end).

    Gzip'd for ``.gz``/``.tgz`` names, a plain tar otherwise (WAV barely compresses). Recordings are
    streamed into the archive, never copied first; only the database snapshot is a temporary file.
    The manifest and SHA256SUMS come last (they list what was written)."""
    from appliance.store.db import Database
    from appliance.store.migrate import user_version

    if not cfg.db_path.exists():
        raise BackupError(f"{cfg.db_path}: no database to back up (check --data-dir)", code="not_found")
    dest = dest.expanduser().resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    mode = "w:gz" if dest.name.endswith((".gz", ".tgz")) else "w"
    files: dict[str, dict[str, Any]] = {}
    recordings = 0
    partial = dest.with_name(dest.name + ".partial")
    with tempfile.TemporaryDirectory(prefix=".appliance-backup-", dir=dest.parent) as tmp:
        db_copy = Path(tmp) / cfg.store.db_file
        db = Database.from_config(cfg)
        try:
            db.backup(db_copy)
        finally:
            db.close()
        import sqlean

        conn = sqlean.connect(str(db_copy))
        try:
            schema = user_version(conn)
        finally:
            conn.close()
        try:
            with tarfile.open(partial, mode) as tar:  # type: ignore[call-overload]
                files[f"data/{cfg.store.db_file}"] = _add_file(tar, db_copy, f"data/{cfg.store.db_file}")
                rec_dir = cfg.data_path / "recordings"
                if rec_dir.is_dir():
                    for src in sorted(p for p in rec_dir.rglob("*") if p.is_file() and not p.is_symlink()):
                        rel = f"data/recordings/{src.relative_to(rec_dir).as_posix()}"
                        try:
                            files[rel] = _add_file(tar, src, rel)
                        except FileNotFoundError:  # purged by retention meanwhile
                            continue
                        recordings += 1
                eff = json.dumps(dump_config(cfg), indent=2, ensure_ascii=False, default=str).encode()
                files["effective-config.json"] = _add_bytes(tar, eff, "effective-config.json")
                source = _config_file(config_path)
                if source is not None and source.is_file():
                    files[f"config/{source.name}"] = _add_file(tar, source, f"config/{source.name}")
                manifest = {
                    "format": FORMAT,
                    "version": VERSION,
                    "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "hostname": socket.gethostname(),
                    "tenant": cfg.tenant.id,
                    "db_file": cfg.store.db_file,
                    "schema_version": schema,
                    "files": files,
                }
                _add_bytes(tar, json.dumps(manifest, indent=2).encode(), "manifest.json")
                sums = "".join(f"{meta['sha256']}  {name}\n" for name, meta in sorted(files.items()))
                _add_bytes(tar, sums.encode(), "SHA256SUMS")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    os.chmod(partial, 0o600)  # it holds the configuration file, secrets included
    partial.replace(dest)
    info = BackupInfo(dest, len(files), dest.stat().st_size, recordings, _sha256_file(dest))
    with contextlib.suppress(OSError):
        record = {**info.to_dict(), "created_at": manifest["created_at"]}
        (cfg.data_path / LAST_BACKUP).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return info


def last_backup(cfg: Config) -> dict[str, Any] | None:
    try:
        return dict(json.loads((cfg.data_path / LAST_BACKUP).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------------------ restore


def daemon_running(cfg: Config) -> bool:
    """The daemon's local API socket accepts a connection."""
    path = cfg.api_socket
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        p = PurePosixPath(m.name)
        if p.is_absolute() or ".." in p.parts or not (m.isfile() or m.isdir()):
            raise BackupError(
                f"archive entry {m.name!r} is not allowed (absolute, '..', or a link)", code="bad_archive"
            )
    return members


def _unpack(archive: Path, stage: Path) -> dict[str, Any]:
    """Unpack and verify: manifest format, every checksum and size, nothing unlisted."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = _safe_members(tar)
            tar.extractall(stage, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise BackupError(f"{archive}: not a readable backup archive ({exc})", code="bad_archive") from None
    try:
        manifest = json.loads((stage / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{archive}: no readable manifest.json ({exc})", code="bad_archive") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"{archive}: not an appliance backup (format {manifest.get('format')!r})", code="bad_archive")
    listed: dict[str, dict[str, Any]] = manifest.get("files") or {}
    present = {p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file()} - _RESERVED
    bad = sorted(present - set(listed))
    if bad:
        raise BackupError(f"{archive}: files not in the manifest: {', '.join(bad[:5])}", code="bad_archive")
    for name, meta in sorted(listed.items()):
        path = stage / name
        if not path.is_file():
            raise BackupError(f"{archive}: {name} is listed in the manifest but missing", code="checksum_mismatch")
        if path.stat().st_size != meta.get("size") or _sha256_file(path) != meta.get("sha256"):
            raise BackupError(
                f"{archive}: checksum mismatch for {name}; the archive is damaged", code="checksum_mismatch"
            )
    return dict(manifest)


def _integrity(db: Path) -> None:
    import sqlean

    from appliance.store.migrate import latest_version, user_version

    try:
        conn = sqlean.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            version = user_version(conn)
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001 - sqlean raises its own DatabaseError
        raise BackupError(
            f"the database in the archive fails PRAGMA integrity_check: {exc}", code="integrity_failed"
        ) from None
    if rows != ["ok"]:
        raise BackupError(
            f"the database in the archive fails PRAGMA integrity_check: {'; '.join(rows[:3])}", code="integrity_failed"
        )
    if version > latest_version():
        raise BackupError(
            f"the archive's database has schema version {version}, newer than this appliance ({latest_version()})",
            code="too_new",
        )


def _own_like(data: Path, paths: list[Path]) -> None:
    """Run as root (``sudo appliance backup restore``), the restored files belong to the data
    directory's owner (the service user), or the service could not write its own database."""
    if os.geteuid() != 0:
        return
    st = data.stat()
    for top in paths:
        if not top.exists():
            continue
        for p in [top, *(top.rglob("*") if top.is_dir() else [])]:
            os.chown(p, st.st_uid, st.st_gid, follow_symlinks=False)


def restore(cfg: Config, archive: Path) -> dict[str, Any]:
    """Replace the database and the recordings with the archive's. See the module docstring."""
    from appliance.store.db import Database

    if daemon_running(cfg):
        raise BackupError(
            f"the appliance is running (its API socket {cfg.api_socket} answers): stop it first "
            "(systemctl stop appliance)", code="daemon_running",
        )  # fmt: skip
    archive = archive.expanduser().resolve()
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file", code="not_found")
    data = cfg.data_path
    data.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    # Staged inside the data directory: the same file system (renames), and the one place the
    # service user may write (/var/lib itself is root's).
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=data) as tmp:
        stage = Path(tmp)
        manifest = _unpack(archive, stage)
        db_file = str(manifest.get("db_file") or cfg.store.db_file)
        staged_db = stage / "data" / db_file
        if not staged_db.is_file():
            raise BackupError(f"{archive}: no database in the archive", code="bad_archive")
        _integrity(staged_db)
        # Verified. Swap in: the old database (with its WAL) and recordings go aside first.
        old = data / f".pre-restore-{stamp}"
        old.mkdir()
        targets = {cfg.db_path: staged_db, data / "recordings": stage / "data" / "recordings"}
        moved: list[tuple[Path, Path]] = []
        placed: list[Path] = []
        try:
            for live in [cfg.db_path, Path(f"{cfg.db_path}-wal"), Path(f"{cfg.db_path}-shm"), data / "recordings"]:
                if live.exists():
                    live.rename(old / live.name)
                    moved.append((old / live.name, live))
            for live, new in targets.items():
                if new.exists():
                    new.rename(live)
                    placed.append(live)
            db = Database.from_config(cfg)  # opens, migrates an older schema
            try:
                report = db.check()
            finally:
                db.close()
            _own_like(data, [*placed, Path(f"{cfg.db_path}-wal"), Path(f"{cfg.db_path}-shm")])
            if not report.ok:
                raise BackupError(
                    f"the restored database fails its checks: {'; '.join(report.problems[:3])}", code="integrity_failed"
                )
        except BaseException:
            for live in placed:
                if live.is_dir():
                    shutil.rmtree(live, ignore_errors=True)
                else:
                    live.unlink(missing_ok=True)
            for aside, live in moved:
                aside.rename(live)
            shutil.rmtree(old, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)
    recordings = sum(1 for n in manifest["files"] if n.startswith("data/recordings/"))
    return {"restored": str(archive), "created_at": manifest.get("created_at"), "recordings": recordings,
            "schema_version": manifest.get("schema_version"), "data_dir": str(data)}  # fmt: skip
