"""``appliance outbox list``: the SMS outbox (docs/SMS.md): every text sent, waiting or given up.

Through the daemon's control API when it runs (``GET /v1/outbox``), else straight from the
store. Exit codes as in :mod:`appliance.cli`.
"""

from __future__ import annotations

import argparse
from typing import Any

from appliance.staff_cli import Adder, Loader, _print, _run, _store

EXIT_OK = 0
STATUSES = ("pending", "sending", "sent", "failed", "skipped")


def _line(m: dict[str, Any], every: bool = False) -> str:
    text = m["text"] if len(m["text"]) <= 60 else m["text"][:59] + "…"
    when = (m.get("sent_at") or m.get("not_before") or "")[:16]
    return (
        (f"{m.get('tenant_id', ''):<10} " if every else "")
        + f"{m['id']:>5}  {m['status']:<8} {m['kind']:<12} {when:<16}  {m['recipient']:<16} "
        f"{m['encoding']}x{m['segments']} try {m['attempts']}  {text}"
    )


def cmd_outbox_list(load: Loader, args: argparse.Namespace) -> int:
    cfg = load(args)

    async def direct() -> Any:
        from appliance.core.messages import to_dict
        from appliance.core.tenancy import tenant_scope
        from appliance.store.outbox import Outbox, OutboxMessage

        db = _store(cfg)
        try:
            rows: list[OutboxMessage] = []
            for tenant in tenant_scope(cfg, args.tenant):  # --tenant ID, or all
                rows += await Outbox(db, tenant_id=tenant).list(status=args.status, limit=args.limit)
            rows = sorted(rows, key=lambda m: m.id, reverse=True)[: args.limit]
            return {"outbox": [to_dict(m) for m in rows]}
        finally:
            db.close()

    params = {"limit": str(args.limit), **({"status": args.status} if args.status else {})}
    data = _run(cfg, lambda c: c.get("/outbox", **params), direct, args.tenant)
    _print(args, data["outbox"], [_line(m, args.tenant == "all") for m in data["outbox"]])
    return EXIT_OK


def register(sub: Any, add: Adder, load: Loader) -> None:
    ob = sub.add_parser("outbox", help="the SMS outbox: confirmations, reminders, replies")
    osub = ob.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    p = add("list", lambda args: cmd_outbox_list(load, args), "list texts, newest first", osub)
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--tenant", help="a tenant id ([[tenants]]) or all (default: the default tenant)")
