"""Common bits for the model engines (LLM, embeddings, STT, TTS, VAD).

Conventions every engine follows:

* Heavy libraries (llama_cpp, faster_whisper, piper, onnxruntime, numpy-heavy helpers) are
  imported lazily, inside the method that needs them, through :func:`require`, so importing
  ``appliance.engines`` is cheap and a missing package becomes an
  :class:`~appliance.core.errors.EngineUnavailable` that says what to install.
* Model work never runs on the asyncio event loop: async methods hand it to a thread
  (or, for the LLM, optionally to a worker process).
* Loading is lazy and idempotent; ``load()`` exists so a daemon can warm up at start.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from appliance.core.errors import EngineUnavailable

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# pip specs for the install hints; one place, matching pyproject.toml.
INSTALL_HINTS: dict[str, str] = {
    "llama_cpp": "pip install 'llama-cpp-python==0.3.36' diskcache",
    "faster_whisper": "pip install 'faster-whisper==1.2.1'",
    "piper": "pip install 'piper-tts==1.8.0'",
    "onnxruntime": "pip install onnxruntime",
    "silero_vad": "pip install 'silero-vad==6.2.3'",
    "numpy": "pip install numpy",
    "soxr": "pip install soxr",
}


def require(module: str, *, what: str, install_hint: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`EngineUnavailable` naming ``what`` needs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        hint = install_hint or INSTALL_HINTS.get(top) or f"pip install {top}"
        raise EngineUnavailable(f"{what} needs the {top!r} package: {exc}", install_hint=hint) from exc


def require_path(path: str | Path, *, what: str, directory: bool = False) -> Path:
    """Check a model file (or folder) exists before any heavy import."""
    p = Path(path).expanduser()
    ok = p.is_dir() if directory else p.is_file()
    if not ok:
        kind = "folder" if directory else "file"
        raise EngineUnavailable(
            f"{what}: model {kind} not found: {p}",
            install_hint="appliance models fetch (or scripts/make_test_models.py for tests)",
        )
    return p


def pcm16_to_float32(pcm16: bytes) -> np.ndarray:
    """Little-endian signed 16-bit mono PCM to float32 in [-1, 1)."""
    np = require("numpy", what="audio conversion")
    if len(pcm16) % 2:
        pcm16 = pcm16[:-1]
    return np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0


def float32_to_pcm16(audio: np.ndarray) -> bytes:
    np = require("numpy", what="audio conversion")
    clipped = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2").tobytes()


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample float32 mono audio; soxr when installed, linear interpolation otherwise."""
    np = require("numpy", what="resampling")
    if from_rate == to_rate or len(audio) == 0:
        return audio
    try:
        import soxr

        return soxr.resample(audio, from_rate, to_rate).astype(np.float32)
    except ImportError:
        n_out = int(round(len(audio) * to_rate / from_rate))
        x_old = np.linspace(0.0, 1.0, num=len(audio), endpoint=False)
        x_new = np.linspace(0.0, 1.0, num=n_out, endpoint=False)
        return np.interp(x_new, x_old, audio).astype(np.float32)


def rms_dbfs(pcm16: bytes) -> float:
    """Loudness of PCM16 audio in dBFS (-inf for digital silence); handy for checks and tests."""
    import math

    np = require("numpy", what="audio level")
    samples = np.frombuffer(pcm16[: len(pcm16) // 2 * 2], dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(samples**2)))
    return 20 * math.log10(rms / 32768.0) if rms > 0 else float("-inf")


def voiced_seconds(pcm16: bytes, sample_rate: int, *, frame_s: float = 0.02, below_peak_db: float = 30.0) -> float:
    """Seconds of speech in an utterance: 20 ms frames louder than the loudest frame minus
    ``below_peak_db`` (and than -50 dBFS). A turn's audio carries pre-roll and the end-of-turn
    silence; spoken language ID judges "long enough" on the speech itself."""
    np = require("numpy", what="audio level")
    samples = np.frombuffer(pcm16[: len(pcm16) // 2 * 2], dtype="<i2").astype(np.float64)
    n = max(1, int(sample_rate * frame_s))
    frames = samples[: len(samples) // n * n].reshape(-1, n)
    if frames.size == 0:
        return 0.0
    rms = np.sqrt(np.mean(frames**2, axis=1)) / 32768.0
    peak = float(rms.max())
    if peak <= 0:
        return 0.0
    floor = max(peak * 10 ** (-below_peak_db / 20), 10 ** (-50 / 20))
    return float(np.count_nonzero(rms >= floor)) * frame_s


class LogOnce:
    """Log a message only the first time for a key (e.g. 'no Piper voice for et')."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._seen: set[str] = set()

    def warning(self, key: str, msg: str, *args: object) -> None:
        if key not in self._seen:
            self._seen.add(key)
            self._logger.warning(msg, *args)
