"""The ``appliance`` command line.

Exit codes: 0 ok; 1 a runtime failure; 2 a usage or configuration error;
3 not found; 4 a check failed (``db check``, ``models verify``, ``doctor``).
Heavy modules are imported inside the commands so ``appliance --help`` and
``config check`` stay fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from appliance.core.config import Config, dump_config, load_config
from appliance.core.errors import ApplianceError, ConfigError, NotFound

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CHECK_FAILED = 4


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = code


def _load(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides.setdefault("store", {})["data_dir"] = str(args.data_dir)
    return load_config(getattr(args, "config", None), overrides=overrides or None)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# --- commands -------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace) -> int:
    cfg = _load(args)
    data = dump_config(cfg)
    if args.json:
        _print_json(data)
    else:
        for section, body in data.items():
            if isinstance(body, dict):
                print(f"[{section}]")
                for k, v in body.items():
                    print(f"{k} = {json.dumps(v, ensure_ascii=False, default=str)}")
                print()
            else:
                print(f"{section} = {json.dumps(body, ensure_ascii=False, default=str)}")
        print(f"# config ok: data in {cfg.data_path}", file=sys.stderr)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from appliance.chat_cli import parse_now
    from appliance.core.clock import shifted_clock, system_clock
    from appliance.daemon import run_daemon

    cfg = _load(args)
    return run_daemon(cfg, shifted_clock(parse_now(args.now)()) if args.now else system_clock)


def cmd_sip_worker(args: argparse.Namespace) -> int:
    from appliance.channels.sip.worker import main as worker_main

    return worker_main(args)


def cmd_chat(args: argparse.Namespace) -> int:
    from appliance.chat_cli import run_chat

    cfg = _load(args)
    cfg = cfg.for_tenant(args.tenant) if args.tenant else cfg  # talk to one business of the box
    return run_chat(cfg, session=args.session, channel=args.channel, now=args.now, caller_id=args.caller_id)


def cmd_call(args: argparse.Namespace) -> int:
    from appliance.call_cli import run_call_cli

    cfg = _load(args)
    cfg = cfg.for_tenant(args.tenant) if args.tenant else cfg  # call one business of the box
    return run_call_cli(cfg, args)


def _open_store(cfg: Config) -> Any:
    from appliance.store.db import Database

    cfg.data_path.mkdir(parents=True, exist_ok=True)
    return Database.from_config(cfg)


def _booking_dict(b: Any) -> dict[str, Any]:
    from appliance.core.messages import to_dict

    return to_dict(b)


def cmd_bookings_list(args: argparse.Namespace) -> int:
    import asyncio

    from appliance.booking.local import LocalBackend
    from appliance.core.tenancy import tenant_scope

    cfg = _load(args)
    db = _open_store(cfg)
    rows: list[Any] = []
    try:
        for tenant in tenant_scope(cfg, args.tenant):  # --tenant ID, or all
            backend = LocalBackend(db, cfg.for_tenant(tenant))
            rows += asyncio.run(backend.list_bookings(status=args.status, limit=args.limit))
    finally:
        db.close()
    if args.json:
        _print_json([_booking_dict(b) for b in rows])
    else:
        if not rows:
            print("no bookings")
        for b in rows:
            print(
                (f"{b.tenant_id:<10} " if args.tenant == "all" else "")
                + f"{b.id}  {b.status:<9}  {b.start.isoformat()} -> {b.end.isoformat()}  "
                f"{b.pet_type:<4} {b.pet_name:<12} {b.owner_name} {b.owner_phone}  "
                f"{b.total_minor / 100:.2f} {b.currency}"
            )
    return EXIT_OK


def _get_booking(args: argparse.Namespace) -> tuple[Config, Any, Any]:
    from appliance.booking.local import LocalBackend
    from appliance.core.tenancy import tenant_scope

    cfg = _load(args)
    view = cfg.for_tenant(tenant_scope(cfg, args.tenant)[0])  # a booking is looked up in one tenant
    db = _open_store(cfg)
    return view, db, LocalBackend(db, view, actor="cli")


def cmd_bookings_show(args: argparse.Namespace) -> int:
    import asyncio

    _cfg, db, backend = _get_booking(args)
    try:
        b = asyncio.run(backend.get_booking(args.booking_id))
    finally:
        db.close()
    data = _booking_dict(b)
    if args.json:
        _print_json(data)
    else:
        for k, v in data.items():
            print(f"{k:>16}: {v}")
    return EXIT_OK


def cmd_bookings_cancel(args: argparse.Namespace) -> int:
    import asyncio

    _cfg, db, backend = _get_booking(args)
    try:
        b = asyncio.run(backend.cancel_booking(args.booking_id))
    finally:
        db.close()
    if args.json:
        _print_json(_booking_dict(b))
    else:
        print(f"booking {b.id} is {b.status}")
    return EXIT_OK


def cmd_db_backup(args: argparse.Namespace) -> int:
    cfg = _load(args)
    db = _open_store(cfg)
    dest = Path(args.dest)
    try:
        db.backup(dest)
    finally:
        db.close()
    print(f"backup written to {dest}")
    return EXIT_OK


def cmd_db_check(args: argparse.Namespace) -> int:
    cfg = _load(args)
    if not cfg.db_path.exists():
        raise CliError(f"{cfg.db_path}: no database (run 'appliance run' once, or check --data-dir)", EXIT_NOT_FOUND)
    db = _open_store(cfg)
    try:
        report = db.check()
    finally:
        db.close()
    data = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    if args.json:
        _print_json(data)
    else:
        for problem in data.get("problems", []):
            print(f"problem: {problem}")
        print("ok" if data.get("ok") else "FAILED")
    return EXIT_OK if data.get("ok") else EXIT_CHECK_FAILED


def cmd_backup_create(args: argparse.Namespace) -> int:
    from appliance.ops.backup import create

    info = create(_load(args), Path(args.file), config_path=args.config)
    _print_json(info.to_dict()) if args.json else print(
        f"backup written to {info.path} ({info.recordings} recording files, {info.bytes} bytes, sha256 {info.sha256})"
    )
    return EXIT_OK


def cmd_backup_restore(args: argparse.Namespace) -> int:
    from appliance.ops.backup import restore

    result = restore(_load(args), Path(args.file))
    _print_json(result) if args.json else print(f"restored {result['restored']} into {result['data_dir']}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from appliance.doctor import run_doctor

    cfg = _load(args)
    return run_doctor(cfg, as_json=args.json)


def cmd_kb_reindex(args: argparse.Namespace) -> int:
    from appliance.core.tenancy import tenant_scope
    from appliance.engines.embed import embedder_for
    from appliance.store.knowledge import reindex

    cfg = _load(args)
    results = []
    for tenant in tenant_scope(cfg, args.tenant):  # each tenant's knowledge base is its own index
        view = cfg.for_tenant(tenant)
        results.append({"tenant": tenant, **reindex(None, view, embedder_for(view))})
    if args.json:
        _print_json(results if args.tenant == "all" else results[0])
    for stats in [] if args.json else results:
        who = f"{stats['tenant']}: " if args.tenant == "all" else ""
        print(f"{who}indexed {stats['chunks']} chunks from {stats['files']} files")
    return EXIT_OK


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from appliance.engines.manifest import default_models_dir
    from appliance.engines.model_fetch import fetch

    cfg = _load(args)
    dest = Path(args.dest) if args.dest else default_models_dir(cfg)
    results = fetch(args.roles or None, dest=dest, token=args.token, update_hashes=args.update_hashes, progress=print)
    if args.json:
        _print_json([r.to_dict() for r in results or []])
    return EXIT_OK


def cmd_models_verify(args: argparse.Namespace) -> int:
    from appliance.engines.manifest import default_models_dir
    from appliance.engines.model_verify import verify

    cfg = _load(args)
    dest = Path(args.dest) if args.dest else default_models_dir(cfg)
    results = verify(args.roles or None, dest=dest)
    bad = [r for r in results if str(r.status) not in ("ok", "unpinned") and not getattr(r, "optional", False)]
    if args.json:
        _print_json([r.to_dict() for r in results])
        return EXIT_CHECK_FAILED if bad else EXIT_OK
    for r in results:
        line = f"{r.status!s:<9} {r.role:<12} {r.file}"
        print(line + (f"  ({r.detail})" if getattr(r, "detail", "") else ""))
    return EXIT_CHECK_FAILED if bad else EXIT_OK


# --- parser -----------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="config file (default: /etc/appliance/appliance.toml if present)")
    p.add_argument("--data-dir", help="data directory (overrides store.data_dir)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance", description="Local-first AI receptionist appliance")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help_: str, parent: Any = sub
    ) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_, description=help_)
        _common(p)
        p.set_defaults(func=fn)
        return p

    p = add("run", cmd_run, "run the daemon (web chat, SIP, local API) until SIGTERM/SIGINT")
    p.add_argument("--now", help="start the brain's clock at this ISO timestamp; it runs on from there (tests, demos)")

    # hidden: one SIP worker process behind the daemon's SIP proxy (sip.workers > 1; docs/SIP.md)
    p = sub.add_parser("sip-worker")
    p.add_argument("--worker-config", required=True, help="the JSON config the daemon wrote for its workers")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--scripted-stt", help="tests/benchmark seam: a JSON list of transcripts (ScriptedSTT)")
    p.set_defaults(func=cmd_sip_worker)

    p = add("chat", cmd_chat, "chat with the receptionist in the terminal (JSON lines when stdin is not a terminal)")
    p.add_argument("--session", help="session id to create or resume")
    p.add_argument("--channel", default="cli", choices=["cli", "web", "sms", "voice"])
    p.add_argument("--now", help="pretend the time is this ISO timestamp (tests, demos)")
    p.add_argument("--caller-id", help="the caller's phone number (as the voice channel would pass it)")
    p.add_argument("--tenant", help="the business to talk to ([[tenants]] id; default: the default tenant)")

    p = add("call", cmd_call, "simulate a phone call from a WAV file through the voice pipeline")
    p.add_argument("--wav", required=True, help="the caller's audio (any sample rate)")
    p.add_argument("--out", required=True, help="where to write the appliance's side of the call")
    p.add_argument("--tenant", help="the business to call ([[tenants]] id; default: the default tenant)")
    p.add_argument("--timeline", help="write per-turn timelines as JSON here")
    p.add_argument("--session", help="session id")
    p.add_argument("--caller-id", help="caller's phone number")
    p.add_argument("--now", help="pretend the time is this ISO timestamp")
    p.add_argument("--script", help="scripted STT: a text file with one utterance per line (test seam)")

    cfg = sub.add_parser("config", help="configuration commands")
    csub = cfg.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    add("check", cmd_config_check, "validate and print the effective configuration", csub)

    bk = sub.add_parser("bookings", help="list, show, cancel, approve and decline bookings")
    bsub = bk.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    p = add("list", cmd_bookings_list, "list bookings", bsub)
    p.add_argument("--status", choices=["held", "confirmed", "cancelled"])
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--tenant", help="a tenant id ([[tenants]]) or all (default: the default tenant)")
    p = add("show", cmd_bookings_show, "show one booking", bsub)
    p.add_argument("booking_id")
    p.add_argument("--tenant", help="the booking's tenant id (default: the default tenant)")
    p = add("cancel", cmd_bookings_cancel, "cancel a booking", bsub)
    p.add_argument("booking_id")
    p.add_argument("--tenant", help="the booking's tenant id (default: the default tenant)")

    from appliance.staff_cli import register as register_staff  # console, callbacks, sessions, approvals

    register_staff(sub, add, _load, bsub)
    from appliance.privacy_cli import register as register_privacy  # export, erase, receipts, retention

    register_privacy(sub, add, _load)
    from appliance.outbox_cli import register as register_outbox  # outbox list (docs/SMS.md)

    register_outbox(sub, add, _load)

    db = sub.add_parser("db", help="database maintenance")
    dsub = db.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    p = add("backup", cmd_db_backup, "online backup of the SQLite database", dsub)
    p.add_argument("dest", help="destination file")
    add("check", cmd_db_check, "integrity and consistency check", dsub)

    bu = sub.add_parser("backup", help="backup and restore: database, recordings, configuration")
    busub = bu.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    p = add("create", cmd_backup_create, "write one archive (online; safe while the daemon runs)", busub)
    p.add_argument("file", help="the archive to write (.tar.gz)")
    p = add("restore", cmd_backup_restore, "verify an archive and restore it (the daemon must be stopped)", busub)
    p.add_argument("file", help="the archive to restore")

    add("doctor", cmd_doctor, "what is installed, which models are present, which ports are free")

    kb = sub.add_parser("kb", help="knowledge base")
    ksub = kb.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    p = add("reindex", cmd_kb_reindex, "rebuild the knowledge-base index from the Markdown files", ksub)
    p.add_argument("--tenant", help="a tenant id ([[tenants]]) or all (default: the default tenant)")

    md = sub.add_parser("models", help="production models")
    msub = md.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    p = add("fetch", cmd_models_fetch, "download models on a connected machine (verifies sha256)", msub)
    p.add_argument("roles", nargs="*")
    p.add_argument("--dest")
    p.add_argument("--token", help="hub token for gated models")
    p.add_argument("--update-hashes", action="store_true")
    p = add("verify", cmd_models_verify, "verify downloaded models offline", msub)
    p.add_argument("roles", nargs="*")
    p.add_argument("--dest")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.command, getattr(args, "sub", None)) != ("models", "fetch"):  # the one command that downloads
        from appliance.ops.offline import apply as stay_offline

        stay_offline()
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NotFound as exc:
        print(f"not found: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ApplianceError as exc:
        print(f"error [{exc.code}]: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
