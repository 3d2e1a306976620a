"""``appliance privacy``: find, export and erase a caller's data; receipts; retention (docs/PRIVACY.md).

These work on the database directly (like ``bookings cancel``), so they also work while the
daemon is stopped; with the daemon running, the writes queue behind its own (SQLite's write
lock). Every command first finishes an erase a crash interrupted.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.core.config import Config

Adder = Callable[..., argparse.ArgumentParser]
Loader = Callable[[argparse.Namespace], Config]


def _print(args: argparse.Namespace, data: Any, human: str) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str) if args.json else human)


def _open(load: Loader, args: argparse.Namespace) -> tuple[Config, Any]:
    from appliance.privacy.erase import recover
    from appliance.store.db import Database

    cfg = load(args)
    cfg.data_path.mkdir(parents=True, exist_ok=True)
    db = Database.from_config(cfg)
    for receipt in recover(cfg, db):
        print(f"finished an interrupted erase (receipt {receipt['seq']})", file=sys.stderr)
    return cfg, db


def _tenant(cfg: Config, args: argparse.Namespace) -> Config:
    """``--tenant ID``: the caller is that tenant's (several businesses on one box)."""
    return cfg.for_tenant(args.tenant) if args.tenant else cfg


def _subject(cfg: Config, db: Any, args: argparse.Namespace) -> Any:
    from appliance.privacy.find import subject_for_booking, subject_for_phone

    if args.phone:
        return subject_for_phone(cfg, args.phone)
    return db.read(lambda s: subject_for_booking(cfg, s, args.booking))


def _findings(cfg: Config, db: Any, args: argparse.Namespace) -> Any:
    from appliance.privacy.find import find

    subject = _subject(cfg, db, args)
    return db.read(lambda s: find(cfg, s, subject))


def cmd_find(load: Loader, args: argparse.Namespace) -> int:
    cfg, db = _open(load, args)
    cfg = _tenant(cfg, args)
    try:
        f = _findings(cfg, db, args)
    finally:
        db.close()
    counts = f.counts()
    _print(args, counts, "\n".join(f"{k}: {v}" for k, v in counts.items()))
    return 0


def cmd_export(load: Loader, args: argparse.Namespace) -> int:
    from appliance.privacy.export import record_export, write_archive

    cfg, db = _open(load, args)
    cfg = _tenant(cfg, args)
    try:
        f = _findings(cfg, db, args)
        path = write_archive(cfg, f, Path(args.out), language=args.language)
        record_export(cfg, db, f, by=args.by)
    finally:
        db.close()
    _print(args, {"archive": str(path), "counts": f.counts()}, f"export written to {path}")
    return 0


def cmd_erase(load: Loader, args: argparse.Namespace) -> int:
    from appliance.privacy.erase import erase

    cfg, db = _open(load, args)
    cfg = _tenant(cfg, args)
    try:
        receipt = erase(cfg, db, _subject(cfg, db, args), reason=args.reason, by=args.by)
    finally:
        db.close()
    counts = ", ".join(f"{k} {v}" for k, v in receipt["counts"].items() if v) or "nothing was held"
    _print(args, receipt, f"erased ({counts}); receipt {receipt['seq']} {receipt['hash'][:16]}")
    return 0


def cmd_receipts_list(load: Loader, args: argparse.Namespace) -> int:
    from appliance.privacy import receipts

    cfg, db = _open(load, args)
    db.close()
    rows = receipts.load(cfg)
    human = "\n".join(
        f"{r['seq']:>4} {r['at']} by {r['by']}: {', '.join(r['categories']) or '-'} ({r['reason']})" for r in rows
    )
    _print(args, rows, human or "no erasures")
    return 0


def cmd_receipts_verify(load: Loader, args: argparse.Namespace) -> int:
    from appliance.privacy import receipts

    cfg, db = _open(load, args)
    db.close()
    v = receipts.verify(cfg)
    _print(args, v.to_dict(), f"{v.receipts} receipts, chain intact" if v.ok else "\n".join(v.problems))
    return 0 if v.ok else 4


def cmd_retention(load: Loader, args: argparse.Namespace) -> int:
    from appliance.privacy import retention

    cfg, db = _open(load, args)
    try:
        removed = retention.run_all(cfg, db)
    finally:
        db.close()
    _print(args, removed, "\n".join(f"{k}: {v} removed" for k, v in removed.items()))
    return 0


def cmd_reapply(load: Loader, args: argparse.Namespace) -> int:
    from appliance.privacy.reapply import reapply

    cfg, db = _open(load, args)
    try:
        done = reapply(cfg, db)
    finally:
        db.close()
    _print(args, done, f"{len(done)} erased caller(s) brought back by a restore erased again")
    return 0


def register(sub: Any, add: Adder, load: Loader) -> None:
    """Add ``appliance privacy ...`` to the parser."""

    def bind(fn: Callable[[Loader, argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        return lambda args: fn(load, args)

    pv = sub.add_parser("privacy", help="a caller's data: find, export, erase; receipts; retention")
    psub = pv.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")

    def who(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--phone", help="the caller's phone number (any usual form)")
        g.add_argument("--booking", help="a booking number: stands for its owner's phone")
        p.add_argument("--tenant", help="the caller's tenant id ([[tenants]]; default: the default tenant)")

    who(add("find", bind(cmd_find), "count every record about a caller", psub))
    p = add("export", bind(cmd_export), "write everything about a caller to a ZIP (JSON, recordings, summary)", psub)
    who(p)
    p.add_argument("--out", required=True, help="the archive to write (.zip)")
    p.add_argument("--language", help="language of the summary (default: the tenant's)")
    p.add_argument("--by", default=getpass.getuser(), help="who made the export (audit log; default: you)")
    p = add("erase", bind(cmd_erase), "erase everything about a caller and write a receipt", psub)
    who(p)
    p.add_argument("--reason", required=True, help="why (kept in the receipt; no personal data)")
    p.add_argument("--by", required=True, help="who asked for or did the erasure")
    rc = psub.add_parser("receipts", help="erasure receipts")
    rsub = rc.add_subparsers(dest="receipts_sub", required=True, metavar="SUBCOMMAND")
    add("list", bind(cmd_receipts_list), "list erasure receipts", rsub)
    add("verify", bind(cmd_receipts_verify), "check the receipts' hash chain (exit 4 when broken)", rsub)
    add("reapply", bind(cmd_reapply), "after a backup restore: erase again callers with a receipt", psub)
    add("retention", bind(cmd_retention), "remove personal data older than the retention settings now", psub)
