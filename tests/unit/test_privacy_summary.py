"""The export summary's templates: the same keys in every language, every placeholder filled."""

from __future__ import annotations

import datetime as dt
import tomllib

from appliance.core.config import load_config
from appliance.privacy.export import TEMPLATES, summary
from appliance.privacy.find import Findings, Subject


def _keys(d: dict, prefix: str = "") -> set[str]:  # type: ignore[type-arg]
    out: set[str] = set()
    for k, v in d.items():
        out |= _keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
    return out


def test_every_language_has_every_key() -> None:
    cfg = load_config(environ={}, use_system=False)
    keys = {p.stem: _keys(tomllib.loads(p.read_text())) for p in TEMPLATES.glob("*.toml")}
    assert set(keys) >= set(cfg.tenant.languages)
    assert all(k == keys["en"] for k in keys.values())


def test_summary_of_nothing_and_of_something() -> None:
    cfg = load_config(environ={}, use_system=False)
    f = Findings(Subject("demo", "+37251234567", "51234567"))
    now = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    for lang in ("en", "et", "ru"):
        text = summary(cfg, f, language=lang, now=now)
        assert "+37251234567" in text and "{" not in text
    f.bookings = [{"id": "482913", "pet_name": "Rex", "start_date": "2026-12-10", "end_date": "2026-12-12",
                   "status": "cancelled"}]  # fmt: skip
    assert "Бронирование 482913: Rex, с 2026-12-10 по 2026-12-12, отменено." in summary(cfg, f, language="ru", now=now)
