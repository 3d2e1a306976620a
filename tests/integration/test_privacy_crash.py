"""SIGKILL in the middle of an erase (issue 12): the next start finishes it and writes the receipt once.

``appliance privacy erase`` runs as its own process with the test hook
``APPLIANCE_PRIVACY_PAUSE=<step>``: after that step it writes ``<journal>.paused`` and waits; the
test kills it with SIGKILL, then starts another ``appliance privacy`` command (every one finishes
pending journals first, as the daemon does at start).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.privacy import erase
from appliance.privacy.job import PrivacyJob
from appliance.store.db import Database
from tests.integration.test_privacy import NEEDLES_MARI, cli, root_fixture, rows, snapshot, world_fixture  # noqa: F401 (the fixtures)
from tests.support.privacy_scenario import JAAN, MARI, grep_tree, make_config

REPO = Path(__file__).resolve().parents[2]


async def _daemon_start(cfg: Any, db: Database) -> None:
    job = await PrivacyJob(cfg, db, interval_s=3600).start()
    await job.stop()
    assert not erase.pending(cfg)


@pytest.mark.parametrize(("step", "restart"), [("journal", "cli"), ("db", "cli"), ("files", "cli"), ("db", "daemon")])
def test_sigkill_mid_erase_is_finished_at_the_next_start(root: Path, step: str, restart: str) -> None:
    jaan_before = snapshot(root, JAAN)
    journal = root / "data" / "privacy" / "journal"
    env = {**os.environ, "APPLIANCE_PRIVACY_PAUSE": step, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "privacy", "erase", "--phone", MARI.phone, "--reason", "asked",
         "--by", "anna", "--config", str(root / "appliance.toml")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(journal.glob("*.paused")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the erase never reached its pause"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list(journal.glob("*.json"))) == 1  # the journal outlives the process
    recordings = list((root / "data" / "recordings").glob("*mari*"))
    held = rows(root, "SELECT count(*) FROM customers WHERE phone = ?", MARI.e164)[0][0]
    if step == "journal":
        assert held == 1 and len(recordings) == 3  # nothing done yet
    else:
        assert held == 0  # the database transaction committed
        assert (len(recordings) == 3) == (step == "db")
    assert not (root / "data" / "privacy" / "receipts.jsonl").exists()

    if restart == "daemon":  # the daemon's privacy job at start
        db = Database.from_config(make_config(root))
        try:
            asyncio.run(_daemon_start(make_config(root), db))
        finally:
            db.close()
    rc, listed = cli(root, "privacy", "receipts", "list")  # any privacy command finishes the erase first
    assert rc == 0 and len(listed) == 1 and listed[0]["by"] == "anna"
    assert listed[0]["counts"]["bookings_anonymised"] == 3
    assert list(journal.glob("*")) == []
    assert grep_tree(root / "data", NEEDLES_MARI) == []
    assert snapshot(root, JAAN) == jaan_before
    rc, listed = cli(root, "privacy", "receipts", "list")
    assert len(listed) == 1  # written once
    assert cli(root, "privacy", "receipts", "verify")[1]["ok"]
    lines = (root / "data" / "privacy" / "receipts.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["erase_id"]
