"""The production model manifest: parse it, fetch models from the Hub, verify them offline, resolve them.

``models/manifest.toml`` lists every production model by *role* (``stt``, ``llm``, ``tts-en`` ...).
Files live under ``<models_dir>/<role>/<path>``. ``fetch`` runs on a connected machine (the Hugging
Face Hub, or any Hub-compatible server named by ``HF_ENDPOINT``); ``verify`` and ``resolve`` never
touch the network, so the box itself can stay offline.

Integrity: huggingface_hub only checks sizes when it writes into a ``local_dir``, so every file is
hashed (sha256, streamed) after download and compared with the manifest. A file whose hash is not
pinned yet (``sha256 = ""``) is reported ``unpinned``; ``update_hashes=True`` writes the computed
hashes and sizes back into the manifest. Hashes are never invented.

Everything here is blocking (downloads, hashing gigabytes): call it from the CLI, or from async
code through ``asyncio.to_thread`` (``averify`` does that).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from appliance.core.config import REPO_ROOT
from appliance.core.errors import EngineUnavailable, ModelError
from appliance.engines.catalog import catalog_sizes, check_sizes

log = logging.getLogger(__name__)

MANIFEST_PATH = REPO_ROOT / "models" / "manifest.toml"
DEFAULT_MODELS_DIR = REPO_ROOT / "models" / "cache"
SYSTEM_MODELS_DIR = Path("/var/lib/appliance/models")
MODELS_DIR_ENV = "APPLIANCE_MODELS_DIR"
MANIFEST_ENV = "APPLIANCE_MODELS_MANIFEST"
HUB_INSTALL_HINT = "pip install 'huggingface_hub>=0.34'"
CT2_INSTALL_HINT = "pip install ctranslate2 transformers torch (or: pip install -e '.[models]')"
UNPINNED_COMMENT = "# fill on first fetch: appliance models fetch --update-hashes"

_HASH_CHUNK = 1 << 20
_ROLE_RE = r"^[a-z][a-z0-9-]*$"
_REPO_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class Role(StrEnum):
    """The roles the engines ask for. The manifest may add others (e.g. ``tts-et``)."""

    STT = "stt"
    STT_ET = "stt-et"
    LLM = "llm"
    TTS_EN = "tts-en"
    TTS_ET = "tts-et"
    TTS_RU = "tts-ru"
    EMBED = "embed"
    DIARIZATION = "diarization"


class VerifyStatus(StrEnum):
    OK = "ok"
    MISSING = "missing"
    MISMATCH = "mismatch"
    UNPINNED = "unpinned"


class FetchStage(StrEnum):
    SKIP = "skip"  # already on disk and matching its pin: no network
    DOWNLOAD = "download"
    VERIFY = "verify"
    CONVERT = "convert"
    DONE = "done"


def _plain(obj: Any) -> dict[str, Any]:
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
        return _plain(self)


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
        return _plain(self)


@dataclass(frozen=True)
class FetchEvent:
    role: str
    file: str
    stage: FetchStage
    detail: str = ""

    def __str__(self) -> str:  # what the CLI prints when it passes progress=print
        return f"{self.stage:<8} {self.role:<12} {self.file}" + (f"  ({self.detail})" if self.detail else "")


ProgressCallback = Callable[[FetchEvent], None]


# --- the manifest ---------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _relative_posix(value: str, what: str) -> str:
    p = PurePosixPath(value)
    if not value or p.is_absolute() or ".." in p.parts or "\\" in value or value != p.as_posix():
        raise ValueError(f"{what} must be a plain relative path inside the role's folder (got {value!r})")
    return value


class ModelFile(_Model):
    path: str
    sha256: str = ""  # "" = not pinned yet
    size: int | None = Field(default=None, ge=1)  # None = not known yet
    repo: str | None = Field(default=None, pattern=_REPO_RE)  # overrides the entry's repo
    revision: str | None = None
    dir: str = ""  # local sub-folder under the role's folder

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _relative_posix(v, "path")

    @field_validator("dir")
    @classmethod
    def _dir(cls, v: str) -> str:
        return _relative_posix(v, "dir") if v else v

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        v = v.strip().lower()
        if v and not _SHA_RE.match(v):
            raise ValueError('sha256 must be 64 hex digits, or "" while not pinned')
        return v

    @property
    def pinned(self) -> bool:
        return bool(self.sha256)

    @property
    def local(self) -> str:
        """Path relative to the role's folder."""
        return f"{self.dir}/{self.path}" if self.dir else self.path


class CatalogCheck(_Model):
    """A catalog file in the repo that must list ``key`` with the entry's files (Piper's voices.json)."""

    path: str = "voices.json"
    key: str = Field(min_length=1)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _relative_posix(v, "catalog.path")


class ModelEntry(_Model):
    role: str = Field(pattern=_ROLE_RE)
    languages: list[str] = Field(default_factory=list)
    repo: str = Field(pattern=_REPO_RE)
    revision: str | None = None
    files: list[ModelFile] = Field(min_length=1)
    licence: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")
    optional: bool = False
    gated: bool = False
    main: str | None = None
    convert: Literal["ct2"] | None = None
    catalog: CatalogCheck | None = None  # checked at fetch time, before the files (engines/catalog.py)
    approx_size_mb: int | None = Field(default=None, ge=0)
    notes: str = ""

    @field_validator("languages")
    @classmethod
    def _langs(cls, v: list[str]) -> list[str]:
        for code in v:
            if not re.fullmatch(r"[a-z]{2}", code):
                raise ValueError(f"{code!r} is not an ISO 639-1 language code")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        seen: set[str] = set()
        for f in self.files:
            if f.local in seen:
                raise ValueError(f"files: {f.local!r} is listed twice")
            seen.add(f.local)
        if self.main is not None:
            _relative_posix(self.main, "main")
            inside = any(f.startswith(self.main + "/") for f in seen)  # a folder of the files (ct2/)
            if self.convert is None and self.main not in seen and not inside:
                raise ValueError(f"main: {self.main!r} is not one of the files")
        return self

    def repo_of(self, f: ModelFile) -> str:
        return f.repo or self.repo

    def revision_of(self, f: ModelFile) -> str | None:
        if f.revision:
            return f.revision
        return self.revision if f.repo is None else None

    def folder(self, dest: Path) -> Path:
        return Path(dest) / self.role

    def path_of(self, f: ModelFile, dest: Path) -> Path:
        return self.folder(dest) / f.local


class Manifest(_Model):
    schema_version: int = Field(default=1, alias="schema", ge=1)
    models: list[ModelEntry] = Field(min_length=1)
    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unique_roles(self) -> Manifest:
        roles = [m.role for m in self.models]
        for role in roles:
            if roles.count(role) > 1:
                raise ValueError(f"role {role!r} is listed twice")
        return self

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def roles(self) -> list[str]:
        return [m.role for m in self.models]

    def entry(self, role: str) -> ModelEntry:
        for m in self.models:
            if m.role == role:
                return m
        raise ModelError(
            f"unknown model role {role!r} (known: {', '.join(self.roles)})",
            code="model_unknown_role",
            details={"role": role, "file": str(self._source or "")},
        )

    def select(self, roles: Iterable[str] | None = None, *, include_optional: bool = False) -> list[ModelEntry]:
        """The named entries, or (no names) every required one, plus the optional ones if asked."""
        names = [r for r in (roles or []) if r]
        if names:
            return [self.entry(r) for r in dict.fromkeys(names)]
        return [m for m in self.models if include_optional or not m.optional]


def manifest_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env[MANIFEST_ENV]).expanduser() if env.get(MANIFEST_ENV) else MANIFEST_PATH


def _loc_key(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    out = ""
    node: Any = data  # walks down the raw TOML: a dict, a list, a value, or None off the end
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and "role" in node and "path" not in node:
                out += f" (role {node['role']!r})"
        else:
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def parse_manifest(text: str, *, source: str = "<manifest>") -> Manifest:
    """Parse and validate manifest text. Errors name the file and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{source}: invalid TOML: {exc}", code="manifest_invalid", details={"file": source}) from None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = _loc_key(tuple(err["loc"]), data)
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        raise ModelError(
            f"{source}: {key}: {msg}" if key else f"{source}: {msg}",
            code="manifest_invalid",
            details={"file": source, "key": key},
        ) from None
    manifest._source = Path(source) if source != "<manifest>" else None
    return manifest


def load_manifest(path: str | Path | None = None) -> Manifest:
    p = Path(path) if path is not None else manifest_path()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(
            f"{p}: cannot read the model manifest: {exc.strerror or exc}", code="manifest_invalid"
        ) from None
    return parse_manifest(text, source=str(p))


# --- where models live --------------------------------------------------------------------------


def models_dir(cfg: Any = None, *, environ: Mapping[str, str] | None = None) -> Path:
    """Where models are stored.

    ``cfg.models.dir`` when set (relative paths are from the repo root), else
    ``$APPLIANCE_MODELS_DIR``, else ``/var/lib/appliance/models`` when it exists (an installed
    box), else ``<repo>/models/cache``.
    """
    env = os.environ if environ is None else environ
    configured = getattr(getattr(cfg, "models", None), "dir", "") if cfg is not None else ""
    if configured:
        p = Path(configured).expanduser()
        return (p if p.is_absolute() else REPO_ROOT / p).resolve()
    if env.get(MODELS_DIR_ENV):
        return Path(env[MODELS_DIR_ENV]).expanduser().resolve()
    if SYSTEM_MODELS_DIR.is_dir():
        return SYSTEM_MODELS_DIR
    return DEFAULT_MODELS_DIR


default_models_dir = models_dir  # the name appliance/cli.py uses


def _dest(dest: str | Path | None) -> Path:
    return Path(dest).expanduser().resolve() if dest is not None else models_dir()


def _manifest(manifest: Manifest | str | Path | None) -> Manifest:
    return manifest if isinstance(manifest, Manifest) else load_manifest(manifest)


# --- verification (offline) -----------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check(path: Path, f: ModelFile) -> tuple[VerifyStatus, str, str, int]:
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
    man = _manifest(manifest)
    root = _dest(dest)
    entries = man.select(roles) if roles else list(man.models)
    results: list[VerifyResult] = []
    for entry in entries:
        for f in entry.files:
            path = entry.path_of(f, root)
            status, detail, _, _ = _check(path, f)
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


# --- resolution (offline; what the engines call) ---------------------------------------------------


def resolve(
    role: str,
    *,
    dest: str | Path | None = None,
    manifest: Manifest | str | Path | None = None,
) -> Path:
    """The path an engine loads for ``role``: the entry's ``main`` file/folder, or the role's folder.

    Cheap (existence and pinned sizes only, no hashing). Missing files raise ``EngineUnavailable``
    with the command that fetches them.
    """
    entry = _manifest(manifest).entry(role)
    root = _dest(dest)
    folder = entry.folder(root)
    missing = []
    for f in entry.files:
        p = entry.path_of(f, root)
        if not p.is_file() or (f.size is not None and p.stat().st_size != f.size):
            missing.append(f.local)
    target = folder / entry.main if entry.main else folder
    if entry.convert == "ct2" and not (target / "model.bin").is_file():
        missing.append(f"{entry.main or 'ct2'}/model.bin")
    if missing:
        raise EngineUnavailable(
            f"model {role!r} is not installed in {folder} (missing or wrong size: {', '.join(missing)})",
            install_hint=f"appliance models fetch {role}",
            details={"role": role, "missing": missing, "dir": str(folder)},
        )
    return target


def resolve_model_ref(
    ref: str,
    *,
    dest: str | Path | None = None,
    manifest: Manifest | str | Path | None = None,
) -> Path | None:
    """Config values like ``llm.model`` hold either a manifest role or a path. "" -> None."""
    ref = (ref or "").strip()
    if not ref:
        return None
    man = _manifest(manifest)
    if ref in man.roles:
        return resolve(ref, dest=dest, manifest=man)
    p = Path(ref).expanduser()
    if not p.is_absolute():
        p = REPO_ROOT / p
    if not p.exists():
        raise EngineUnavailable(
            f"model file not found: {p}",
            install_hint=f"check the path, or use one of the roles: {', '.join(man.roles)}",
        )
    return p


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
    man = _manifest(manifest)
    root = _dest(dest)
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
                    status, detail, digest, size = _check(target, f)
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
                status, detail, digest, size = _check(target, f)
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
