"""Speaker diarization through the isolated pyannote worker, and aligning its turns with a transcript.

pyannote-audio lives in its own virtual environment (``scripts/setup_diarize.sh``): its
torchaudio/torchcodec builds cannot load next to the main environment's CPU torch. The
appliance never imports it; :class:`Diarizer` starts ``engines/diarize_worker.py`` under that
environment's interpreter as a subprocess (``nice``, one thread, a timeout) and speaks JSON
over its stdin/stdout. :func:`align` is the pure part: which speaker said each transcript turn.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from appliance.core.config import DiarizationConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / "diarize_worker.py"


class DiarizeError(StrEnum):
    UNAVAILABLE = "diarize_unavailable"  # no isolated environment / no models configured
    AUDIO = "audio_unreadable"
    MODEL = "model_unavailable"
    TIMEOUT = "timeout"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    """One stretch of speech by one speaker, in seconds from the start of the recording."""

    speaker: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class TranscriptSpan:
    """A transcript turn and where in the recording it was spoken (None: not known)."""

    turn: int
    start_s: float | None
    end_s: float | None


@dataclass(frozen=True, slots=True)
class DiarizeResult:
    turns: tuple[SpeakerTurn, ...] = ()
    error: DiarizeError | None = None
    detail: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def speakers(self) -> int:
        return len({t.speaker for t in self.turns})


def python_path(cfg: DiarizationConfig) -> Path:
    return Path(cfg.python).expanduser() if cfg.python else REPO_ROOT / ".venv-diarize" / "bin" / "python"


def model_label(cfg: DiarizationConfig) -> str:
    return cfg.pipeline or cfg.segmentation


def request(cfg: DiarizationConfig, audio: Path) -> dict[str, Any]:
    return {
        "audio": str(audio),
        "pipeline": cfg.pipeline,
        "segmentation": cfg.segmentation,
        "embedding": cfg.embedding,
        "plda": cfg.plda,
        "num_speakers": cfg.num_speakers,
        "max_speakers": cfg.max_speakers,
        "threads": cfg.threads,
    }


def unavailable_reason(cfg: DiarizationConfig) -> str | None:
    """Why diarization cannot run (None: it can, as far as files show)."""
    if not python_path(cfg).exists():
        return f"no isolated environment at {python_path(cfg)} (scripts/setup_diarize.sh)"
    if cfg.pipeline:
        return None if Path(cfg.pipeline).is_dir() else f"no pipeline folder {cfg.pipeline}"
    for name in ("segmentation", "embedding", "plda"):
        value = getattr(cfg, name)
        if not value or not Path(value).exists():
            return f"diarization.{name} is not set or missing ({value or 'empty'})"
    return None


def installed_version(cfg: DiarizationConfig) -> str | None:
    """pyannote.audio's version in the isolated environment (from its dist-info; nothing imported)."""
    env = python_path(cfg).parent.parent
    for info in sorted(env.glob("lib/python3*/site-packages/pyannote_audio-*.dist-info")):
        return info.name.removeprefix("pyannote_audio-").removesuffix(".dist-info")
    return None


def availability(cfg: DiarizationConfig) -> tuple[bool, str]:
    """(usable, why) for ``appliance doctor``: cheap file checks, no import of pyannote."""
    version = installed_version(cfg)
    if version is None:
        return False, f"pyannote-audio not installed in {python_path(cfg).parent.parent} (scripts/setup_diarize.sh)"
    reason = unavailable_reason(cfg)
    if reason:
        return False, f"pyannote.audio {version}; {reason}"
    return True, f"pyannote.audio {version}; {model_label(cfg)}"


class Diarizer:
    """Runs the worker, one job at a time (a lock), at low CPU priority."""

    def __init__(self, cfg: DiarizationConfig, *, lock_path: Path | None = None) -> None:
        self.cfg = cfg
        self._lock = asyncio.Lock()
        self.lock_path = lock_path  # across processes (sip.workers > 1): one job at a time per box

    async def _run(self, payload: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any] | None, str]:
        env = dict(os.environ, OMP_NUM_THREADS=str(self.cfg.threads), HF_HUB_OFFLINE="1",
                   PYANNOTE_METRICS_ENABLED="0", PYTHONNOUSERSITE="1")  # fmt: skip
        env.pop("PYTHONPATH", None)  # the worker imports nothing of ours
        cmd = [str(python_path(self.cfg)), str(WORKER)]
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, preexec_fn=lambda: os.nice(self.cfg.nice), start_new_session=True,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(json.dumps(payload).encode()), timeout_s)
        except (TimeoutError, asyncio.CancelledError):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
            raise
        lines = [ln for ln in out.decode("utf-8", "replace").splitlines() if ln.strip()]
        try:
            return json.loads(lines[-1]), err.decode("utf-8", "replace")[-2000:]
        except (IndexError, ValueError):
            return None, err.decode("utf-8", "replace")[-2000:]

    async def diarize(self, audio: Path) -> DiarizeResult:
        reason = unavailable_reason(self.cfg)
        if reason:
            return DiarizeResult(error=DiarizeError.UNAVAILABLE, detail=reason)
        async with self._lock:
            held = await _flock(self.lock_path) if self.lock_path else None
            try:
                answer, err = await self._run(request(self.cfg, audio), self.cfg.timeout_s)
            except TimeoutError:
                return DiarizeResult(error=DiarizeError.TIMEOUT, detail=f"over {self.cfg.timeout_s:.0f} s")
            finally:
                if held is not None:
                    os.close(held)  # releases the lock
        if answer is None:
            return DiarizeResult(error=DiarizeError.FAILED, detail=(err.strip().splitlines() or ["no answer"])[-1])
        if not answer.get("ok"):
            code = str(answer.get("error", "failed"))
            error = DiarizeError(code) if code in DiarizeError._value2member_map_ else DiarizeError.FAILED
            return DiarizeResult(error=error, detail=str(answer.get("detail", ""))[:500])
        turns = tuple(
            SpeakerTurn(str(t["speaker"]), float(t["start"]), float(t["end"]))
            for t in answer.get("turns", [])
            if float(t["end"]) >= float(t["start"]) >= 0
        )
        return DiarizeResult(turns=turns, seconds=float(answer.get("seconds", 0.0)))


async def _flock(path: Path) -> int:
    """Wait (polling, so a cancelled job leaves nothing behind) until this process holds the
    box-wide diarization lock; returns its fd (closing it releases the lock)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                await asyncio.sleep(1.0)
    except BaseException:
        os.close(fd)
        raise


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def align(turns: Sequence[SpeakerTurn], spans: Sequence[TranscriptSpan]) -> list[int | None]:
    """For each speaker turn, the transcript turn it overlaps most (None: it overlaps none).

    Ties go to the earlier transcript turn. A span without times is never matched."""
    out: list[int | None] = []
    timed = [s for s in spans if s.start_s is not None and s.end_s is not None]
    for t in turns:
        best: tuple[float, int] | None = None
        for s in timed:
            assert s.start_s is not None and s.end_s is not None
            ov = _overlap(t.start_s, t.end_s, s.start_s, s.end_s)
            if ov > 0 and (best is None or ov > best[0]):
                best = (ov, s.turn)
        out.append(best[1] if best else None)
    return out


def speaker_of_turns(turns: Sequence[SpeakerTurn], aligned: Sequence[int | None]) -> dict[int, str]:
    """Transcript turn -> the speaker who spoke most of it (by seconds)."""
    talk: dict[int, dict[str, float]] = {}
    for t, turn in zip(turns, aligned, strict=True):
        if turn is not None:
            per = talk.setdefault(turn, {})
            per[t.speaker] = per.get(t.speaker, 0.0) + (t.end_s - t.start_s)
    return {turn: max(sorted(per), key=lambda k: per[k]) for turn, per in talk.items()}
