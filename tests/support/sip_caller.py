"""A SIP caller in its own process (pjsua2 allows one Endpoint per process).

Places one call, plays a WAV into it, records what it receives, sends DTMF, answers a REFER,
and prints one JSON object per line on stdout (``{"event": ...}``), ending with ``done``.

    python tests/support/sip_caller.py --target sip:appliance@127.0.0.1:5062 --play in.wav \
        --record out.wav --dtmf 0@4 --max-s 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import pjsua2 as pj


def emit(event: str, **data: object) -> None:
    print(json.dumps({"event": event, "t": round(time.monotonic() - T0, 3), **data}), flush=True)


T0 = time.monotonic()


class Listener(pj.AudioMediaPort):
    """Measures the received audio live: when the appliance last spoke (20 ms frames)."""

    def __init__(self) -> None:
        super().__init__()
        self.last_voice = 0.0
        self.voice_frames = 0
        # this process's media clock (it also sends the caller's audio): the longest gap between
        # two 20 ms ticks, and how many ticks came over 100 ms late. A starved caller sends gaps.
        self.last_tick = 0.0
        self.max_tick_s = 0.0
        self.late_ticks = 0

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        now = time.monotonic()
        if self.last_tick:
            gap = now - self.last_tick
            self.max_tick_s = max(self.max_tick_s, gap)
            self.late_ticks += gap > 0.12
        self.last_tick = now
        if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or not frame.size:
            return
        from array import array

        samples = array("h", bytes(tuple(frame.buf)))
        if samples and max(abs(min(samples)), abs(max(samples))) > 600:
            self.last_voice = time.monotonic()
            self.voice_frames += 1

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = pj.ByteVector(bytes(640))
        frame.size = 640


class Caller(pj.Call):
    def __init__(self, acc: pj.Account, args: argparse.Namespace) -> None:
        super().__init__(acc)
        self.args = args
        self.state = "NULL"
        self.confirmed_at: float | None = None
        self.disconnected = False
        self.media: pj.AudioMedia | None = None
        self.player: pj.AudioMediaPlayer | None = None
        self.recorder: pj.AudioMediaRecorder | None = None
        self.listener: Listener | None = None
        self.turn_players: list[pj.AudioMediaPlayer] = []

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        self.state = info.stateText
        emit("state", state=info.stateText, code=info.lastStatusCode, reason=info.lastReason)
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed_at = time.monotonic()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        if self.media is not None:
            return
        try:
            self.media = self.getAudioMedia(-1)
        except pj.Error:
            return
        emit("media")
        self.listener = Listener()
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, 16000, 1, 20000, 16)
        self.listener.createPort("listener", fmt)
        self.media.startTransmit(self.listener)
        if self.args.record:
            self.recorder = pj.AudioMediaRecorder()
            self.recorder.createRecorder(self.args.record)
            self.media.startTransmit(self.recorder)

    def play(self) -> None:
        if self.media is None or self.player is not None or not self.args.play:
            return
        self.player = pj.AudioMediaPlayer()
        self.player.createPlayer(self.args.play, pj.PJMEDIA_FILE_NO_LOOP)
        self.player.startTransmit(self.media)
        emit("playing", file=self.args.play)

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:  # noqa: N802
        emit("refer", to=prm.dstUri)
        if self.args.refer == "decline":
            prm.statusCode = 603
        else:
            prm.statusCode = 202  # pjsua dials the target; StaffAccount answers if it is us

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:  # noqa: N802
        emit("dtmf_in", digit=prm.digit)


class StaffAccount(pj.Account):
    """Answers calls to this process (a transfer target pointing back at us plays 'staff')."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[pj.Call] = []

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        call = pj.Call(self, prm.callId)
        self.calls.append(call)
        emit("incoming", uri=call.getInfo().localUri)
        op = pj.CallOpParam(True)
        op.statusCode = 200
        call.answer(op)


def loopback_endpoint(port: int) -> tuple[pj.Endpoint, str]:
    """A started pjsua2 endpoint (main thread only, null sound device, 16 kHz) with one UDP
    transport on 127.0.0.1:``port`` (0: any); returns it and its transport's host:port."""
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    cfg.medConfig.clockRate = 16000
    cfg.medConfig.sndClockRate = 16000
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    tcfg = pj.TransportConfig()
    tcfg.port = port
    tcfg.boundAddress = "127.0.0.1"
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    local = ep.transportGetInfo(tid).localName
    ep.libStart()
    return ep, local


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rtp-port", type=int, default=20000)
    ap.add_argument("--from-user", default="+3725551234")
    ap.add_argument("--pai", default="")
    ap.add_argument("--play", default="")
    ap.add_argument("--play-after-s", type=float, default=0.0)
    ap.add_argument(
        "--turns",
        default="",
        help="comma-separated WAVs, each played after the appliance has spoken and then been quiet for --quiet-s",
    )
    ap.add_argument("--quiet-s", type=float, default=1.2)
    ap.add_argument("--hangup-after-turns", action="store_true")
    ap.add_argument("--hangup-during-reply", action="store_true", help="hang up as the last turn's reply plays")
    ap.add_argument("--dtmf-after-turns", default="", help="DIGIT to press once the reply to the last turn ended")
    ap.add_argument("--record", default="")
    ap.add_argument("--dtmf", action="append", default=[], help="DIGITS@SECONDS after answer")
    ap.add_argument("--dtmf-method", choices=["rfc4733", "info"], default="rfc4733")
    ap.add_argument("--refer", choices=["accept", "decline"], default="accept")
    ap.add_argument("--hangup-after-s", type=float, default=0.0)
    ap.add_argument("--max-s", type=float, default=30.0)
    ap.add_argument("--codec", default="", help="only this codec, e.g. PCMU/8000")
    ap.add_argument("--auth", default="", help="USER:PASSWORD for digest auth (answers 401 challenges)")
    args = ap.parse_args()

    ep, local = loopback_endpoint(args.port)
    if args.codec:
        for c in ep.codecEnum2():
            ep.codecSetPriority(c.codecId, 255 if c.codecId.lower().startswith(args.codec.lower()) else 0)
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.from_user}@{local}"
    acfg.mediaConfig.transportConfig.port = args.rtp_port
    acfg.mediaConfig.transportConfig.portRange = 2000
    if args.auth:
        user, _, password = args.auth.partition(":")
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, password))
    acc = StaffAccount()
    acc.create(acfg)

    call = Caller(acc, args)
    prm = pj.CallOpParam(True)
    if args.pai:
        h = pj.SipHeader()
        h.hName = "P-Asserted-Identity"
        h.hValue = f"<sip:{args.pai}@127.0.0.1>"
        prm.txOption.headers.append(h)
    emit("calling", target=args.target, local=local)
    call.makeCall(args.target, prm)
    dtmf = []
    for item in args.dtmf:
        digits, _, at = item.partition("@")
        dtmf.append([float(at or 0), digits])
    deadline = time.monotonic() + args.max_s
    turns = [t for t in args.turns.split(",") if t] if args.turns else None
    state = {"next": 0, "busy_until": 0.0, "voice_mark": 0}
    hung = False
    try:
        while time.monotonic() < deadline and not call.disconnected:
            ep.libHandleEvents(10)
            if call.confirmed_at is None:
                continue
            since = time.monotonic() - call.confirmed_at
            if call.media is not None and since >= args.play_after_s:
                call.play()
            for item in dtmf:
                if item[1] and since >= item[0]:
                    if args.dtmf_method == "info":
                        p = pj.CallSendDtmfParam()
                        p.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
                        p.digits = item[1]
                        call.sendDtmf(p)
                    else:
                        call.dialDtmf(item[1])
                    emit("dtmf_out", digits=item[1], method=args.dtmf_method)
                    item[1] = ""
            if turns is not None:
                _drive_turns(call, turns, args, state)
            if args.hangup_after_s and since >= args.hangup_after_s and not hung:
                hung = True
                emit("hangup")
                call.hangup(pj.CallOpParam(True))
        if not call.disconnected:
            emit("timeout")
            call.hangup(pj.CallOpParam(True))
            end = time.monotonic() + 1
            while time.monotonic() < end and not call.disconnected:
                ep.libHandleEvents(10)
    finally:
        if call.recorder is not None:
            del call.recorder
            call.recorder = None
    received = _stats(args.record) if args.record else {}
    clock = {}
    if call.listener is not None:
        clock = {"max_tick_ms": round(call.listener.max_tick_s * 1000, 1), "late_ticks": call.listener.late_ticks}
    emit("done", state=call.state, **received, **clock)
    sys.stdout.flush()
    # pjsua2 objects must go before the library does.
    call.player = None
    call.turn_players.clear()
    call.listener = None
    call.media = None
    del call
    acc.calls.clear()
    acc.shutdown()
    del acc
    ep.libDestroy()
    return 0


def _drive_turns(call: Caller, turns: list[str], args: argparse.Namespace, state: dict) -> None:
    """Play the next turn once the appliance has said something and gone quiet."""
    lis = call.listener
    now = time.monotonic()
    if lis is None or call.media is None:
        return
    if state.get("gap_from") is not None and lis.last_voice > state["gap_from"]:
        # dead air: from the end of the caller's turn to the first audible frame of the answer
        emit("reply_gap", n=state["next"], s=round(lis.last_voice - state["gap_from"], 3))
        state["gap_from"] = None
    if now < state["busy_until"]:
        return
    spoke = lis.voice_frames > state["voice_mark"] + 10
    if args.hangup_during_reply and spoke and state["next"] >= len(turns) and state.get("hung") is None:
        state["hung"] = True  # ~0.2 s into the reply to the last turn
        emit("hangup", during_reply=True)
        call.hangup(pj.CallOpParam(True))
        return
    if not spoke or now - lis.last_voice < args.quiet_s:
        return
    i = state["next"]
    if i >= len(turns):
        if args.dtmf_after_turns and not state.get("dtmf_sent"):
            state["dtmf_sent"] = True
            call.dialDtmf(args.dtmf_after_turns)
            emit("dtmf_out", digits=args.dtmf_after_turns, method="rfc4733")
            return
        if args.hangup_after_turns and not call.disconnected and state.get("hung") is None:
            state["hung"] = True
            emit("hangup")
            call.hangup(pj.CallOpParam(True))
        return
    player = pj.AudioMediaPlayer()
    player.createPlayer(turns[i], pj.PJMEDIA_FILE_NO_LOOP)
    player.startTransmit(call.media)
    call.turn_players.append(player)
    size = os.path.getsize(turns[i]) - 44
    state["busy_until"] = now + size / 32000 + 0.2
    state["gap_from"] = now + size / 32000
    state["next"] = i + 1
    state["voice_mark"] = lis.voice_frames
    emit("turn", n=i + 1, file=turns[i])


def _stats(path: str) -> dict[str, float]:
    """Seconds of audio and of non-silent audio (20 ms windows above -45 dBFS) in a WAV."""
    import math
    from array import array

    try:
        raw = open(path, "rb").read()  # the header's sizes may not be final yet: use what is there
    except OSError:
        return {"received_s": 0.0, "voiced_s": 0.0}
    pos = raw.find(b"data")
    if raw[:4] != b"RIFF" or pos < 0:
        return {"received_s": 0.0, "voiced_s": 0.0}
    rate = int.from_bytes(raw[24:28], "little")
    data = raw[pos + 8 :]
    samples = array("h", data[: len(data) // 2 * 2])
    win = rate // 50
    voiced = 0
    for i in range(0, len(samples) - win + 1, win):
        seg = samples[i : i + win]
        rms = math.sqrt(sum(s * s for s in seg) / win)
        if rms > 0 and 20 * math.log10(rms / 32768) > -45:
            voiced += 1
    return {"received_s": round(len(samples) / rate, 2), "voiced_s": round(voiced / 50, 2)}


if __name__ == "__main__":
    sys.exit(main())
