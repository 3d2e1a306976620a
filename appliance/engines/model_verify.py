"""Offline verification of the installed models against the manifest's pins (sha256 and size).

huggingface_hub only checks sizes when it writes into a ``local_dir``, so every file is hashed
(sha256, streamed) and compared with the manifest. A file whose hash is not pinned yet
(``sha256 = ""``) is reported ``unpinned``; hashes are never invented. Never touches the network.

Hashing gigabytes blocks: call ``verify`` from the CLI, or from async code through ``averify``
(``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from appliance.engines.manifest import Manifest, ModelFile, as_manifest, dest_dir

_HASH_CHUNK = 1 << 20


class VerifyStatus(StrEnum):
    OK = "ok"
    MISSING = "missing"
    MISMATCH = "mismatch"
    UNPINNED = "unpinned"


def plain_dict(obj: Any) -> dict[str, Any]:
    """A result's fields as JSON-ready values (paths and enums as strings); ``FetchResult`` uses it too."""
    return {k: (str(v) if isinstance(v, Path | StrEnum) else v) for k, v in vars(obj).items()}


@dataclass(frozen=True)
class VerifyResult:
    role: str
    file: str  # path relative to the role's folder
    status: VerifyStatus
    detail: str = ""
    path: Path | None = None
    optional: bool = False

    def to_dict(self) -> dict[str, Any]:
        return plain_dict(self)


# --- verification (offline) -----------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_file(path: Path, f: ModelFile) -> tuple[VerifyStatus, str, str, int]:
    """(status, detail, sha256 or "", size). Size first: a wrong size never costs a hash."""
    if not path.is_file():
        return VerifyStatus.MISSING, f"not found: {path}", "", 0
    size = path.stat().st_size
    if f.size is not None and size != f.size:
        return VerifyStatus.MISMATCH, f"size {size} bytes, manifest says {f.size}", "", size
    digest = sha256_file(path)
    if not f.pinned:
        return VerifyStatus.UNPINNED, f"sha256 {digest}, {size} bytes: not pinned in the manifest", digest, size
    if digest != f.sha256:
        return VerifyStatus.MISMATCH, f"sha256 {digest}, manifest says {f.sha256}", digest, size
    return VerifyStatus.OK, f"{size} bytes", digest, size


def verify(
    roles: Iterable[str] | None = None,
    *,
    dest: str | Path | None = None,
    manifest: Manifest | str | Path | None = None,
) -> list[VerifyResult]:
    """Check what is on disk against the manifest, fully offline. No roles: every entry."""
    man = as_manifest(manifest)
    root = dest_dir(dest)
    entries = man.select(roles) if roles else list(man.models)
    results: list[VerifyResult] = []
    for entry in entries:
        for f in entry.files:
            path = entry.path_of(f, root)
            status, detail, _, _ = check_file(path, f)
            results.append(VerifyResult(entry.role, f.local, status, detail, path, entry.optional))
        if entry.convert == "ct2":
            out = entry.folder(root) / (entry.main or "ct2") / "model.bin"
            if out.is_file():
                detail = f"converted locally ({out.stat().st_size} bytes); not pinned"
                results.append(
                    VerifyResult(
                        entry.role,
                        out.relative_to(entry.folder(root)).as_posix(),
                        VerifyStatus.UNPINNED,
                        detail,
                        out,
                        entry.optional,
                    )
                )
            else:
                results.append(
                    VerifyResult(
                        entry.role,
                        f"{entry.main or 'ct2'}/model.bin",
                        VerifyStatus.MISSING,
                        "not converted yet: appliance models fetch " + entry.role,
                        out,
                        entry.optional,
                    )
                )
    return results


async def averify(
    roles: Iterable[str] | None = None,
    *,
    dest: str | Path | None = None,
    manifest: Manifest | str | Path | None = None,
) -> list[VerifyResult]:
    """``verify`` off the event loop (hashing gigabytes takes seconds)."""
    return await asyncio.to_thread(verify, list(roles) if roles else None, dest=dest, manifest=manifest)


def verify_passed(results: Iterable[VerifyResult], *, allow_unpinned: bool = True) -> bool:
    """No mismatch anywhere, nothing required missing (and no unpinned file unless allowed)."""
    for r in results:
        if r.status == VerifyStatus.MISMATCH:
            return False
        if r.status == VerifyStatus.MISSING and not r.optional:
            return False
        if r.status == VerifyStatus.UNPINNED and not allow_unpinned:
            return False
    return True
