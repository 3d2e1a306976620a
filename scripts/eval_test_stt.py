#!/usr/bin/env python3
"""Accuracy of the trained test speech model through faster-whisper, as JSON.

    python scripts/eval_test_stt.py [--model models/stt-test] [--sets train held_out] [--limit N]

Every phrase is spoken by ``tests/support/speech.py`` (espeak-ng, the voice tests' helper) and
transcribed by the production ``FasterWhisperSTT`` choosing among en/et/ru (one
``detect_language`` encoder pass, then ``transcribe`` in the chosen language), at 16 kHz and as
8 kHz telephone audio. Sets: ``train`` (the phrases it was trained on), ``held_out`` (unseen
recombinations of the same words, tests/support/stt_corpus.py) and ``dialogues`` (every caller
line of ``BOOKING_DIALOGUES``, what the voice tests say). Per set and band: exact
transcript rate (the string - as ``stt_corpus.written`` gives it for a model trained with
``--punctuate`` - and the words ignoring case and punctuation), word error rate,
language-ID accuracy (all, and on utterances of 1 s or more), and per language.

``--lead-s 0,0.15,0.3`` repeats every set and band with that much digital silence before the
words (as the voice pipeline's pre-roll and a SIP line's timing put there): keys
``SET_BAND_leadS``, and ``lead_summary`` lists per line the leads it was heard word for word at.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT)]

from tests.support.stt_corpus import (  # noqa: E402
    BOOKING_DIALOGUES,
    LANGUAGES,
    Phrase,
    held_out_phrases,
    training_phrases,
    words,
    written,
)
from tests.support.trained_stt import TRAINED_STT, narrowband, punctuates  # noqa: E402


def edit_distance(a: list[str], b: list[str]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def score(rows: list[dict]) -> dict:
    n = len(rows)
    ref_words = sum(len(words(r["ref"])) for r in rows)
    errors = sum(edit_distance(words(r["ref"]), words(r["hyp"])) for r in rows)
    long = [r for r in rows if r["duration"] >= 1.0]
    return {
        "n": n,
        "exact": round(sum(r["hyp"] == r["ref"] for r in rows) / n, 4) if n else None,
        "exact_words": round(sum(words(r["hyp"]) == words(r["ref"]) for r in rows) / n, 4) if n else None,
        "wer": round(errors / ref_words, 4) if ref_words else None,
        "language_id": round(sum(r["lang"] == r["ref_lang"] for r in rows) / n, 4) if n else None,
        "language_id_1s": round(sum(r["lang"] == r["ref_lang"] for r in long) / len(long), 4) if long else None,
        "n_1s": len(long),
    }


def run(
    model_dir: Path, phrases: list[Phrase], band: str, threads: int, compute_type: str, lead_s: float = 0.0
) -> list[dict]:
    from appliance.engines.stt import FasterWhisperSTT
    from tests.support.speech import silence, speech

    stt = FasterWhisperSTT(model_dir, compute_type, threads=threads, languages=LANGUAGES)
    rows = []
    as_written = punctuates(model_dir)
    for p in phrases:
        pcm = silence(lead_s) + speech(p.text, p.language)
        rate = 16000
        if band == "8k":
            pcm, rate = narrowband(pcm), 8000
        t0 = time.perf_counter()
        got = stt.transcribe_sync(pcm, rate)
        rows.append(
            {
                "ref": written(p.text) if as_written else p.text,
                "hyp": got.text,
                "ref_lang": p.language,
                "lang": got.language,
                "duration": round(got.duration, 2),
                "seconds": time.perf_counter() - t0,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=TRAINED_STT)
    parser.add_argument("--sets", nargs="+", default=["train", "held_out"], choices=["train", "held_out", "dialogues"])
    parser.add_argument("--bands", nargs="+", default=["16k", "8k"], choices=["16k", "8k"])
    parser.add_argument("--limit", type=int, default=0, help="at most N phrases per language and set")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--errors", type=int, default=12, help="list up to N wrong transcripts per set")
    parser.add_argument("--lead-s", default="", help="comma-separated seconds of silence before the words")
    args = parser.parse_args(argv)
    leads = [float(x) for x in args.lead_s.split(",")] if args.lead_s else [None]

    def dialogues(language: str) -> list[Phrase]:
        return [Phrase(text, language) for d in BOOKING_DIALOGUES[language] for text in d]

    sources = {"train": training_phrases, "held_out": held_out_phrases, "dialogues": dialogues}
    report: dict = {
        "model": str(args.model),
        "compute_type": args.compute_type,
        "threads": args.threads,
        "punctuates": punctuates(args.model),
    }
    summary: dict[str, dict[str, list[float]]] = {}
    for name in args.sets:
        phrases: list[Phrase] = []
        for lang in LANGUAGES:
            some = sources[name](lang)
            phrases += some[: args.limit] if args.limit else some
        for band, lead in ((b, x) for b in args.bands for x in leads):
            rows = run(args.model, phrases, band, args.threads, args.compute_type, lead or 0.0)
            entry = score(rows)
            entry["by_language"] = {lang: score([r for r in rows if r["ref_lang"] == lang]) for lang in LANGUAGES}
            entry["mean_transcribe_s"] = round(sum(r["seconds"] for r in rows) / len(rows), 4)
            entry["errors"] = [
                {"ref": r["ref"], "hyp": r["hyp"], "lang": r["lang"]}
                for r in rows
                if words(r["hyp"]) != words(r["ref"]) or r["lang"] != r["ref_lang"]
            ][: args.errors]
            report[f"{name}_{band}" + ("" if lead is None else f"_lead{lead:g}")] = entry
            if lead is not None:
                for r in rows:
                    heard = summary.setdefault(f"{r['ref_lang']}: {r['ref']}", {}).setdefault(band, [])
                    if words(r["hyp"]) == words(r["ref"]) and r["lang"] == r["ref_lang"]:
                        heard.append(lead)
    if summary:
        report["lead_summary"] = summary
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
