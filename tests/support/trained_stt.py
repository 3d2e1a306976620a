"""Where the trained test speech model lives, and how a caller on an 8 kHz line sounds.

``models/stt-test/`` is committed (int8 CTranslate2 Whisper trained on espeak-ng speech by
``scripts/train_test_stt.py``); voice tests load it through the production ``FasterWhisperSTT``.
Say only sentences from ``tests/support/stt_corpus.py`` to it (``BOOKING_DIALOGUES`` for whole
bookings): it knows those words and nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAINED_STT = REPO_ROOT / "models" / "stt-test"
LANGUAGES = ("en", "et", "ru")


def trained_stt_path() -> Path:
    """The model folder; raises if it is missing (it is in git, so that is a broken checkout)."""
    if not (TRAINED_STT / "model.bin").is_file():
        raise FileNotFoundError(f"{TRAINED_STT}/model.bin is missing: run scripts/train_test_stt.py")
    return TRAINED_STT


def punctuates(model_dir: Path | None = None) -> bool:
    """Whether the model (the committed one by default) writes a final full stop: trained with
    ``--punctuate``, as its TRAINING.json says (a folder without one: no)."""
    info = (model_dir or trained_stt_path()) / "TRAINING.json"
    return info.is_file() and bool(json.loads(info.read_text()).get("punctuate"))


def as_written(text: str) -> str:
    """A corpus phrase as the committed model writes it (``stt_corpus.written`` if it punctuates)."""
    from tests.support.stt_corpus import written

    return written(text) if punctuates() else text


def trained_stt(threads: int = 1, compute_type: str = "int8"):  # -> FasterWhisperSTT
    """The trained model through the production engine, choosing among en/et/ru."""
    from appliance.engines.stt import FasterWhisperSTT

    return FasterWhisperSTT(trained_stt_path(), compute_type, threads=threads, languages=LANGUAGES)


def narrowband(pcm16: bytes, rate: int = 16000) -> bytes:
    """16 kHz int16 speech as an 8 kHz telephone line carries it (int16 at 8000 Hz)."""
    import soxr

    audio = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
    narrow = soxr.resample(audio, rate, 8000)
    return (np.clip(narrow, -1, 1) * 32767).astype("<i2").tobytes()
