"""``appliance doctor``: what is installed, which models are present, which ports are free.

Every check is cheap and offline. Exit code 4 when something the configured
appliance needs is missing; optional things only warn.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import sys
from dataclasses import asdict, dataclass
from typing import Any

from appliance.core.config import Config

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True, slots=True)
class Check:
    area: str
    name: str
    status: str
    detail: str = ""


def _module(name: str, dist: str, required: bool, area: str = "python") -> Check:
    found = importlib.util.find_spec(name) is not None
    if found:
        try:
            from importlib.metadata import version

            detail = version(dist)
        except Exception:
            detail = "installed"
        return Check(area, dist, OK, detail)
    return Check(area, dist, FAIL if required else WARN, f"not installed (pip install {dist})")


def _program(name: str, package: str, required: bool) -> Check:
    path = shutil.which(name)
    if path:
        return Check("system", name, OK, path)
    return Check("system", name, FAIL if required else WARN, f"not found (apt-get install {package})")


def _port(kind: str, host: str, port: int, udp: bool = False) -> Check:
    if port == 0:
        return Check("ports", f"{kind} {host}:0", OK, "ephemeral")
    s = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    )
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return Check("ports", f"{kind} {host}:{port}", OK, "free")
    except OSError as exc:
        return Check(
            "ports", f"{kind} {host}:{port}", WARN, f"in use or not bindable ({exc.strerror}); is the daemon running?"
        )
    finally:
        s.close()


def _sqlite_extensions() -> Check:
    try:
        import sqlean
        import sqlite_vec

        conn = sqlean.connect(":memory:")
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        version = conn.execute("select vec_version()").fetchone()[0]
        conn.close()
        return Check("python", "sqlite-vec (via sqlean)", OK, version)
    except Exception as exc:
        return Check("python", "sqlite-vec (via sqlean)", FAIL, f"cannot load: {exc}")


def _models(cfg: Config) -> list[Check]:
    try:
        from appliance.engines.manifest import models_dir
        from appliance.engines.model_verify import verify
    except Exception as exc:
        return [Check("models", "manifest", FAIL, str(exc))]
    out: list[Check] = []
    try:
        results = verify(None, dest=models_dir(cfg))
    except Exception as exc:
        return [Check("models", "manifest", FAIL, str(exc))]
    by_role: dict[str, list[Any]] = {}
    for r in results:
        by_role.setdefault(str(r.role), []).append(r)
    for role, rs in by_role.items():
        states = sorted({str(r.status) for r in rs})
        good = all(s in ("ok", "unpinned") for s in states)
        optional = all(getattr(r, "optional", False) for r in rs)
        detail = f"{len(rs)} file(s): {', '.join(states)}"
        if not good:
            detail += f" (appliance models fetch {role}{'; optional' if optional else ''})"
        out.append(Check("models", role, OK if good else WARN, detail))
    return out


def _diarization(cfg: Config) -> Check:
    """Speaker diarization of recordings: the isolated pyannote environment and its models."""
    from appliance.engines.diarize import availability
    from appliance.engines.manifest import models_dir

    dcfg = cfg.diarization
    if not dcfg.pipeline and not dcfg.segmentation:  # as the daemon does: the manifest's folder
        dcfg = dcfg.model_copy(update={"pipeline": str(models_dir(cfg) / "diarization")})
    usable, detail = availability(dcfg)
    if not cfg.diarization.enabled:
        return Check("models", "diarization", OK, f"off (diarization.enabled = false); {detail}")
    if not cfg.sip.record:
        return Check("models", "diarization", WARN, f"on, but sip.record = false: nothing to diarize; {detail}")
    return Check("models", "diarization", OK if usable else WARN, detail)


def checks(cfg: Config) -> list[Check]:
    out = [Check("python", "python", OK if sys.version_info[:2] == (3, 11) else WARN, sys.version.split()[0])]
    for mod, dist, req in (
        ("pydantic", "pydantic", True),
        ("sqlmodel", "sqlmodel", True),
        ("aiohttp", "aiohttp", True),
        ("lingua", "lingua-language-detector", True),
        ("phonenumbers", "phonenumbers", True),
        ("pipecat", "pipecat-ai", False),
        ("faster_whisper", "faster-whisper", False),
        ("piper", "piper-tts", False),
        ("llama_cpp", "llama-cpp-python", False),
        ("pjsua2", "pjsua2-python", cfg.sip.enabled),
        ("textual", "textual", False),
        ("torch", "torch", False),
    ):
        out.append(_module(mod, dist, req))
    out.append(_sqlite_extensions())
    out.append(_program("espeak-ng", "espeak-ng", False))
    out.append(_program("sox", "sox", False))
    out.append(_program("sipp", "sip-tester", False))
    data = cfg.data_path
    writable = data.exists() and shutil.disk_usage(data).free > 100 * 2**20
    out.append(
        Check("data", str(data), OK if writable else WARN, "writable" if writable else "missing or low on space")
    )
    out.extend(_models(cfg))
    out.append(_diarization(cfg))
    if cfg.web.enabled:
        out.append(_port("web", cfg.web.host, cfg.web.port))
    if cfg.sip.enabled:
        out.append(_port("sip udp", cfg.sip.host, cfg.sip.udp_port, udp=True))
        out.append(_port("sip tcp", cfg.sip.host, cfg.sip.tcp_port))
    if cfg.sms.enabled and "kannel" in cfg.sms.transports:  # smsbox's post-url (docs/SMS.md)
        out.append(_port("sms (Kannel post-url)", cfg.sms.listen_host, cfg.sms.listen_port))
    from appliance.ops.checks import ops_checks  # notify/watchdog, metrics, last backup, host name

    out.extend(Check(*row) for row in ops_checks(cfg))
    from appliance.privacy.checks import privacy_checks  # retention, pending erasures, receipts

    out.extend(Check(*row) for row in privacy_checks(cfg))
    return out


def run_doctor(cfg: Config, *, as_json: bool = False) -> int:
    results = checks(cfg)
    if as_json:
        print(json.dumps([asdict(c) for c in results], indent=2, ensure_ascii=False))
    else:
        for c in results:
            mark = {OK: "  ok ", WARN: " warn", FAIL: " FAIL"}[c.status]
            print(f"{mark}  {c.area:<7} {c.name:<34} {c.detail}")
    return 4 if any(c.status == FAIL for c in results) else 0


def summary(results: list[Check]) -> dict[str, Any]:
    return {s: sum(1 for c in results if c.status == s) for s in (OK, WARN, FAIL)}
