"""Model engines behind narrow ABCs: LLM, embeddings, speech to text, text to speech, VAD.

Importing this package is cheap: heavy libraries load lazily inside the engines and fail
with ``EngineUnavailable(..., install_hint=...)``. Tests use tiny random-weight models from
``scripts/make_test_models.py`` (see docs/MODELS_TESTING.md).
"""

from appliance.engines.embed import Embedder, HashingEmbedder, LlamaCppEmbedder
from appliance.engines.llm import LlamaCppEngine, LLMCapabilities, LLMEngine
from appliance.engines.stt import FasterWhisperSTT, ScriptedSTT, STTCapabilities, STTEngine, Transcript
from appliance.engines.tts import AudioChunk, EspeakTTS, MultiVoiceTTS, PiperTTS, TTSCapabilities, TTSEngine
from appliance.engines.vad import VAD, SileroVAD

__all__ = [
    "VAD",
    "AudioChunk",
    "Embedder",
    "EspeakTTS",
    "FasterWhisperSTT",
    "HashingEmbedder",
    "LLMCapabilities",
    "LLMEngine",
    "LlamaCppEmbedder",
    "LlamaCppEngine",
    "MultiVoiceTTS",
    "PiperTTS",
    "STTCapabilities",
    "STTEngine",
    "ScriptedSTT",
    "SileroVAD",
    "TTSCapabilities",
    "TTSEngine",
    "Transcript",
]
