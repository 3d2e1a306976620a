"""The shared model services for real: the daemon's supervisor (appliance/ops/model_services.py)
starts ``python -m appliance.engines.service stt|tts`` processes loading the trained test Whisper
(models/stt-test) and espeak-ng, the clients (engines/service/client.py) talk to them over the Unix
sockets. Batching, the load report, SIGKILL and restart, TTS."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from appliance.core.config import Config, load_config
from appliance.core.errors import EngineError, EngineUnavailable
from appliance.engines.service.client import ServiceConnection, ServiceSTT, ServiceTTS, service_engines
from appliance.ops.model_services import ModelServices
from tests.support.speech import speech
from tests.support.trained_stt import trained_stt, trained_stt_path

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

EN = "Hi, I need a room for my dog"
RU = "Здравствуйте, хочу забронировать место для собаки Шарик с 10 по 15 декабря"


def _config(data: Path, **services: object) -> Config:
    return load_config(environ={}, use_system=False, overrides={
        "store": {"data_dir": str(data)}, "llm": {"mode": "off"},
        "tenant": {"languages": ["en", "et", "ru"]},
        "voice": {"stt_model": str(trained_stt_path())}, "services": {"mode": "on", **services}})  # fmt: skip


def test_two_utterances_at_once_are_one_batched_call_with_the_in_process_transcripts(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "data", stt_batch_window_ms=400)
    en, ru = speech(EN, "en"), speech(RU, "ru")
    local = trained_stt(threads=1)
    expected = [local.transcribe_choosing(en, 16000, "en"), local.transcribe_choosing(ru, 16000, "en")]

    async def run() -> None:
        services = ModelServices(cfg)
        served = await services.start()
        try:
            assert served.services.mode == "on" and served.llm.mode == "off"  # the LLM off: no server
            a, b = service_engines(served)[0], service_engines(served)[0]
            await asyncio.gather(asyncio.to_thread(a.load), asyncio.to_thread(b.load))
            got = await asyncio.gather(
                asyncio.to_thread(a.transcribe_choosing, en, 16000, "en"),
                asyncio.to_thread(b.transcribe_choosing, ru, 16000, "en"),
            )
            assert (a.last_batch_size, b.last_batch_size) == (2, 2)
            load = a.conn.status()
            assert load.service == "stt" and load.pid == services.children["stt"].pid
            assert load.requests == 2 and load.batches == 1 and load.batch_sizes == {"2": 1}, load
            assert load.queue_length == 0 and load.queue_ms_max >= load.queue_ms_p50 >= 0 and load.work_ms_p50 > 0
            for g, e in zip(got, expected, strict=True):
                assert (g.text, g.language) == (e.text, e.language)
                assert g.language_id is not None and e.language_id is not None
                assert (g.language_id.action, g.language_id.reason) == (e.language_id.action, e.language_id.reason)
            assert [g.language for g in got] == ["en", "ru"]  # per-utterance language ID inside one batch
            from prometheus_client import REGISTRY, generate_latest

            scraped = generate_latest(REGISTRY).decode()  # what the daemon's /metrics serves
            assert 'appliance_model_service_up{service="stt"} 1.0' in scraped
            assert 'appliance_model_service_requests_total{service="stt"} 2.0' in scraped
            assert 'appliance_model_service_batch_size_mean{service="stt"} 2.0' in scraped
            assert 'appliance_model_service_restarts_total{service="tts"} 0.0' in scraped
        finally:
            await services.stop()
        assert not (served.services_path / "stt.sock").exists()

    asyncio.run(run())


def test_a_killed_stt_service_fails_requests_at_once_and_is_restarted(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "data")
    pcm = speech(EN, "en")

    async def run() -> None:
        services = ModelServices(cfg)
        served = await services.start()
        try:
            stt = ServiceSTT(served.services_path / "stt.sock", languages=("en", "et", "ru"))
            await asyncio.to_thread(stt.load)
            first = await asyncio.to_thread(stt.transcribe_choosing, pcm, 16000, "en")
            old = services.children["stt"].pid
            assert old is not None
            os.kill(old, signal.SIGKILL)
            await asyncio.sleep(0.2)
            started = time.monotonic()
            with pytest.raises(EngineError) as err:
                await asyncio.to_thread(stt.transcribe_choosing, pcm, 16000, "en")
            # at once: not after the 15 s request timeout (the bound leaves room for a loaded box)
            assert err.value.code == "engine_unreachable" and time.monotonic() - started < 5.0
            await asyncio.to_thread(stt.load)  # what the supervised engine's restart does: waits for it
            again = await asyncio.to_thread(stt.transcribe_choosing, pcm, 16000, "en")
            assert again.text == first.text and again.text
            assert services.children["stt"].restarts == 1 and services.children["stt"].pid not in (None, old)
            assert services.snapshot()["stt"]["restarts"] == 1
        finally:
            await services.stop()

    asyncio.run(run())


def test_the_tts_service_speaks_and_reports_its_load(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "data")

    async def run() -> None:
        services = ModelServices(cfg)
        served = await services.start()
        try:
            tts = service_engines(served)[1]
            assert isinstance(tts, ServiceTTS)
            await asyncio.to_thread(tts.load)
            chunks = await asyncio.gather(tts.synthesize("Hello there", "en"), tts.synthesize("Tere", "et"))
            assert all(c.duration > 0.2 and c.sample_rate == tts.capabilities.sample_rate for c in chunks)
            load = ServiceConnection(served.services_path / "tts.sock", name="tts").status()
            assert load.service == "tts" and load.requests == 2 and load.failures == 0
            assert set(load.languages) >= {"en", "et", "ru"}
        finally:
            await services.stop()

    asyncio.run(run())


def test_a_missing_stt_model_is_an_unavailable_service_not_a_failed_start(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "data")
    cfg = cfg.model_copy(update={"voice": cfg.voice.model_copy(update={"stt_model": str(tmp_path / "nowhere")})})

    async def run() -> None:
        services = ModelServices(cfg)
        served = await services.start()  # starts: the SIP workers then give callers the keypad menu
        try:
            stt = service_engines(served)[0]
            started = time.monotonic()
            with pytest.raises(EngineUnavailable, match="no model"):
                await asyncio.to_thread(stt.load)
            assert time.monotonic() - started < 5.0  # told at once, not after the 20 s wait
            with pytest.raises(EngineError) as err:
                await asyncio.to_thread(stt.transcribe_sync, b"\0\0" * 1600, 16000, "en")
            assert err.value.code == "engine_unavailable"
            assert services.children["stt"].restarts == 0  # up and saying why, not crash-looping
        finally:
            await services.stop()

    asyncio.run(run())


def test_killed_tts_service_and_llm_server_are_restarted_and_used_again(tmp_path: Path) -> None:
    from appliance.engines.llm_server import OpenAIServerEngine

    tiny_llm = Path(__file__).resolve().parents[2] / "models" / "test" / "llm" / "tiny-chat.gguf"
    cfg = _config(tmp_path / "data")
    cfg = cfg.model_copy(update={"llm": cfg.llm.model_copy(update={"mode": "auto", "model": str(tiny_llm)})})

    async def run() -> None:
        services = ModelServices(cfg)
        served = await services.start()
        llm = OpenAIServerEngine(served.llm.base_url)
        try:
            assert served.llm.mode == "server"  # the brain and the workers use the one server
            tts = service_engines(served)[1]
            await asyncio.to_thread(tts.load)
            await llm.load()
            for name in ("tts", "llm"):
                pid = services.children[name].pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.3)
            with pytest.raises(EngineError):
                await tts.synthesize("Hello", "en")
            with pytest.raises(EngineError):
                await llm.chat([{"role": "user", "content": "Hi"}], max_tokens=4, timeout=5)
            await asyncio.to_thread(tts.load)
            assert (await tts.synthesize("Hello", "en")).duration > 0.2
            deadline = time.monotonic() + 60
            while services.children["llm"].pid is None or services.children["llm"].restarts < 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
            while True:  # the restarted server answers again, at the same address
                try:
                    assert isinstance(
                        await llm.chat([{"role": "user", "content": "Hi"}], max_tokens=4, timeout=30), str
                    )
                    break
                except EngineError:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.3)
            assert {n: c["restarts"] for n, c in services.snapshot().items()} == {"llm": 1, "stt": 0, "tts": 1}
        finally:
            await llm.aclose()
            await services.stop()

    asyncio.run(run())


def test_an_llm_server_that_cannot_start_does_not_stop_the_others(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file")
    cfg = _config(tmp_path / "data")
    cfg = cfg.model_copy(update={"llm": cfg.llm.model_copy(update={"mode": "auto", "model": str(broken)})})

    async def run() -> None:
        services = ModelServices(cfg)
        served = await services.start()  # logs the LLM server's failure, returns
        try:
            assert served.llm.mode == "server"  # the brain says "basic mode" until the server answers
            stt = service_engines(served)[0]
            await asyncio.to_thread(stt.load)
            assert (await asyncio.to_thread(stt.transcribe_sync, speech(EN, "en"), 16000, "en")).text
            deadline = time.monotonic() + 30
            while services.children["llm"].restarts < 1:  # and it keeps being retried
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
        finally:
            await services.stop()

    asyncio.run(run())


def test_a_data_folder_too_deep_for_a_unix_socket_gets_a_short_socket_folder(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "data"
    cfg = _config(deep)
    assert len(str(cfg.services_path / "stt.sock")) > 107

    async def run() -> None:
        services = ModelServices(cfg)
        served = await services.start()
        try:
            assert len(str(served.services_path / "stt.sock")) < 100
            stt, tts = service_engines(served)
            await asyncio.gather(asyncio.to_thread(stt.load), asyncio.to_thread(tts.load))
            assert (served.services_path.stat().st_mode & 0o777) == 0o700  # the owner's only
        finally:
            await services.stop()
        assert not served.services_path.exists()

    asyncio.run(run())


def test_the_batching_benchmark_runs_and_prints_one_json_line() -> None:
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "scripts" / "bench_stt_batch.py"), "--sizes", "1,2",
                          "--repeat", "1", "--threads", "1"], capture_output=True, text=True, timeout=240, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)})  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert [p["n"] for p in result["points"]] == [1, 2]
    assert all(p["one_batch_ms"] > 0 and p["one_by_one_ms"] > 0 for p in result["points"])
