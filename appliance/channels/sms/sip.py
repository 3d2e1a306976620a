"""SMS over SIP MESSAGE (RFC 3428) on the appliance's pjsua2 endpoint, for PBXs and SIP trunks
that carry texts as SIP messages.

In: the endpoint hands each MESSAGE (from an allowed source; pjsua has already answered it
200) to :meth:`SipMessageTransport.on_message` on the event loop. ``text/plain`` bodies are
texts; anything else (or a body that was not UTF-8) is kept as unreadable. Replies go back to
the sender's URI.

Out: ``sendInstantMessage`` of a pjsua2 ``Buddy`` (one per account and peer URI, no presence
subscription) on the endpoint's own thread, through the tenant's SIP account when it has one
(its first ``sip_accounts`` entry), else the trunk account. A pjsip error is a retryable send error;
pjsip's later delivery status (the peer's final response) is not awaited.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from appliance.channels.sms.encoding import SmsPlan
from appliance.channels.sms.transport import InboundSms, Receive, SendError, SmsOrigin, SmsTransport
from appliance.core.config import SmsConfig

log = logging.getLogger(__name__)

_URI = re.compile(r"<([^>]+)>")


def bare_uri(value: str) -> str:
    """``"Name" <sip:+372...@pbx>;tag=x`` -> ``sip:+372...@pbx``."""
    m = _URI.search(value)
    uri = m.group(1) if m else value.split(";", 1)[0]
    return uri.strip()


def decode_message(content_type: str, body: str) -> tuple[str | None, bytes | None, str | None]:
    """(text, raw bytes when unreadable, problem) of a MESSAGE body as pjsua2 gives it (a str;
    bytes that were not UTF-8 arrive as surrogate escapes)."""
    raw = body.encode("utf-8", "surrogateescape")
    mime = (content_type or "text/plain").split(";", 1)[0].strip().lower()
    if mime != "text/plain":
        return None, raw, "binary"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, raw, "undecodable"
    return text, None, None


class SipMessageTransport(SmsTransport):
    name = "sip"

    def __init__(self, endpoint: Any, cfg: SmsConfig) -> None:
        self.endpoint = endpoint  # appliance.channels.sip.endpoint.SipEndpoint
        self.cfg = cfg
        self._receive: Receive | None = None
        # (account, peer URI) -> pj.Buddy (kept alive; used on the pj thread only)
        self._buddies: dict[tuple[str | None, str], Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self, receive: Receive) -> None:
        self._receive = receive
        self.endpoint.on_message = self.on_message

    async def stop(self) -> None:
        self.endpoint.on_message = None
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        buddies, self._buddies = self._buddies, {}
        if buddies:  # pjsua2 buddies must go before their account does (the SIP channel stops after us)
            try:
                await self.endpoint.run(buddies.clear)
            except RuntimeError:  # the endpoint has stopped already
                log.warning("SIP MESSAGE buddies outlived the endpoint")

    def on_message(self, from_uri: str, to_uri: str, account: str, content_type: str, body: str, source: str) -> None:
        """On the event loop (the endpoint thread used call_soon_threadsafe). The To user (the
        number texted) and the account it arrived on pick the tenant (``tenant_for_text``)."""
        text, raw, problem = decode_message(content_type, body)
        uri = bare_uri(from_uri)
        # the reply goes where the MESSAGE came from (the PBX or trunk, or the phone itself), to its user
        user = uri.split(":", 1)[-1].split("@", 1)[0]
        reply_to = f"sip:{user}@{source}" if user and source else uri
        to_user = bare_uri(to_uri).split(":", 1)[-1].split("@", 1)[0] if to_uri else ""
        sms = InboundSms(
            transport=self.name, sender=uri, text=text, raw=raw, reply_to=reply_to, problem=problem,
            receiver=to_user or None, account=account or None,
        )  # fmt: skip
        assert self._receive is not None
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(self._receive(sms))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _uri_for(self, recipient: str) -> str:
        if recipient.startswith(("sip:", "sips:")):
            return recipient
        if not self.cfg.sip_domain:
            raise SendError(f"no SIP URI for {recipient!r}: set sms.sip_domain", retryable=False)
        return f"sip:{recipient}@{self.cfg.sip_domain}"

    async def send(self, recipient: str, plan: SmsPlan, *, origin: SmsOrigin | None = None) -> None:
        uri = self._uri_for(recipient)
        account = origin.sip_account if origin is not None else None

        def send_on_pj_thread() -> None:
            import pjsua2 as pj

            buddy = self._buddies.get((account, uri))
            if buddy is None:
                bcfg = pj.BuddyConfig()
                bcfg.uri = uri
                bcfg.subscribe = False
                buddy = pj.Buddy()
                buddy.create(self.endpoint.account_named(account), bcfg)
                self._buddies[(account, uri)] = buddy
            prm = pj.SendInstantMessageParam()
            prm.content = plan.text
            prm.contentType = "text/plain;charset=UTF-8"
            buddy.sendInstantMessage(prm)

        try:
            await self.endpoint.run(send_on_pj_thread)
        except SendError:
            raise
        except Exception as exc:  # pjsua2.Error, or the endpoint stopped
            raise SendError(f"SIP MESSAGE to {uri} failed: {type(exc).__name__}: {exc}") from None
