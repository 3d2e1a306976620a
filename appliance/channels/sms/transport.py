"""The SMS transports' narrow port, and the typed inbound message every transport produces."""

from __future__ import annotations

import abc
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from appliance.channels.sms.encoding import SmsPlan


@dataclass(frozen=True, slots=True)
class InboundSms:
    """One received text. ``text`` is None when it could not be decoded (binary, unknown charset);
    ``raw`` then keeps its bytes so nothing is lost."""

    transport: str  # kannel / sip
    sender: str  # as the transport gave it: a number, or a SIP URI
    text: str | None
    message_id: str | None = None  # the gateway's id: a redelivery is recognised
    raw: bytes | None = None
    reply_to: str | None = None  # where a reply goes on this transport (default: sender)
    problem: str | None = None  # why text is None: binary / unknown_charset / undecodable
    receiver: str | None = None  # the number (or SIP user) it was sent to: picks the tenant
    account: str | None = None  # the SIP account a SIP MESSAGE arrived on (sip.accounts id, "trunk")


@dataclass(frozen=True, slots=True)
class SmsOrigin:
    """Whose a text sent is (several businesses on one box): the number it goes out from
    (Kannel's ``from``) and the SIP account a SIP MESSAGE is sent through. None: the
    transport's own (``sms.sender``, the trunk account)."""

    number: str | None = None
    sip_account: str | None = None


class SendError(Exception):
    """A transport could not hand a text over; ``retryable`` says whether to try again later."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


Receive = Callable[[InboundSms], Coroutine[Any, Any, object]]


class SmsTransport(abc.ABC):
    name: str

    @abc.abstractmethod
    async def start(self, receive: Receive) -> None:
        """Begin taking inbound texts; each one is handed to ``receive``."""

    @abc.abstractmethod
    async def send(self, recipient: str, plan: SmsPlan, *, origin: SmsOrigin | None = None) -> None:
        """Hand one text (already planned: encoding and parts) to the network, or raise SendError;
        ``origin``: the tenant's number and account it goes out from (None: the transport's own)."""

    @abc.abstractmethod
    async def stop(self) -> None: ...
