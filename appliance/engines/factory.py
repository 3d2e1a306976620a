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
    """The configured Whisper; raises EngineUnavailable with the fetch hint when missing.

    With ``voice.stt_models`` (e.g. ``{ et = "stt-et" }``) the general model detects the language
    and a :class:`~appliance.engines.stt.RoutedSTT` hands each configured language's turns to its
    own model, when that model is installed and the memory allows; otherwise the general model
    serves that language too (logged)."""
    from appliance.engines.stt import FasterWhisperSTT, RoutedSTT, STTEngine

    path = _resolve(cfg.voice.stt_model or "stt", cfg)
    if path is None:
        raise EngineUnavailable("no speech recognition model configured", install_hint="appliance models fetch stt")
    general = FasterWhisperSTT(path, languages=tuple(cfg.tenant.languages), threads=cfg.llm.threads)
    routed: dict[str, STTEngine] = {}
    for lang, ref in cfg.voice.stt_models.items():
        if lang not in cfg.tenant.languages:
            log.warning("voice.stt_models: %r is not a tenant language; ignored", lang)
            continue
        try:
            lang_path = _resolve(ref, cfg)
        except EngineUnavailable as exc:
            log.warning("STT model for %s unavailable (%s): the general model serves %s", lang, exc, lang)
            continue
        if lang_path is None:
            continue
        if not memory_allows(lang_path):
            log.warning("not enough free memory for the %s STT model %s: the general model serves it", lang, lang_path)
            continue
        routed[lang] = FasterWhisperSTT(lang_path, languages=(lang,), threads=cfg.llm.threads)
    return RoutedSTT(general, routed) if routed else general


def memory_allows(model_dir: Path, *, factor: float = 1.3, available: int | None = None) -> bool:
    """A CTranslate2 folder fits: its model.bin (int8 on CPU loads at most its own size) times
    ``factor`` is below the memory available now (``/proc/meminfo`` MemAvailable)."""
    weights = Path(model_dir) / "model.bin"
    size = weights.stat().st_size if weights.is_file() else 0
    if available is None:
        available = _available_memory()
    return available is None or size * factor <= available


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


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
    """(stt, tts) for the SIP channel; None where a model is missing (calls then get the DTMF menu).
    With the shared model services on (``services``), clients of the services: no model here."""
    import asyncio

    from appliance.core.errors import ApplianceError

    if cfg.services.mode == "on":  # ModelServices.start hands out its config with mode "on"
        from appliance.engines.service.client import service_engines

        return service_engines(cfg)
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
