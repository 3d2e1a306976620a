"""End-of-turn models: judge from the turn's audio whether the caller has finished.

``turn_strategy = "smart_turn"`` (docs/VOICE.md): at SPECULATIVE_END the voice input processor
hands the current turn's audio to a :class:`TurnModel` in a worker thread and feeds the answer
to :meth:`appliance.voice.turns.TurnSegmenter.model_verdict`. The one implementation is
pipecat's smart-turn v3 (:class:`SmartTurnModel`), whose ONNX weights ship inside pipecat
(``pipecat/audio/turn/smart_turn/data``): nothing is downloaded. One model is loaded per process
and shared by all calls (:func:`shared_smart_turn`); inference runs on a small shared thread
pool (:func:`turn_model_executor`), never on the event loop.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from appliance.core.errors import EngineUnavailable

MODEL_RATE = 16000
_INSTALL_HINT = "pip install 'pipecat-ai[silero]==1.14.0' (brings onnxruntime and the bundled smart-turn weights)"


@dataclass(frozen=True, slots=True)
class TurnModelVerdict:
    complete: bool
    probability: float  # the model's probability that the turn is complete
    infer_ms: float  # wall time of the inference


class TurnModel(ABC):
    """Judges whether a turn's audio (mono signed 16-bit PCM) sounds finished. Blocking: call
    :meth:`judge` from a worker thread."""

    def load(self) -> None:  # noqa: B027 - optional hook: load weights ahead of the first call
        """Load the weights (idempotent); the default does nothing."""

    @abstractmethod
    def judge(self, pcm16: bytes, sample_rate: int) -> TurnModelVerdict: ...


class SmartTurnModel(TurnModel):
    """pipecat's ``LocalSmartTurnAnalyzerV3`` (bundled smart-turn v3.x CPU weights, or
    ``model_path``). Only its stateless ``_predict_endpoint`` is used, so one instance serves
    several calls at once (an onnxruntime session's ``run`` is thread-safe)."""

    def __init__(self, model_path: str | None = None, *, cpu_count: int = 1) -> None:
        self._path = model_path
        self._cpu_count = cpu_count
        self._analyzer: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._analyzer is not None

    def load(self) -> None:
        if self._analyzer is not None:
            return
        with self._lock:
            if self._analyzer is not None:
                return
            try:
                from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
            except ImportError as exc:
                raise EngineUnavailable(f"smart-turn needs onnxruntime: {exc}", install_hint=_INSTALL_HINT) from exc
            try:
                analyzer = LocalSmartTurnAnalyzerV3(smart_turn_model_path=self._path, cpu_count=self._cpu_count)
            except Exception as exc:  # noqa: BLE001 - a missing/corrupt model file, an ORT failure
                raise EngineUnavailable(f"smart-turn model failed to load: {exc}", install_hint=_INSTALL_HINT) from exc
            analyzer.set_sample_rate(MODEL_RATE)
            import numpy as np

            analyzer._predict_endpoint(np.zeros(MODEL_RATE, np.float32))  # warm-up: the first run is ~3x slower
            self._analyzer = analyzer

    def judge(self, pcm16: bytes, sample_rate: int) -> TurnModelVerdict:
        import numpy as np

        self.load()
        audio = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
        if sample_rate != MODEL_RATE:
            import soxr

            audio = soxr.resample(audio, sample_rate, MODEL_RATE).astype(np.float32)
        t = time.perf_counter()
        out = self._analyzer._predict_endpoint(audio)
        ms = (time.perf_counter() - t) * 1000
        return TurnModelVerdict(bool(out["prediction"] == 1), float(out["probability"]), round(ms, 2))


_shared: SmartTurnModel | None = None
_executor: ThreadPoolExecutor | None = None
_shared_lock = threading.Lock()


def shared_smart_turn() -> SmartTurnModel:
    """The process-wide smart-turn model (not loaded yet: ``load()`` it in a thread)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SmartTurnModel()
        return _shared


def turn_model_executor() -> ThreadPoolExecutor:
    """The process-wide thread pool for turn-model inference (two threads: two cores)."""
    global _executor
    with _shared_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="turn-model")
        return _executor
