"""Latency benchmark of language identification: ``python -m appliance.brain.understanding.language_bench``
prints JSON (docs/LANGUAGE.md, docs/BENCHMARKS.md)."""

from __future__ import annotations

from typing import Any

from appliance.brain.understanding.language import BUILTIN_LANGUAGES, LanguageTracker, get_detector, warm_up


def benchmark(iterations: int = 200) -> dict[str, Any]:
    """Per-call latencies (ms) of the tracker and of raw lingua on short receptionist texts."""
    import statistics
    import time

    texts = [
        "Tere",
        "OK",
        "Max",
        "Здравствуйте",
        "Hello, I want to book a room for my dog",
        "Tere, kas teil on vaba tuba homseks?",
        "Я хочу забронировать номер для собаки",
        "Jaan Tamm",
        "Mul on booking for 3 nights",
        "Thank you, could you also tell me the price",
    ]
    t0 = time.perf_counter()
    warm_up(BUILTIN_LANGUAGES)
    warm_ms = (time.perf_counter() - t0) * 1000
    det = get_detector(BUILTIN_LANGUAGES)

    def timed(fn: Any) -> list[float]:
        out = []
        for _ in range(iterations):
            for text in texts:
                t = time.perf_counter()
                fn(text)
                out.append((time.perf_counter() - t) * 1000)
        return sorted(out)

    def summary(xs: list[float]) -> dict[str, float]:
        return {
            "p50": round(statistics.median(xs), 4),
            "p95": round(xs[int(len(xs) * 0.95)], 4),
            "max": round(xs[-1], 4),
        }

    lingua_ms = timed(det.compute_language_confidence_values)
    tracker = LanguageTracker(BUILTIN_LANGUAGES, "en")
    tracker_ms = timed(tracker.observe)
    fresh_ms = timed(lambda text: LanguageTracker(BUILTIN_LANGUAGES, "en").observe(text))
    return {
        "warm_up_ms": round(warm_ms, 1),
        "lingua_call_ms": summary(lingua_ms),
        "observe_decided_ms": summary(tracker_ms),
        "observe_first_ms": summary(fresh_ms),
        "calls": len(lingua_ms),
    }


if __name__ == "__main__":  # python -m appliance.brain.understanding.language_bench  -> JSON latencies
    import json

    print(json.dumps(benchmark()))
