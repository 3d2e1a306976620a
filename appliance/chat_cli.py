"""``appliance chat``: the brain in a terminal, interactive or scripted.

With stdin a terminal it is a small REPL. Otherwise it reads one user
utterance per line and writes one JSON object per reply to stdout (keys:
``reply``, ``language``, ``slots``, ``awaiting``, ``actions``, ``booking_id``,
``degraded``, plus ``session``, ``quick_replies``, ``speakable``, ``sms``).
The brain runs in-process on the same store the daemon uses (SQLite handles
both safely through its writer path).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
import uuid
from typing import Any

from appliance.core.clock import Clock, fixed_clock, system_clock
from appliance.core.config import Config
from appliance.core.errors import ConfigError
from appliance.core.messages import Channel, Reply, Utterance, to_dict


def parse_now(value: str | None) -> Clock:
    if not value:
        return system_clock
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"not an ISO timestamp: {value!r}", key="--now") from None
    return fixed_clock(at)


def reply_json(reply: Reply) -> dict[str, Any]:
    d = to_dict(reply)
    return {
        "session": reply.session_id,
        "reply": reply.text,
        "language": reply.language,
        "slots": reply.slots,
        "awaiting": reply.awaiting,
        "actions": d["actions"],
        "booking_id": reply.booking_id,
        "degraded": reply.degraded,
        "quick_replies": d["quick_replies"],
        "speakable": reply.speakable,
        "sms": reply.sms,
        "transfer_to": reply.transfer_to,
        "end": reply.end_of_conversation,
    }


async def _chat(
    cfg: Config, session: str, channel: Channel, clock: Clock, interactive: bool, caller_id: str | None
) -> int:
    from appliance.brain.factory import build_brain

    brain = await build_brain(cfg, clock=clock)
    engine = brain
    try:
        if interactive:
            print(f"session {session} — type your message, Ctrl-D to quit", file=sys.stderr)
            greeting = await engine.greet(session, channel, caller_id=caller_id)
            print(f"receptionist> {greeting.text}")
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                line = await loop.run_in_executor(None, _prompt)
            else:
                line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            text = line.rstrip("\n")
            if not interactive and not text.strip():
                continue
            utt = Utterance(session_id=session, channel=channel, text=text, received_at=clock(), caller_id=caller_id)
            reply = await engine.handle(utt)
            if interactive:
                print(f"receptionist> {reply.text}")
                if reply.quick_replies:
                    print("   [" + "] [".join(q.label for q in reply.quick_replies) + "]")
            else:
                sys.stdout.write(json.dumps(reply_json(reply), ensure_ascii=False) + "\n")
                sys.stdout.flush()
    finally:
        await brain.aclose()
    return 0


def _prompt() -> str:
    try:
        return input("you> ") + "\n"
    except EOFError:
        return ""


def run_chat(
    cfg: Config,
    *,
    session: str | None,
    channel: str = "cli",
    now: str | None = None,
    caller_id: str | None = None,
) -> int:
    interactive = sys.stdin.isatty()
    logging.basicConfig(level=logging.WARNING if not interactive else logging.ERROR, stream=sys.stderr)
    clock = parse_now(now)
    return asyncio.run(_chat(cfg, session or uuid.uuid4().hex[:12], Channel(channel), clock, interactive, caller_id))
