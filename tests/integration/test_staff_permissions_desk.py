"""Staff of one business see only that business (``tenant.staff_group``), by the kernel's word:
the real daemon (in process, two tenants, each with its own staff group), and a staff client
run as another user with other groups (``setpriv``), speaking HTTP to the staff socket. Its
bookings, live sessions, events and actions are the clinic's only; the hotel's are a 403 when
named and a 404 when guessed; someone in the socket's group but in no business's is refused;
root (the service) sees both. Needs root (to run a process as another user)."""

from __future__ import annotations

import asyncio
import datetime as dt
import grp
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from appliance.console.client import ApiClient
from appliance.core.config import load_config
from appliance.daemon import Daemon
from tests.integration.test_tenancy import CLINIC, HOTEL, clinic_site
from tests.integration.test_web_server import hello, say

SYSTEM_PYTHON = Path("/usr/bin/python3")  # the test venv's interpreter may sit under root's home
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not SYSTEM_PYTHON.exists(),
    reason="needs root, setpriv (util-linux) and /usr/bin/python3 to act as another user",
)
START = dt.date.today() + dt.timedelta(days=30)
NOBODY = 65534
# A staff client with the standard library only: one HTTP/1.1 request per connection.
CLIENT = r"""
import json, socket, sys
out = []
for method, url, body in json.loads(sys.argv[2]):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1])
    except OSError as e:
        out.append({"refused": e.errno}); continue
    data = json.dumps(body).encode() if body is not None else b""
    s.sendall((f"{method} {url} HTTP/1.1\r\nHost: appliance\r\nConnection: close\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data)
    buf = b""
    while chunk := s.recv(65536):
        buf += chunk
    head, _, payload = buf.partition(b"\r\n\r\n")
    out.append({"status": int(head.split()[1]), "body": json.loads(payload or b"null")})
print(json.dumps(out))
"""


def _groups() -> tuple[str, str, str]:
    """Three groups this box has (the socket's, the hotel's staff, the clinic's staff)."""
    names = [g.gr_name for g in grp.getgrall() if 0 < g.gr_gid < 1000 and g.gr_name != "nogroup"]
    if len(names) < 3:
        pytest.skip("needs three system groups")
    return names[0], names[1], names[2]


def _booking(name: str) -> dict[str, Any]:
    return {
        "pet_name": name, "pet_type": "dog", "start_date": START.isoformat(),
        "end_date": (START + dt.timedelta(days=2)).isoformat(), "owner_name": "Mari Tamm",
        "owner_phone": "+372 5123 4567",
    }  # fmt: skip


def as_user(sock: Path, groups: list[str], requests: list[tuple[str, str, Any]]) -> list[dict[str, Any]]:
    proc = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--groups", ",".join(groups) or str(NOBODY),
         str(SYSTEM_PYTHON), "-c", CLIENT, str(sock), json.dumps(requests)],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return list(json.loads(proc.stdout))


def test_staff_of_one_business_see_only_that_business(tmp_path: Path) -> None:
    staff, hotel_group, clinic_group = _groups()
    run_dir = Path(tempfile.mkdtemp(prefix="appliance-perm-"))  # /tmp: other users can reach the socket
    run_dir.chmod(0o755)
    sock = run_dir / "appliance.sock"
    cfg = load_config(
        environ={},
        use_system=False,
        overrides={
            "store": {"data_dir": str(tmp_path / "data")}, "llm": {"mode": "off"}, "web": {"port": 0},
            "sip": {"enabled": False}, "metrics": {"enabled": False},
            "api": {"socket": str(sock), "group": staff},
            "tenant": {"staff_group": hotel_group},
            "tenants": [clinic_site(tmp_path, staff_group=clinic_group)],
        },
    )  # fmt: skip
    seen: dict[str, Any] = {}

    async def go() -> None:
        daemon = Daemon(cfg)
        await daemon.start()
        try:
            await asyncio.wait_for(scenario(daemon), 120)
        finally:
            await daemon.stop()

    async def scenario(daemon: Daemon) -> None:
        async with ApiClient(sock) as hotel, ApiClient(sock, tenant=CLINIC) as clinic:  # root: the service
            seen["hotel"] = await hotel.post("/bookings", _booking("Rex"))
            seen["clinic"] = await clinic.post("/bookings", _booking("Muri"))
        web = f"http://127.0.0.1:{daemon.web.port}"
        async with aiohttp.ClientSession() as http:
            for path, sid in (("/ws", "perm-hotel-1"), (f"/t/{CLINIC}/ws", "perm-clinic-1")):
                async with http.ws_connect(web + path) as ws:
                    await hello(ws, sid)
                    await say(ws, "What are your opening hours?")
        h, c = seen["hotel"]["id"], seen["clinic"]["id"]
        seen["clinic_staff"] = await asyncio.to_thread(as_user, sock, [staff, clinic_group], [
            ("GET", "/v1/bookings?tenant=all", None),
            ("GET", "/v1/bookings", None),  # no tenant named: their own business, not the box's default
            ("GET", f"/v1/bookings?tenant={HOTEL}", None),
            ("POST", f"/v1/bookings/{h}/cancel?tenant={CLINIC}", None),
            ("GET", "/v1/sessions", None),
            ("GET", "/v1/sessions/perm-hotel-1", None),
            ("POST", "/v1/sessions/perm-hotel-1/takeover", None),
            ("GET", "/v1/sessions/perm-clinic-1", None),
            ("GET", "/v1/status", None),
            ("POST", "/v1/ai/pause", {"paused": True}),
        ])  # fmt: skip
        seen["no_business"] = await asyncio.to_thread(as_user, sock, [staff], [("GET", "/v1/bookings", None)])
        seen["not_staff"] = await asyncio.to_thread(as_user, sock, [], [("GET", "/v1/bookings", None)])
        async with ApiClient(sock, tenant="all") as every:
            seen["root_all"] = await every.get("/bookings")
            seen["root_sessions"] = await every.get("/sessions")
        assert h and c

    asyncio.run(go())
    shutil.rmtree(run_dir, ignore_errors=True)
    h, c = seen["hotel"]["id"], seen["clinic"]["id"]
    r = seen["clinic_staff"]
    assert r[0]["status"] == 200 and [b["id"] for b in r[0]["body"]["bookings"]] == [c], r[0]
    assert r[1]["status"] == 200 and [b["id"] for b in r[1]["body"]["bookings"]] == [c], r[1]
    assert (r[2]["status"], r[2]["body"]["error"]["code"]) == (403, "forbidden"), r[2]
    assert r[3]["status"] == 404, r[3]  # the hotel's booking, by its number, from the clinic's desk
    assert {s["id"] for s in r[4]["body"]["sessions"]} == {"perm-clinic-1"}, r[4]
    assert (r[5]["status"], r[6]["status"]) == (404, 404), r[5:7]  # a guessed session of the hotel
    assert r[7]["status"] == 200 and r[7]["body"]["id"] == "perm-clinic-1", r[7]
    events = r[8]["body"]["recent_events"]
    assert events and all(e.get("session_id") != "perm-hotel-1" for e in events), events
    assert r[9]["status"] == 403, r[9]  # the AI pause is every business's
    assert seen["no_business"][0]["status"] == 403, seen["no_business"]
    assert "refused" in seen["not_staff"][0], seen["not_staff"]  # the socket's file permission
    assert {b["id"] for b in seen["root_all"]["bookings"]} == {h, c}
    assert {"perm-hotel-1", "perm-clinic-1"} <= {s["id"] for s in seen["root_sessions"]["sessions"]}
