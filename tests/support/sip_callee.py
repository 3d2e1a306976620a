"""A SIP phone that is called (the customer of an automatic callback), in its own process.

Listens on 127.0.0.1:--port, answers the first call with --answer (200, or 486 busy, 603
declined, "none": let it ring), and then works like ``sip_caller.py``: plays --turns WAVs, each
after the appliance has spoken and gone quiet, and hangs up after the reply to the last one
(--hangup-after-turns). Prints JSON lines (``ready``, ``incoming``, ``state``, ``turn``, ...,
``done``).

    python tests/support/sip_callee.py --port 5099 --turns yes.wav --hangup-after-turns --max-s 60
"""

from __future__ import annotations

import argparse
import sys
import time

import pjsua2 as pj
from sip_caller import Caller, _drive_turns, emit, loopback_endpoint


class Callee(Caller):
    def __init__(self, acc: pj.Account, args: argparse.Namespace, call_id: int) -> None:
        pj.Call.__init__(self, acc, call_id)
        self.args = args
        self.state = "NULL"
        self.confirmed_at: float | None = None
        self.disconnected = False
        self.media = None
        self.player = None
        self.recorder = None
        self.listener = None
        self.turn_players = []


class Phone(pj.Account):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        self.args = args
        self.calls: list[Callee] = []

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        call = Callee(self, self.args, prm.callId)
        self.calls.append(call)
        info = call.getInfo()
        emit("incoming", remote=info.remoteUri, local=info.localUri, n=len(self.calls))
        if self.args.answer == "none":
            op = pj.CallOpParam(True)
            op.statusCode = 180
            call.answer(op)
            return
        op = pj.CallOpParam(True)
        op.statusCode = int(self.args.answer)
        call.answer(op)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rtp-port", type=int, default=24000)
    ap.add_argument("--answer", default="200", help="200, 486, 603 or none (let it ring)")
    ap.add_argument("--turns", default="")
    ap.add_argument("--quiet-s", type=float, default=1.2)
    ap.add_argument("--hangup-after-turns", action="store_true")
    ap.add_argument("--hangup-during-reply", action="store_true")
    ap.add_argument("--dtmf-after-turns", default="")
    ap.add_argument("--record", default="")
    ap.add_argument("--play", default="")
    ap.add_argument("--max-s", type=float, default=60.0)
    args = ap.parse_args()

    ep, local = loopback_endpoint(args.port)
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:customer@{local}"
    acfg.mediaConfig.transportConfig.port = args.rtp_port
    acfg.mediaConfig.transportConfig.portRange = 2000
    phone = Phone(args)
    phone.create(acfg, True)
    emit("ready", local=local)
    deadline = time.monotonic() + args.max_s
    turns = [t for t in args.turns.split(",") if t]
    state = {"next": 0, "busy_until": 0.0, "voice_mark": 0}
    while time.monotonic() < deadline:
        ep.libHandleEvents(10)
        call = phone.calls[0] if phone.calls else None
        if call is None:
            continue
        if call.disconnected:
            break
        if call.confirmed_at is None:
            continue
        _drive_turns(call, turns, args, state)
    call = phone.calls[0] if phone.calls else None
    if call is not None and not call.disconnected:
        emit("timeout")
        call.hangup(pj.CallOpParam(True))
        end = time.monotonic() + 1
        while time.monotonic() < end and not call.disconnected:
            ep.libHandleEvents(10)
    emit("done", state=call.state if call else "never_called", calls=len(phone.calls))
    sys.stdout.flush()
    for c in phone.calls:
        c.turn_players.clear()
        c.listener = None
        c.media = None
    phone.calls.clear()
    del call
    phone.shutdown()
    del phone
    ep.libDestroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
