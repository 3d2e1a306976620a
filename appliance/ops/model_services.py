"""The daemon's side of the shared model services: start them, restart them, hand out their addresses.

With ``services`` active (``auto``: whenever the daemon runs SIP; ``on``: always) the daemon starts,
before the brain and the SIP channel (or its workers):

* ``stt``: ``python -m appliance.engines.service stt`` on ``<run dir>/stt.sock`` (batched Whisper);
* ``tts``: the same for TTS on ``tts.sock``;
* ``llm``: one ``python -m llama_cpp.server`` on 127.0.0.1 serving the configured GGUF, when the
  LLM is on (``llm.mode`` auto/process/thread and the model is installed) and shared
  (``sip.workers > 1`` or ``services.mode = "on"``); the daemon's brain and every SIP worker then
  use it in ``llm.mode = "server"`` (engines/llm_server.py). With one SIP process under ``auto`` the
  LLM stays in the brain's own supervised worker process (engines/llm.py, already out of process;
  the server would add its start and memory for nothing: docs/CAPACITY.md).

Each is a :class:`Supervised` child: when it exits it is started again after a backoff (1 s,
doubling to 30 s, back to 1 s after a minute of uptime); the clients find it again on their own.
One that does not come up at start does not stop the daemon: it keeps being retried, and until
then calls get the keypad menu (STT/TTS) or the rules path (LLM), as with a missing local model.
Each child is started with ``PR_SET_PDEATHSIG`` (SIGKILL) set before it execs, so none outlives a
SIGKILLed daemon (systemd would then start a second set beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from appliance.core.config import Config
from appliance.core.errors import ApplianceError

log = logging.getLogger("appliance.services")

READY_TIMEOUT_S = 120.0
StateSink = Callable[[str, bool, "int | str | None"], None]  # (service name, up, exit status)
MAX_SOCKET_PATH = 100
# runs as `python -c LAUNCH -m module args...`: die with the parent, then become the service
_LAUNCH = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"
    "os.getppid() == int(os.environ.pop('APPLIANCE_PARENT_PID', '0')) or os._exit(1)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Supervised:
    """One service process kept running: start, wait until ready, restart with backoff when it exits."""

    def __init__(
        self, name: str, argv: list[str], *, ready: Any, log_path: Path, on_state: StateSink | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.ready_check = ready  # async () -> bool: the service answers
        self.log_path = log_path
        self.on_state = on_state  # (name, up, exit status): it died (restarting), or is back after that
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.started = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        self._task = loop.create_task(self._supervise())
        await asyncio.wait_for(asyncio.shield(self._first), READY_TIMEOUT_S)

    async def _spawn(self) -> asyncio.subprocess.Process:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["APPLIANCE_PARENT_PID"] = str(os.getpid())
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [self.argv[0], "-c", _LAUNCH, *self.argv[1:]]
        with open(self.log_path, "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, env=env
            )
        self.started += 1
        return proc

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while loop.time() < deadline and proc.returncode is None:
            if await self.ready_check():
                return True
            await asyncio.sleep(0.2)
        return False

    async def _supervise(self) -> None:
        backoff = 1.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            started = loop.time()
            rc: int | str
            try:
                self.proc = proc = await self._spawn()
                ok = await self._wait_ready(proc)
                if ok:
                    log.info("%s service ready (pid %d)", self.name, proc.pid)
                    if self.restarts:
                        self._tell(True, None)
                    if self._first is not None and not self._first.done():
                        self._first.set_result(None)
                elif proc.returncode is None:
                    proc.kill()
                rc = await proc.wait()
            except Exception as exc:  # noqa: BLE001 - try again after the backoff
                log.exception("%s service could not be started", self.name)
                rc = str(exc)
            if self._stopping:
                return
            if self._first is not None and not self._first.done():  # start() reports it; we keep trying
                self._first.set_exception(ApplianceError(f"the {self.name} service did not start (exit {rc}); see "
                                                         f"{self.log_path}", code="service_start"))  # fmt: skip
            if loop.time() - started > 60:
                backoff = 1.0
            self.restarts += 1
            log.error("%s service exited (%s); restarting in %.0f s", self.name, rc, backoff)
            self._tell(False, rc)
            await asyncio.sleep(backoff)
            backoff = min(30.0, backoff * 2)

    def _tell(self, up: bool, status: int | str | None) -> None:
        if self.on_state is None:
            return
        try:
            self.on_state(self.name, up, status)
        except Exception:  # noqa: BLE001 - a broken listener must not stop the supervision
            log.exception("service state listener failed")

    async def stop(self) -> None:
        self._stopping = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def _socket_ready(path: Path) -> Any:
    async def check() -> bool:
        from appliance.engines.service.client import ServiceConnection

        conn = ServiceConnection(path, name=path.stem)
        try:
            load = await asyncio.to_thread(conn.status)
        except ApplianceError:
            return False
        return load.ready or bool(load.error)  # up; without a model it says so to every client

    return check


def _http_ready(port: int) -> Any:
    async def check() -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        try:
            writer.write(b"GET /v1/models HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 5)
            return b" 200 " in status
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()

    return check


def shared_llm_model(cfg: Config) -> Path | None:
    """The GGUF the shared LLM server serves: the one the in-process engine would load, or None
    (the LLM off, already a server, or not installed)."""
    if cfg.llm.mode in ("off", "server"):
        return None
    from appliance.core.errors import EngineUnavailable
    from appliance.engines.manifest import models_dir, resolve_model_ref

    try:
        return resolve_model_ref(cfg.llm.model or "llm", dest=models_dir(cfg))
    except (EngineUnavailable, KeyError, ValueError) as exc:
        log.warning("no LLM for the shared server (%s): the rules path serves", exc)
        return None


class ServicesCollector(Collector):
    """Prometheus metrics of the services, read at scrape time (in the metrics server's thread)
    from each service's ``status`` answer and the supervisor's restart count."""

    def __init__(self, services: ModelServices) -> None:
        self.services = services

    def describe(self) -> Iterable[Metric]:
        return []  # unchecked collector: its families depend on what is running

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from appliance.engines.service.client import ServiceConnection

        labels = ["service"]
        up = GaugeMetricFamily("appliance_model_service_up", "1 when the model service answers ready", labels=labels)
        queued = GaugeMetricFamily("appliance_model_service_queue_length", "requests waiting", labels=labels)
        delay = GaugeMetricFamily("appliance_model_service_queue_seconds",
                                  "queueing delay over its last 1000 requests", labels=["service", "quantile"])  # fmt: skip
        batch = GaugeMetricFamily("appliance_model_service_batch_size_mean", "requests per model call", labels=labels)
        requests = CounterMetricFamily("appliance_model_service_requests", "requests served", labels=labels)
        failures = CounterMetricFamily("appliance_model_service_failures", "requests failed", labels=labels)
        shed = CounterMetricFamily("appliance_model_service_shed", "requests dropped: their caller gave up",
                                   labels=labels)  # fmt: skip
        restarts = CounterMetricFamily("appliance_model_service_restarts", "service process restarts", labels=labels)
        for name, child in self.services.children.items():
            restarts.add_metric([name], child.restarts)
            sock = self.services.sockets.get(name)
            if sock is None:  # the LLM server: up when its process runs
                up.add_metric([name], 1.0 if child.pid is not None else 0.0)
                continue
            try:
                load = ServiceConnection(sock, name=name).status(timeout_s=1.0)
            except ApplianceError:
                up.add_metric([name], 0.0)
                continue
            up.add_metric([name], 1.0 if load.ready else 0.0)
            queued.add_metric([name], load.queue_length)
            for q, ms in (("0.5", load.queue_ms_p50), ("0.95", load.queue_ms_p95), ("1", load.queue_ms_max)):
                delay.add_metric([name, q], ms / 1000)
            batch.add_metric([name], load.requests / load.batches if load.batches else 0.0)
            requests.add_metric([name], load.requests)
            failures.add_metric([name], load.failures)
            shed.add_metric([name], load.shed)
        yield from (up, queued, delay, batch, requests, failures, shed, restarts)


class ModelServices:
    """STT, TTS (and the LLM server) for every process of this box; :meth:`start` returns the config
    the daemon's brain and the SIP workers run with (services on, the LLM through the server)."""

    def __init__(self, cfg: Config, *, python: str = sys.executable, on_state: StateSink | None = None) -> None:
        self.cfg = cfg
        self.python = python
        self.on_state = on_state  # each service's death and return (the daemon tells staff)
        self.children: dict[str, Supervised] = {}
        self.config_file = cfg.data_path / "model-services-config.json"
        self._temp_run: Path | None = None  # a short socket folder when the data folder's path is too long
        self.sockets: dict[str, Path] = {}
        self.collector = ServicesCollector(self)

    async def start(self) -> Config:
        cfg = self.cfg
        cfg.data_path.mkdir(parents=True, exist_ok=True)
        run = cfg.services_path
        data = cfg.model_dump(mode="json")
        data["services"]["mode"] = "on"
        if len(str(run / "stt.sock")) > MAX_SOCKET_PATH:  # AF_UNIX paths hold 107 bytes
            import tempfile

            run = self._temp_run = Path(tempfile.mkdtemp(prefix="appliance-run-"))
            data["services"]["socket_dir"] = str(run)
            log.warning("services: %s is too long for a Unix socket; using %s", cfg.services_path, run)
        run.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(run, 0o700)
        logs = cfg.data_path / "logs"
        gguf = shared_llm_model(cfg) if cfg.services.shared_llm(cfg.sip.workers) else None
        if gguf is not None:
            port = cfg.services.llm_port or _free_port()
            argv = [self.python, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port",
                    str(port), "--n_ctx", str(cfg.llm.context), "--n_threads", str(cfg.llm.threads),
                    "--verbose", "False"]  # llama.cpp's per-request debug lines: not in the log  # fmt: skip
            self.children["llm"] = Supervised(
                "llm", argv, ready=_http_ready(port), log_path=logs / "llm-server.log", on_state=self.on_state
            )
            data["llm"].update(mode="server", base_url=f"http://127.0.0.1:{port}/v1", model="")
        served = Config.model_validate(data)
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds secrets
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        for name in ("stt", "tts"):
            sock = self.sockets[name] = run / f"{name}.sock"
            argv = [self.python, "-m", "appliance.engines.service", name, "--config", str(self.config_file),
                    "--socket", str(sock)]  # fmt: skip
            self.children[name] = Supervised(
                name, argv, ready=_socket_ready(sock), log_path=logs / f"{name}-service.log", on_state=self.on_state
            )
        started = await asyncio.gather(*(child.start() for child in self.children.values()), return_exceptions=True)
        for name, result in zip(self.children, started, strict=True):
            if isinstance(result, asyncio.CancelledError):
                await self.stop()
                raise result
            if isinstance(result, BaseException):  # kept trying in the background, as after a crash
                log.error("the %s service did not start (%s): degraded until it does (STT/TTS: the keypad "
                          "menu; LLM: the rules path)", name, result)  # fmt: skip
        log.info("model services: %s", ", ".join(f"{n} pid {c.pid}" for n, c in self.children.items()))
        from prometheus_client import REGISTRY

        REGISTRY.register(self.collector)  # served by the daemon's /metrics
        return served

    def closing(self) -> None:
        """The daemon is stopping: a service that exits from now on (systemd's SIGTERM reaches
        every process of the unit at once) is not restarted, and its exit is no failure."""
        for child in self.children.values():
            child._stopping = True

    async def stop(self) -> None:
        from prometheus_client import REGISTRY

        with contextlib.suppress(KeyError):
            REGISTRY.unregister(self.collector)
        await asyncio.gather(*(child.stop() for child in self.children.values()), return_exceptions=True)
        if self._temp_run is not None:
            import shutil

            shutil.rmtree(self._temp_run, ignore_errors=True)

    def snapshot(self) -> dict[str, Any]:
        return {n: {"pid": c.pid, "restarts": c.restarts} for n, c in self.children.items()}
