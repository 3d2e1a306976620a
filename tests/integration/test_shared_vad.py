"""Calls share one Silero ONNX session (voice/shared_vad.py) but not its recurrent state: each
call's analyzer scores real speech exactly as pipecat's own per-call ``SileroVADAnalyzer`` does,
also when two calls interleave their windows."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from pipecat.audio.vad.silero import SileroVADAnalyzer

from appliance.voice.shared_vad import call_vad


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    import soundfile as sf
    import soxr

    wav = tmp_path_factory.mktemp("vad") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "I would like to book a room for my dog."], check=True)
    data, rate = sf.read(str(wav), dtype="float32")
    data = np.concatenate([np.zeros(8000, np.float32), soxr.resample(data, rate, 16000), np.zeros(8000, np.float32)])
    return (data * 32767).astype(np.int16).tobytes()


def _f(x: object) -> float:
    return float(np.asarray(x).ravel()[0])


def _scores(vad: SileroVADAnalyzer, audio: bytes) -> list[float]:
    step = vad.num_frames_required() * 2
    return [_f(vad.voice_confidence(audio[i : i + step])) for i in range(0, len(audio) - step + 1, step)]


def test_shared_session_separate_state_same_scores(speech: bytes) -> None:
    own = SileroVADAnalyzer(sample_rate=16000)
    own.set_sample_rate(16000)
    reference = _scores(own, speech)
    assert max(reference) > 0.9 and min(reference) < 0.1  # speech and silence were told apart
    a, b = call_vad(), call_vad()
    for v in (a, b):
        v.set_sample_rate(16000)
    assert a._model.session is b._model.session  # one ONNX session for every call
    assert a._model._state is not b._model._state
    step = a.num_frames_required() * 2
    silence = bytes(len(speech))
    got_a, got_b = [], []
    for i in range(0, len(speech) - step + 1, step):  # two calls at once, window by window
        got_a.append(_f(a.voice_confidence(speech[i : i + step])))
        got_b.append(_f(b.voice_confidence(silence[i : i + step])))
    assert got_a == pytest.approx(reference, abs=1e-5)
    assert max(got_b) < 0.1  # the other call's silence never saw the speech's state


def test_a_new_call_starts_from_a_fresh_state(speech: bytes) -> None:
    first = call_vad()
    first.set_sample_rate(16000)
    _scores(first, speech[: len(speech) // 2])  # a call cut in the middle of speech
    second = call_vad()
    second.set_sample_rate(16000)
    fresh = SileroVADAnalyzer(sample_rate=16000)
    fresh.set_sample_rate(16000)
    assert _scores(second, speech) == pytest.approx(_scores(fresh, speech), abs=1e-5)
