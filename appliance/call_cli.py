"""``appliance call``: a simulated phone call from a WAV file through the real voice pipeline.

The brain is built from the config (SQLite in the data dir, LLM per ``llm.mode``), STT is
faster-whisper on ``voice.stt_model`` (a path or a manifest role, default role ``stt``) or, with
``--script``, a scripted seam (one utterance per line; ``[et] Tere`` tags the line's language as
Whisper would detect it). TTS is Piper per language (``voice.tts_voices``, default the manifest's
``tts-<lang>`` roles when installed) with espeak-ng for languages without a voice. The appliance
greets first, in the tenant's default language. Output: the appliance's side of the call as a WAV
aligned with the input, the per-turn timelines as JSON (``--timeline``), and a one-line JSON
summary on stdout. Exit codes as in :mod:`appliance.cli`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from appliance.core.config import Config
from appliance.core.errors import ApplianceError, EngineUnavailable

log = logging.getLogger("appliance.call")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
_TAG = re.compile(r"^\[([a-z]{2})\]\s*(.*)$")


class CallCliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = code


# --- engines ---------------------------------------------------------------------------------


def read_script(path: Path) -> list[Any]:
    """One utterance per line (blank lines and ``#`` comments skipped); ``[xx] text`` carries the
    language (probability 0.95) as Whisper would report it, untagged lines carry none."""
    from appliance.engines.stt import Transcript

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CallCliError(f"cannot read --script {path}: {exc.strerror}", EXIT_USAGE) from None
    items: list[Any] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _TAG.match(line)
        if m:
            items.append(Transcript(m.group(2), m.group(1), 0.95, 0.0))
        else:
            items.append(Transcript(line, None, None, 0.0))
    if not items:
        raise CallCliError(f"--script {path} has no utterances", EXIT_USAGE)
    return items


def build_stt(cfg: Config, script: str | None = None) -> Any:
    """ScriptedSTT for ``--script``, else faster-whisper on the configured model (loaded now, so a
    missing model is a clear exit 2 with the fetch hint rather than a failed first turn)."""
    from appliance.engines.stt import FasterWhisperSTT, ScriptedSTT

    if script:
        return ScriptedSTT(read_script(Path(script)), language=None, languages=tuple(cfg.tenant.languages))
    from appliance.engines.manifest import models_dir, resolve_model_ref

    ref = cfg.voice.stt_model or "stt"
    try:
        path = resolve_model_ref(ref, dest=models_dir(cfg))
        if path is None:
            raise EngineUnavailable("no speech-to-text model configured", install_hint="appliance models fetch stt")
        stt = FasterWhisperSTT(path, languages=tuple(cfg.tenant.languages))
        stt.load()
    except EngineUnavailable as exc:
        raise CallCliError(f"speech-to-text model {ref!r} unavailable: {exc}", EXIT_USAGE) from None
    return stt


def piper_voices(cfg: Config) -> dict[str, Path]:
    """``voice.tts_voices`` resolved to .onnx files; unset: the manifest's installed ``tts-<lang>``."""
    from appliance.engines.manifest import load_manifest, models_dir, resolve_model_ref

    dest = models_dir(cfg)
    configured = dict(cfg.voice.tts_voices)
    explicit = bool(configured)
    if not explicit:
        try:
            roles = set(load_manifest().roles)
        except ApplianceError:
            roles = set()
        configured = {lang: f"tts-{lang}" for lang in cfg.tenant.languages if f"tts-{lang}" in roles}
    voices: dict[str, Path] = {}
    for lang, ref in configured.items():
        try:
            path = resolve_model_ref(ref, dest=dest)
        except EngineUnavailable as exc:
            (log.warning if explicit else log.info)("no Piper voice for %r (%s): espeak-ng will speak it", lang, exc)
            continue
        if path is not None:
            voices[lang] = path
    return voices


def build_tts(cfg: Config) -> Any:
    from appliance.engines.tts import EspeakTTS, MultiVoiceTTS, PiperTTS

    voices = piper_voices(cfg)
    return MultiVoiceTTS(PiperTTS(voices) if voices else None, EspeakTTS())


# --- the call --------------------------------------------------------------------------------


async def _call(cfg: Config, args: argparse.Namespace, stt: Any, tts: Any, clock: Any, session: str) -> dict[str, Any]:
    from appliance.brain.factory import build_brain
    from appliance.channels.file_transport import run_call
    from appliance.core.messages import Event, EventType

    bookings: list[str] = []

    def on_event(ev: Event) -> None:
        if ev.type is EventType.BOOKING_CREATED:
            bid = ev.data.get("id") or ev.data.get("booking_id")
            if bid:
                bookings.append(str(bid))

    brain = await build_brain(cfg, clock=clock, on_event=on_event)
    try:
        engine = brain
        result = await run_call(
            Path(args.wav),
            Path(args.out),
            brain=engine,
            stt=stt,
            tts=tts,
            session_id=session,
            timeline_out=Path(args.timeline) if getattr(args, "timeline", None) else None,
            config=cfg,
            greet=True,
            caller_id=getattr(args, "caller_id", None),
        )
    finally:
        await brain.aclose()
    caller = result.caller_turns
    return {
        "session_id": session,
        "turns": len(caller),
        "greeting": any(t.kind == "greeting" for t in result.turns),
        "booking_ids": bookings,
        "ended_by": result.ended_by,
        "transfer_to": result.transfer_to,
        "interruptions": result.interruptions,
        "backchannels": result.backchannels,
        "notices": len(result.notices),
        "duration_s": result.duration_s,
        "errors": list(result.errors),
        "out": str(args.out),
        "timeline": getattr(args, "timeline", None),
    }


def _setup_logging(level: str) -> None:
    """Our loggers at the configured level (one ``voice_turn`` line per turn at INFO); pipecat's
    loguru output at WARNING and above, so stderr is not flooded with per-frame debug lines."""
    logging.basicConfig(level=getattr(logging, level, logging.INFO), stream=sys.stderr)
    try:
        from loguru import logger
    except ImportError:  # pragma: no cover - pipecat depends on loguru
        return
    logger.remove()
    logger.add(sys.stderr, level="WARNING")


def run_call_cli(cfg: Config, args: argparse.Namespace) -> int:
    from appliance.chat_cli import parse_now

    _setup_logging(cfg.logging.level)
    wav = Path(args.wav)
    if not wav.is_file():
        print(f"error: --wav {wav}: no such file", file=sys.stderr)
        return EXIT_USAGE
    try:
        clock = parse_now(getattr(args, "now", None))
        stt = build_stt(cfg, getattr(args, "script", None))
        tts = build_tts(cfg)
        session = getattr(args, "session", None) or f"call-{uuid.uuid4().hex[:12]}"
        summary = asyncio.run(_call(cfg, args, stt, tts, clock, session))
    except CallCliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (OSError, RuntimeError) as exc:  # unreadable WAV, pipeline failure
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(json.dumps(summary, ensure_ascii=False))
    return EXIT_OK if not _fatal(summary["errors"]) else EXIT_FAILURE


def _fatal(errors: list[str]) -> bool:
    """A call that lost turns to engine failures did not do its job (exit 1)."""
    return any(e.startswith(("stt:", "brain:", "clock hold")) for e in errors)
