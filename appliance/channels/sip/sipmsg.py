"""Small, dependency-free helpers for raw SIP text (caller ID, source addresses)."""

from __future__ import annotations

import ipaddress
import re

_URI_USER = re.compile(r"<?\s*(?:sips?|tel):([^@;>\s]+)", re.IGNORECASE)
_HEADER_NAMES = {"from": ("from", "f"), "pai": ("p-asserted-identity",)}


def header(message: str, *names: str) -> str | None:
    """The first value of a header (by any of its names, compact forms too), or None."""
    wanted = {n.lower() for n in names}
    for line in message.split("\r\n" if "\r\n" in message else "\n")[1:]:
        if not line.strip():
            break  # end of headers
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() in wanted:
            return value.strip()
    return None


def uri_user(value: str | None) -> str | None:
    if not value:
        return None
    m = _URI_USER.search(value)
    if not m:
        return None
    user = m.group(1).strip()
    return user or None


def caller_id_from_invite(message: str) -> str | None:
    """The caller's number: P-Asserted-Identity when the PBX asserts one, else the From user."""
    for key in ("pai", "from"):
        user = uri_user(header(message, *_HEADER_NAMES[key]))
        if user and user.lower() not in ("anonymous", "unknown"):
            return user
    return None


_CALLED = re.compile(r"(?:sips?:([^@;>\s]+)@|tel:([^;>\s]+))", re.IGNORECASE)


def _called_user(value: str | None) -> str | None:
    m = _CALLED.search(value or "")
    return (m.group(1) or m.group(2)).strip() or None if m else None


def called_from_invite(message: str) -> str | None:
    """The number called (the DID): the To user, else the Request-URI user (which tenant the call is for)."""
    first = message.split("\n", 1)[0]
    request_uri = first.partition(" ")[2] if first.upper().startswith("INVITE ") else None
    return _called_user(header(message, "to", "t")) or _called_user(request_uri)


def host_of(address: str) -> str:
    """'127.0.0.1:5060' -> '127.0.0.1'; '[::1]:5060' -> '::1'."""
    address = address.strip()
    if address.startswith("["):
        return address[1:].partition("]")[0]
    if address.count(":") == 1:
        return address.partition(":")[0]
    return address


class SourceFilter:
    """Allowed source addresses or networks (``127.0.0.1``, ``10.0.0.0/8``; ``*`` allows all)."""

    def __init__(self, allowed: list[str]) -> None:
        self.any = "*" in allowed
        self.networks = []
        for item in allowed:
            if item == "*":
                continue
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                continue  # a host name: resolved by the caller of add()

    def add(self, host: str) -> None:
        try:
            self.networks.append(ipaddress.ip_network(host, strict=False))
        except ValueError:
            pass

    def allows(self, source: str) -> bool:
        if self.any:
            return True
        try:
            ip = ipaddress.ip_address(host_of(source))
        except ValueError:
            return False
        return any(ip in net for net in self.networks)
