"""Benchmark: ``python -m appliance.brain.understanding.extract.bench [--rounds N]`` prints JSON latency figures.

Speed goals are checked here, never by timed assertions in tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time

from appliance.brain.understanding.extract import dateparser_calls, extract

CORPUS: list[tuple[str, str, str | None]] = [
    ("en", "Hi, I'd like to book a room for my dog Max from the 10th to the 15th of December", None),
    ("en", "Hello, I'm Mari Tamm, my number is +372 5123 4567", None),
    ("en", "actually a week, not a weekend", None),
    ("en", "no, it's a cat", "confirmation"),
    ("en", "yes please", "confirmation"),
    ("en", "Max", "pet_name"),
    ("en", "Sunday", "end_date"),
    ("en", "How much does it cost per night for a cat? Do you require vaccination?", None),
    ("en", "I want to cancel my booking 123456", None),
    ("en", "next weekend for two nights please", None),
    ("et", "Tere! Sooviksin broneerida kassile Miisu toa 10.-15. detsembrini", None),
    ("et", "minu nimi on Mari Tamm ja telefon 5123 4567", None),
    ("et", "järgmisel reedel kolmeks päevaks", None),
    ("et", "tegelikult kass", None),
    ("et", "jah, kinnitan", "confirmation"),
    ("et", "kui palju maksab öö koerale?", None),
    ("ru", "Здравствуйте, меня зовут Иван Петров, хочу оставить собаку Рекс с 10 по 15 декабря", None),
    ("ru", "не на выходные, а на неделю", None),
    ("ru", "нет, это кошка", "confirmation"),
    ("ru", "мой номер +7 912 345 67 89", None),
    ("ru", "в следующую пятницу на три дня", None),
    ("ru", "да, конечно", "confirmation"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    today = dt.date(2026, 11, 18)
    for lang, text, awaiting in CORPUS:  # warm up (regex caches, lru caches)
        extract(text, lang, today=today, awaiting=awaiting)
    samples: list[float] = []
    for _ in range(args.rounds):
        for lang, text, awaiting in CORPUS:
            t0 = time.perf_counter()
            extract(text, lang, today=today, awaiting=awaiting)
            samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    print(
        json.dumps(
            {
                "benchmark": "extract",
                "calls": len(samples),
                "p50_ms": round(statistics.median(samples), 4),
                "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 4),
                "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 4),
                "max_ms": round(samples[-1], 4),
                "dateparser_calls": dateparser_calls(),
                "target_p95_ms": 5.0,
            }
        )
    )


if __name__ == "__main__":
    main()
