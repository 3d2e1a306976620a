"""The SIP proxy never forwards a forged response (regression from review: open relay)."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.channels.sip.proxy import Dialog, SipProxy
from appliance.channels.sip.proxymsg import SipMessage, Via, derive_branch


class _Transport:
    def __init__(self) -> None:
        self.sent: list[tuple[tuple[str, int], bytes]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((addr, data))


def _proxy() -> tuple[SipProxy, _Transport]:
    p = SipProxy(
        host="203.0.113.5", port=5060, allowed_sources=["10.0.0.0/8"], workers=1, lines_per_worker=4, max_lines=4
    )
    t = _Transport()
    p.transport = t  # type: ignore[assignment]
    p.workers[0] = ("127.0.0.1", 5071)
    p.dialogs["abc"] = Dialog(0, ("10.1.1.1", 5060), 1, "line", established=True)
    return p, t


def _response(top_branch: str, second_via: str) -> bytes:
    return (
        f"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch={top_branch}\r\n"
        f"Via: {second_via}\r\nCall-ID: abc\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n"
        "CSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("source", "branch", "second"),
    [
        (("198.51.100.66", 4444), "z9hG4bK-apforged", "SIP/2.0/UDP 127.0.0.1:6379"),  # not an allowed source
        (("10.1.1.1", 5060), "z9hG4bK-apforged", "SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKw1"),  # wrong branch
        (("10.1.1.1", 5060), None, "SIP/2.0/UDP 127.0.0.1:6379;branch=z9hG4bKw1"),  # right branch, not our worker
    ],
)
def test_forged_responses_are_dropped(source: tuple[str, int], branch: str | None, second: str) -> None:
    p, t = _proxy()
    if branch is None:
        probe = SipMessage.parse(_response("x", second))
        branch = derive_branch(probe, Via.parse(second), p._salt)
    lines = p.active_lines
    p.datagram_received(_response(branch, second), source)
    assert t.sent == []
    assert p.active_lines == lines  # nobody's call was ended


def test_genuine_response_goes_to_the_worker() -> None:
    p, t = _proxy()
    second = "SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKw1"
    probe: Any = SipMessage.parse(_response("x", second))
    branch = derive_branch(probe, Via.parse(second), p._salt)
    p.datagram_received(_response(branch, second), ("10.1.1.1", 5060))
    assert [addr for addr, _ in t.sent] == [("127.0.0.1", 5071)]
