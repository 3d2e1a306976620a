"""Logs without personal data: the filter every handler carries hashes phone numbers at INFO and above."""

from __future__ import annotations

import io
import logging

import pytest

from appliance.core.logs import RedactingFilter, pii, redact


@pytest.mark.parametrize(
    "number",
    ["+37251234567", "+372 5123 4567", "5123 4567", "5123-4567", "0037251234567", "8 (912) 345-67-89",
     "sip:+37251234567@10.0.0.1"],
)  # fmt: skip
def test_phone_numbers_are_hashed(number: str) -> None:
    out = redact(f"call from {number} ended")
    phone = number.split("@")[0]  # a SIP URI keeps its host: only the user part is the number
    digits = "".join(ch for ch in phone if ch.isdigit())
    # the hash's hex digits run into the host's when letters are dropped: look at the phone part only
    kept = out.split("@")[0]
    assert "[phone#" in out and digits[-7:] not in "".join(ch for ch in kept if ch.isdigit() or ch == " ")


@pytest.mark.parametrize(
    "line",
    ["SIP on 127.0.0.1 udp:5060 tcp:5060", "booking 482913 confirmed", "at 2026-12-05 10:00:00.123",
     "session sip-3fa2c19e01ab: 3 turns", "pid 12345"],
)  # fmt: skip
def test_ordinary_lines_are_left_alone(line: str) -> None:
    assert redact(line) == line


def test_one_number_one_hash_within_a_run() -> None:
    assert redact("+372 5123 4567") == redact("+37251234567") == f"[phone{pii('37251234567')}]"


def _logger(level: int) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger(f"test.redaction.{level}")
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    return log, out


def test_filter_on_info_and_above_and_in_tracebacks() -> None:
    log, out = _logger(logging.DEBUG)
    log.info("caller %s booked", "+372 5123 4567")
    try:
        raise ValueError("not a phone number: '+37251234567'")
    except ValueError:
        log.exception("failed")
    log.debug("debug keeps %s", "+37251234567")  # DEBUG is for a developer's own machine
    text = out.getvalue()
    info, rest = text.split("\n", 1)
    assert info.startswith("INFO caller [phone#") and "5123" not in info
    assert "ValueError" in rest and "+37251234567" not in rest.split("DEBUG")[0]
    assert "DEBUG debug keeps +37251234567" in text
