#!/usr/bin/env python3
"""What one diarization job costs: the worker's wall time (start, imports, models, pipeline)
and the pipeline's own time, on an espeak-ng two-voice recording, printed as JSON.

    python scripts/bench_diarize.py [--pipeline DIR] [--runs 3] [--seconds 30]

Without ``--pipeline`` it uses the tiny test models (models/test-diarize): plumbing cost only.
With a production folder (``appliance models fetch diarization``) it measures the real thing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.core.config import DiarizationConfig  # noqa: E402
from appliance.engines.diarize import Diarizer  # noqa: E402


def recording(path: Path, seconds: float) -> Path:
    from appliance.channels.file_transport import read_wav_16k

    parts = []
    for i, (voice, pitch) in enumerate((("en-us", 40), ("en-gb+f3", 85))):
        raw = path.with_name(f"v{i}.wav")
        text = "I would like to book a room for my dog next week, from Monday to Friday."
        subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-w", str(raw), text], check=True)
        parts.append(read_wav_16k(raw))
    pcm, i = b"", 0
    while len(pcm) < seconds * 32000:
        pcm += parts[i % 2] + b"\0\0" * 8000
        i += 1
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm[: int(seconds * 32000)])
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pipeline", default="", help="a production pipeline folder (default: the tiny test models)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the test recording")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.pipeline:
        cfg = DiarizationConfig(enabled=True, pipeline=args.pipeline, threads=args.threads)
    else:
        from tests.support.diarize import diarize_models

        d = diarize_models()
        cfg = DiarizationConfig(enabled=True, segmentation=str(d / "segmentation.ckpt"), num_speakers=2,
                                embedding=str(d / "embedding.ckpt"), plda=str(d / "plda"), threads=args.threads)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        audio = recording(Path(tmp) / "caller.wav", args.seconds)
        walls, pipes, speakers = [], [], []
        for _ in range(args.runs):
            start = time.monotonic()
            result = asyncio.run(Diarizer(cfg).diarize(audio))
            if not result.ok:
                print(json.dumps({"error": str(result.error), "detail": result.detail}))
                return 1
            walls.append(time.monotonic() - start)
            pipes.append(result.seconds)
            speakers.append(result.speakers)
    print(json.dumps({
        "models": cfg.pipeline or "tiny test models",
        "audio_s": args.seconds, "runs": args.runs, "threads": args.threads,
        "worker_wall_s_median": round(statistics.median(walls), 2),
        "pipeline_s_median": round(statistics.median(pipes), 2),
        "real_time_factor": round(statistics.median(pipes) / args.seconds, 3),
        "speakers": speakers,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
