"""The daemon: the one place that wires config, store, brain and channels.

``appliance run`` starts it. It opens the store (migrating it), builds the
brain, starts the web chat, the SIP endpoint and the local control API, and
stops cleanly on SIGTERM/SIGINT: channels first (no new conversations), then
the brain and the store, so no write is cut in half.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from typing import Any

from appliance.core.bus import EventBus, StaffDesk
from appliance.core.clock import Clock, system_clock
from appliance.core.config import Config
from appliance.core.errors import ApplianceError
from appliance.core.live import LiveBoard
from appliance.core.logs import setup_logging
from appliance.core.messages import Event, EventType, to_dict
from appliance.ops.runtime import DaemonOps, exit_after_stop, prepare_process

log = logging.getLogger("appliance.daemon")

# After the calls' own budget (sip.stop_timeout_s): the other channels, the brain and the store.
# Both together stay inside the systemd unit's TimeoutStopSec (tests/unit/test_stop_budget.py).
CLOSE_S = 5.0


class Daemon:
    def __init__(self, cfg: Config, clock: Clock = system_clock) -> None:
        self.cfg = cfg
        self.clock = clock  # the brain's (``appliance run --now``: a pinned date for tests and demos)
        self.exit_guard = False  # run_daemon: the process ends at most EXIT_GRACE_S after the stop
        self.bus = EventBus(cfg.api.client_queue)
        self.desk = StaffDesk(self.bus)  # chats staff took over, the AI pause switch
        self.brain: Any = None  # the default tenant's brain
        self.brains: Any = None  # appliance.brain.factory.TenantBrains: one brain per tenant
        self.web: Any = None
        self.api: Any = None
        self.sip: Any = None
        self.sms: Any = None  # appliance.channels.sms.SmsChannel (docs/SMS.md)
        self.autocall: Any = None  # appliance.channels.sip.autocall.AutoCallbacks (callbacks.auto)
        self.started_at = time.time()
        self.stopping = asyncio.Event()
        self.ops = DaemonOps(cfg, degraded=lambda: bool(self.brain is not None and self.brain.degraded))
        self._sweeper: asyncio.Task[None] | None = None
        self.control: Any = None  # the control API's view of the daemon (appliance.api.Control)
        self.privacy: Any = None  # appliance.privacy.job.PrivacyJob: pending erasures, retention
        self.services: Any = None  # appliance.ops.model_services.ModelServices (SIP on)

    async def start(self) -> None:
        from appliance.brain.factory import build_tenant_brains
        from appliance.brain.text import verbalize
        from appliance.brain.understanding import language

        cfg = self.cfg
        cfg.data_path.mkdir(parents=True, exist_ok=True)
        if cfg.services.active(cfg.sip.enabled):  # speech engines out of process, each model once per box
            from appliance.ops.model_services import ModelServices

            self.ops.status("starting the model services")
            self.services = ModelServices(cfg, on_state=self._service_state)
            self.cfg = cfg = await self.services.start()  # the LLM through the shared server
        self.ops.status("opening the store, loading the engines")
        warm = asyncio.gather(
            asyncio.to_thread(language.warm_up, tuple(cfg.tenant.languages)), asyncio.to_thread(verbalize.warm_up)
        )
        self.brains = await build_tenant_brains(cfg, on_event=self.bus.publish, clock=self.clock)
        self.brain = self.brains.default
        await warm
        llm = self.brain.understanding.llm
        if llm is not None:  # loaded before READY=1, not on the first caller's turn
            self.ops.status("loading the language model")
            try:
                await llm.load()
            except ApplianceError as exc:  # the rules path serves; the brain says it is in basic mode
                log.warning("language model not loaded at start: %s", exc.code)
        from appliance.privacy.job import PrivacyJob

        self.privacy = await PrivacyJob(cfg, self.brain.sessions.db).start()
        log.info(
            "store %s; llm %s; knowledge %s",
            cfg.db_path,
            self.brain.status().llm,
            self.brain.status().knowledge,
        )
        await self._start_api()
        await self._ticket_cut_calls()
        self.ops.start_metrics()
        if cfg.web.enabled:
            self.ops.status("starting the web chat")
            from appliance.channels.web.server import WebServer

            self.web = WebServer(self.brain, cfg, desk=self.desk, tenants=self.brains)
            try:
                await self.web.start()
            except OSError as exc:
                raise ApplianceError(
                    f"web chat cannot listen on {cfg.web.host}:{cfg.web.port}: {exc.strerror}",
                    code="port_in_use",
                ) from None
        if cfg.sip.enabled:
            self.ops.status("starting the SIP channel")
            await self._start_sip()
        if cfg.sms.enabled:
            self.ops.status("starting the SMS channel")
            await self._start_sms()
        log.info("appliance running (pid %d)", os.getpid())

    async def _start_api(self) -> None:
        """The staff console's control API (docs/CONSOLE.md) and the sweep that expires unapproved holds."""
        from appliance.api import ApiServer, Control
        from appliance.booking.approvals import Approvals
        from appliance.booking.local import LocalBackend
        from appliance.store.tickets import TicketDesk

        board = LiveBoard(self.bus)

        def control_of(brain: Any) -> Control:
            backend = brain.backend
            return Control(
                brain.config, self.bus, self.desk, board, brain, self.status,
                approvals=Approvals(backend) if isinstance(backend, LocalBackend) else None,
                tickets=TicketDesk(brain.sessions.db, tenant_id=brain.config.tenant.id),
            )  # fmt: skip

        control = control_of(self.brain)  # the default tenant's; ?tenant=ID picks another's
        control.tenants = {b.config.tenant.id: control_of(b) for b in self.brains if b is not self.brain}
        self.control = control
        self.api = ApiServer(control, self.cfg.api_socket)
        await self.api.start()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(control))

    async def _ticket_cut_calls(self, only: list[str] | None = None, source: str = "restart_recovery") -> None:
        """Before any call: the calls the last process never finished (SIGKILL, crash) get a
        callback ticket when a booking was under way (``brain/dialogue/cut_calls.py``); ``only``:
        just these sessions (a SIP worker died holding them, the daemon and other calls live on)."""
        from appliance.brain.dialogue.cut_calls import ticket_cut_calls

        tickets = []
        for brain in self.brains:  # each business's calls, in its own tenant's store scope
            try:
                tickets += await ticket_cut_calls(
                    brain.sessions, brain.callbacks, tenant_id=brain.config.tenant.id, clock=brain.clock,
                    only=only, source=source,
                )  # fmt: skip
            except Exception:  # noqa: BLE001 - the turns are stored; staff still find them in the sessions
                log.exception("could not check for calls cut by the last stop (%s)", brain.config.tenant.id)
        for t in tickets:
            self.bus.publish(Event(EventType.CALLBACK_REQUESTED, {"phone": t.phone, "reason": t.reason}, t.session_id))

    def _pause_workers(self, event: Event) -> None:
        """The staff paused the AI (or resumed it): the SIP workers' next calls follow at once (the
        loop's 2 s sweep is the backstop, for a worker that was restarting)."""
        from appliance.channels.sip.cluster import SipCluster

        if event.type is EventType.AI_PAUSED and isinstance(self.sip, SipCluster):
            self.sip.set_paused(bool(event.data.get("paused")))

    def _workers(self) -> list[dict[str, Any]]:
        """The SIP worker processes (``sip.workers > 1``): up or being restarted, restarts so far."""
        from appliance.channels.sip.cluster import SipCluster

        return list(self.sip.snapshot()["workers"]) if isinstance(self.sip, SipCluster) else []

    def _service_state(self, name: str, up: bool, status: Any) -> None:
        """A model service died (the calls in flight hear the apology; it is restarted) or is back."""
        data = {"component": f"{name}_service", "state": "up" if up else "down", "exit": status}
        self.bus.publish(Event(EventType.DEGRADED_OFF if up else EventType.DEGRADED, data))

    def _worker_state(self, index: int, up: bool, status: Any) -> None:
        """A SIP worker died (its calls are cut; it is restarted) or is back: staff see it."""
        data = {"component": "sip_worker", "worker": index, "state": "up" if up else "down", "exit": status}
        self.bus.publish(Event(EventType.DEGRADED_OFF if up else EventType.DEGRADED, data))

    async def _worker_calls_cut(self, index: int, session_ids: list[str]) -> None:
        """A SIP worker died holding these calls: they leave the live board as cut, and each
        booking under way gets its callback ticket now."""
        for sid in session_ids:
            self.bus.publish(Event(EventType.CALL_ENDED, {"outcome": "cut", "end_code": "sip_worker_died"}, sid))
        await self._ticket_cut_calls(only=session_ids, source=f"sip_worker_{index}_died")

    async def _sweep(self, control: Any) -> None:
        """Every 2 s: SIP registration and degraded-mode changes become events; every 30 s: holds
        expire and idle sessions leave the live board."""
        tick = 0
        last_reg: dict[str, Any] = {}
        degraded = False
        while True:
            await asyncio.sleep(2)
            tick += 1
            try:
                reg = self._registrations()
                if reg != last_reg:
                    last_reg = reg
                    state = "registered" if reg and all(r["registered"] for r in reg.values()) else "failed"
                    self.bus.publish(Event(EventType.SIP_REGISTRATION, {"state": state, "accounts": reg}))
                from appliance.channels.sip.cluster import SipCluster

                if isinstance(self.sip, SipCluster):  # the workers' new calls follow the staff's AI pause
                    self.sip.set_paused(self.desk.ai_paused)
                now_degraded = bool(self.brain.degraded)
                if now_degraded != degraded:  # the brain runs on rules only (no LLM) or is back
                    degraded = now_degraded
                    kind = EventType.DEGRADED if degraded else EventType.DEGRADED_OFF
                    self.bus.publish(Event(kind, {"component": "llm", "llm": self.brain.status().llm}))
                if tick % 15 == 0:
                    for each in (control, *control.tenants.values()):
                        if each.approvals is not None:
                            for b in await each.approvals.expire_due():
                                self.bus.publish(Event(EventType.BOOKING_EXPIRED, to_dict(b), b.session_id))
                    control.board.prune()
            except Exception:
                log.exception("the daemon's periodic sweep failed")

    def _registrations(self) -> dict[str, Any]:
        if self.sip is None:  # SIP off (or it failed to start): nothing to import
            return {}
        from appliance.channels.sip.service import SipService

        if not isinstance(self.sip, SipService):
            return {}
        return {name: to_dict(r) for name, r in dict(self.sip.endpoint.stats.registrations).items()}

    async def _start_sip(self) -> None:
        try:
            from appliance.channels.sip.service import SipEngines, SipService
        except ImportError as exc:
            log.error("SIP channel unavailable: %s", exc)
            return
        if self.cfg.sip.workers > 1:  # a SIP proxy and worker processes, each with its own engines
            from appliance.channels.sip.cluster import SipCluster

            try:
                self.sip = SipCluster(
                    self.cfg,
                    on_event=self.bus.publish,
                    on_calls_cut=self._worker_calls_cut,
                    on_worker=self._worker_state,
                )
                ports = await self.sip.start()
                for each in (self.control, *self.control.tenants.values()):
                    each.calls = self.sip  # the console's transfer and end keys, through the worker holding the call
                self.bus.listen(self._pause_workers)  # the staff's AI pause reaches the workers at once
                log.info("SIP on %s udp:%s (%d workers)", self.cfg.sip.host, ports.get("udp"), self.cfg.sip.workers)
            except (ApplianceError, OSError) as exc:
                log.error("SIP channel failed to start: %s", exc)
                self.sip = None
            if any(b.config.callbacks.auto for b in self.brains):
                log.error("automatic callbacks need sip.workers = 1: they are off")
            return
        from appliance.channels.sip.diarize_job import build_jobs
        from appliance.engines.factory import load_speech_engines

        stt, tts = await load_speech_engines(self.cfg)
        try:
            self.sip = SipService(
                self.cfg,
                self.brain,
                SipEngines(stt=stt, tts=tts),
                callbacks=self.brain.callbacks,
                on_event=self.bus.publish,
                ai_paused=lambda: self.desk.ai_paused,
                tenants=self.brains,
                diarization=build_jobs(self.cfg, self.brain.sessions.db),  # after recorded calls
            )
            ports = await self.sip.start()
            for each in (self.control, *self.control.tenants.values()):
                each.calls = self.sip  # the console's transfer and end keys
            log.info("SIP on %s udp:%s tcp:%s", self.cfg.sip.host, ports.get("udp"), ports.get("tcp"))
            self._start_autocall()
        except ApplianceError as exc:
            log.error("SIP channel failed to start: %s", exc)
            self.sip = None

    def _start_autocall(self) -> None:
        """Automatic outbound callbacks through this SIP service (``callbacks.auto``; docs/SMS.md):
        one round per tenant that has them on, each calling its own tickets through its view of
        the service (its brain, its calling hours and time zone)."""
        from appliance.channels.sip.autocall import TenantAutoCallbacks
        from appliance.channels.sip.service import SipService

        assert isinstance(self.sip, SipService)
        auto = TenantAutoCallbacks.build(self.sip, self.brains, on_event=self.bus.publish)
        if not auto.rounds:
            log.info("automatic callbacks are off (callbacks.auto)")
            return
        self.autocall = auto
        auto.start()

    async def _start_sms(self) -> None:
        from appliance.channels.sms import SmsChannel

        self.sms = SmsChannel(self.cfg, self.brain, desk=self.desk, tenants=self.brains)
        try:
            await self.sms.start(self.bus)
        except OSError as exc:
            raise ApplianceError(f"SMS channel cannot listen: {exc.strerror}", code="port_in_use") from None
        if "sip" in self.cfg.sms.transports:  # SIP MESSAGE on the one pjsua2 endpoint (sip.workers = 1)
            from appliance.channels.sip.service import SipService
            from appliance.channels.sms.sip import SipMessageTransport

            if isinstance(self.sip, SipService):
                await self.sms.add_transport(SipMessageTransport(self.sip.endpoint, self.cfg.sms))
            else:
                log.error("SMS over SIP MESSAGE needs the SIP channel running with sip.workers = 1")

    async def stop(self) -> None:
        """One deadline for the whole stop (not a timeout per part): the calls' goodbyes take
        ``sip.stop_timeout_s`` at most, everything else ``CLOSE_S``."""
        log.info("stopping")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.sip.stop_timeout_s + CLOSE_S
        if self._sweeper is not None:
            self._sweeper.cancel()
        for name in ("sms", "sip", "autocall", "web", "api"):  # sip first: a callback in progress hears the goodbye
            part = getattr(self, name)
            if part is not None:
                try:
                    await asyncio.wait_for(part.stop(), max(0.5, deadline - loop.time()))
                except Exception:
                    log.exception("stopping %s failed", name)
        if self.privacy is not None:
            await self.privacy.stop()
        if self.brains is not None:
            await self.brains.aclose()
        if self.services is not None:
            await self.services.stop()
        log.info("stopped")

    def status(self) -> dict[str, Any]:
        st = self.brain.status() if self.brain else None
        return {
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started_at, 1),
            "tenant": self.cfg.tenant.name,
            "web": {
                "enabled": self.web is not None,
                "host": self.cfg.web.host,
                "port": getattr(self.web, "port", None),
            },
            "sip": {
                "enabled": self.sip is not None,
                "ports": getattr(self.sip, "ports", {}),
                "registrations": self._registrations() if self.sip is not None else {},
                "workers": self._workers(),
            },
            "llm": st.llm if st else None,
            "services": self.services.snapshot() if self.services is not None else None,
            "knowledge": st.knowledge if st else None,
            "degraded": st.degraded if st else None,
            "ai_paused": self.desk.ai_paused,
            "recent_events": [to_dict(e) for e in list(self.bus.recent)[-20:]],
        }

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        self.ops.begin()
        try:
            await self.start()
            self.ops.ready(self._summary(), self._channels_down())
            print(
                f"READY web=http://{self.cfg.web.host}:{getattr(self.web, 'port', '-')}/", file=sys.stderr, flush=True
            )
            await self.stopping.wait()
        finally:
            self.ops.stopping()
            if self.services is not None:
                self.services.closing()
            await self.stop()
            await self.ops.close()
            if self.exit_guard:  # the process's own daemon: a task or thread outliving the stop cannot hold it
                exit_after_stop()

    def _channels_down(self) -> list[str]:
        wanted = {"web chat": (self.cfg.web.enabled, self.web), "SIP": (self.cfg.sip.enabled, self.sip)}
        return [name for name, (enabled, part) in wanted.items() if enabled and part is None]

    def _summary(self) -> str:
        parts = [f"web http://{self.cfg.web.host}:{self.web.port}/" if self.web is not None else ""]
        parts.append(f"SIP {self.cfg.sip.host} {self.sip.ports}" if self.sip is not None else "")
        if self.ops.metrics is not None and self.ops.metrics.port is not None:
            parts.append(f"metrics {self.cfg.metrics.host}:{self.ops.metrics.port}")
        return ", ".join(p for p in parts if p)


def run_daemon(cfg: Config, clock: Clock = system_clock) -> int:
    prepare_process()
    setup_logging(cfg)
    try:
        daemon = Daemon(cfg, clock)
        daemon.exit_guard = True
        asyncio.run(daemon.run())
    except ApplianceError as exc:
        log.error("%s", exc)
        return 1
    return 0
