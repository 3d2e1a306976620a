"""Acceptance: ``appliance call`` as a subprocess, with espeak-ng speech in English, Estonian and
Russian (WAVs made here, at different sample rates), the real brain on a real SQLite file, the
bundled Silero VAD, and either the scripted STT seam or the real tiny Whisper.

With ``--script`` utterance n gives text n; the appliance greets first, and the caller's
utterances are ~1 s apart, so replies are barged into now and then, like a hurried caller.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pipecat")
if shutil.which("espeak-ng") is None:  # pragma: no cover - the test image installs it
    pytest.fail("espeak-ng is required: apt-get install -y espeak-ng", pytrace=False)

from appliance.engines.tts import EspeakTTS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-12-01T10:00:00+02:00"
_ESPEAK = EspeakTTS()

# (spoken text, scripted transcript) per utterance; the first line tags the language as Whisper would
SCRIPTS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("Hi, I need a room for my dog", "[en] Hi, I need a room for my dog"),
        ("His name is Max", "His name is Max"),
        ("Next weekend", "Next weekend"),
        ("Mari Tamm", "Mari Tamm"),
        ("plus three seven two, five one two three, four five six seven", "+372 5123 4567"),
        ("Yes", "Yes"),
    ],
    "et": [
        ("Tere, sooviks broneerida", "[et] Tere, sooviks broneerida"),
        ("Järgmisel nädalavahetusel", "Järgmisel nädalavahetusel"),
        ("Kass", "Kass"),
        ("Miisu", "Miisu"),
        ("Mari Tamm", "Mari Tamm"),
        ("viis üks kaks kolm, neli viis kuus seitse", "5123 4567"),
        ("Jah", "Jah"),
    ],
    "ru": [
        (
            "Здравствуйте, хочу забронировать место для собаки Шарик с десятого по пятнадцатое декабря",
            "[ru] Здравствуйте, хочу забронировать место для собаки Шарик с 10 по 15 декабря",
        ),
        ("Меня зовут Иван Петров", "Меня зовут Иван Петров"),
        ("плюс три семь два, пять один два три, четыре пять шесть семь", "+372 5123 4567"),
        ("да", "да"),
    ],
}
RATES = {"en": 22050, "et": 16000, "ru": 8000}


def speech(text: str, language: str, rate: int) -> np.ndarray:
    import soxr

    chunk = _ESPEAK.synthesize_sync(text, language)
    audio = np.frombuffer(chunk.pcm16, dtype="<i2").astype(np.float32) / 32768.0
    voiced = np.flatnonzero(np.abs(audio) > 0.01)  # trim espeak's own leading/trailing silence
    audio = audio[voiced[0] : voiced[-1] + 1]
    return soxr.resample(audio, chunk.sample_rate, rate) if chunk.sample_rate != rate else audio


def make_wav(
    path: Path, rate: int, parts: list[tuple[float, np.ndarray]], tail_s: float = 1.0
) -> list[tuple[float, float]]:
    """``parts``: (silence before, audio). Returns each audio's (start, end) in seconds."""
    import soundfile as sf

    chunks, spans, t = [], [], 0.0
    for gap, audio in parts:
        chunks += [np.zeros(int(rate * gap), np.float32), audio]
        start = t + int(rate * gap) / rate
        t = start + len(audio) / rate
        spans.append((start, t))
    chunks.append(np.zeros(int(rate * tail_s), np.float32))
    sf.write(str(path), np.concatenate(chunks), rate, subtype="PCM_16")
    return spans


def appliance_call(
    tmp_path: Path, wav: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[dict, dict, np.ndarray]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE")}
    environ.update(env or {})
    out, timeline = tmp_path / "out.wav", tmp_path / "timeline.json"
    argv = [sys.executable, "-m", "appliance.cli", "call", "--wav", str(wav), "--out", str(out)]
    argv += ["--timeline", str(timeline), "--data-dir", str(tmp_path / "data"), "--now", NOW, *extra]
    proc = subprocess.run(argv, cwd=REPO, env=environ, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    import soundfile as sf

    audio, rate = sf.read(str(out), dtype="int16")
    assert rate == 16000
    return summary, json.loads(timeline.read_text(encoding="utf-8")), audio.astype(np.int32)


def loud(audio: np.ndarray, start_s: float, end_s: float, threshold: int = 500) -> bool:
    part = audio[int(start_s * 16000) : int(end_s * 16000)]
    return part.size > 0 and int(np.abs(part).max()) > threshold


def db_rows(tmp_path: Path, sql: str, *args: object) -> list[tuple]:
    c = sqlite3.connect(f"file:{tmp_path / 'data' / 'appliance.db'}?mode=ro", uri=True)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def write_script(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("language", ["en", "et", "ru"])
def test_booking_call_with_scripted_stt(tmp_path: Path, language: str) -> None:
    rate = RATES[language]
    script = SCRIPTS[language]
    # the greeting (~5 s of espeak) plays first; then one utterance every ~1 s of silence
    parts = [(6.0 if i == 0 else 1.0, speech(spoken, language, rate)) for i, (spoken, _) in enumerate(script)]
    spans = make_wav(tmp_path / "caller.wav", rate, parts)
    lines = write_script(tmp_path / "script.txt", [line for _, line in script])
    summary, timeline, out = appliance_call(
        tmp_path, tmp_path / "caller.wav", "--script", str(lines), "--session", f"call-{language}"
    )

    # VAD found each utterance, and nothing else
    assert summary["turns"] == len(script), summary
    assert summary["errors"] == [] and summary["greeting"] is True
    caller = [t for t in timeline["turns"] if t["kind"] == "caller"]
    for turn, (start, _end) in zip(caller, spans, strict=True):
        assert turn["audio_s"]["speech_start"] == pytest.approx(start, abs=0.3)
    assert [t["text"] for t in caller] == [line.split("] ", 1)[-1] for _, line in script]
    # the call completed a booking, and the row is in SQLite
    assert len(summary["booking_ids"]) == 1, summary
    (bid,) = summary["booking_ids"]
    assert db_rows(tmp_path, "SELECT status FROM bookings WHERE id = ?", bid) == [("confirmed",)]
    # the reply language followed the caller
    assert caller[-1]["language"] in (language, None)
    assert db_rows(tmp_path, "SELECT language FROM conversation_sessions WHERE id = ?", f"call-{language}") == [
        (language,)
    ]
    # every turn's timeline is stored with its reply: the stage columns are filled
    rows = db_rows(
        tmp_path,
        "SELECT speech_start, speech_end, stt_done, first_output, first_audio, playback_end, interrupted "
        "FROM turns WHERE session_id = ? AND role = 'assistant' ORDER BY seq",
        f"call-{language}",
    )
    assert len(rows) == 1 + len(script)  # greeting + one reply per utterance
    greeting, *replies = rows
    assert greeting[4] == pytest.approx(0.0, abs=0.05) and greeting[5] is not None
    for row, turn in zip(replies, caller, strict=True):
        assert None not in row[:5], row
        assert (row[5] is None) != (row[6] is None), row  # played to the end, or interrupted
        assert row[0] == pytest.approx(turn["audio_s"]["speech_start"], abs=1e-3)
        assert row[0] < row[1] <= row[2] <= row[3] <= row[4]
    # the confirmation read-back (protected) played to its end although the caller said yes over it
    readback = caller[-2]
    assert "interrupted" not in readback["audio_s"]
    yes_start = caller[-1]["audio_s"]["speech_start"]
    assert readback["audio_s"]["first_audio_out"] < yes_start < readback["audio_s"]["playback_end"]
    assert loud(out, yes_start + 0.3, min(yes_start + 1.0, readback["audio_s"]["playback_end"]))
    # the yes was answered after the read-back
    assert caller[-1]["audio_s"]["first_audio_out"] >= readback["audio_s"]["playback_end"] - 0.05


def test_real_tiny_whisper_runs_the_same_call(tmp_path: Path, test_models: dict[str, Path]) -> None:
    """Plumbing only: random weights transcribe nonsense, but the call runs end to end."""
    script = SCRIPTS["en"][:3]
    parts = [(6.0 if i == 0 else 1.0, speech(spoken, "en", 44100)) for i, (spoken, _) in enumerate(script)]
    make_wav(tmp_path / "caller.wav", 44100, parts)
    summary, timeline, _ = appliance_call(
        tmp_path, tmp_path / "caller.wav", env={"APPLIANCE__VOICE__STT_MODEL": str(test_models["whisper"])}
    )
    assert summary["turns"] == len(script), summary
    assert summary["errors"] == []
    assert all(t["complete"] for t in timeline["turns"])


def test_missing_whisper_model_is_a_usage_error(tmp_path: Path) -> None:
    make_wav(tmp_path / "caller.wav", 16000, [(0.5, speech("Hello", "en", 16000))])
    environ = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE")}
    environ["APPLIANCE__VOICE__STT_MODEL"] = str(tmp_path / "no-such-model")
    argv = [sys.executable, "-m", "appliance.cli", "call", "--wav", str(tmp_path / "caller.wav")]
    argv += ["--out", str(tmp_path / "out.wav"), "--data-dir", str(tmp_path / "data")]
    proc = subprocess.run(argv, cwd=REPO, env=environ, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "speech-to-text" in proc.stderr and "no-such-model" in proc.stderr


def _over_the_greeting(tmp_path: Path, burst: np.ndarray, onset_s: float = 1.5) -> tuple[dict, dict, np.ndarray]:
    make_wav(tmp_path / "caller.wav", 16000, [(onset_s, burst)], tail_s=8.0)
    lines = write_script(tmp_path / "script.txt", ["How much does it cost per night?"])
    return appliance_call(tmp_path, tmp_path / "caller.wav", "--script", str(lines))


def test_barge_in_stops_the_greeting_within_200ms(tmp_path: Path) -> None:
    burst = speech("Sorry, how much does it cost per night?", "en", 16000)
    summary, timeline, out = _over_the_greeting(tmp_path, burst)
    onset, end = 1.5, 1.5 + len(burst) / 16000

    assert summary["interruptions"] == 1, summary
    pause = next(b for b in timeline["barge_ins"] if b["action"] == "pause")
    vad_start = pause["vad_start_s"]
    assert onset - 0.05 <= vad_start <= onset + 0.15
    assert loud(out, onset - 0.5, onset), "the greeting was playing"
    assert not loud(out, vad_start + 0.2, end), "playback went on more than 200 ms after VAD start"
    greeting = timeline["turns"][0]
    assert greeting["kind"] == "greeting" and "interrupted" in greeting["audio_s"]
    # playback paused (audio stopped) within 200 ms; the interruption proper came at 300 ms of speech
    assert pause["at_s"] - vad_start <= 0.2
    assert greeting["audio_s"]["interrupted"] - vad_start == pytest.approx(0.3, abs=0.07)
    # the barge-in is the caller's turn, answered after they finished
    (turn,) = [t for t in timeline["turns"] if t["kind"] == "caller"]
    assert turn["complete"] and turn["audio_s"]["first_audio_out"] >= end
    assert loud(out, turn["audio_s"]["first_audio_out"], turn["audio_s"]["playback_end"])


def test_a_200ms_mhm_does_not_interrupt(tmp_path: Path) -> None:
    voiced = speech("mmmmmmmmm", "en", 16000)
    mid = len(voiced) // 2
    burst = voiced[mid - 1600 : mid + 1600]  # 200 ms
    summary, timeline, out = _over_the_greeting(tmp_path, burst)

    assert summary["interruptions"] == 0 and summary["backchannels"] == 1, summary
    assert summary["turns"] == 0, "a backchannel must not reach the brain"
    greeting = timeline["turns"][0]
    assert greeting["complete"] and "interrupted" not in greeting["audio_s"]
    assert greeting["audio_s"]["playback_end"] > 3.0
    assert loud(out, 2.2, greeting["audio_s"]["playback_end"] - 0.3)
