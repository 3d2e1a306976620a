"""Processes seen from /proc, for the tests and benchmarks that look at the daemon's children."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> dict[int, str]:
    """Direct children of ``pid``: pid -> command line (arguments joined by spaces)."""
    out: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):  # gone meanwhile
            continue
    return out
