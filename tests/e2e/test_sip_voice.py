"""The same booking by voice over SIP with a real caller: a real ``appliance run`` whose STT is the
trained test Whisper (models/stt-test, through the production FasterWhisperSTT and spoken language
ID), and a pjsua2 caller on loopback that plays espeak-ng WAVs of a booking dialogue, each once the
appliance's reply has been audible and then quiet. The call ends with the booking row committed,
with the same slots as the same words typed. Only sentences the model was trained on
(tests/support/stt_corpus.py); the tenant's default language is English. The daemon's clock starts
on a pinned date (``appliance run --now``), as ``appliance call --now`` in test_voice_content.py."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest

from appliance.channels.file_transport import write_wav
from tests.support.run_daemon import Daemon
from tests.support.sip_harness import caller
from tests.support.speech import speech
from tests.support.stt_corpus import BOOKING_DIALOGUES, training_phrases
from tests.support.trained_stt import trained_stt_path

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(600),  # a daemon start, models and a whole call on a loaded 2-core box
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)"),
]

CALLER_ID = "+37251234567"
BOOKING_COLUMNS = "pet_name, pet_type, start_date, end_date, owner_name, owner_phone, status"
NOW = "2026-12-01T10:00:00+02:00"  # a Tuesday
# One booking dialogue per language, from the training phrases (tests/support/stt_corpus.py): the
# caller takes the offer of the number they call from ("Yes") rather than saying digits. These
# phrases were chosen when the model (stage 5, 7d) misread some lines after >= 0.3 s of leading
# silence (the voice pipeline's pre-roll is 0.3 s, and over SIP the lead varies with RTP timing):
# each was right at leads of 0-0.6 s at 16 and 8 kHz, 12 of 12. Stages 8b and 9b, trained with
# silence around their takes, read every BOOKING_DIALOGUES line right at every lead (docs/BENCHMARKS.md,
# "Stage 8", "Stage 9"); the whole dialogues, spoken digits included, are tests/integration/test_voice_content.py.
DIALOGUES = {
    "en": ["Hi, I need a room for my dog", "His name is Max", "Next weekend", "Mari Tamm", "Yes", "Yes"],
    "et": ["Tere, soovin broneerida koha koerale Muri", "Tooksin ta järgmisel nädalavahetusel", "Mari Tamm", "Jah",
           "Jah"],
    "ru": [BOOKING_DIALOGUES["ru"][0][0], "Меня зовут Анна Смирнова", "Да", "Да"],
}  # fmt: skip
# espeak-ng's "Да" at 160 words per minute is 0.17 s of voice, at the edge of the VAD's 0.15 s of
# speech that starts a turn: over SIP it went unheard in some runs. A caller's "Да" is longer; at
# 120 words per minute it is 0.23 s (and the model reads it as a yes 12 of 12, "Да" 10).
SLOWER = {"Да": 120}
PET = {"en": "Max", "et": "Muri", "ru": "Шарик"}
# The words are under test here, not dead air (docs/RELIABILITY.md): on the shared 2-core test box
# the tiny Whisper's first transcriptions took up to ~3 s (the default stt_timeout_s is 1.2 s).
ENV = {"APPLIANCE__VOICE__STT_TIMEOUT_S": "8"}


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return list(c.execute(sql))


def booked_by_text(tmp_path: Path, lines: list[str]) -> tuple:
    """The booking row the same words make when typed by the same caller (the brain's text path)."""
    from appliance.brain.factory import build_brain
    from appliance.chat_cli import parse_now
    from appliance.core.config import load_config
    from appliance.core.messages import Channel, Utterance

    data = tmp_path / "by-text"
    cfg = load_config(
        environ={}, use_system=False, overrides={"store": {"data_dir": str(data)}, "llm": {"mode": "off"}}
    )

    async def go() -> None:
        brain = await build_brain(cfg, clock=parse_now(NOW), llm=None)
        try:
            await brain.greet("text-1", Channel.VOICE, caller_id=CALLER_ID)
            for text in lines:
                await brain.handle(Utterance("text-1", Channel.VOICE, text, caller_id=CALLER_ID))
        finally:
            await brain.aclose()

    asyncio.run(go())
    (row,) = _rows(cfg.db_path, f"SELECT {BOOKING_COLUMNS} FROM bookings")
    return row


@pytest.mark.parametrize("language", ["en", "et", "ru"])
def test_a_whole_booking_by_voice_over_sip_with_the_trained_model(tmp_path: Path, language: str) -> None:
    lines = DIALOGUES[language]
    trained = {(p.language, p.text) for p in training_phrases()}
    assert all((language, text) in trained for text in lines), "say only what the model was trained on"
    wavs = []
    for i, text in enumerate(lines):
        write_wav(tmp_path / f"turn{i}.wav", speech(text, language, SLOWER.get(text)))
        wavs.append(str(tmp_path / f"turn{i}.wav"))
    data = tmp_path / "data"
    env = {**ENV, "APPLIANCE__VOICE__STT_MODEL": str(trained_stt_path())}
    # The caller stands in for a phone, which has its own CPU: here both share 2 cores, and the
    # daemon's STT (2 threads) ran while the caller was sending. The daemon runs niced so the
    # caller is not starved, and the caller reports its own clock stalls. (A turn once heard as two
    # in CI, "Next weekend", was no RTP gap: Silero dips inside the words at some window phases,
    # tests/integration/test_turn_gaps.py.)
    daemon = Daemon(data, sip=True, env=env, args=("--now", NOW), wrap=["nice", "-n", "5"])
    try:
        # each turn once the appliance has been quiet for 2 s: a streamed read-back pauses between
        # sentences, and an answer said into such a pause would be a barge-in, not a turn
        call = caller(f"sip:appliance@127.0.0.1:{daemon.sip_port}", "--from-user", CALLER_ID,
                      "--turns", ",".join(wavs), "--quiet-s", "2.0", "--hangup-after-turns",
                      "--record", str(tmp_path / "heard.wav"), "--max-s", "180")  # fmt: skip
        done = call.wait_event("done", 220)
    finally:
        rc = daemon.stop()
    assert rc == 0, daemon.log()[-3000:]
    # every turn was played after an audible reply, and the replies reached the caller as RTP
    assert [e["n"] for e in call.all("turn")] == list(range(1, len(lines) + 1)), call.events[-10:]
    assert done["voiced_s"] > 5, done
    db = data / "appliance.db"
    heard = [text for (text,) in _rows(db, "SELECT text FROM turns WHERE role = 'user' ORDER BY session_id, seq")]
    rows = _rows(db, f"SELECT {BOOKING_COLUMNS} FROM bookings")
    assert len(rows) == 1, (heard, rows, done)
    assert rows[0] == booked_by_text(tmp_path, lines), (heard, done)  # the same slots as the same words typed
    assert rows[0][0] == PET[language] and rows[0][-1] == "confirmed" and rows[0][5] == CALLER_ID
    # every reply after the caller's first words is in the caller's language (the greeting: English)
    q = "SELECT language FROM turns WHERE role = 'assistant' ORDER BY session_id, seq"
    langs = [lang for (lang,) in _rows(db, q)]
    assert langs[0] == "en" and set(langs[1:]) == {language}, (langs, heard)
