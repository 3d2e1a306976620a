"""A SIP texting peer in its own process (pjsua2 allows one Endpoint per process): sends SIP
MESSAGEs (RFC 3428) to the appliance and prints each MESSAGE it receives as a JSON line.

    python tests/support/sip_messenger.py --target sip:appliance@127.0.0.1:5062 \
        --from-user +37251234567 --text "Tere" --text "Kass" --wait 20 --expect 2

Each ``--text`` is sent after the reply to the previous one arrived (or at once with
``--no-wait-replies``); ``--raw-hex`` sends a body of those bytes as application/octet-stream.
Ends with ``{"event": "done", "received": N}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pjsua2 as pj
from sip_caller import loopback_endpoint


def emit(event: str, **data: object) -> None:
    print(json.dumps({"event": event, **data}, ensure_ascii=False), flush=True)


class Account(pj.Account):
    def __init__(self) -> None:
        super().__init__()
        self.inbox: list[dict[str, str]] = []
        self.statuses: list[int] = []

    def onInstantMessage(self, prm: pj.OnInstantMessageParam) -> None:  # noqa: N802
        item = {"from": prm.fromUri, "content_type": prm.contentType, "text": prm.msgBody}
        self.inbox.append(item)
        emit("message", **item)

    def onInstantMessageStatus(self, prm: pj.OnInstantMessageStatusParam) -> None:  # noqa: N802
        self.statuses.append(int(prm.code))
        emit("status", code=int(prm.code), reason=prm.reason)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--from-user", default="+37251234567")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--text", action="append", default=[])
    ap.add_argument("--raw-hex", default="")
    ap.add_argument("--expect", type=int, default=1, help="replies to wait for in all")
    ap.add_argument("--wait", type=float, default=20.0)
    args = ap.parse_args()

    ep, local = loopback_endpoint(args.port)
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.from_user}@{local}"
    acc = Account()
    acc.create(acfg)
    bcfg = pj.BuddyConfig()
    bcfg.uri = args.target
    bcfg.subscribe = False
    buddy = pj.Buddy()
    buddy.create(acc, bcfg)
    emit("ready", local=local)

    def send(to: pj.Buddy, content: str, ctype: str) -> None:
        prm = pj.SendInstantMessageParam()
        prm.content = content
        prm.contentType = ctype
        to.sendInstantMessage(prm)

    def pump(inbox: list[dict[str, str]], until: float, want: int) -> None:
        while time.monotonic() < until and len(inbox) < want:
            ep.libHandleEvents(20)

    deadline = time.monotonic() + args.wait
    want = 0
    if args.raw_hex:
        send(buddy, bytes.fromhex(args.raw_hex).decode("latin-1"), "application/octet-stream")
        want += 1
        pump(acc.inbox, deadline, want)
    for text in args.text:
        send(buddy, text, "text/plain;charset=UTF-8")
        want += 1
        pump(acc.inbox, deadline, want)
    pump(acc.inbox, deadline, args.expect)
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        ep.libHandleEvents(20)
    emit("done", received=len(acc.inbox), statuses=acc.statuses)
    sys.stdout.flush()
    del buddy
    acc.shutdown()
    del acc
    ep.libDestroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
