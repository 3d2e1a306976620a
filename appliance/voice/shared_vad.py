"""Silero VAD for a call without loading the model for every call.

pipecat's ``SileroVADAnalyzer`` opens its own onnxruntime ``InferenceSession`` per instance,
and the voice path made one per call: the ONNX model parsed again, a session with its own
memory arena and thread pool, ~0.2 s of CPU at every call start, and memory that glibc keeps
after the call (measured with ``scripts/bench_sip_memory.py``, docs/BENCHMARKS.md). Here every
call gets its own analyzer and recurrent state (a shallow copy of one model wrapper with the
state reset) over **one** session per process; ``InferenceSession.run`` may be called from
several threads at once.
"""

from __future__ import annotations

import copy
import threading
from importlib import resources
from typing import Any

from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams

_lock = threading.Lock()
_model: SileroOnnxModel | None = None


def _shared_model() -> SileroOnnxModel:
    global _model
    with _lock:
        if _model is None:
            # pipecat's copy of the model: ``engines.vad.silero_model_path`` would find the
            # silero-vad package's first, and importing that package imports torch (~200 MB)
            path = resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx")
            _model = SileroOnnxModel(str(path), force_onnx_cpu=True)
        return _model


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    """A ``SileroVADAnalyzer`` (same scoring, same state resets) on the process's one session."""

    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None) -> None:
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)  # not Silero's: it loads
        model: Any = copy.copy(_shared_model())
        model.reset_states()  # this call's own recurrent state and context
        self._model = model
        self._windows_since_reset = 0
        self._low_confidence_windows = 0


def call_vad(params: VADParams | None = None) -> SileroVADAnalyzer:
    """The VAD analyzer for one call."""
    return SharedSileroVADAnalyzer(params=params)
