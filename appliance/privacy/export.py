"""``appliance privacy export``: everything about a caller as one ZIP archive.

The archive holds ``data.json`` (every record :mod:`appliance.privacy.find` found, machine
readable), ``recordings/`` (the call audio and call records, as they are on disk) and
``summary.txt``: a short human-readable summary in the tenant's language from the templates
in ``summary/<lang>.toml`` (one text system: no sentence in code).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tomllib
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

from appliance.core.clock import Clock, system_clock
from appliance.core.config import Config
from appliance.privacy import receipts
from appliance.privacy.find import Findings
from appliance.store.db import Database
from appliance.store.repos import audit_tx

TEMPLATES = Path(__file__).resolve().parent / "summary"
FORMAT_VERSION = 1


@cache
def templates(language: str) -> dict[str, Any]:
    path = TEMPLATES / f"{language}.toml"
    if not path.exists():
        path = TEMPLATES / "en.toml"
    with path.open("rb") as fh:
        return tomllib.load(fh)


def summary(config: Config, f: Findings, *, language: str, now: dt.datetime) -> str:
    t = templates(language)
    business = config.tenant.name
    lines = [t["title"].format(business=business, phone=f.subject.phone), ""]
    lines.append(t["made"].format(date=now.date().isoformat()))
    lines.append("")
    if f.empty:
        lines.append(t["nothing"])
    else:
        lines.append(t["counts_heading"])
        lines += [f"- {t['counts'][k].format(n=n)}" for k, n in f.counts().items() if n]
        lines.append("")
        for b in f.bookings:
            status = t["status"].get(b["status"], b["status"])
            lines.append(
                t["booking"].format(number=b["id"], pet=b["pet_name"], start=b["start_date"], end=b["end_date"],
                                    status=status)
            )  # fmt: skip
        for r in f.recordings:
            started = r.data.get("started_at")
            when = dt.datetime.fromtimestamp(float(started), config.tenant.tz) if started else None
            lines.append(t["call"].format(date=when.strftime("%Y-%m-%d %H:%M") if when else "?"))
    lines += ["", t["footer"].format(business=business)]
    return "\n".join(lines) + "\n"


def record_export(config: Config, db: Database, f: Findings, *, by: str, clock: Clock = system_clock) -> None:
    """An audit row for the disclosure: who exported whose data (a salted hash), how much."""
    subject = receipts.subject_hash(config, f.subject.phone)
    db.write(
        lambda s: audit_tx(
            s, at=clock(), actor=by, action="privacy.export", entity="privacy", entity_id=subject[:16],
            details={"subject": subject, "counts": f.counts()},
        )
    )  # fmt: skip


def write_archive(
    config: Config, f: Findings, dest: Path, *, language: str | None = None, clock: Clock = system_clock
) -> Path:
    """Write the archive to ``dest`` (created 0600: it is personal data) and return its path."""
    lang = language or config.tenant.default_language
    now = clock().astimezone(config.tenant.tz)
    dest = dest.expanduser().resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as z:
        data = {"format": FORMAT_VERSION, "exported_at": now.isoformat(timespec="seconds"), **f.to_dict()}
        z.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2, default=str))
        z.writestr("summary.txt", summary(config, f, language=lang, now=now))
        for path in f.files:
            if path.exists():
                z.write(path, f"recordings/{path.name}")
    tmp.replace(dest)
    return dest
