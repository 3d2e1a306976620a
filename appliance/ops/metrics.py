"""Serving the metrics (``appliance.core.metrics``) on ``metrics.host:metrics.port``.

prometheus_client's own HTTP server runs in a thread of its own, so a scrape never waits for the
event loop. Two values are read at scrape time: the callback queue (open tickets and the age of
the oldest, from the SQLite file through a read-only connection; never the writer) and whether
the brain is degraded. Degraded *seconds* are counted by the daemon's loop heartbeat
(:meth:`MetricsServer.tick`). With ``sip.workers > 1`` the calls are counted in the SIP worker
processes (prometheus_client's multiprocess files, ``core.metrics.workers_dir``): a scrape adds
them to the daemon's own samples, so one endpoint still tells the whole box.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler

import sqlean
from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from appliance.core import metrics
from appliance.core.config import Config

log = logging.getLogger("appliance.ops.metrics")


def callback_queue(db_path: Path) -> tuple[int, float]:
    """(open callback tickets, age in seconds of the oldest one) from the database file."""
    if not db_path.exists():
        return 0, 0.0
    # the store's own SQLite (sqlean), never a second copy of the library in this process: two
    # copies share no POSIX locks on the WAL index, and this reader then saw a stale database
    conn = sqlean.connect(f"file:{db_path}?mode=ro", uri=True, timeout=2)
    try:
        n, oldest = conn.execute(
            "SELECT count(*), min(created_at) FROM callback_tickets WHERE status = 'open'"
        ).fetchone()
    finally:
        conn.close()
    if not n or not oldest:
        return int(n or 0), 0.0
    created = dt.datetime.fromisoformat(str(oldest))
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return int(n), max(0.0, (dt.datetime.now(dt.UTC) - created).total_seconds())


class _QueueCollector(Collector):
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            n, age = callback_queue(self.db_path)
        except sqlean.Error as exc:
            log.warning("metrics: cannot read the callback queue: %s", exc)
            return
        yield GaugeMetricFamily("appliance_callback_queue_length", "open callback tickets", value=n)
        yield GaugeMetricFamily(
            "appliance_callback_queue_oldest_age_seconds", "age of the oldest open callback ticket", value=age
        )


class _WithWorkers(Collector):
    """The daemon's registry plus what its SIP workers counted: samples of the same name and labels
    are added up (counters, histogram buckets, live gauges); ``_created`` keeps the earliest."""

    def __init__(self, workers_dir: Path) -> None:
        self.workers_dir = workers_dir

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {f.name: f for f in REGISTRY.collect()}
        for fam in self._workers():
            own = families.get(fam.name)
            if own is None:
                families[fam.name] = fam
                continue
            merged = {(x.name, tuple(sorted(x.labels.items()))): x for x in own.samples}
            for x in fam.samples:
                key = (x.name, tuple(sorted(x.labels.items())))
                have = merged.get(key)
                if have is None:
                    merged[key] = x
                else:
                    value = min(have.value, x.value) if x.name.endswith("_created") else have.value + x.value
                    merged[key] = have._replace(value=value)
            out = Metric(own.name, own.documentation, own.type, own.unit)
            out.samples = list(merged.values())
            families[fam.name] = out
        yield from families.values()

    def _workers(self) -> list[Metric]:
        if not self.workers_dir.is_dir() or not any(self.workers_dir.glob("*.db")):
            return []
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry, path=str(self.workers_dir))
        try:
            return list(registry.collect())
        except (OSError, ValueError) as exc:  # a worker's file half written as it started: next scrape
            log.warning("metrics: cannot read the SIP workers' counts: %s", exc)
            return []


def served_registry(workers_dir: Path | None) -> Any:
    """What a scrape reads: the default registry, plus the SIP workers' counts when there are any."""
    if workers_dir is None:
        return REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_WithWorkers(workers_dir))
    return registry


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


class _Server(ThreadingWSGIServer):
    """prometheus_client's threading WSGI server, minus the reverse DNS lookup (``socket.getfqdn``)
    that ``HTTPServer.server_bind`` makes of the listening address: nothing may leave the box."""

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()


def serve(host: str, port: int, registry: Any = REGISTRY) -> _Server:
    """Serve ``registry`` on ``host:port`` (an IP address; a name is resolved once) in a thread."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    class Server(_Server):
        address_family = family

    httpd = Server((host, port), _QuietHandler)
    httpd.set_app(make_wsgi_app(registry))
    threading.Thread(target=httpd.serve_forever, name="metrics-http", daemon=True).start()
    return httpd


class MetricsServer:
    """The /metrics endpoint of one daemon."""

    def __init__(self, cfg: Config, degraded: Callable[[], bool]) -> None:
        self.cfg = cfg
        self.degraded = degraded
        self.port: int | None = None
        self._server: Any = None
        self._collector = _QueueCollector(cfg.db_path)

    def start(self) -> int:
        REGISTRY.register(self._collector)
        metrics.DEGRADED.set_function(lambda: 1.0 if self.degraded() else 0.0)
        workers = metrics.workers_dir(self.cfg.data_path) if self.cfg.sip.workers > 1 else None
        self._server = serve(self.cfg.metrics.host, self.cfg.metrics.port, served_registry(workers))
        self.port = int(self._server.server_port)
        log.info("metrics on http://%s:%d/metrics", self.cfg.metrics.host, self.port)
        return self.port

    def tick(self, elapsed_s: float) -> None:
        """Called by the loop heartbeat: count degraded time."""
        if self.degraded():
            metrics.DEGRADED_SECONDS.inc(elapsed_s)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        try:
            REGISTRY.unregister(self._collector)
        except KeyError:
            pass
