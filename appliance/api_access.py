"""Who may see which business on the staff socket (several tenants on one box; docs/CONSOLE.md).

The socket's file permission decides who may connect at all (``api.group``). Which tenants a
connected staff member then sees is decided per request from the peer's credentials: the
kernel's ``SO_PEERCRED`` (pid, uid, gid) and that process's group list, against each tenant's
``staff_group`` (:func:`appliance.core.tenancy.visible_tenants`, a pure function).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import socket
import struct
from pathlib import Path

from aiohttp import web

from appliance.core.config import Config
from appliance.core.tenancy import StaffPeer, visible_tenants


def _gid_of(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def peer(request: web.Request) -> StaffPeer | None:
    """The connecting process's user and groups (``SO_PEERCRED``, then the process's own group
    list from /proc, which is what the kernel checks too); None when not on a Unix socket."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid, uid, gid = struct.unpack("3i", creds)
    gids = {gid}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Groups:"):
                gids.update(int(g) for g in line.split()[1:])
    except (OSError, ValueError):
        with contextlib.suppress(KeyError, OSError):
            gids.update(os.getgrouplist(pwd.getpwuid(uid).pw_name, gid))
    return StaffPeer(uid, frozenset(gids))


VISIBLE = web.RequestKey("visible_tenants", list)


def visible_tenants_of(request: web.Request, cfg: Config) -> list[str]:
    """The tenants of ``cfg`` the request's staff member may see (worked out once per request)."""
    cached = request.get(VISIBLE)
    if cached is None:
        cached = request[VISIBLE] = visible_tenants(cfg, peer(request), service_uid=os.getuid(), gid_of=_gid_of)
    return list(cached)
