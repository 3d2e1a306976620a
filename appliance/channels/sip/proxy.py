"""A small record-routing SIP proxy (UDP) that spreads calls over worker processes (``sip.workers > 1``).

Why: the pinned pjsua2 wheel holds at most 4 calls per process (``PJSUA_MAX_CALLS``), so more
concurrent calls need more processes; this proxy owns the public SIP address and gives each new
INVITE to the worker with the fewest calls (RFC 3261 section 16, "stateful by Call-ID": it keeps one
small record per dialog, not per transaction; the endpoints' transaction layers do retransmissions).

- Sources are checked here (workers only ever see the proxy's address): 403 otherwise.
- A new INVITE gets our Via (branch derived from the incoming one, so CANCEL and ACK of a failed
  INVITE match downstream), a Record-Route (``;lr``) so every in-dialog request passes here, and
  ``X-Appliance-Source`` naming the caller's real address; caller-supplied ``X-Appliance-*`` headers
  are removed. Above capacity: 486, or (``over_capacity = "callback"``) a worker's overflow slot,
  marked ``X-Appliance-Overflow``.
- In-dialog requests, ACK and CANCEL go to the dialog's worker by Call-ID; requests a worker sends
  (BYE, REFER, NOTIFY) go out by their Route / Request-URI; responses go back by popping our Via.
- OPTIONS is answered here. Garbage is logged and dropped. A dialog is forgotten shortly after its
  BYE or failed INVITE, after a worker exits, or after ``idle_timeout_s`` without any message.
RTP does not pass here: the SDP names the worker's own media port.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from appliance.channels.sip.proxymsg import (
    SipMessage,
    SipParseError,
    Via,
    derive_branch,
    response_to,
    uri_hostport,
    with_received,
)
from appliance.channels.sip.sipmsg import SourceFilter

log = logging.getLogger("appliance.sip.proxy")

LINGER_S = 32.0  # keep a finished dialog this long for retransmissions and ACKs (64*T1)


@dataclass
class Dialog:
    worker: int
    caller: tuple[str, int]
    invite_cseq: int
    holds: str | None  # "line", "overflow" or None (released)
    established: bool = False
    last: float = field(default_factory=time.monotonic)
    expires: float | None = None


@dataclass
class ProxyStats:
    received: int = 0
    forwarded: int = 0
    dropped: int = 0
    parse_errors: int = 0
    rejected_source: int = 0
    busy: int = 0
    overflow: int = 0
    calls: int = 0


class SipProxy(asyncio.DatagramProtocol):
    def __init__(
        self,
        *,
        host: str,
        port: int,
        allowed_sources: list[str],
        workers: int,
        lines_per_worker: int,
        max_lines: int,
        overflow_per_worker: int = 0,
        idle_timeout_s: float = 1020.0,
    ) -> None:
        self.host, self.port = host, port
        self.sources = SourceFilter(list(allowed_sources))
        self.workers: list[tuple[str, int] | None] = [None] * workers
        self.lines_per_worker = lines_per_worker
        self.max_lines = max_lines
        self.overflow_per_worker = overflow_per_worker
        self.idle_timeout_s = idle_timeout_s
        self.dialogs: dict[str, Dialog] = {}
        self.stats = ProxyStats()
        self.transport: asyncio.DatagramTransport | None = None
        self._salt = secrets.token_hex(8)
        self._tag = secrets.token_hex(6)
        self._sweeper: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, self.port))
        assert self.transport is not None
        self.port = int(self.transport.get_extra_info("sockname")[1])
        self._sweeper = loop.create_task(self._sweep_loop())
        log.info("SIP proxy on %s udp:%d for %d workers", self.host, self.port, len(self.workers))
        return self.port

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def worker_up(self, index: int, addr: tuple[str, int]) -> None:
        self.workers[index] = addr
        log.info("SIP proxy: worker %d at %s:%d", index, *addr)

    def worker_down(self, index: int) -> None:
        self.workers[index] = None
        lost = [cid for cid, d in self.dialogs.items() if d.worker == index]
        for cid in lost:
            del self.dialogs[cid]
        if lost:
            log.warning("SIP proxy: worker %d went away with %d dialogs", index, len(lost))

    # ------------------------------------------------------------------ capacity

    def load(self, index: int, kind: str = "line") -> int:
        return sum(1 for d in self.dialogs.values() if d.worker == index and d.holds == kind)

    @property
    def active_lines(self) -> int:
        return sum(1 for d in self.dialogs.values() if d.holds == "line")

    def _pick(self, prefer: int | None = None) -> tuple[int, str] | None:
        up = [i for i, w in enumerate(self.workers) if w is not None]
        if self.active_lines < self.max_lines:
            if prefer in up and self.load(prefer) < self.lines_per_worker:
                return prefer, "line"
            free = [i for i in up if self.load(i) < self.lines_per_worker]
            if free:
                return min(free, key=lambda i: (self.load(i), i)), "line"
        spare = [i for i in up if self.load(i, "overflow") < self.overflow_per_worker]
        if spare:
            return min(spare, key=lambda i: (self.load(i, "overflow"), i)), "overflow"
        return None

    # ------------------------------------------------------------------ datagrams

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.stats.received += 1
        addr = (addr[0], addr[1])
        if not data.strip():
            return  # keep-alive CRLF
        try:
            msg = SipMessage.parse(data)
            worker = self._worker_index(addr)
            if worker is not None:
                self._from_worker(msg, worker, addr)
            else:
                self._from_outside(msg, addr)
        except SipParseError as exc:
            self.stats.parse_errors += 1
            log.info("SIP proxy: dropped an unparsable message from %s:%d (%s)", addr[0], addr[1], exc)
        except Exception:  # noqa: BLE001 - never let one datagram take the proxy down
            self.stats.dropped += 1
            log.exception("SIP proxy: failed to handle a message from %s:%d", *addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP proxy socket error: %s", exc)

    def _worker_index(self, addr: tuple[str, int]) -> int | None:
        for i, w in enumerate(self.workers):
            if w is not None and w[1] == addr[1] and (w[0] == addr[0] or w[0] in ("0.0.0.0", "::")):
                return i
        return None

    def _send(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        if self.transport is None:
            return
        self.stats.forwarded += 1
        self.transport.sendto(msg.to_bytes(), addr)

    def _reply(self, req: SipMessage, addr: tuple[str, int], status: int, reason: str, **extra: str) -> None:
        if req.method == "ACK":
            return
        resp = response_to(req, status, reason, to_tag=self._tag, source=addr)
        for name, value in extra.items():
            resp.add(name.replace("_", "-"), value)
        self._send(resp, addr)

    def _push_via(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        """Stamp where the request came from on its top Via, then put ours on top."""
        top = msg.values("via")[0]
        branch = derive_branch(msg, Via.parse(top), self._salt)
        msg.set_first("via", with_received(top, addr[0], addr[1]))
        msg.push_first("Via", f"SIP/2.0/UDP {self._hostport()};branch={branch};rport")

    def _hostport(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def _is_us(self, value: str) -> bool:
        hp = uri_hostport(value)
        return hp is not None and hp[1] == self.port and hp[0] in (self.host, "127.0.0.1", "localhost", "0.0.0.0")

    def _pop_our_route(self, msg: SipMessage) -> None:
        routes = msg.values("route")
        if routes and self._is_us(routes[0]):
            msg.pop_first("route")

    def _max_forwards(self, msg: SipMessage, addr: tuple[str, int]) -> bool:
        mf = msg.get("max-forwards")
        n = int(mf) if mf and mf.strip().isdigit() else 70
        if n <= 0:
            self._reply(msg, addr, 483, "Too Many Hops")
            return False
        msg.remove("max-forwards")
        msg.push_first("Max-Forwards", str(n - 1))
        return True

    # ------------------------------------------------------------------ from callers (outside)

    def _from_outside(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        if not msg.is_request:
            self._response_from_outside(msg, addr)
            return
        if not self.sources.allows(f"{addr[0]}:{addr[1]}"):
            if msg.method == "ACK":
                return  # the ACK of our 403
            self.stats.rejected_source += 1
            log.warning("SIP proxy: %s from %s:%d rejected (not an allowed source)", msg.method, *addr)
            self._reply(msg, addr, 403, "Forbidden")
            return
        method = msg.method
        if method == "OPTIONS":
            self._reply(msg, addr, 200, "OK", Allow="INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY")
            return
        if method == "REGISTER":
            self._reply(msg, addr, 405, "Method Not Allowed", Allow="INVITE, ACK, CANCEL, BYE, OPTIONS, INFO")
            return
        if not self._max_forwards(msg, addr):
            return
        cid = msg.call_id
        dialog = self.dialogs.get(cid)
        now = time.monotonic()
        if method == "INVITE" and msg.to_tag() is None:
            cseq = msg.cseq[0]
            if dialog is None or (dialog.holds is None and cseq != dialog.invite_cseq):
                choice = self._pick(prefer=dialog.worker if dialog else None)
                if choice is None:
                    self.stats.busy += 1
                    log.warning("SIP proxy: all lines busy, 486 to the call %s from %s:%d", cid, *addr)
                    self._reply(msg, addr, 486 if any(self.workers) else 503,
                                "Busy Here" if any(self.workers) else "Service Unavailable")  # fmt: skip
                    return
                index, kind = choice
                self.stats.calls += 1
                if kind == "overflow":
                    self.stats.overflow += 1
                dialog = self.dialogs[cid] = Dialog(index, addr, cseq, kind)
            msg.remove_prefix("x-appliance-")
            msg.add("X-Appliance-Source", f"{addr[0]}:{addr[1]}")
            if dialog.holds == "overflow":
                msg.add("X-Appliance-Overflow", "1")
            msg.push_first("Record-Route", f"<sip:{self._hostport()};lr>")
        elif dialog is None:
            if method != "ACK":
                self._reply(msg, addr, 481, "Call/Transaction Does Not Exist")
            return
        dialog.last = now
        target = self.workers[dialog.worker]
        if target is None:
            self._reply(msg, addr, 503, "Service Unavailable")
            return
        if method == "BYE":
            dialog.expires = now + LINGER_S
        self._pop_our_route(msg)
        self._push_via(msg, addr)
        self._send(msg, target)

    def _response_from_outside(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        """A caller answering a request a worker sent (BYE, REFER, NOTIFY): back to that worker only.

        Only from an allowed source, only for a dialog we know, only with the branch we derived for
        the worker's Via beneath ours, and only ever to that dialog's worker: a forged response can
        neither make the proxy send bytes elsewhere nor end somebody else's call."""
        vias = msg.values("via")
        dialog = self.dialogs.get(msg.call_id)
        if (
            not self.sources.allows(f"{addr[0]}:{addr[1]}")
            or dialog is None
            or len(vias) < 2
            or not self._is_our_via(vias[0])
            or Via.parse(vias[0]).params.get("branch") != derive_branch(msg, Via.parse(vias[1]), self._salt)
        ):
            self.stats.dropped += 1
            return
        worker = self.workers[dialog.worker] if 0 <= dialog.worker < len(self.workers) else None
        target = Via.parse(vias[1]).reply_address()
        if worker is None or target[1] != worker[1]:
            self.stats.dropped += 1
            return
        msg.pop_first("via")
        dialog.last = time.monotonic()
        if msg.cseq[1] == "BYE" and msg.status >= 200:
            self._end(dialog)
        self._send(msg, target)

    def _is_our_via(self, value: str) -> bool:
        via = Via.parse(value)
        return via.port == self.port and via.params.get("branch", "").startswith("z9hG4bK-ap")

    # ------------------------------------------------------------------ from workers

    def _from_worker(self, msg: SipMessage, worker: int, addr: tuple[str, int]) -> None:
        dialog = self.dialogs.get(msg.call_id)
        now = time.monotonic()
        if dialog is not None:
            dialog.last = now
        if not msg.is_request:
            vias = msg.values("via")
            if len(vias) < 2 or not self._is_our_via(vias[0]):
                self.stats.dropped += 1
                return
            msg.pop_first("via")
            num, method = msg.cseq
            if dialog is not None and msg.status >= 200:
                if method == "INVITE" and num == dialog.invite_cseq:
                    if msg.status < 300:
                        dialog.established = True
                    elif not dialog.established:
                        self._end(dialog)
                elif method == "BYE":
                    self._end(dialog)
            self._send(msg, Via.parse(vias[1]).reply_address())
            return
        # a request from the worker towards the caller
        if msg.method == "BYE" and dialog is not None:
            dialog.expires = now + LINGER_S
        if not self._max_forwards(msg, addr):
            return
        self._pop_our_route(msg)
        routes = msg.values("route")
        hp = uri_hostport(routes[0]) if routes else uri_hostport(msg.uri)
        if hp is not None:
            target: tuple[str, int] = (hp[0], hp[1] or 5060)
        elif dialog is not None:
            target = dialog.caller
        else:
            self._reply(msg, addr, 404, "Not Found")
            return
        self._push_via(msg, addr)
        self._send(msg, target)

    def _end(self, dialog: Dialog) -> None:
        dialog.holds = None
        dialog.expires = min(dialog.expires or float("inf"), time.monotonic() + LINGER_S)

    # ------------------------------------------------------------------ housekeeping

    def sweep(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        gone = [
            cid for cid, d in self.dialogs.items()
            if (d.expires is not None and d.expires <= now) or now - d.last > self.idle_timeout_s
        ]  # fmt: skip
        for cid in gone:
            d = self.dialogs.pop(cid)
            if d.holds is not None and d.expires is None:
                log.warning("SIP proxy: forgot the idle call %s on worker %d", cid, d.worker)
        return len(gone)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(2.0)
            self.sweep()

    def snapshot(self) -> dict[str, Any]:
        return {
            **vars(self.stats),
            "active_lines": self.active_lines,
            "dialogs": len(self.dialogs),
            "per_worker": [self.load(i) for i in range(len(self.workers))],
            "up": [w is not None for w in self.workers],
        }
