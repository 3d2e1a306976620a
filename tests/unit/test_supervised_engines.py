"""Supervised engines: a crash or a hang is one failed call, detected within the timeout; the
engine restarts in the background and later calls work again."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from appliance.core.errors import EngineError
from appliance.engines.stt import ScriptedSTT, Transcript
from appliance.engines.supervised import SupervisedSTT


class Flaky(ScriptedSTT):
    """Call n (0-based) hangs until released, or raises; the rest answer. Counts load()s."""

    def __init__(self, *, hang_at: int = -1, fail_at: int = -1) -> None:
        super().__init__(["one", "two", "three", "four"])
        self.hang_at, self.fail_at, self.n, self.loads = hang_at, fail_at, 0, 0
        self.release = threading.Event()

    def transcribe_sync(self, pcm16: bytes, sample_rate: int = 16000, language_hint: str | None = None) -> Transcript:
        n, self.n = self.n, self.n + 1
        if n == self.hang_at:
            self.release.wait(10)
        if n == self.fail_at:
            raise RuntimeError("segfault-ish")
        return super().transcribe_sync(pcm16, sample_rate, language_hint)

    def load(self) -> None:
        self.loads += 1


def test_a_hang_is_detected_within_the_timeout_and_the_engine_restarts() -> None:
    async def main() -> None:
        inner = Flaky(hang_at=0)
        stt = SupervisedSTT(inner, timeout_s=0.3)
        stt.supervisor.restart_backoff_s = 0.05
        t0 = time.monotonic()
        with pytest.raises(EngineError) as err:
            await stt.transcribe(b"\0" * 320)
        assert err.value.code == "engine_timeout" and time.monotonic() - t0 < 0.6
        with pytest.raises(EngineError) as err:  # while it restarts: fail fast, do not queue
            await stt.transcribe(b"\0" * 320)
        assert err.value.code == "engine_restarting"
        for _ in range(50):
            if not stt.supervisor.health.restarting:
                break
            await asyncio.sleep(0.05)
        assert inner.loads == 1 and stt.supervisor.health.restarts == 1
        # later calls work, although the hung thread is still stuck in the old pool
        assert (await stt.transcribe(b"\0" * 320)).text == "one"
        inner.release.set()
        h = stt.supervisor.health
        assert (h.timeouts, h.failures, h.abandoned) == (1, 1, 1)

    asyncio.run(main())


def test_a_crash_is_one_failed_call() -> None:
    async def main() -> None:
        stt = SupervisedSTT(Flaky(fail_at=0), timeout_s=1.0)
        stt.supervisor.restart_backoff_s = 0.0
        with pytest.raises(EngineError) as err:
            await stt.transcribe(b"\0" * 320)
        assert err.value.code == "engine_failed"
        while stt.supervisor.health.restarting:
            await asyncio.sleep(0.01)
        assert (await stt.transcribe(b"\0" * 320)).text == "one"

    asyncio.run(main())


def test_a_hung_engine_thread_does_not_keep_the_process_alive(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A stopped SIP worker must exit although a TTS call is still stuck (daemon threads)."""
    import subprocess
    import sys

    code = (
        "import asyncio, time\n"
        "from appliance.engines.supervised import Supervisor\n"
        "class E:\n"
        "    def load(self): pass\n"
        "async def main():\n"
        "    s = Supervisor('tts', E(), timeout_s=0.1)\n"
        "    try:\n"
        "        await s.call(time.sleep, 60)\n"
        "    except Exception as exc:\n"
        "        print(type(exc).__name__)\n"
        "asyncio.run(main())\n"
    )
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "EngineError" in proc.stdout, proc.stderr
    assert time.monotonic() - t0 < 15
