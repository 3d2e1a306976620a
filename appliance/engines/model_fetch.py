"""Fetching models from the Hugging Face Hub: download, check against the pins, convert, write pins.

Runs on a connected machine (the Hub, or any Hub-compatible server named by ``HF_ENDPOINT``);
the box itself can stay offline (``manifest.resolve``, ``model_verify.verify``). Every downloaded
file is hashed and compared with the manifest (``model_verify.check_file``); ``update_hashes=True``
writes the computed hashes and sizes of unpinned files back into the manifest (``write_pins``).
huggingface_hub and ctranslate2 are imported lazily, only when a fetch needs them.

Everything here is blocking (downloads, hashing gigabytes): call it from the CLI, or from async
code through ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from appliance.core.errors import EngineUnavailable, ModelError
from appliance.engines.catalog import catalog_sizes, check_sizes
from appliance.engines.manifest import (
    UNPINNED_COMMENT,
    Manifest,
    ModelEntry,
    ModelFile,
    as_manifest,
    dest_dir,
    manifest_path,
    parse_manifest,
)
from appliance.engines.model_verify import VerifyStatus, check_file, plain_dict

log = logging.getLogger(__name__)

HUB_INSTALL_HINT = "pip install 'huggingface_hub>=0.34'"
CT2_INSTALL_HINT = "pip install ctranslate2 transformers torch (or: pip install -e '.[models]')"


class FetchStage(StrEnum):
    SKIP = "skip"  # already on disk and matching its pin: no network
    DOWNLOAD = "download"
    VERIFY = "verify"
    CONVERT = "convert"
    DONE = "done"


@dataclass(frozen=True)
class FetchResult:
    role: str
    file: str
    path: Path
    status: VerifyStatus  # ok (matches its pin) or unpinned
    sha256: str
    size: int
    downloaded: bool

    def to_dict(self) -> dict[str, Any]:
        return plain_dict(self)


@dataclass(frozen=True)
class FetchEvent:
    role: str
    file: str
    stage: FetchStage
    detail: str = ""

    def __str__(self) -> str:  # what the CLI prints when it passes progress=print
        return f"{self.stage:<8} {self.role:<12} {self.file}" + (f"  ({self.detail})" if self.detail else "")


ProgressCallback = Callable[[FetchEvent], None]


# --- fetching (network) ---------------------------------------------------------------------------


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError as exc:
        raise EngineUnavailable("huggingface_hub is needed to fetch models", install_hint=HUB_INSTALL_HINT) from exc
    return huggingface_hub


def _offline(hub: Any) -> bool:
    env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    probe = getattr(hub.constants, "is_offline_mode", None)
    return env or bool(probe() if callable(probe) else getattr(hub.constants, "HF_HUB_OFFLINE", False))


def _discard(local_dir: Path, filename: str) -> None:
    """Remove a bad file and huggingface_hub's note about it (else it would trust it next time)."""
    (local_dir / filename).unlink(missing_ok=True)
    (local_dir / ".cache" / "huggingface" / "download" / f"{filename}.metadata").unlink(missing_ok=True)


def _hub_error(exc: BaseException, entry: ModelEntry, f: ModelFile, endpoint: str) -> ModelError:
    from huggingface_hub import errors as e

    repo = entry.repo_of(f)
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for err in chain:
        status = getattr(getattr(err, "response", None), "status_code", None)
        if isinstance(err, e.GatedRepoError) or (entry.gated and status in (401, 403)):
            return ModelError(
                f"{entry.role}: {repo} is gated and the Hub refused the token: accept its conditions at "
                f"https://huggingface.co/{repo} with your account, then pass a token with read access "
                "(--token or HF_TOKEN)",
                code="model_gated",
                details={"role": entry.role, "repo": repo},
            )
        if isinstance(err, e.RepositoryNotFoundError) or status == 401:
            return ModelError(
                f"{entry.role}: repository {repo} not found at {endpoint} (or it needs a token)",
                code="model_not_found",
                details={"role": entry.role, "repo": repo},
            )
        if isinstance(err, e.RevisionNotFoundError):
            return ModelError(
                f"{entry.role}: revision {entry.revision_of(f)!r} of {repo} not found",
                code="model_not_found",
                details={"role": entry.role, "repo": repo},
            )
        if isinstance(err, e.EntryNotFoundError) and not isinstance(err, e.LocalEntryNotFoundError):
            return ModelError(
                f"{entry.role}: {f.path} is not in {repo}",
                code="model_not_found",
                details={"role": entry.role, "repo": repo, "file": f.path},
            )
    return ModelError(
        f"{entry.role}: downloading {repo}/{f.path} from {endpoint} failed: {exc}",
        code="model_download_failed",
        retryable=True,
        details={"role": entry.role, "repo": repo, "file": f.path},
    )


def _download(hub: Any, entry: ModelEntry, f: ModelFile, root: Path, token: str | None, endpoint: str | None) -> Path:
    local_dir = entry.folder(root) / f.dir if f.dir else entry.folder(root)
    local_dir.mkdir(parents=True, exist_ok=True)
    try:
        got = hub.hf_hub_download(
            repo_id=entry.repo_of(f),
            filename=f.path,
            revision=entry.revision_of(f),
            local_dir=local_dir,
            token=token,
            endpoint=endpoint,
        )
    except Exception as exc:  # huggingface_hub and httpx errors: translated into one clear ModelError
        raise _hub_error(exc, entry, f, endpoint or hub.constants.ENDPOINT) from exc
    return Path(got)


def _convert_ct2(entry: ModelEntry, root: Path, progress: ProgressCallback | None) -> None:
    folder = entry.folder(root)
    out = folder / (entry.main or "ct2")
    if (out / "model.bin").is_file():
        return
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError as exc:
        raise EngineUnavailable(
            "ctranslate2 is needed to convert " + entry.role, install_hint=CT2_INSTALL_HINT
        ) from exc
    if progress:
        progress(FetchEvent(entry.role, out.name, FetchStage.CONVERT, "Transformers -> CTranslate2 (int8)"))
    tmp = folder / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    copy = [n for n in ("tokenizer.json", "preprocessor_config.json") if (folder / n).is_file()]
    try:
        TransformersConverter(str(folder), copy_files=copy).convert(str(tmp), quantization="int8", force=True)
    except ImportError as exc:
        raise EngineUnavailable(
            f"converting {entry.role} needs transformers and torch", install_hint=CT2_INSTALL_HINT
        ) from exc
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(f"{entry.role}: CTranslate2 conversion failed: {exc}", code="model_convert_failed") from exc
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def _catalog(
    hub: Any, entry: ModelEntry, root: Path, token: str | None, endpoint: str | None, emit: Callable[..., None]
) -> dict[str, int]:
    """Download the entry's catalog (into ``<role>/.catalog/``) and check it lists the files."""
    if entry.catalog is None:
        return {}
    cat = entry.catalog
    source = f"{entry.repo}/{cat.path}@{entry.revision or 'main'}"
    emit(entry.role, cat.path, FetchStage.VERIFY, f"catalog {source}: {cat.key}")
    meta = ModelFile(path=cat.path, dir=".catalog")
    got = _download(hub, entry, meta, root, token, endpoint)
    return catalog_sizes(got, cat.key, [f.path for f in entry.files if f.repo is None], role=entry.role, source=source)


def fetch(
    roles: Iterable[str] | None = None,
    *,
    dest: str | Path | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    update_hashes: bool = False,
    progress: ProgressCallback | None = None,
    include_optional: bool = False,
    manifest: Manifest | str | Path | None = None,
) -> list[FetchResult]:
    """Download the named roles (default: every required one) into ``dest`` and check their hashes.

    Files already on disk that match their pin are skipped without any network call; a local file
    that does not match is discarded and downloaded again. A download that does not match its pin
    is deleted and raises ``ModelError`` (code ``model_mismatch``). ``endpoint`` defaults to
    ``$HF_ENDPOINT`` (read at call time), ``token`` to huggingface_hub's own (``HF_TOKEN`` or the
    stored login). ``update_hashes`` writes sha256/size of unpinned files into the manifest;
    a pinned hash is never overwritten (blank it by hand to re-pin).
    """
    man = as_manifest(manifest)
    root = dest_dir(dest)
    entries = man.select(roles, include_optional=include_optional)
    hub = _hub()
    if _offline(hub):
        raise ModelError(
            "fetching models needs the network, but HF_HUB_OFFLINE is set: unset it for this command",
            code="hub_offline",
        )
    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "").rstrip("/") or None
    results: list[FetchResult] = []
    pins: dict[tuple[str, str], tuple[str, int]] = {}

    def emit(role: str, file: str, stage: FetchStage, detail: str = "") -> None:
        if progress:
            progress(FetchEvent(role, file, stage, detail))

    try:
        for entry in entries:
            tok = token
            if entry.gated and not tok:
                tok = hub.get_token()
                if not tok:
                    raise ModelError(
                        f"{entry.role}: {entry.repo} is gated: accept its conditions at {entry.url}, create a read "
                        "token at https://huggingface.co/settings/tokens and pass it (--token or HF_TOKEN)",
                        code="model_gated",
                        details={"role": entry.role, "repo": entry.repo},
                    )
            sizes = _catalog(hub, entry, root, tok, endpoint, emit)
            for f in entry.files:
                target = entry.path_of(f, root)
                hub_dir = entry.folder(root) / f.dir if f.dir else entry.folder(root)
                if target.is_file() and f.pinned:
                    status, detail, digest, size = check_file(target, f)
                    if status == VerifyStatus.OK:
                        if f.size is None and update_hashes:
                            pins[(entry.role, f.local)] = (digest, size)
                        emit(entry.role, f.local, FetchStage.SKIP, detail)
                        results.append(FetchResult(entry.role, f.local, target, status, digest, size, False))
                        continue
                    log.warning(
                        "%s/%s on disk does not match the manifest (%s): downloading again", entry.role, f.local, detail
                    )
                    _discard(hub_dir, f.path)
                emit(entry.role, f.local, FetchStage.DOWNLOAD, f"{entry.repo_of(f)}/{f.path}")
                got = _download(hub, entry, f, root, tok, endpoint)
                if got.resolve() != target.resolve():  # never expected; keep the layout predictable
                    raise ModelError(f"{entry.role}: huggingface_hub wrote {got}, expected {target}")
                emit(entry.role, f.local, FetchStage.VERIFY)
                status, detail, digest, size = check_file(target, f)
                if status == VerifyStatus.MISMATCH:
                    _discard(hub_dir, f.path)
                    raise ModelError(
                        f"{entry.role}: {f.local} from {entry.repo_of(f)} does not match the manifest ({detail}); "
                        "the file was deleted",
                        code="model_mismatch",
                        details={"role": entry.role, "file": f.local, "repo": entry.repo_of(f)},
                    )
                if status == VerifyStatus.UNPINNED and update_hashes:
                    pins[(entry.role, f.local)] = (digest, size)
                elif status == VerifyStatus.OK and f.size is None and update_hashes:
                    pins[(entry.role, f.local)] = (digest, size)
                emit(entry.role, f.local, FetchStage.DONE, detail)
                results.append(FetchResult(entry.role, f.local, target, status, digest, size, True))
            if sizes:
                on_disk = {f.path: entry.path_of(f, root) for f in entry.files}
                check_sizes(sizes, on_disk, role=entry.role, source=f"{entry.repo}'s catalog")
            if entry.convert == "ct2":
                _convert_ct2(entry, root, progress)
    finally:
        if pins:
            write_pins(pins, man.source or manifest_path())
    return results


# --- writing pins back (fetch --update-hashes) -------------------------------------------------------

_INLINE_RE = re.compile(r"\{[^{}]*\}")
_KEY_ORDER = ("path", "repo", "revision", "dir", "sha256", "size")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_pins(pins: Mapping[tuple[str, str], tuple[str, int]], path: str | Path | None = None) -> None:
    """Write ``{(role, file): (sha256, size)}`` into the manifest's inline file tables, in place.

    Only the touched ``{ path = ... }`` tables are rewritten (and their "fill on first fetch"
    comment dropped); everything else, comments included, stays as it was. The result is
    validated before it replaces the file.
    """
    p = Path(path) if path is not None else manifest_path()
    lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
    role: str | None = None
    done: set[tuple[str, str]] = set()
    for i, line in enumerate(lines):
        if re.match(r"^\s*\[\[models\]\]", line):
            role = None
            continue
        m = re.match(r'^\s*role\s*=\s*"([^"]+)"', line)
        if m:
            role = m.group(1)
            continue
        im = _INLINE_RE.search(line)
        if role is None or im is None or line.lstrip().startswith("#"):
            continue
        try:
            table = tomllib.loads("t = " + im.group(0))["t"]
        except tomllib.TOMLDecodeError:
            continue
        if not isinstance(table, dict) or "path" not in table:
            continue
        local = f"{table['dir']}/{table['path']}" if table.get("dir") else table["path"]
        if (role, local) not in pins:
            continue
        table["sha256"], table["size"] = pins[(role, local)]
        keys = [k for k in _KEY_ORDER if k in table] + [k for k in table if k not in _KEY_ORDER]
        rendered = "{ " + ", ".join(f"{k} = {_toml_value(table[k])}" for k in keys) + " }"
        new = line[: im.start()] + rendered + line[im.end() :]
        new = new.replace("  " + UNPINNED_COMMENT, "").replace(UNPINNED_COMMENT, "")
        lines[i] = new.rstrip() + ("\n" if line.endswith("\n") else "")
        done.add((role, local))
    text = "".join(lines)
    parse_manifest(text, source=str(p))
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)
    left = sorted(set(pins) - done)
    if left:
        raise ModelError(f"{p}: could not write the hashes of {left}: edit them by hand", code="manifest_invalid")
