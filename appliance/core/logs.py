"""Logging for the daemon and its worker processes: text or one JSON object per line.

Personal data stays out of the log (docs/PRIVACY.md): every handler carries
:class:`RedactingFilter`, which replaces phone numbers (anything that looks like
one: 7+ digits with the usual separators, SIP URIs' user parts) in records at
INFO and above with a short keyed hash (``[phone#3fa2c1]``), so two lines about
one caller can still be matched without the number. Names and utterance text
cannot be recognised by a pattern: log calls never pass them at INFO and above
(``tests/integration/test_privacy_logs.py`` scans a whole chat's log for them);
use :func:`pii` for a value that must be correlated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import logging.handlers
import re
import secrets
import sys
from pathlib import Path

from appliance.core.config import Config

# +372 5123 4567, 0037251234567, (555) 123-4567, 5123-4567; sip:+3725...@host keeps the host.
_PHONE_RE = re.compile(r"(?<![\w.#])\+?\d(?:[\s\-./()]{0,2}\d){6,17}(?![\w#])")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}")  # timestamps are not phone numbers
_KEY = secrets.token_bytes(16)  # per process: hashes correlate lines of one run only


def pii(value: object) -> str:
    """A short keyed hash standing for a personal value in a log line."""
    digest = hmac.new(_KEY, str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:6]
    return f"#{digest}"


def redact(text: str) -> str:
    """``text`` with every phone-number-like run replaced by its hash."""

    def sub(m: re.Match[str]) -> str:
        if _DATE_RE.search(m.group(0)):
            return m.group(0)
        digits = re.sub(r"\D", "", m.group(0))
        return f"[phone{pii(digits)}]"

    return _PHONE_RE.sub(sub, text)


class RedactingFilter(logging.Filter):
    """Redact phone numbers from the message (and exception text) of INFO+ records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "t": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_text:
            data["exc"] = record.exc_text
        elif record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def log_file(cfg: Config) -> Path | None:
    """``logging.file`` as a path (relative ones under the data directory), or None."""
    if not cfg.logging.file:
        return None
    p = Path(cfg.logging.file).expanduser()
    return p if p.is_absolute() else cfg.data_path / p


def setup_logging(cfg: Config, *, rotate: bool = True) -> None:
    """Log to stderr and ``logging.file``. ``rotate=False`` for worker processes: they append to
    the daemon's file and reopen it after the daemon rotated it (one rotating process only)."""
    formatter: logging.Formatter = (
        _JsonFormatter()
        if cfg.logging.format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    path = log_file(cfg)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        keep = max(cfg.tenant.privacy.retention.logs_days, 1)
        handlers.append(
            logging.handlers.TimedRotatingFileHandler(path, when="midnight", backupCount=keep, encoding="utf-8")
            if rotate
            else logging.handlers.WatchedFileHandler(path, encoding="utf-8")
        )
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, logging.FileHandler):
            old.close()
    root.handlers[:] = handlers
    root.setLevel(cfg.logging.level)
