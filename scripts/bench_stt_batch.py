#!/usr/bin/env python3
"""What batching buys the STT service: N utterances decoded one by one vs in one batched call
(``appliance/engines/service/batch.py``, the service's decoder), per N; prints one JSON line.

    python scripts/bench_stt_batch.py                                  # trained test model, CPU
    python scripts/bench_stt_batch.py --sizes 1,2,4,8,16 --device cuda --compute-type float16 --model DIR
        # a GPU machine; DIR: a CTranslate2 Whisper folder (a real model: random weights decode
        # to the length cap and time something else)

The utterances are espeak-ng sentences of the test corpus in en/et/ru (1-3 s), each with spoken
language ID against the session language "en", as on a call. Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models" / "stt-test"))
    ap.add_argument("--sizes", default="1,2,4,8")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compute-type", default="int8")
    args = ap.parse_args()

    from appliance.engines.service.batch import BatchedWhisper, Utterance
    from appliance.engines.stt import FasterWhisperSTT
    from tests.support.speech import speech
    from tests.support.stt_corpus import BOOKING_DIALOGUES

    sizes = [int(x) for x in args.sizes.split(",") if x]
    texts = [(t, lang) for d in range(2) for lang in ("en", "et", "ru") for t in BOOKING_DIALOGUES[lang][d]]
    pcms = [speech(t, lang) for t, lang in texts[: max(sizes)]]
    while len(pcms) < max(sizes):
        pcms += pcms[: max(sizes) - len(pcms)]
    engine = FasterWhisperSTT(args.model, args.compute_type, device=args.device, threads=args.threads,
                              languages=("en", "et", "ru"))  # fmt: skip
    batched = BatchedWhisper(engine)
    batched.transcribe_batch([Utterance(pcms[0], 16000, session_language="en")])  # load, warm up
    points = []
    for n in sizes:
        items = [Utterance(p, 16000, session_language="en") for p in pcms[:n]]
        alone, together = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            for item in items:
                batched.transcribe_batch([item])
            alone.append(time.perf_counter() - t)
            t = time.perf_counter()
            batched.transcribe_batch(items)
            together.append(time.perf_counter() - t)
        points.append({"n": n, "one_by_one_ms": round(min(alone) * 1000, 1),
                       "one_batch_ms": round(min(together) * 1000, 1),
                       "speedup": round(min(alone) / min(together), 2)})  # fmt: skip
    print(json.dumps({"model": args.model, "device": args.device, "compute_type": args.compute_type,
                      "threads": args.threads, "cpus": os.cpu_count(), "points": points}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
