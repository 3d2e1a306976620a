"""Staff commands: ``appliance console``, ``callbacks``, ``sessions`` and ``bookings approve|decline``.

With the daemon running they go through its control API (the same one the
console uses, so the live state and the events stay right); without it,
callbacks and approvals act on the store directly and ``sessions`` reports
that nothing is live. Exit codes as in :mod:`appliance.cli`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pwd
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from appliance.console.client import ApiClient
from appliance.core.callback_policy import describe_attempts
from appliance.core.config import Config
from appliance.core.control import ApiError, ErrorCode
from appliance.core.errors import ApplianceError, NotFound
from appliance.core.tenancy import tenant_scope

EXIT_OK, EXIT_FAILURE, EXIT_NOT_FOUND = 0, 1, 3
Loader = Callable[[argparse.Namespace], Config]
Adder = Callable[..., argparse.ArgumentParser]


def _me() -> str:
    try:
        return f"staff:{pwd.getpwuid(os.getuid()).pw_name}"
    except KeyError:
        return "staff"


def _print(args: argparse.Namespace, data: Any, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        print("\n".join(lines) if lines else "nothing")


async def _api(cfg: Config, call: Callable[[ApiClient], Awaitable[Any]], tenant: str | None = None) -> Any:
    async with ApiClient(api_socket(cfg), timeout_s=10, tenant=tenant) as client:
        return await call(client)


SERVICE_SOCKET = Path("/var/lib/appliance/appliance.sock")  # systemd/appliance.service's data dir


def api_socket(cfg: Config, explicit: str | None = None) -> Path:
    """The configured socket; for staff on a box where the service runs, the service's socket."""
    if explicit:
        return Path(explicit)
    if not cfg.api_socket.exists() and not cfg.api.socket and SERVICE_SOCKET.exists():
        return SERVICE_SOCKET
    return cfg.api_socket


def _daemon_up(cfg: Config) -> bool:
    return api_socket(cfg).exists()


def _run(
    cfg: Config,
    via_api: Callable[[ApiClient], Awaitable[Any]],
    direct: Callable[[], Awaitable[Any]] | None,
    tenant: str | None = None,
) -> Any:
    """Through the API when the daemon runs; else directly on the store (when that makes sense).
    ``tenant``: the ``--tenant`` option (an id, or ``all`` for lists; none: the default tenant)."""

    async def go() -> Any:
        if _daemon_up(cfg):
            try:
                return await _api(cfg, via_api, tenant)
            except ApiError as exc:
                if exc.code is not ErrorCode.UNAVAILABLE or direct is None or "not reachable" not in exc.message:
                    raise
        if direct is None:
            raise ApiError(ErrorCode.UNAVAILABLE, f"the daemon is not running (no API at {api_socket(cfg)})")
        return await direct()

    try:
        return asyncio.run(go())
    except ApiError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            raise NotFound(exc.message) from None
        raise ApplianceError(exc.message, code=exc.code.value) from None


def _store(cfg: Config) -> Any:
    from appliance.store.db import Database

    cfg.data_path.mkdir(parents=True, exist_ok=True)
    return Database.from_config(cfg)


# ---------------------------------------------------------------------- callbacks


def _ticket_line(t: dict[str, Any]) -> str:
    claimed = f" claimed by {t['claimed_by']}" if t.get("claimed_by") else ""
    line = f"{t['id']:>5}  {t['status']:<5} {t['created_at'][:16]}  {t['reason']:<22} {t.get('phone') or '-'}  {t.get('name') or ''}{claimed}"
    return "\n".join([line, *(f"       auto callback: {a}" for a in t.get("attempts") or ())])


def _ticket_plain(t: Any) -> dict[str, Any]:
    from appliance.core.messages import to_dict

    d = to_dict(t)
    details = d.pop("details", {}) or {}
    d["claimed_by"] = details.get("claimed_by")
    d["notes"] = [f"{n.get('by')}: {n.get('action')}: {n.get('note')}" for n in details.get("notes") or []]
    d["attempts"] = describe_attempts(details)
    return d


def cmd_callbacks_list(load: Loader, args: argparse.Namespace) -> int:
    cfg = load(args)
    status = "all" if args.all else "open"

    async def direct() -> Any:
        from appliance.store.tickets import TicketDesk

        db = _store(cfg)
        try:
            rows = []
            for tenant in tenant_scope(cfg, args.tenant):
                rows += await TicketDesk(db, tenant_id=tenant).list(status=None if args.all else "open")
            return {"callbacks": [_ticket_plain(t) for t in rows]}
        finally:
            db.close()

    data = _run(cfg, lambda c: c.get("/callbacks", status=status), direct, args.tenant)
    _print(args, data["callbacks"], [_ticket_line(t) for t in data["callbacks"]])
    return EXIT_OK


def _ticket_cmd(action: str, pick: Callable[[Any], Any]) -> Callable[[Loader, argparse.Namespace], int]:
    def cmd(load: Loader, args: argparse.Namespace) -> int:
        cfg = load(args)

        async def direct() -> Any:
            from appliance.store.tickets import TicketDesk

            db = _store(cfg)
            try:
                desk = TicketDesk(db, tenant_id=tenant_scope(cfg, args.tenant)[0])
                return _ticket_plain(await pick(desk)(args.ticket_id, actor=_me(), note=args.note))
            finally:
                db.close()

        t = _run(
            cfg, lambda c: c.post(f"/callbacks/{args.ticket_id}/{action}", {"note": args.note}), direct, args.tenant
        )
        _print(args, t, [_ticket_line(t)])
        return EXIT_OK

    return cmd


# ----------------------------------------------------------------------- sessions


def cmd_sessions_list(load: Loader, args: argparse.Namespace) -> int:
    cfg = load(args)
    data = _run(cfg, lambda c: c.get("/sessions"), None)
    lines = [
        f"{s['id']:<24} {s['channel']:<6} {s.get('caller_id') or '-':<14} {s.get('language') or '-':<3} "
        f"awaiting {s.get('awaiting') or '-':<12} turns {len(s.get('turns') or [])}"
        + ("  TAKEN OVER" if s.get("taken_over_by") else "")
        for s in data["sessions"]
    ]
    _print(args, data["sessions"], lines)
    return EXIT_OK


def cmd_sessions_show(load: Loader, args: argparse.Namespace) -> int:
    cfg = load(args)
    s = _run(cfg, lambda c: c.get(f"/sessions/{args.session_id}"), None)
    lines = [f"session {s['id']} ({s.get('channel', '?')}, {s.get('language') or '-'})"]
    lines += [f"  {k} = {v}" for k, v in (s.get("slots") or {}).items() if v]
    lines += [f"{t['role']:>9}: {t['text']}" for t in s.get("turns") or []]
    _print(args, s, lines)
    return EXIT_OK


# ---------------------------------------------------------------------- approvals


def _approval_cmd(action: str, pick: Callable[[Any], Any]) -> Callable[[Loader, argparse.Namespace], int]:
    def cmd(load: Loader, args: argparse.Namespace) -> int:
        cfg = load(args)

        async def direct() -> Any:
            from appliance.booking.approvals import Approvals
            from appliance.booking.local import LocalBackend
            from appliance.core.messages import to_dict

            db = _store(cfg)
            try:
                view = cfg.for_tenant(tenant_scope(cfg, args.tenant)[0])
                approvals = Approvals(LocalBackend(db, view, actor="cli"))
                result = await pick(approvals)(args.booking_id, actor=_me(), note=args.note)
                return {**to_dict(result.booking), "changed": result.changed}
            finally:
                db.close()

        b = _run(
            cfg, lambda c: c.post(f"/bookings/{args.booking_id}/{action}", {"note": args.note}), direct, args.tenant
        )
        _print(args, b, [f"booking {b['id']} is {b['status']}" + ("" if b.get("changed") else " (unchanged)")])
        return EXIT_OK

    return cmd


def cmd_console(load: Loader, args: argparse.Namespace) -> int:
    from appliance.console.app import run_console

    cfg = load(args)
    return run_console(api_socket(cfg, args.socket), tenant=args.tenant)


# ------------------------------------------------------------------------ parser


TENANT_HELP = "a tenant id ([[tenants]]) or all (default: the default tenant)"


def register(sub: Any, add: Adder, load: Loader, bookings: Any) -> None:
    """Add the staff commands to the ``appliance`` parser (``bookings`` is its bookings subparser group)."""

    def bind(fn: Callable[[Loader, argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        return lambda args: fn(load, args)

    p = add("console", bind(cmd_console), "the staff console (Textual) on the daemon's control API")
    p.add_argument("--socket", help="the control API socket (default: <data_dir>/appliance.sock)")
    p.add_argument("--tenant", help=TENANT_HELP)

    cb = sub.add_parser("callbacks", help="callback tickets: list, claim, done, reopen")
    csub = cb.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    p = add("list", bind(cmd_callbacks_list), "list open callback tickets, oldest first", csub)
    p.add_argument("--all", action="store_true", help="done tickets too")
    p.add_argument("--tenant", help=TENANT_HELP)
    ops: tuple[tuple[str, Callable[[Any], Any], str], ...] = (
        ("claim", lambda d: d.claim, "take a ticket"),
        ("done", lambda d: d.complete, "mark a ticket done"),
        ("reopen", lambda d: d.reopen, "reopen a done ticket"),
    )
    for name, pick, help_ in ops:
        p = add(name, bind(_ticket_cmd(name, pick)), help_, csub)
        p.add_argument("ticket_id", type=int)
        p.add_argument("--note", default="", help="a note for the ticket's history")
        p.add_argument("--tenant", help="the ticket's tenant id (default: the default tenant)")

    ss = sub.add_parser("sessions", help="live calls and chats (needs the daemon)")
    ssub = ss.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    add("list", bind(cmd_sessions_list), "list live calls and chats", ssub)
    p = add("show", bind(cmd_sessions_show), "show one session's transcript and slots", ssub)
    p.add_argument("session_id")

    decisions: tuple[tuple[str, Callable[[Any], Any]], ...] = (
        ("approve", lambda a: a.approve),
        ("decline", lambda a: a.decline),
    )
    for name, decide in decisions:
        p = add(name, bind(_approval_cmd(name, decide)), f"{name} a held booking (bookings.require_approval)", bookings)
        p.add_argument("booking_id")
        p.add_argument("--note", default="")
        p.add_argument("--tenant", help="the booking's tenant id (default: the default tenant)")
