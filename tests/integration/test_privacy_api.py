"""The staff command on the control API: a booking chat on the real web channel, then
``GET /v1/privacy/export`` and ``POST /v1/privacy/erase`` over the Unix socket."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path

import aiohttp

from appliance.console.client import ApiError as ClientError
from appliance.core.clock import fixed_clock
from appliance.privacy.erase import pending
from tests.support.control_harness import NOW, front_desk, make_config, say
from tests.support.privacy_scenario import grep_tree


def test_export_and_erase_over_the_control_api(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)

    async def go() -> None:
        async with front_desk(cfg, fixed_clock(NOW)) as desk:
            for sid, name, phone in (
                ("privacy-anna-0001", "Anna Lepp", "+372 5333 4444"),
                ("privacy-other-0001", "Peeter Puu", "+372 5999 8888"),
            ):
                ws = await desk.chat(sid)
                await say(ws, "I need a room for my dog Bobby from the 10th to the 12th")
                await say(ws, name)
                await say(ws, phone)
                reply = await say(ws, "yes")
                assert reply.get("booking_id"), reply
                await ws.close()
            out = await desk.api.get("/privacy/export", phone="53334444")
            assert out["counts"]["bookings"] == 1 and out["counts"]["sessions"] == 1
            assert "Anna Lepp" in json.dumps(out["data"], ensure_ascii=False) and "+37253334444" in out["summary"]
            conn = aiohttp.UnixConnector(path=str(cfg.api_socket))
            async with aiohttp.ClientSession(connector=conn) as s:
                url = "http://appliance/v1/privacy/export?phone=53334444&format=zip&language=ru"
                async with s.get(url) as resp:
                    assert resp.status == 200 and resp.content_type == "application/zip"
                    with zipfile.ZipFile(io.BytesIO(await resp.read())) as z:
                        assert "Бронирование" in z.read("summary.txt").decode()
                        assert json.loads(z.read("data.json"))["customers"][0]["name"] == "Anna Lepp"
            try:
                await desk.api.post("/privacy/erase", {"phone": "53334444"})
            except ClientError as exc:
                assert "reason" in str(exc)
            else:
                raise AssertionError("an erase without a reason was accepted")
            assert any(e.session_id == "privacy-anna-0001" for e in desk.control.bus.recent)
            receipt = await desk.api.post("/privacy/erase", {"phone": "+372 5333 4444", "reason": "asked at the desk"})
            assert receipt["seq"] == 1 and receipt["by"].startswith("staff") and receipt["counts"]["sessions"] == 1
            assert not any(
                e.session_id == "privacy-anna-0001" for e in desk.control.bus.recent
            )  # the daemon's memory too
            assert any(e.session_id == "privacy-other-0001" for e in desk.control.bus.recent)
            # the daemon's own connections stay open: the checkpoint and VACUUM still reach every byte
            assert grep_tree(cfg.data_path, ["Anna Lepp", "+37253334444", "5333 4444"]) == []
            assert not pending(cfg)  # compacted, so the erasure is complete
            again = await desk.api.get("/privacy/export", phone="53334444")
            assert not any(again["counts"].values())
            other = await desk.api.get("/privacy/export", phone="+372 5999 8888")
            assert other["counts"]["bookings"] == 1 and other["counts"]["turns"] > 0

    asyncio.run(go())
