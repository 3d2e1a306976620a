"""``appliance doctor``'s operations checks: notify/watchdog, the metrics endpoint, the last backup,
and whether the host name resolves without DNS. Cheap and offline; each is (area, name, status, detail)."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

from appliance.core.config import REPO_ROOT, Config
from appliance.ops.backup import last_backup

OK, WARN, FAIL = "ok", "warn", "fail"
INSTALLED_UNIT = Path("/etc/systemd/system/appliance.service")
BACKUP_STALE_DAYS = 7

CheckRow = tuple[str, str, str, str]


def _unit_settings(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    return dict(re.findall(r"^(Type|WatchdogSec|NotifyAccess)=(\S*)", text, flags=re.M))


def notify_check() -> CheckRow:
    try:
        version = importlib.metadata.version("sdnotify")
    except importlib.metadata.PackageNotFoundError:
        return ("ops", "systemd notify/watchdog", FAIL, "sdnotify not installed (pip install sdnotify)")
    unit = INSTALLED_UNIT if INSTALLED_UNIT.is_file() else REPO_ROOT / "systemd" / "appliance.service"
    try:
        s = _unit_settings(unit)
    except OSError as exc:
        return ("ops", "systemd notify/watchdog", WARN, f"sdnotify {version}; cannot read {unit}: {exc.strerror}")
    detail = f"sdnotify {version}; {unit}: Type={s.get('Type', 'simple')}, WatchdogSec={s.get('WatchdogSec', 'off')}"
    if s.get("Type") != "notify" or not s.get("WatchdogSec"):
        return ("ops", "systemd notify/watchdog", WARN, detail + " (install systemd/appliance.service again)")
    return ("ops", "systemd notify/watchdog", OK, detail)


def metrics_check(cfg: Config) -> CheckRow:
    m = cfg.metrics
    if not m.enabled:
        return ("ops", "metrics endpoint", OK, "disabled (metrics.enabled = false)")
    url = f"http://{m.host}:{m.port}/metrics"
    try:
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an http_proxy
        with direct.open(url, timeout=2) as resp:
            text = resp.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return ("ops", "metrics endpoint", OK, f"{url} (not serving now: is the daemon running?)")
    if "appliance_" not in text:
        return ("ops", "metrics endpoint", WARN, f"{url} answers, but not with the appliance's metrics")
    pings = re.search(r"^appliance_watchdog_pings_total ([\d.e+]+)$", text, flags=re.M)
    watchdog = f"; watchdog pings sent: {int(float(pings.group(1)))}" if pings else ""
    return ("ops", "metrics endpoint", OK, f"{url} serving{watchdog}")


def backup_check(cfg: Config, now: dt.datetime | None = None) -> CheckRow:
    info = last_backup(cfg)
    if not info:
        return ("ops", "last backup", WARN, "none recorded (appliance backup create FILE)")
    created = dt.datetime.fromisoformat(str(info.get("created_at")))
    age_days = ((now or dt.datetime.now(dt.UTC)) - created).total_seconds() / 86400
    detail = f"{info.get('created_at')} -> {info.get('path')} ({age_days:.1f} days ago)"
    return ("ops", "last backup", WARN if age_days > BACKUP_STALE_DAYS else OK, detail)


def hostname_check(hosts: Path = Path("/etc/hosts")) -> CheckRow:
    """pjsip resolves the host name once at start (pjsua_create); listed in /etc/hosts, that never
    reaches DNS (docs/INSTALL.md, "Zero egress")."""
    name = socket.gethostname()
    try:
        names = {n for line in hosts.read_text().splitlines() for n in line.split("#")[0].split()[1:]}
    except OSError:
        names = set()
    if name in names:
        return ("ops", "host name in /etc/hosts", OK, f"{name}: resolved without DNS")
    return ("ops", "host name in /etc/hosts", WARN, f"add '127.0.1.1 {name}' to {hosts}: else SIP start asks DNS")


def llm_server_check(cfg: Config) -> CheckRow:
    """``llm.mode = "server"``: the OpenAI-compatible server answers GET /models (an IP: no DNS)."""
    url = cfg.llm.base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {cfg.llm.api_key}"} if cfg.llm.api_key else {}
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
        with opener.open(urllib.request.Request(url, headers=headers), timeout=3) as resp:
            served = [str(m.get("id")) for m in json.loads(resp.read()).get("data", [])]
    except (urllib.error.URLError, OSError, ValueError, AttributeError) as exc:
        return ("llm", "LLM server", WARN, f"{url}: {exc} (the appliance runs degraded until it answers)")
    if cfg.llm.model and cfg.llm.model not in served:
        return ("llm", "LLM server", WARN, f"{url} serves {served}, not llm.model = {cfg.llm.model!r}")
    return ("llm", "LLM server", OK, f"{url} serves {', '.join(served) or 'no model'}")


def ops_checks(cfg: Config) -> list[CheckRow]:
    rows = [notify_check(), metrics_check(cfg), backup_check(cfg), hostname_check()]
    return rows + ([llm_server_check(cfg)] if cfg.llm.mode == "server" else [])
