"""Reading what the transports hand over: Kannel bodies, SIP MESSAGE bodies and URIs, sender numbers."""

from __future__ import annotations

from appliance.channels.sms.kannel import decode_body
from appliance.channels.sms.service import number_of
from appliance.channels.sms.sip import bare_uri, decode_message


def test_kannel_bodies() -> None:
    assert decode_body("Tõnu".encode(), "UTF-8", "0") == ("Tõnu", None)
    assert decode_body("Tõnu".encode("utf-16-be"), "UTF-16BE", "2") == ("Tõnu", None)
    assert decode_body(b"\xff\xfe", None, "1") == (None, "binary")
    assert decode_body(b"abc", "x-no-such-charset", "0") == (None, "unknown_charset")
    assert decode_body(b"\xc3\x28", "utf-8", "0") == (None, "undecodable")


def test_sip_message_bodies_and_uris() -> None:
    assert decode_message("text/plain;charset=UTF-8", "Tere õhtust") == ("Tere õhtust", None, None)
    raw = b"\x81\x82".decode("utf-8", "surrogateescape")  # how pjsua2 hands over bytes that are not UTF-8
    assert decode_message("text/plain", raw) == (None, b"\x81\x82", "undecodable")
    assert decode_message("application/vnd.gsma.rcs-ft-http+xml", "<x/>")[2] == "binary"
    assert bare_uri('"Mari" <sip:+37251234567@pbx:5060>;tag=1') == "sip:+37251234567@pbx:5060"
    assert bare_uri("sip:100@pbx;transport=udp") == "sip:100@pbx"


def test_sender_numbers() -> None:
    for raw in ("+37251234567", "37251234567", "51234567", "sip:+37251234567@pbx", "<sip:37251234567@pbx:5060>"):
        assert number_of(raw, "EE") == "+37251234567", raw
    assert number_of("1345", "EE") == "1345"  # a short code stays as it is
    assert number_of("sip:alice@pbx", "EE") == "alice"
