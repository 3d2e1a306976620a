"""Staff commands without a running daemon: callbacks and approvals act on the store; sessions say why not.
(With the daemon, the same commands go through the API: tests/e2e/test_console_e2e.py.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from appliance.booking.local import LocalBackend
from appliance.booking.types import BookingRequest
from appliance.store.db import Database
from appliance.store.repos import CallbackRepository
from tests.support.control_harness import make_config

ROOT = Path(__file__).resolve().parents[2]


def cli(data: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args, "--data-dir", str(data)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "APPLIANCE__LLM__MODE": "off", **(env or {})},
    )  # fmt: skip


def seed(tmp_path: Path, **cfg: Any) -> tuple[Path, str, int]:
    config = make_config(tmp_path, **cfg)
    config.data_path.mkdir(parents=True, exist_ok=True)
    db = Database.from_config(config)
    try:
        backend = LocalBackend(db, config)
        backend.sync_resources()
        start = dt.date.today() + dt.timedelta(days=10)
        req = BookingRequest("Max", "dog", start, start + dt.timedelta(days=2), "Mari Tamm", "+372 5123 4567")
        booking = asyncio.run(backend.create_booking(req, "seed-key"))
        ticket = asyncio.run(
            CallbackRepository(db, tenant_id=config.tenant.id).create(
                phone="+37255551234",
                name="Jaan",
                reason="dtmf_menu",
                language="et",
                session_id=None,
                channel="voice",
                details={},
            )  # fmt: skip
        )
    finally:
        db.close()
    return config.data_path, booking.id, ticket.id


def test_callbacks_without_the_daemon(tmp_path: Path) -> None:
    data, _bid, tid = seed(tmp_path)
    out = cli(data, "callbacks", "list", "--json")
    assert out.returncode == 0, out.stderr
    [t] = json.loads(out.stdout)
    assert t["id"] == tid and t["reason"] == "dtmf_menu" and t["phone"] == "+37255551234"
    out = cli(data, "callbacks", "claim", str(tid), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["claimed_by"].startswith("staff")
    out = cli(data, "callbacks", "done", str(tid), "--note", "rang back", "--json")
    assert json.loads(out.stdout)["status"] == "done"
    assert json.loads(cli(data, "callbacks", "list", "--json").stdout) == []
    assert len(json.loads(cli(data, "callbacks", "list", "--all", "--json").stdout)) == 1
    out = cli(data, "callbacks", "reopen", str(tid))
    assert out.returncode == 0 and "open" in out.stdout
    out = cli(data, "callbacks", "done", "9999")
    assert out.returncode == 3 and "9999" in out.stderr


def test_approve_and_decline_without_the_daemon(tmp_path: Path) -> None:
    data, bid, _tid = seed(tmp_path, bookings={"require_approval": True})
    env = {"APPLIANCE__BOOKINGS__REQUIRE_APPROVAL": "true"}
    out = cli(data, "bookings", "approve", bid, "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "confirmed"
    out = cli(data, "bookings", "decline", bid, env=env)
    assert out.returncode == 1 and "not held" in out.stderr
    out = cli(data, "bookings", "approve", "NOPE99", env=env)
    assert out.returncode == 3


def test_sessions_need_the_daemon(tmp_path: Path) -> None:
    out = cli(tmp_path / "data", "sessions", "list")
    assert out.returncode == 1 and "daemon is not running" in out.stderr


def test_callbacks_list_shows_every_automatic_attempt(tmp_path: Path) -> None:
    from appliance.core.callback_policy import AttemptOutcome
    from appliance.store.callback_attempts import CallbackAttempts

    data, _bid, tid = seed(tmp_path)
    config = make_config(tmp_path)
    db = Database.from_config(config)
    try:
        attempts = CallbackAttempts(db, tenant_id=config.tenant.id)
        asyncio.run(attempts.begin(tid, "cb-one"))
        asyncio.run(attempts.finish(tid, "cb-one", AttemptOutcome.BUSY, sip_code=486))
        asyncio.run(attempts.begin(tid, "cb-two"))  # a call in progress (or a daemon that died in it)
    finally:
        db.close()
    out = cli(data, "callbacks", "list")
    assert out.returncode == 0, out.stderr
    lines = [ln.strip() for ln in out.stdout.splitlines() if "auto callback:" in ln]
    assert len(lines) == 2, out.stdout
    assert lines[0].endswith("busy SIP 486 (cb-one)") and lines[1].endswith("dialing (cb-two)"), lines
    [t] = json.loads(cli(data, "callbacks", "list", "--json").stdout)
    assert [a.split(" ", 2)[2] for a in t["attempts"]] == ["busy SIP 486 (cb-one)", "dialing (cb-two)"]
