"""The production model manifest: its types, parsing, where models live, and offline resolution.

``models/manifest.toml`` lists every production model by *role* (``stt``, ``llm``, ``tts-en`` ...).
Files live under ``<models_dir>/<role>/<path>``. This module parses and validates the manifest and
resolves a role to the path an engine loads (``resolve``, ``resolve_model_ref``); it never touches
the network. Checking files against their pins is ``model_verify`` (offline, hashing); downloading
them from the Hugging Face Hub (or any Hub-compatible server named by ``HF_ENDPOINT``), converting
them and writing pins back is ``model_fetch`` (a connected machine), so the box itself can stay offline.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from appliance.core.config import REPO_ROOT
from appliance.core.errors import EngineUnavailable, ModelError

MANIFEST_PATH = REPO_ROOT / "models" / "manifest.toml"
DEFAULT_MODELS_DIR = REPO_ROOT / "models" / "cache"
SYSTEM_MODELS_DIR = Path("/var/lib/appliance/models")
MODELS_DIR_ENV = "APPLIANCE_MODELS_DIR"
MANIFEST_ENV = "APPLIANCE_MODELS_MANIFEST"
UNPINNED_COMMENT = "# fill on first fetch: appliance models fetch --update-hashes"

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


def dest_dir(dest: str | Path | None) -> Path:
    """``dest`` as an absolute path, or (None) ``models_dir()``."""
    return Path(dest).expanduser().resolve() if dest is not None else models_dir()


def as_manifest(manifest: Manifest | str | Path | None) -> Manifest:
    """A parsed manifest as is; a path (or None: the default) loaded."""
    return manifest if isinstance(manifest, Manifest) else load_manifest(manifest)


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
    entry = as_manifest(manifest).entry(role)
    root = dest_dir(dest)
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
    man = as_manifest(manifest)
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
