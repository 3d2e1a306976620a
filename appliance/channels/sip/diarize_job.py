"""The background job that diarizes recorded calls: after a call, never during it.

The SIP service hands each finished recording to :meth:`DiarizationJobs.submit`; one task
works the queue one recording at a time (the worker is a ``nice``\\ d subprocess in the
isolated pyannote environment, so the event loop and live calls only see a child process at
the lowest CPU priority). The caller's channel (``.caller.wav``) is diarized: several people
on the caller's line, or a transferred call that stays recorded. The speaker turns are
aligned with the transcript turns (their ``start``/``end`` in the call record) and stored
with the recording (``store/diarization.py``). A failure is stored as such; the recording
and the call record are never touched.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.core.clock import Clock, system_clock
from appliance.core.config import Config
from appliance.engines.diarize import Diarizer, SpeakerTurn, TranscriptSpan, align, model_label
from appliance.store import diarization as repo
from appliance.store.db import Database

log = logging.getLogger("appliance.diarize")


@dataclass(frozen=True, slots=True)
class DiarizationJob:
    recording: Path  # the recording's base path (<dir>/<stamp>-<session>)
    session_id: str
    spans: tuple[TranscriptSpan, ...]

    @property
    def name(self) -> str:
        return self.recording.name

    @property
    def audio(self) -> Path:
        return self.recording.with_suffix(".caller.wav")


def spans_of(transcript: list[dict[str, Any]]) -> tuple[TranscriptSpan, ...]:
    """Transcript items of a call record (``{"turn", "start", "end", ...}``) as spans."""
    out = []
    for item in transcript:
        start, end = item.get("start"), item.get("end")
        out.append(TranscriptSpan(int(item.get("turn", 0)), None if start is None else float(start),
                                  None if end is None else float(end)))  # fmt: skip
    return tuple(out)


class DiarizationJobs:
    def __init__(self, db: Database, diarizer: Diarizer, *, tenant_id: str, clock: Clock = system_clock) -> None:
        self.db = db
        self.diarizer = diarizer
        self.tenant_id = tenant_id
        self.clock = clock
        self._queue: asyncio.Queue[DiarizationJob] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.done = 0
        self.failed = 0
        self.busy = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._work(), name="diarization-jobs")

    async def submit(self, job: DiarizationJob) -> None:
        """Queue a finished recording (its row says ``pending`` until the worker gets to it)."""
        await self._status(job, "pending")
        self._queue.put_nowait(job)
        self.start()

    async def resume(self, recordings_dir: Path) -> int:
        """Queue again the jobs a stop cut short (their rows say pending/running); nothing is lost.
        A recording no longer on disk is marked failed. Returns how many were queued."""
        import json

        queued = 0
        for name, sid in await self.db.aread(lambda s: repo.unfinished(s, self.tenant_id)):
            base = recordings_dir / name
            try:
                record = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                record = {}
            job = DiarizationJob(base, sid, spans_of(record.get("transcript") or []))
            if not job.audio.exists():
                await self._status(job, "failed", error="the recording is gone")
                continue
            await self.submit(job)
            queued += 1
        return queued

    async def _status(self, job: DiarizationJob, status: str, error: str | None = None) -> None:
        now = self.clock()
        await self.db.awrite(
            lambda s: repo.set_status(s, job.name, tenant_id=self.tenant_id, session_id=job.session_id,
                                      status=status, now=now, error=error, model=model_label(self.diarizer.cfg))
        )  # fmt: skip

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            self.busy = True
            try:
                await self.run_one(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad recording must not stop the queue
                log.exception("diarization of %s failed", job.name)
            finally:
                self.busy = False
                self._queue.task_done()

    async def run_one(self, job: DiarizationJob) -> None:
        await self._status(job, "running")
        result = await self.diarizer.diarize(job.audio)
        if not result.ok:
            self.failed += 1
            log.warning("diarization of %s: %s (%s)", job.name, result.error, result.detail)
            await self._status(job, "failed", error=f"{result.error}: {result.detail}"[:500])
            return
        aligned = align(result.turns, job.spans)
        rows = [(t.speaker, t.start_s, t.end_s, turn) for t, turn in zip(result.turns, aligned, strict=True)]
        now = self.clock()
        await self.db.awrite(
            lambda s: repo.save_turns(s, job.name, tenant_id=self.tenant_id, session_id=job.session_id, turns=rows,
                                      model=model_label(self.diarizer.cfg), now=now)
        )  # fmt: skip
        self.done += 1
        log.info("diarization of %s: %d speakers, %d turns in %.1f s", job.name, result.speakers,
                 len(rows), result.seconds)  # fmt: skip

    async def idle(self) -> None:
        """Wait until every queued job is finished (tests, shutdown)."""
        await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


def build_jobs(cfg: Config, db: Database) -> DiarizationJobs | None:
    """The background diarization of a SIP service (None unless ``diarization.enabled`` and
    ``sip.record``). With ``sip.workers > 1`` every worker process has one; a lock file in the
    data folder keeps it one job at a time for the whole box."""
    if not (cfg.diarization.enabled and cfg.sip.record):
        return None
    from appliance.engines.manifest import models_dir

    dcfg = cfg.diarization
    if not dcfg.pipeline and not dcfg.segmentation:  # the manifest's "diarization" folder (models fetch)
        dcfg = dcfg.model_copy(update={"pipeline": str(models_dir(cfg) / "diarization")})
    return DiarizationJobs(db, Diarizer(dcfg, lock_path=cfg.data_path / "diarize.lock"), tenant_id=cfg.tenant.id)


__all__ = ["DiarizationJob", "DiarizationJobs", "SpeakerTurn", "build_jobs", "spans_of"]
