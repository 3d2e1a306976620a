"""turn_strategy = "smart_turn" through the real pipeline (file transport, bundled Silero VAD,
espeak-ng): pipecat's bundled smart-turn model runs at each speculative point. Plumbing, not
quality: the call completes and finds its turns. The end-of-turn arithmetic is checked with a
fixed-verdict model at the TurnModel seam (the model's own answers on synthetic speech vary)."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import pytest

from appliance.core.messages import Reply, Utterance

pytest.importorskip("pipecat")
pytest.importorskip("onnxruntime")
if shutil.which("espeak-ng") is None:  # pragma: no cover - the test image installs it
    pytest.fail("espeak-ng is required: apt-get install -y espeak-ng", pytrace=False)

from appliance.channels.file_transport import RATE, run_call, write_wav  # noqa: E402
from appliance.core.config import load_config  # noqa: E402
from appliance.engines.stt import ScriptedSTT  # noqa: E402
from appliance.engines.tts import EspeakTTS  # noqa: E402
from appliance.voice.pipeline import VoiceSettings  # noqa: E402
from appliance.voice.smart_turn import SmartTurnModel, TurnModel, TurnModelVerdict, shared_smart_turn  # noqa: E402
from appliance.voice.timeline import Mark  # noqa: E402
from tests.support.brains import FakeBrainBase  # noqa: E402
from tests.support.speech import silence, speech  # noqa: E402

UTTERANCES = [("en", "How much is a room for my dog?"), ("ru", "Спасибо большое.")]


class EchoBrain(FakeBrainBase):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    async def handle(self, utterance: Utterance, *, on_slow: Any = None) -> Reply:
        self.seen.append(utterance.text)
        return Reply("s", "Okay.", "en", speakable="Okay.")


class FixedModel(TurnModel):
    """Test seam: always the same verdict; counts its calls."""

    def __init__(self, complete: bool) -> None:
        self.complete = complete
        self.calls = 0

    def judge(self, pcm16: bytes, sample_rate: int) -> TurnModelVerdict:
        self.calls += 1
        return TurnModelVerdict(self.complete, 1.0 if self.complete else 0.0, 0.0)


def _wav(tmp_path) -> tuple[list[float], list[float]]:
    """Two utterances separated by 2 s of silence; returns their true (start, end) times."""
    pcm, starts, ends = silence(0.6), [], []
    for language, text in UTTERANCES:
        starts.append(len(pcm) / 2 / RATE)
        pcm += speech(text, language)
        ends.append(len(pcm) / 2 / RATE)
        pcm += silence(2.0)
    write_wav(tmp_path / "in.wav", pcm)
    return starts, ends


def test_smart_turn_call_from_config(tmp_path):
    """The real smart-turn model, selected in the config: the call runs and finds both turns."""
    starts, ends = _wav(tmp_path)
    cfg = load_config(
        environ={},
        use_system=False,
        overrides={"store": {"data_dir": str(tmp_path / "data")}, "voice": {"turn_strategy": "smart_turn"}},
    )
    settings = VoiceSettings.from_config(cfg)
    assert settings.turn_strategy == "smart_turn"
    brain = EchoBrain()
    result = asyncio.run(
        run_call(
            tmp_path / "in.wav",
            tmp_path / "out.wav",
            brain=brain,
            stt=ScriptedSTT(["how much is it", "goodbye"]),
            tts=EspeakTTS(),
            session_id="smart-turn",
            config=cfg,
        )
    )
    assert result.errors == ()
    assert brain.seen == ["how much is it", "goodbye"]
    turns = result.caller_turns
    assert len(turns) == 2
    for turn, start, end in zip(turns, starts, ends, strict=True):
        assert turn.end_reason in ("complete", "silence")
        assert start - 0.1 <= turn.audio[Mark.SPEECH_START] <= start + 0.3
        # smart-turn "complete" ends at 0.12 s (plus VAD lag), "incomplete" at 0.5 s
        assert end < turn.audio[Mark.END_OF_SPEECH] <= end + 0.5 + 0.15
        judged = [s for s in turn.speculations if "model_complete" in s]
        assert judged, turn.speculations  # the model ran at the speculative point(s)
        assert all(isinstance(s["model_complete"], bool) and 0 <= s["model_probability"] <= 1 for s in judged)
        if turn.end_reason == "complete":
            assert judged[-1]["model_complete"] is True
    assert shared_smart_turn().loaded  # loaded once, kept for the next call


@pytest.mark.parametrize(("complete", "reason", "wait_s"), [(True, "complete", 0.12), (False, "silence", 0.5)])
def test_model_verdict_sets_the_end_of_turn(tmp_path, complete, reason, wait_s):
    """A "complete" verdict ends the turn at the speculative point (0.12 s), "incomplete" waits 0.5 s."""
    _, ends = _wav(tmp_path)
    model = FixedModel(complete)
    result = asyncio.run(
        run_call(
            tmp_path / "in.wav",
            tmp_path / "out.wav",
            brain=EchoBrain(),
            stt=ScriptedSTT(["one", "two"]),
            tts=EspeakTTS(),
            session_id=f"fixed-model-{complete}",
            settings=VoiceSettings.smart_turn(0.5),
            turn_model=model,
        )
    )
    assert result.errors == ()
    assert model.calls >= 2
    turns = result.caller_turns
    assert [t.end_reason for t in turns] == [reason, reason]
    for turn, end in zip(turns, ends, strict=True):
        # Silero's lag behind the true end is ~30-90 ms
        assert wait_s < turn.audio[Mark.END_OF_SPEECH] - end < wait_s + 0.12


def test_smart_turn_model_judges_speech():
    model = SmartTurnModel()
    verdict = model.judge(silence(0.3) + speech("What time do you open tomorrow?", "en"), RATE)
    assert isinstance(verdict.complete, bool) and 0.0 <= verdict.probability <= 1.0
    resampled = model.judge(silence(0.3), 8000)  # other rates are resampled to the model's 16 kHz
    assert 0.0 <= resampled.probability <= 1.0
    assert shared_smart_turn() is shared_smart_turn()
