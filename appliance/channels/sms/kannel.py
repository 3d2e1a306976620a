"""Kannel over HTTP (docs/SMS.md).

Inbound: smsbox's ``sms-service`` posts each received text to
``http://listen_host:listen_port/sms/kannel?from=%p&to=%P&id=%I`` (``post-url``; ``to``,
the number the text was sent to, picks the tenant when one box serves several businesses; the
body is the text in the charset of its Content-Type, ``X-Kannel-Coding`` 1 means binary
data). We answer 200 with an empty body (``max-messages = 0`` in the service: replies go
out through the outbox, not as the HTTP answer). A message id seen before is not handled
twice.

Outbound: ``GET sendsms?username&password&from&to&text&charset=UTF-8&coding=0|2`` (``from``: the
tenant's number, else ``sms.sender``);
Kannel splits a long text into concatenated parts (the sendsms-user's ``concatenation``
and ``max-messages`` must allow ``sms.max_segments``). HTTP 202 is accepted; 4xx are
final (bad number, auth), anything else is retried by the outbox.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import web

from appliance.channels.sms.encoding import Encoding, SmsPlan
from appliance.channels.sms.transport import InboundSms, Receive, SendError, SmsOrigin, SmsTransport
from appliance.core.config import SmsConfig

log = logging.getLogger(__name__)

PATH = "/sms/kannel"
MAX_BODY = 64 * 1024  # a concatenated SMS is at most a few KB; refuse megabytes


def decode_body(body: bytes, charset: str | None, coding: str | None) -> tuple[str | None, str | None]:
    """(text, problem): the text of a posted message, or None and why it could not be read."""
    if coding == "1":  # 8-bit data: a binary message (ringtone, WAP push, garbage)
        return None, "binary"
    name = (charset or "utf-8").strip().strip('"') or "utf-8"
    try:
        text = body.decode(name)
    except LookupError:
        return None, "unknown_charset"
    except UnicodeDecodeError:
        return None, "undecodable"
    if "\x00" in text:
        return None, "undecodable"
    return text, None


class KannelTransport(SmsTransport):
    name = "kannel"

    def __init__(self, cfg: SmsConfig) -> None:
        self.cfg = cfg
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._receive: Receive | None = None
        self.port: int | None = None

    async def start(self, receive: Receive) -> None:
        self._receive = receive
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", PATH, self._inbound)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.listen_host, self.cfg.listen_port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.cfg.listen_port
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        log.info("Kannel inbound on http://%s:%s%s", self.cfg.listen_host, self.port, PATH)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _inbound(self, request: web.Request) -> web.Response:
        q = request.query
        sender = q.get("from") or request.headers.get("X-Kannel-From", "")
        if not sender:
            return web.Response(status=400, text="missing from")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="too large")
        if request.method == "GET":  # get-url style: the text in ?text=
            body = q.get("text", "").encode()
        text, problem = decode_body(body, request.charset, request.headers.get("X-Kannel-Coding", q.get("coding")))
        sms = InboundSms(
            transport=self.name, sender=sender, text=text, message_id=q.get("id") or None,
            raw=body if text is None else None, problem=problem,
            receiver=q.get("to") or request.headers.get("X-Kannel-To") or None,
        )  # fmt: skip
        assert self._receive is not None
        await self._receive(sms)
        return web.Response(status=200, text="")

    def _params(self, recipient: str, plan: SmsPlan, origin: SmsOrigin | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "username": self.cfg.kannel_username,
            "password": self.cfg.kannel_password,
            "to": recipient,
            "text": plan.text,
            "charset": "UTF-8",
            "coding": 2 if plan.encoding is Encoding.UCS2 else 0,
        }
        sender = (origin.number if origin is not None else None) or self.cfg.sender
        if sender:
            params["from"] = sender
        if self.cfg.kannel_smsc:
            params["smsc"] = self.cfg.kannel_smsc
        return params

    async def send(self, recipient: str, plan: SmsPlan, *, origin: SmsOrigin | None = None) -> None:
        if self._session is None:
            raise SendError("Kannel transport not started")
        params = self._params(recipient, plan, origin)
        try:
            async with self._session.get(self.cfg.kannel_sendsms_url, params=params) as resp:
                answer = (await resp.text(errors="replace"))[:200]
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SendError(f"sendsms unreachable: {type(exc).__name__}: {exc}") from None
        if status in (200, 202):
            return
        raise SendError(f"sendsms answered {status}: {answer}", retryable=not (400 <= status < 500))
