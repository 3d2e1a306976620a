"""The pjsua2 Endpoint, owned by one thread ("sip-endpoint").
(~510 lines: everything that must run on the pjsua2 thread stays in this one module.)

pjsua2 runs with no worker threads of its own (``threadCnt = 0``): this thread polls
``libHandleEvents`` and, between polls, runs jobs the asyncio side submits (:meth:`run`) and
its own timers (re-registration backoff). So every SIP callback runs here and reaches asyncio
only through ``loop.call_soon_threadsafe``; the only other thread inside pjsua2 is pjmedia's
clock thread, which calls the media ports (they only copy bytes).

Inbound policy, decided here before anything else sees the call: a source address not in
``allowed_sources`` (or a registrar of ours) gets 403; above ``max_calls`` a call gets 486, or,
with ``over_capacity = "callback"``, is answered as an *overflow* call (a short busy prompt and a
callback ticket) up to ``overflow_calls`` more. Accepted calls get 180 at once; the service
answers after ``answer_delay_s``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.channels.sip.call import CallHandle
from appliance.channels.sip.digest import AuthResult, DigestAuthenticator
from appliance.channels.sip.sipmsg import SourceFilter, called_from_invite, caller_id_from_invite, header, host_of
from appliance.core import metrics
from appliance.core.config import SipAccount, SipConfig
from appliance.core.errors import EngineUnavailable
from appliance.core.logs import pii

log = logging.getLogger("appliance.sip")

CODEC_PRIORITY = ("G722/16000", "PCMU/8000", "PCMA/8000")
# pjsua2-python 2.15.1.post1 is compiled with PJSUA_MAX_CALLS = 4: pjsua answers a 5th concurrent call
# with 486 itself, and a larger uaConfig.maxCalls corrupts its call table. See docs/SIP.md.
PJSUA_MAX_CALLS = 4
INSTALL_HINT = "pip install 'pjsua2-python==2.15.1.post1'"


@dataclass(frozen=True, slots=True)
class RegistrationState:
    account: str
    registered: bool
    code: int
    next_retry_s: float | None = None


@dataclass
class EndpointStats:
    rejected_source: int = 0
    rejected_auth: int = 0
    challenged: int = 0
    rejected_busy: int = 0
    overflow: int = 0
    accepted: int = 0
    registrations: dict[str, RegistrationState] = field(default_factory=dict)


def _import_pj() -> Any:
    try:
        import pjsua2  # noqa: F401

        from appliance.channels.sip import pjobjects
    except ImportError as exc:
        raise EngineUnavailable(f"the SIP channel needs pjsua2: {exc}", install_hint=INSTALL_HINT) from exc
    return pjobjects


class SipEndpoint:
    def __init__(
        self,
        config: SipConfig,
        *,
        on_call: Callable[[CallHandle], Any],
        loop: asyncio.AbstractEventLoop | None = None,
        overflow_calls: int = 2,
        log_level: int = 1,
        behind_proxy: bool = False,
    ) -> None:
        self.config = config
        # A worker behind our own SIP proxy (sip.workers > 1, proxy.py): the proxy has checked the
        # source already and names the caller's real address (and an overflow call) in X-Appliance-*.
        self.behind_proxy = behind_proxy
        self.on_call = on_call
        self.loop = loop
        # Lines: at most what pjsua can hold; overflow ("all lines busy" + callback) takes what is left.
        self.max_calls = min(config.max_calls, PJSUA_MAX_CALLS)
        wanted = overflow_calls if config.over_capacity == "callback" else 0
        self.overflow_calls = max(0, min(wanted, PJSUA_MAX_CALLS - self.max_calls))
        if config.max_calls > PJSUA_MAX_CALLS:
            log.warning(
                "sip.max_calls = %d, but this pjsua2 build handles %d calls per process: using %d",
                config.max_calls, PJSUA_MAX_CALLS, self.max_calls,
            )  # fmt: skip
        self.auth = (
            DigestAuthenticator({c.username: c.password for c in config.inbound_auth}, realm=config.auth_realm)
            if config.inbound_auth
            else None
        )
        self.log_level = log_level
        self.sources = SourceFilter(list(config.allowed_sources))
        self.stats = EndpointStats()
        self.ports: dict[str, int] = {}
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = 0
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._calls: dict[int, Any] = {}  # call id -> PjCall (keeps the Python object alive)
        self._active: set[int] = set()  # accepted, non-overflow calls
        self._overflow: set[int] = set()
        self._reap: list[Any] = []
        self.media_ports: Any = None  # pjobjects.MediaPortPool, once the endpoint thread runs
        self._accounts: list[Any] = []
        self._backoff: dict[str, float] = {}
        self.ep: Any = None
        # SIP MESSAGE (RFC 3428) in: (from URI, content type, body, source) on the loop (channels/sms/sip.py)
        # a SIP MESSAGE: (from URI, to URI, account name, content type, body, source address)
        self.on_message: Callable[[str, str, str, str, str, str], Any] | None = None

    # ------------------------------------------------------------------ lifecycle (asyncio)

    async def start(self) -> dict[str, int]:
        self.loop = self.loop or asyncio.get_running_loop()
        pjobjects = _import_pj()
        ready: concurrent.futures.Future[dict[str, int]] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, args=(pjobjects, ready), name="sip-endpoint", daemon=True)
        self._thread.start()
        self.ports = await asyncio.wrap_future(ready)
        return self.ports

    async def stop(self, timeout_s: float = 5.0) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        await asyncio.to_thread(self._thread.join, timeout_s)
        if self._thread.is_alive():
            log.error("the SIP endpoint thread did not stop in %.0f s", timeout_s)
        self._thread = None

    def run_sync(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self._thread is None or self._stopping.is_set():
            fut.set_exception(RuntimeError("the SIP endpoint is not running"))
            return fut
        self._jobs.put((fn, fut))
        return fut

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the endpoint thread (the one place pjsua2 is called from)."""
        return await asyncio.wrap_future(self.run_sync(fn))

    @property
    def active_calls(self) -> int:
        return len(self._active)

    # ------------------------------------------------------------------ endpoint thread

    def _main(self, pjobjects: Any, ready: concurrent.futures.Future[dict[str, int]]) -> None:
        self._pjo = pjobjects
        self.media_ports = pjobjects.MediaPortPool()  # created on this thread; see pjobjects.py
        try:
            ports = self._init()
        except BaseException as exc:  # noqa: BLE001 - report start failures to the awaiting side
            log.error("SIP endpoint failed to start: %s", _pj_error_text(exc))
            self._destroy()
            ready.set_exception(EngineUnavailable(f"SIP endpoint failed to start: {_pj_error_text(exc)}"))
            return
        ready.set_result(ports)
        try:
            while not self._stopping.is_set():
                self.ep.libHandleEvents(10)
                self._run_jobs()
                self._run_timers()
                self._reap.clear()
        except BaseException:  # noqa: BLE001
            log.exception("SIP endpoint loop crashed")
        finally:
            self._shutdown()

    def _init(self) -> dict[str, int]:
        import pjsua2 as pj

        cfg = self.config
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0
        ep_cfg.uaConfig.mainThreadOnly = False
        ep_cfg.uaConfig.maxCalls = self.max_calls + self.overflow_calls
        ep_cfg.uaConfig.userAgent = "appliance-receptionist"
        ep_cfg.logConfig.level = self.log_level
        ep_cfg.logConfig.consoleLevel = self.log_level
        ep_cfg.medConfig.clockRate = 16000
        ep_cfg.medConfig.sndClockRate = 16000
        ep_cfg.medConfig.channelCount = 1
        ep_cfg.medConfig.noVad = True
        ep_cfg.medConfig.ecTailLen = 0
        ep_cfg.medConfig.maxMediaPorts = max(64, 4 * (self.max_calls + self.overflow_calls) + 8)
        self.ep.libInit(ep_cfg)
        self.ep.audDevManager().setNullDev()

        ports: dict[str, int] = {}
        for kind, port, ttype in (
            ("udp", cfg.udp_port, pj.PJSIP_TRANSPORT_UDP),
            ("tcp", cfg.tcp_port, pj.PJSIP_TRANSPORT_TCP),
        ):
            tcfg = pj.TransportConfig()
            tcfg.port = port
            tcfg.boundAddress = cfg.host
            tid = self.ep.transportCreate(ttype, tcfg)
            ports[kind] = int(self.ep.transportGetInfo(tid).localName.rpartition(":")[2])
        self.ep.libStart()
        self._set_codecs()

        # The local "trunk" account: direct calls from allowed sources (the default account).
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:appliance@{cfg.host}:{ports['udp']}"
        self._bind_media(acfg)
        trunk = self._pjo.PjAccount(self, "trunk", registrar=False)
        trunk.create(acfg, True)
        self._accounts.append(trunk)
        for account in cfg.accounts:
            if account.registrar:
                self._add_registered(account)
        log.info("SIP listening on %s udp:%d tcp:%d", cfg.host, ports["udp"], ports["tcp"])
        return ports

    def _set_codecs(self) -> None:
        for info in self.ep.codecEnum2():
            cid = info.codecId
            prio = 0
            for i, wanted in enumerate(CODEC_PRIORITY):
                if cid.lower().startswith(wanted.lower()):
                    prio = 255 - i
            self.ep.codecSetPriority(cid, prio)

    def _bind_media(self, acfg: Any) -> None:
        """RTP on the SIP address, not on every interface; this also spares pjsip the default-route
        probe (a UDP connect to 1.1.1.1) it makes per call to find an address for unbound RTP.
        Not behind the SIP proxy: a worker's SIP address may be loopback while callers send RTP to
        it directly from the network (sip.host = 0.0.0.0 with sip.workers > 1)."""
        if not self.behind_proxy and self.config.host not in ("", "0.0.0.0", "::"):
            acfg.mediaConfig.transportConfig.boundAddress = self.config.host

    def _add_registered(self, account: SipAccount) -> None:
        import pjsua2 as pj

        domain = account.domain or host_of(account.registrar.removeprefix("sip:").removeprefix("sips:"))
        registrar = account.registrar if account.registrar.startswith("sip") else f"sip:{account.registrar}"
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{account.username}@{domain}"
        acfg.regConfig.registrarUri = registrar
        acfg.regConfig.retryIntervalSec = 0  # we retry ourselves, with backoff
        acfg.regConfig.timeoutSec = 300
        cred = pj.AuthCredInfo("digest", "*", account.username, 0, account.password)
        acfg.sipConfig.authCreds.append(cred)
        self._bind_media(acfg)
        acc = self._pjo.PjAccount(self, account.id, registrar=True)
        acc.create(acfg)
        self._accounts.append(acc)
        host = host_of(registrar.split(":", 1)[1].split(";")[0])
        try:
            for info in socket.getaddrinfo(host, None):
                self.sources.add(str(info[4][0]))
        except OSError:
            log.warning("cannot resolve registrar host %s", host)

    def _run_jobs(self) -> None:
        while True:
            try:
                fn, fut = self._jobs.get_nowait()
            except queue.Empty:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001
                fut.set_exception(exc)

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            try:
                fn()
            except Exception:  # noqa: BLE001
                log.exception("SIP timer failed")

    def _later(self, delay_s: float, fn: Callable[[], None]) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (time.monotonic() + delay_s, self._timer_seq, fn))

    def _shutdown(self) -> None:
        try:
            self.ep.hangupAllCalls()
            t_end = time.monotonic() + 1.0
            while time.monotonic() < t_end and self._calls:
                self.ep.libHandleEvents(20)
        except Exception:  # noqa: BLE001
            log.debug("hangup at shutdown failed", exc_info=True)
        self._destroy()
        self._fail_pending_jobs()

    def _destroy(self) -> None:
        for acc in self._accounts:
            try:
                acc.shutdown()
            except Exception:  # noqa: BLE001
                pass
        self._accounts.clear()
        for call in list(self._calls.values()) + self._reap:
            call._disconnect_media()
            if call.handle is not None:
                call.handle._pj = None
            call.handle = None
        self._calls.clear()
        self._reap.clear()
        if self.media_ports is not None:
            self.media_ports.close()
        import gc

        gc.collect()
        if self.ep is not None:
            try:
                self.ep.libDestroy()
            except Exception:  # noqa: BLE001
                log.debug("libDestroy failed", exc_info=True)
            self.ep = None

    def _fail_pending_jobs(self) -> None:
        while True:
            try:
                _, fut = self._jobs.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                fut.set_exception(RuntimeError("the SIP endpoint stopped"))

    # ------------------------------------------------------------------ callbacks (endpoint thread)

    def incoming(self, account: Any, prm: Any) -> None:
        call = self._pjo.PjCall(self, account, prm.callId)
        self._calls[prm.callId] = call
        hop = source = prm.rdata.srcAddress
        msg = prm.rdata.wholeMsg
        caller = caller_id_from_invite(msg)
        if self.behind_proxy:
            source = header(msg, "x-appliance-source") or hop
        if not self.sources.allows(hop):
            self.stats.rejected_source += 1
            log.warning("SIP: rejected a call from %s (not an allowed source), caller %s", source, pii(caller))
            call.answer_with(403)
            return
        if self.auth is not None and not self._authenticated(call, msg, source, caller):
            return
        overflow = False
        if self.behind_proxy and header(msg, "x-appliance-overflow"):
            overflow = True  # the proxy found every line of every worker busy
            if len(self._overflow) >= self.overflow_calls:
                self.stats.rejected_busy += 1
                call.answer_with(486)
                return
        elif len(self._active) >= self.max_calls:
            if len(self._overflow) >= self.overflow_calls:
                self.stats.rejected_busy += 1
                log.warning("SIP: all %d lines busy, 486 to %s", self.max_calls, pii(caller))
                call.answer_with(486)
                return
            overflow = True
        loop = self.loop
        assert loop is not None, "calls only arrive after start()"
        info = call.getInfo()
        handle = CallHandle(
            self,
            call_id=prm.callId,
            sip_call_id=info.callIdString,
            caller_id=caller,
            remote_uri=info.remoteUri,
            source=source,
            account=account.name,
            loop=loop,
            overflow=overflow,
            called=called_from_invite(msg),
        )
        call.handle = handle
        handle._pj = call
        (self._overflow if overflow else self._active).add(prm.callId)
        if overflow:
            self.stats.overflow += 1
        else:
            self.stats.accepted += 1
        call.answer_with(180)
        loop.call_soon_threadsafe(self.on_call, handle)

    def _authenticated(self, call: Any, msg: str, source: str, caller: str | None) -> bool:
        """Digest auth of an INVITE: 401 with a challenge without (or with stale) credentials, 403 with
        wrong ones. Each retry after a 401 is a new INVITE, so a new incoming call here."""
        assert self.auth is not None
        verdict = self.auth.verify("INVITE", header(msg, "authorization", "proxy-authorization"))
        if verdict.result is AuthResult.OK:
            return True
        if verdict.result is AuthResult.BAD:
            self.stats.rejected_auth += 1
            log.warning("SIP: rejected a call from %s (bad credentials for %r), caller %s", source, verdict.username,
                        pii(caller))  # fmt: skip
            call.answer_with(403)
            return False
        self.stats.challenged += 1
        stale = verdict.result is AuthResult.STALE
        call.answer_with(401, {"WWW-Authenticate": self.auth.challenge(stale=stale)})
        return False

    def instant_message(self, account: Any, prm: Any) -> None:
        """A SIP MESSAGE outside a call (pjsua has answered it 200): to the SMS channel, when it
        listens and the message comes from an allowed source."""
        source = prm.rdata.srcAddress
        if self.on_message is None or not self.sources.allows(source):
            log.warning("SIP MESSAGE from %s (%s) dropped: %s", prm.fromUri, source,
                        "not an allowed source" if self.on_message else "no SMS channel")  # fmt: skip
            return
        assert self.loop is not None
        self.loop.call_soon_threadsafe(
            self.on_message, prm.fromUri, prm.toUri, account.name, prm.contentType, prm.msgBody, source
        )

    def place_call(self, uri: str, account: str = "") -> CallHandle:
        """Endpoint thread: an outbound INVITE to ``uri`` through the account named ``account``
        ("" or "trunk": the local trunk account; else a ``sip.accounts`` id). It takes a line like
        an inbound call; none free raises ``EngineUnavailable`` (call again later)."""
        import pjsua2 as pj

        acc = next((a for a in self._accounts if a.name == (account or "trunk")), None)
        if acc is None:
            raise EngineUnavailable(f"no SIP account {account!r} to call through")
        if len(self._active) >= self.max_calls:
            raise EngineUnavailable("all lines are busy")
        assert self.loop is not None
        call = self._pjo.PjCall(self, acc, pj.PJSUA_INVALID_ID)
        handle = CallHandle(self, call_id=-1, sip_call_id="", caller_id=None, remote_uri=uri, source="outbound",
                            account=acc.name, loop=self.loop)  # fmt: skip
        call.handle, handle._pj = handle, call
        call.makeCall(uri, pj.CallOpParam(True))
        info = call.getInfo()
        handle.call_id, handle.sip_call_id = info.id, info.callIdString
        self._calls[info.id] = call
        self._active.add(info.id)
        return handle

    @property
    def message_account(self) -> Any:
        """The account outbound SIP MESSAGEs are sent from (the local trunk account)."""
        return self._accounts[0]

    def account_named(self, name: str | None) -> Any:
        """The account a tenant's SIP MESSAGEs go out through (a ``sip.accounts`` id); the trunk
        account when ``name`` is None or no such account runs."""
        return next((a for a in self._accounts if a.name == name), self._accounts[0]) if name else self._accounts[0]

    def forget_call(self, call: Any) -> None:
        cid = call.handle.call_id if call.handle else None
        for cid_, c in list(self._calls.items()):
            if c is call:
                cid = cid_
                del self._calls[cid_]
        if call.handle is not None:
            call.handle._pj = None
        if cid is not None:
            self._active.discard(cid)
            self._overflow.discard(cid)
        self._reap.append(call)  # dropped after the callback returns

    def reg_state(self, account: Any, code: int, expiration: int) -> None:
        ok = 200 <= code < 300 and expiration > 0
        account.registered = ok
        account.last_code = code
        metrics.SIP_REGISTERED.labels(account.name).set(1 if ok else 0)
        if ok:
            self._backoff.pop(account.name, None)
            self.stats.registrations[account.name] = RegistrationState(account.name, True, code)
            log.info("SIP: account %s registered (%d)", account.name, code)
            return
        if self._stopping.is_set() or (200 <= code < 300 and expiration == 0):
            return
        delay = min(300.0, self._backoff.get(account.name, 2.5) * 2)
        self._backoff[account.name] = delay
        self.stats.registrations[account.name] = RegistrationState(account.name, False, code, delay)
        log.warning("SIP: account %s registration failed (%d); retrying in %.0f s", account.name, code, delay)

        def retry() -> None:
            if not self._stopping.is_set() and not account.registered:
                try:
                    account.setRegistration(True)
                except Exception as exc:  # noqa: BLE001
                    log.warning("SIP: re-register %s failed: %s", account.name, _pj_error_text(exc))
                    self.reg_state(account, 503, 0)

        self._later(delay, retry)


def _pj_error_text(exc: BaseException) -> str:
    info = getattr(exc, "info", None)
    if callable(info):
        try:
            return str(info())
        except Exception:  # noqa: BLE001
            pass
    return str(exc)
