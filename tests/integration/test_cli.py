"""The admin CLI end to end, as an administrator runs it (real processes, real SQLite)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

NOW = "2026-12-01T10:00:00+02:00"


def run(
    *args: str, data: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "APPLIANCE__LLM__MODE": "off", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args, "--data-dir", str(data)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
    )


@pytest.fixture
def booked(tmp_path: Path) -> tuple[Path, str]:
    script = "I need a room for my dog Max next weekend\nMari Tamm\n+372 5123 4567\nyes\n"
    proc = run("chat", "--now", NOW, "--session", "cli-test-1", data=tmp_path, stdin=script)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 4
    return tmp_path, lines[-1]["booking_id"]


def test_chat_json_lines_contract(booked: tuple[Path, str]) -> None:
    data, bid = booked
    proc = run("chat", "--now", NOW, "--session", "cli-test-2", data=data, stdin="Tere! Mul on kass Miisu\n")
    out = json.loads(proc.stdout.splitlines()[0])
    for key in ("reply", "language", "slots", "awaiting", "actions", "booking_id", "degraded"):
        assert key in out
    assert out["language"] == "et"
    assert set(out["slots"]) >= {"pet_name", "pet_type", "start_date", "end_date", "owner_name", "owner_phone"}
    assert out["slots"]["pet_type"] == "cat"
    assert out["booking_id"] is None and out["degraded"] is False


def test_bookings_list_show_cancel(booked: tuple[Path, str]) -> None:
    data, bid = booked
    proc = run("bookings", "list", "--json", data=data)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["id"] for r in rows] == [bid]
    proc = run("bookings", "show", bid, "--json", data=data)
    assert json.loads(proc.stdout)["pet_name"] == "Max"
    proc = run("bookings", "cancel", bid, data=data)
    assert proc.returncode == 0 and "cancelled" in proc.stdout
    proc = run("bookings", "show", "999999", data=data)
    assert proc.returncode == 3 and "not found" in proc.stderr


def test_db_backup_and_check(booked: tuple[Path, str], tmp_path: Path) -> None:
    data, bid = booked
    dest = tmp_path / "backup" / "copy.db"
    proc = run("db", "backup", str(dest), data=data)
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(dest) as c:
        assert c.execute("SELECT id FROM bookings").fetchall() == [(bid,)]
    proc = run("db", "check", "--json", data=data)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["ok"] is True


def test_db_check_without_database(tmp_path: Path) -> None:
    proc = run("db", "check", data=tmp_path / "empty")
    assert proc.returncode == 3


def test_doctor_reports(tmp_path: Path) -> None:
    proc = run("doctor", "--json", data=tmp_path, env={"APPLIANCE__SIP__ENABLED": "false"})
    checks = json.loads(proc.stdout)
    names = {c["name"] for c in checks}
    assert "sqlite-vec (via sqlean)" in names
    assert proc.returncode in (0, 4)


def test_kb_reindex(tmp_path: Path) -> None:
    proc = run("kb", "reindex", "--json", data=tmp_path)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["files"] >= 3 and stats["chunks"] >= 15


def test_unknown_command_is_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "appliance", "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2
