"""Erasure receipts: an append-only, hash-chained log with no personal data in it.

``<data_dir>/privacy/receipts.jsonl`` holds one JSON object per erasure: its id, when, the
tenant, a salted hash of the number (HMAC-SHA256 with the install's secret salt in
``<data_dir>/privacy/salt``: the business can check "was +372... erased?" by hashing it again,
nobody else can reverse it), the reason and who asked, the categories and record counts removed,
``prev`` (the hash of the receipt before it; ``"0" * 64`` for the first) and ``hash`` (SHA-256 of
the canonical JSON of everything else). Editing, removing or reordering a receipt breaks the
chain from there on, which :func:`verify` reports. The chain proves the log was not edited
after the fact by someone without the code; it cannot prove that no receipt was ever written
(a whole log can be recomputed) — docs/PRIVACY.md says what it does and does not prove.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.core.config import Config

GENESIS = "0" * 64


def privacy_dir(config: Config) -> Path:
    return config.data_path / "privacy"


def receipts_path(config: Config) -> Path:
    return privacy_dir(config) / "receipts.jsonl"


def _salt(config: Config) -> bytes:
    path = privacy_dir(config) / "salt"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())
        return bytes.fromhex(path.read_text().strip())


def subject_hash(config: Config, phone_e164: str) -> str:
    """The salted hash of a number that stands for it in receipts."""
    return hmac.new(_salt(config), phone_e164.encode("utf-8"), hashlib.sha256).hexdigest()


def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _read(config: Config) -> tuple[list[dict[str, Any]], list[str]]:
    """The receipts, and problems with lines that are not JSON objects."""
    path = receipts_path(config)
    if not path.exists():
        return [], []
    out, bad = [], []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            bad.append(f"line {i}: not JSON")
            continue
        if not isinstance(obj, dict):
            bad.append(f"line {i}: not a receipt")
            continue
        out.append(obj)
    return out, bad


def load(config: Config) -> list[dict[str, Any]]:
    return _read(config)[0]


def find(config: Config, erase_id: str) -> dict[str, Any] | None:
    return next((r for r in load(config) if r.get("erase_id") == erase_id), None)


def _drop_torn_tail(path: Path) -> None:
    """A crash mid-append can leave a last line without its newline: cut it (its erase is redone)."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with path.open("r+b") as fh:
            fh.truncate(keep)
            os.fsync(fh.fileno())


def append(config: Config, body: dict[str, Any]) -> dict[str, Any]:
    """Chain ``body`` onto the log (durably) and return the stored receipt.

    An exclusive ``flock`` on ``receipts.lock`` keeps two processes (the daemon's API and the CLI)
    from chaining onto the same predecessor; a receipt with the same ``erase_id`` is not added twice.
    """
    path = receipts_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / "receipts.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing = find(config, str(body.get("erase_id")))
        return existing if existing is not None else _append_locked(config, path, body)


def _append_locked(config: Config, path: Path, body: dict[str, Any]) -> dict[str, Any]:
    _drop_torn_tail(path)
    existing = load(config)
    prev = existing[-1]["hash"] if existing else GENESIS
    receipt = {**body, "seq": len(existing) + 1, "prev": prev}
    receipt["hash"] = _digest(receipt)
    line = json.dumps(receipt, ensure_ascii=False, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return receipt


@dataclass(frozen=True, slots=True)
class Verification:
    receipts: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "receipts": self.receipts, "problems": list(self.problems)}


def verify(config: Config) -> Verification:
    receipts, problems = _read(config)
    prev = GENESIS
    for i, r in enumerate(receipts, 1):
        body = {k: v for k, v in r.items() if k != "hash"}
        if r.get("seq") != i:
            problems.append(f"receipt {i}: sequence number {r.get('seq')!r}")
        if r.get("prev") != prev:
            problems.append(f"receipt {i}: does not follow the one before it (removed, reordered or edited)")
        if _digest(body) != r.get("hash"):
            problems.append(f"receipt {i}: content does not match its hash (edited)")
        prev = str(r.get("hash"))
    return Verification(len(receipts), tuple(problems))
