"""The SMS channel (docs/SMS.md): Kannel over HTTP and SIP MESSAGE in, the same brain, and a
durable outbox out (replies, booking confirmations, reminders, approval decisions).

:class:`SmsChannel` is what the daemon starts: the service, its transports and the
booking texts fed by the event bus.
"""

from __future__ import annotations

from typing import Any

from appliance.channels.sms.notify import BookingTexts
from appliance.channels.sms.service import SmsService
from appliance.channels.sms.tenants import SmsBrains
from appliance.channels.sms.transport import InboundSms, SendError, SmsOrigin, SmsTransport
from appliance.core.bus import EventBus, StaffDesk
from appliance.core.config import Config


class SmsChannel:
    def __init__(
        self,
        config: Config,
        brain: Any,
        *,
        desk: StaffDesk | None = None,
        transports: dict[str, SmsTransport] | None = None,
        tenants: SmsBrains | None = None,
        **kw: Any,
    ) -> None:
        """``brain``: the default tenant's; ``tenants``: every tenant's brain (several businesses on
        one box: each text is answered by the business whose number it was sent to)."""
        if transports is None:
            transports = {}
            if "kannel" in config.sms.transports:
                from appliance.channels.sms.kannel import KannelTransport

                transports["kannel"] = KannelTransport(config.sms)
        self.service = SmsService(config, brain, brain.sessions.db, transports, desk=desk, tenants=tenants, **kw)
        self.texts = BookingTexts(self.service)

    async def add_transport(self, transport: SmsTransport) -> None:
        """A transport that exists only once another channel runs (SIP MESSAGE on the SIP endpoint)."""
        self.service.transports[transport.name] = transport
        await transport.start(self.service.receive)

    async def start(self, bus: EventBus | None = None) -> None:
        if bus is not None:
            bus.listen(self.texts.on_event)
        await self.service.start()
        if await self.texts.sweep():
            self.service.wake()

    async def stop(self) -> None:
        await self.texts.drain()
        await self.service.stop()


__all__ = ["BookingTexts", "InboundSms", "SendError", "SmsChannel", "SmsOrigin", "SmsService", "SmsTransport"]
