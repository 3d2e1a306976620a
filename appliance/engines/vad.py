"""Voice activity detection: Silero VAD (real weights, shipped inside the ``silero-vad`` package).

The ONNX model runs through onnxruntime directly (no torch import): 512-sample frames at
16 kHz with 64 samples of context carried over and a recurrent state, exactly as silero-vad's
own ``OnnxWrapper`` does. One ``SileroVAD`` per audio stream (it is stateful); ``is_speech``
is fast (well under a millisecond per frame), so the voice path may call it inline.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from importlib import resources
from pathlib import Path
from typing import Any

from appliance.core.errors import EngineUnavailable
from appliance.engines.base import pcm16_to_float32, require

VAD_RATE = 16000
FRAME_SAMPLES = 512  # 32 ms at 16 kHz
FRAME_BYTES = FRAME_SAMPLES * 2
_CONTEXT = 64


class VAD(ABC):
    sample_rate: int = VAD_RATE
    frame_samples: int = FRAME_SAMPLES

    @abstractmethod
    def is_speech(self, frame_pcm16_16k: bytes) -> float:
        """Speech probability in [0, 1] for a frame of 16 kHz mono PCM16 (512 samples ideally)."""

    def reset(self) -> None:  # noqa: B027 - stateless VADs need nothing
        """Forget the stream so far (new call, or after a long gap)."""


def silero_model_path() -> Path:
    """The ONNX file bundled with the silero-vad package, or pipecat's copy."""
    for package, name in (("silero_vad.data", "silero_vad.onnx"), ("pipecat.audio.vad.data", "silero_vad.onnx")):
        try:
            path = Path(str(resources.files(package).joinpath(name)))
        except (ModuleNotFoundError, TypeError):
            continue
        if path.is_file():
            return path
    raise EngineUnavailable("the Silero VAD model was not found", install_hint="pip install 'silero-vad==6.2.3'")


class SileroVAD(VAD):
    def __init__(self, model_path: str | Path | None = None) -> None:
        self.model_path = Path(model_path) if model_path else None
        self._session: Any = None
        self._np: Any = None
        self._lock = threading.Lock()
        self._state: Any = None
        self._context: Any = None

    def load(self) -> None:
        if self._session is not None:
            return
        ort = require("onnxruntime", what="Silero VAD")
        np = require("numpy", what="Silero VAD")
        path = self.model_path or silero_model_path()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise EngineUnavailable(f"could not load Silero VAD {path}: {exc}") from exc
        self._np = np
        self._reset_state()

    def _reset_state(self) -> None:
        np = self._np
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, _CONTEXT), dtype=np.float32)

    def reset(self) -> None:
        with self._lock:
            if self._session is not None:
                self._reset_state()

    def is_speech(self, frame_pcm16_16k: bytes) -> float:
        """Frames of other lengths are cut into 512-sample windows (the last zero-padded);
        the highest window probability is returned."""
        with self._lock:
            self.load()
            np = self._np
            audio = pcm16_to_float32(frame_pcm16_16k)
            if audio.size == 0:
                return 0.0
            pad = (-audio.size) % FRAME_SAMPLES
            if pad:
                audio = np.concatenate([audio, np.zeros(pad, dtype=np.float32)])
            best = 0.0
            sr = np.array(VAD_RATE, dtype=np.int64)
            for start in range(0, audio.size, FRAME_SAMPLES):
                window = audio[start : start + FRAME_SAMPLES].reshape(1, -1)
                x = np.concatenate([self._context, window], axis=1)
                out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": sr})
                self._context = x[:, -_CONTEXT:]
                best = max(best, float(out[0][0]))
            return best


__all__ = ["FRAME_BYTES", "FRAME_SAMPLES", "SileroVAD", "VAD", "VAD_RATE", "silero_model_path"]
