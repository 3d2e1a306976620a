"""Spoken language ID through faster-whisper (the tiny random test Whisper: plumbing, not accuracy):
one encoder pass per utterance, the session language never forced, per-language routing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.engines.langid import DECIDED, LangIdAction
from appliance.engines.stt import FasterWhisperSTT, RoutedSTT, STTEngine, Transcript
from tests.support.speech import speech


@pytest.fixture
def encodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every real mel computation and encoder pass (faster-whisper's FeatureExtractor and
    WhisperModel.encode)."""
    from faster_whisper import WhisperModel
    from faster_whisper.feature_extractor import FeatureExtractor

    calls: list[str] = []
    real_encode, real_features = WhisperModel.encode, FeatureExtractor.__call__

    def encode(self: Any, features: Any) -> Any:
        calls.append("encode")
        return real_encode(self, features)

    def features(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append("features")
        return real_features(self, *args, **kwargs)

    monkeypatch.setattr(WhisperModel, "encode", encode)
    monkeypatch.setattr(FeatureExtractor, "__call__", features)
    return calls


def test_one_encoder_pass_per_utterance(test_models: dict[str, Path], encodes: list) -> None:
    stt = FasterWhisperSTT(test_models["whisper"], languages=("en", "et", "ru"), threads=1)
    pcm = speech("Hello, I would like to book a room for my dog", "en")
    out = stt.transcribe_choosing(pcm, 16000, "et", params=DECIDED)
    assert sorted(encodes) == ["encode", "features"]  # detection and transcription share both
    choice = out.language_id
    assert choice is not None and choice.session == "et" and choice.detected in ("en", "et", "ru")
    assert choice.p_detected is not None and choice.p_session is not None and choice.detect_ms is not None
    assert out.language == choice.language
    encodes.clear()
    stt.transcribe_sync(pcm, 16000, "en")  # a plain transcription computes its own
    assert sorted(encodes) == ["encode", "features"]


def test_detected_probabilities_cover_only_the_tenant_languages(test_models: dict[str, Path]) -> None:
    stt = FasterWhisperSTT(test_models["whisper"], languages=("et", "ru"), threads=1)
    probs = stt.detect_languages_sync(speech("Tere, soovin broneerida", "et"), 16000)
    assert set(probs) == {"et", "ru"} and sum(probs.values()) == pytest.approx(1.0)


class _Recording(STTEngine):
    def __init__(self, name: str, languages: tuple[str, ...]) -> None:
        from appliance.engines.stt import STTCapabilities

        self.name = name
        self.capabilities = STTCapabilities(False, languages, 16000)
        self.seen: list[str | None] = []

    def detect_languages_sync(self, pcm16: bytes, sample_rate: int = 16000) -> dict[str, float]:
        return {"en": 0.02, "et": 0.96, "ru": 0.02}

    def transcribe_sync(self, pcm16: bytes, sample_rate: int = 16000, language_hint: str | None = None) -> Transcript:
        self.seen.append(language_hint)
        return Transcript(f"{self.name}", language_hint, None, 1.0)


def test_routed_stt_sends_estonian_turns_to_the_estonian_model() -> None:
    general = _Recording("general", ("en", "et", "ru"))
    estonian = _Recording("taltech", ("et",))
    stt = RoutedSTT(general, {"et": estonian})
    out = stt.transcribe_choosing(speech("Tere, soovin broneerida koha koerale", "et"), 16000, "en")  # clearly et
    assert out.language_id is not None and out.language_id.action is LangIdAction.SWITCH
    assert (out.text, out.language) == ("taltech", "et")
    assert estonian.seen == ["et"] and general.seen == []
    assert stt.transcribe_sync(bytes(3200), 16000, "ru").text == "general"


def test_make_stt_routes_configured_languages_when_installed_and_memory_allows(
    test_models: dict[str, Path], tmp_path: Path
) -> None:
    from appliance.core.config import load_config
    from appliance.engines.factory import make_stt, memory_allows

    whisper = str(test_models["whisper"])
    voice = {"stt_model": whisper, "stt_models": {"et": whisper, "fi": whisper}}
    cfg = load_config(environ={}, use_system=False, overrides={"voice": voice, "store": {"data_dir": str(tmp_path)}})
    stt = make_stt(cfg)
    assert isinstance(stt, RoutedSTT) and set(stt.by_language) == {"et"}  # "fi" is not a tenant language
    assert stt.by_language["et"].capabilities.languages == ("et",)
    assert stt.capabilities.languages == ("en", "et", "ru")
    missing = {"stt_model": whisper, "stt_models": {"et": str(tmp_path / "nowhere")}}
    cfg = load_config(environ={}, use_system=False, overrides={"voice": missing, "store": {"data_dir": str(tmp_path)}})
    assert isinstance(make_stt(cfg), FasterWhisperSTT)  # not installed: the general model serves Estonian
    size = (test_models["whisper"] / "model.bin").stat().st_size
    assert memory_allows(test_models["whisper"], available=size * 2)
    assert not memory_allows(test_models["whisper"], available=size)
