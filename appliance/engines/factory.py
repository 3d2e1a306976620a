"""Speech engines from the configuration, shared by the daemon (SIP) and ``appliance call``.

STT: ``voice.stt_model`` (a path or a manifest role; default role ``stt``).
TTS: one Piper voice per language from ``voice.tts_voices`` (paths or roles;
default roles ``tts-<lang>`` when installed), espeak-ng for the rest.
A missing model is not fatal here: the caller decides (the SIP channel
answers in degraded mode with a DTMF menu; ``appliance call`` exits 2).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from appliance.core.config import Config
from appliance.core.errors import EngineUnavailable

log = logging.getLogger(__name__)


def _resolve(ref: str, cfg: Config) -> Path | None:
    from appliance.engines.manifest import models_dir, resolve_model_ref

    return resolve_model_ref(ref, dest=models_dir(cfg))


def make_stt(cfg: Config) -> Any:
    """The configured Whisper; raises EngineUnavailable with the fetch hint when missing."""
    from appliance.engines.stt import FasterWhisperSTT

    path = _resolve(cfg.voice.stt_model or "stt", cfg)
    if path is None:
        raise EngineUnavailable("no speech recognition model configured", install_hint="appliance models fetch stt")
    return FasterWhisperSTT(path, languages=tuple(cfg.tenant.languages), threads=cfg.llm.threads)


def piper_voices(cfg: Config) -> dict[str, Path]:
    voices: dict[str, Path] = {}
    for lang in cfg.tenant.languages:
        ref = cfg.voice.tts_voices.get(lang) or f"tts-{lang}"
        try:
            path = _resolve(ref, cfg)
        except (EngineUnavailable, KeyError, ValueError) as exc:
            if lang in cfg.voice.tts_voices:
                log.warning("Piper voice for %s unavailable (%s); espeak-ng speaks %s", lang, exc, lang)
            continue
        except Exception as exc:  # an unknown manifest role, for instance
            log.debug("no Piper voice for %s: %s", lang, exc)
            continue
        if path is not None:
            voices[lang] = path
    return voices


def make_tts(cfg: Config) -> Any:
    """Piper where a voice exists, espeak-ng for the other languages (Estonian today)."""
    from appliance.engines.tts import EspeakTTS, MultiVoiceTTS, PiperTTS

    voices = piper_voices(cfg)
    for lang in cfg.tenant.languages:
        if lang not in voices:
            log.info("no Piper voice for %r: espeak-ng speaks it", lang)
    return MultiVoiceTTS(PiperTTS(voices) if voices else None, EspeakTTS())


async def load_speech_engines(cfg: Config) -> tuple[Any, Any]:
    """(stt, tts) for the SIP channel; None where a model is missing (calls then get the DTMF menu)."""
    import asyncio

    from appliance.core.errors import ApplianceError

    stt: Any = None
    tts: Any = None
    try:
        stt = await asyncio.to_thread(make_stt, cfg)
    except ApplianceError as exc:
        log.warning("no speech recognition: calls get the DTMF menu (%s)", exc)
    try:
        tts = await asyncio.to_thread(make_tts, cfg)
    except ApplianceError as exc:
        log.warning("no speech synthesis: calls get the DTMF menu (%s)", exc)
    return stt, tts
