"""Diarized recordings (issue 13): a two-speaker espeak-ng recording goes through the real
worker (pyannote's SpeakerDiarization in the isolated ``.venv-diarize``, tiny random-weight
checkpoints from scripts/make_test_models.py), and the speaker turns are stored with the
recording, aligned with the transcript, shown by ``appliance privacy export``, removed by
``appliance privacy erase`` and by retention once the recording is gone.

Random weights make the content meaningless: this is plumbing. The number of speakers is
forced to 2 so that turns for two speakers come out.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from appliance.channels.sip.diarize_job import DiarizationJob, DiarizationJobs, build_jobs, spans_of
from appliance.cli import main
from appliance.core.config import DiarizationConfig, load_config
from appliance.engines.diarize import DiarizeError, Diarizer, availability
from appliance.store import diarization as repo
from appliance.store.db import Database
from tests.support.diarize import diarize_models

PHONE = "+37251112233"
SID = "sip-diarize-1"
STAMP = "20261206-101500"


def speech(text: str, voice: str, pitch: int, path: Path) -> bytes:
    """espeak-ng speech as 16 kHz mono 16-bit PCM."""
    from appliance.channels.file_transport import read_wav_16k

    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-w", str(path), text], check=True)
    return read_wav_16k(path)


@pytest.fixture(scope="module", name="diarize_models")
def diarize_models_fixture() -> Path:
    return diarize_models()


def write_recording(directory: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A caller channel with two people (two espeak voices taking turns) and its call record."""
    import wave

    directory.mkdir(parents=True, exist_ok=True)
    base = directory / f"{STAMP}-{SID}"
    a = speech("Hello, I would like to book a room for my dog next week.", "en-us", 40, directory / "a.wav")
    b = speech("Wait, let me ask. Is it for two dogs or one?", "en-gb+f3", 85, directory / "b.wav")
    gap = b"\0\0" * 8000
    parts = [a, gap, b, gap, a]
    with wave.open(str(base.with_suffix(".caller.wav")), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"".join(parts))
    transcript, at = [], 0.0
    for i, part in enumerate(parts[::2]):
        seconds = len(part) / 32000
        transcript.append({"turn": i + 1, "user": f"turn {i + 1}", "reply": "", "start": at, "end": at + seconds})
        at += seconds + 0.5
    record = {"session_id": SID, "caller_id": f"sip:{PHONE}@127.0.0.1", "started_at": time.time(),
              "transcript": transcript, "recordings": {"caller": base.name + ".caller.wav"}}  # fmt: skip
    base.with_suffix(".json").write_text(json.dumps(record))
    for tmp in ("a.wav", "b.wav"):
        (directory / tmp).unlink()
    return base, transcript


def box(tmp_path: Path, models: Path) -> Path:
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'[store]\ndata_dir = "{tmp_path / "data"}"\n[llm]\nmode = "off"\n'
        f'[diarization]\nenabled = true\nsegmentation = "{models / "segmentation.ckpt"}"\n'
        f'embedding = "{models / "embedding.ckpt"}"\nplda = "{models / "plda"}"\nnum_speakers = 2\n'
    )
    return cfg


def cli(cfg: Path, *args: str) -> tuple[int, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main([*args, "--config", str(cfg), "--json"])
    return rc, (json.loads(out.getvalue()) if out.getvalue().strip() else None)


async def diarize(config: Any, base: Path, transcript: list[dict[str, Any]]) -> DiarizationJobs:
    db = Database.from_config(config)
    jobs = build_jobs(config, db)  # as the daemon and the SIP workers build it (with the box-wide lock)
    assert jobs is not None and jobs.diarizer.lock_path == config.data_path / "diarize.lock"
    try:
        await jobs.submit(DiarizationJob(base, SID, spans_of(transcript)))
        await asyncio.wait_for(jobs.idle(), 300)
    finally:
        await jobs.close()
        await db.aclose()
    return jobs


def test_a_two_speaker_recording_gets_stored_aligned_exported_and_erased_speaker_turns(
    tmp_path: Path, diarize_models: Path
) -> None:
    cfg_path = box(tmp_path, diarize_models)
    config = load_config(cfg_path, environ={}, use_system=False)
    assert availability(config.diarization)[0], availability(config.diarization)
    base, transcript = write_recording(config.data_path / "recordings")
    jobs = asyncio.run(diarize(config, base, transcript))
    assert (jobs.done, jobs.failed) == (1, 0)

    with Database.from_config(config) as db:
        found = db.read(lambda s: repo.for_sessions(s, [SID]))
    assert len(found) == 1, found
    d = found[0]
    assert (d["recording"], d["status"], d["speakers"]) == (base.name, "done", 2), d
    turns = d["turns"]
    assert {t["speaker"] for t in turns} == {"SPEAKER_00", "SPEAKER_01"}, turns
    assert all(0 <= t["start_s"] <= t["end_s"] for t in turns)
    # aligned: every speaker turn inside a transcript turn points at it; all three turns are covered
    assert {t["transcript_turn"] for t in turns} - {None} == {1, 2, 3}, turns

    rc, _ = cli(cfg_path, "privacy", "export", "--phone", PHONE, "--out", str(tmp_path / "export.zip"), "--by", "t")
    assert rc == 0
    with zipfile.ZipFile(tmp_path / "export.zip") as z:
        data = json.loads(z.read("data.json"))
        summary = z.read("summary.txt").decode()
    assert [x["recording"] for x in data["diarizations"]] == [base.name]
    assert data["diarizations"][0]["turns"] == turns
    assert f"(speaker turns): {len(turns)}" in summary, summary

    rc, receipt = cli(cfg_path, "privacy", "erase", "--phone", PHONE, "--reason", "asked", "--by", "t")
    assert rc == 0, receipt
    with Database.from_config(config) as db:
        assert db.read(lambda s: repo.for_sessions(s, [SID])) == []
        assert db.read(lambda s: repo.recordings_known(s, config.tenant.id)) == []


def test_retention_removes_speaker_turns_with_their_recording(tmp_path: Path, diarize_models: Path) -> None:
    cfg_path = box(tmp_path, diarize_models)
    config = load_config(cfg_path, environ={}, use_system=False)
    base, transcript = write_recording(config.data_path / "recordings")
    asyncio.run(diarize(config, base, transcript))
    rc, _ = cli(cfg_path, "privacy", "retention")
    assert rc == 0
    with Database.from_config(config) as db:
        assert db.read(lambda s: repo.recordings_known(s, config.tenant.id)) == [base.name]  # still on disk: kept
    for p in base.parent.glob(base.name + ".*"):
        p.unlink()  # the recording is gone (retention's recordings days, or an erasure)
    rc, _ = cli(cfg_path, "privacy", "retention")
    assert rc == 0
    with Database.from_config(config) as db:
        assert db.read(lambda s: repo.recordings_known(s, config.tenant.id)) == []


def test_a_missing_environment_or_model_is_a_stored_failure_never_an_exception(tmp_path: Path) -> None:
    cfg_path = tmp_path / "appliance.toml"
    cfg_path.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n[diarization]\nenabled = true\n'
                        f'python = "{tmp_path / "nowhere" / "python"}"\n')  # fmt: skip
    config = load_config(cfg_path, environ={}, use_system=False)
    base, transcript = write_recording(config.data_path / "recordings")
    jobs = asyncio.run(diarize(config, base, transcript))
    assert (jobs.done, jobs.failed) == (0, 1)
    with Database.from_config(config) as db:
        (d,) = db.read(lambda s: repo.for_sessions(s, [SID]))
    assert d["status"] == "failed" and d["error"].startswith(DiarizeError.UNAVAILABLE), d
    assert d["turns"] == []
    assert base.with_suffix(".caller.wav").exists()  # the recording is never touched


COMMUNITY_1 = (
    "pipeline:\n  name: pyannote.audio.pipelines.SpeakerDiarization\n  params:\n"
    "    segmentation: {checkpoint: pyannote/speaker-diarization-community-1, subfolder: segmentation}\n"
    "    embedding: {checkpoint: pyannote/speaker-diarization-community-1, subfolder: embedding}\n"
    "    plda: {checkpoint: pyannote/speaker-diarization-community-1, subfolder: plda}\n"
    "    clustering: VBxClustering\n    segmentation_step: 0.1\n"
    "params:\n  segmentation: {min_duration_off: 0.0}\n  clustering: {threshold: 0.6, Fa: 0.07, Fb: 0.8}\n"
)
V3_1 = (  # pyannote/speaker-diarization-3.1's config.yaml; its models as models/manifest.toml lays them out
    "version: 3.1.0\npipeline:\n  name: pyannote.audio.pipelines.SpeakerDiarization\n  params:\n"
    "    clustering: AgglomerativeClustering\n    embedding: pyannote/wespeaker-voxceleb-resnet34-LM\n"
    "    embedding_batch_size: 32\n    embedding_exclude_overlap: true\n"
    "    segmentation: pyannote/segmentation-3.0\n    segmentation_batch_size: 32\n"
    "params:\n  clustering: {method: centroid, min_cluster_size: 12, threshold: 0.7045654963945799}\n"
    "  segmentation: {min_duration_off: 0.0}\n"
)


@pytest.mark.parametrize(
    ("config", "seg_dir", "emb_dir", "plda_dir"),
    [(COMMUNITY_1, "segmentation", "embedding", "plda"), (V3_1, "segmentation-3.0", "wespeaker", None)],
    ids=["community-1", "3.1"],
)
def test_a_production_pipeline_folder_is_read_from_its_config_yaml(
    tmp_path: Path, diarize_models: Path, config: str, seg_dir: str, emb_dir: str, plda_dir: str | None
) -> None:
    """The layouts of pyannote/speaker-diarization-community-1 and -3.1 with the tiny models in
    them: the worker builds the pipeline from config.yaml and local files only (offline)."""
    import shutil

    folder = tmp_path / "pipeline"
    for sub, src in ((seg_dir, "segmentation.ckpt"), (emb_dir, "embedding.ckpt")):
        (folder / sub).mkdir(parents=True)
        shutil.copy(diarize_models / src, folder / sub / "pytorch_model.bin")
    if plda_dir:
        shutil.copytree(diarize_models / "plda", folder / plda_dir)
    (folder / "config.yaml").write_text(config)
    base, _ = write_recording(tmp_path / "recordings")
    cfg = DiarizationConfig(enabled=True, pipeline=str(folder), num_speakers=2)
    result = asyncio.run(Diarizer(cfg).diarize(base.with_suffix(".caller.wav")))
    assert result.ok, result
    assert result.speakers == 2, result
    (folder / emb_dir / "pytorch_model.bin").unlink()
    missing = asyncio.run(Diarizer(cfg).diarize(base.with_suffix(".caller.wav")))
    assert missing.error == DiarizeError.MODEL and "embedding" in missing.detail, missing


def test_doctor_reports_diarization(tmp_path: Path, diarize_models: Path) -> None:
    from appliance.doctor import checks

    on = load_config(box(tmp_path, diarize_models), environ={}, use_system=False)
    (row,) = [c for c in checks(on) if c.name == "diarization" and c.area == "models" and "pyannote" in c.detail]
    assert row.status == "ok" and "pyannote.audio 4.0.7" in row.detail, row
    broken = on.model_copy(update={"diarization": on.diarization.model_copy(update={"embedding": "/nowhere.ckpt"})})
    (row,) = [c for c in checks(broken) if c.name == "diarization" and "pyannote" in c.detail]
    assert row.status == "warn" and "diarization.embedding" in row.detail, row


def test_a_job_cut_short_by_a_stop_runs_again_at_the_next_start(tmp_path: Path, diarize_models: Path) -> None:
    config = load_config(box(tmp_path, diarize_models), environ={}, use_system=False)
    base, transcript = write_recording(config.data_path / "recordings")

    async def go() -> tuple[int, int]:
        db = Database.from_config(config)
        try:
            first = build_jobs(config, db)
            assert first is not None
            await first.submit(DiarizationJob(base, SID, spans_of(transcript)))
            await asyncio.sleep(0.5)  # the worker has started ...
            await first.close()  # ... and the daemon stops
            assert [r["status"] for r in db.read(lambda s: repo.for_sessions(s, [SID]))] in (["running"], ["pending"])
            again = build_jobs(config, db)
            assert again is not None
            queued = await again.resume(config.data_path / "recordings")
            await asyncio.wait_for(again.idle(), 300)
            await again.close()
            return queued, again.done
        finally:
            await db.aclose()

    assert asyncio.run(go()) == (1, 1)
    with Database.from_config(config) as db:
        (d,) = db.read(lambda s: repo.for_sessions(s, [SID]))
    assert d["status"] == "done" and d["speakers"] == 2, d
