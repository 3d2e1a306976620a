"""Catalog checks at fetch time: a model entry can name a catalog file in its repository (Piper's
``voices.json`` in ``rhasspy/piper-voices``) and the key its files must be listed under.

``appliance models fetch`` downloads the catalog first and stops with a clear error when the key
is absent (a voice renamed or removed upstream) or does not list the entry's files, before any
large download; after the download each file's size is compared with the catalog's
``size_bytes`` (the catalog's MD5 is not used: the manifest pins sha256).

voices.json shape (one entry per voice)::

    {"et_EE-news-medium": {"key": "et_EE-news-medium", "language": {"code": "et_EE", ...},
     "files": {"et/et_EE/news/medium/et_EE-news-medium.onnx": {"size_bytes": 1, "md5_digest": "..."},
               ...}, ...}, ...}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from appliance.core.errors import ModelError


def catalog_sizes(catalog_file: Path, key: str, files: Iterable[str], *, role: str, source: str) -> dict[str, int]:
    """The catalog's sizes for ``files`` under ``key``; ModelError ``model_not_in_catalog`` when
    the key or a file is not listed (``source`` names the catalog in the message)."""
    try:
        data: Any = json.loads(Path(catalog_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"{role}: cannot read the catalog {source}: {exc}", code="model_catalog_invalid", details={"role": role}
        ) from None
    entry = data.get(key) if isinstance(data, dict) else None
    if not isinstance(entry, dict):
        near = sorted(k for k in data if isinstance(k, str) and k.split("-")[0] == key.split("-")[0])[:8]
        hint = f" (listed for {key.split('-')[0]}: {', '.join(near)})" if near else ""
        raise ModelError(
            f"{role}: {key!r} is not listed in {source}{hint}: the voice was renamed or removed upstream; "
            "pick one from the catalog and edit models/manifest.toml",
            code="model_not_in_catalog",
            details={"role": role, "key": key, "catalog": source},
        )
    files_listed = entry.get("files")
    listed: dict[str, Any] = files_listed if isinstance(files_listed, dict) else {}
    sizes: dict[str, int] = {}
    for path in files:
        if path not in listed:
            raise ModelError(
                f"{role}: {source} lists {key!r} without {path}: edit models/manifest.toml to the catalog's files",
                code="model_not_in_catalog",
                details={"role": role, "key": key, "file": path, "catalog": source},
            )
        size = listed[path].get("size_bytes") if isinstance(listed[path], dict) else None
        if isinstance(size, int) and size > 0:
            sizes[path] = size
    return sizes


def check_sizes(sizes: dict[str, int], on_disk: dict[str, Path], *, role: str, source: str) -> None:
    """Downloaded files against the catalog's sizes."""
    for path, expected in sizes.items():
        local = on_disk.get(path)
        if local is not None and local.is_file() and local.stat().st_size != expected:
            raise ModelError(
                f"{role}: {path} is {local.stat().st_size} bytes, {source} says {expected}",
                code="model_mismatch",
                details={"role": role, "file": path},
            )


__all__ = ["catalog_sizes", "check_sizes"]
