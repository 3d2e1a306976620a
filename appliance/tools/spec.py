"""Typed tools: the Python signature is the contract, the docstring documents it.

Decorate an ``async def`` whose first parameter is the injected
:class:`~appliance.tools.context.ToolContext`; the rest of its signature says
which arguments it takes and how they are coerced::

    @tool
    async def quote_price(ctx: ToolContext, pet_type: PetType, start_date: dt.date, end_date: dt.date) -> Quote:
        \"\"\"Price a stay.

        Args:
            pet_type: The kind of pet.
            start_date: Check-in day.
            end_date: Check-out day.
        \"\"\"

Supported argument types: ``str``, ``int``, ``float``, ``bool``, ``datetime.date``
(or an ISO string), ``Literal[...]`` and ``StrEnum`` (enums),
``Annotated[str, ConfigChoices(...)]`` (an enum read from the tenant config at
bind time, e.g. :data:`PetType`), and ``X | None`` (optional). Arguments are
coerced by :meth:`ToolSpec.bind`; anything wrong raises
:class:`~appliance.core.errors.ValidationError` naming the field and the problem
(``details["problem"]``), which the executor turns into a needs-clarification outcome.

The LLM never proposes tool calls (bookings never depend on it: it only proposes
an extraction, ``brain/understanding/proposal.py``), so no JSON schema is made here.
"""

from __future__ import annotations

import datetime as dt
import enum
import inspect
import logging
import re
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from appliance.core.errors import UnknownTool, ValidationError

if TYPE_CHECKING:
    from appliance.core.config import Config

log = logging.getLogger(__name__)

MAX_STRING_CHARS = 500  # an argument longer than this is not a name, phone or reason
_SECTION_RE = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Return|Raises|Yields|Examples?|Notes?)\s*:\s*$")
_ARG_RE = re.compile(r"^(\s*)(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass(frozen=True, slots=True)
class ConfigChoices:
    """``Annotated`` marker: the allowed values come from the config at bind time."""

    label: str
    choices: Callable[[Config], Sequence[str]]


PetType = Annotated[str, ConfigChoices("tenant.pet_types", lambda cfg: list(cfg.tenant.pet_types))]


class ArgKind(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"


@dataclass(frozen=True, slots=True)
class ToolParam:
    name: str
    kind: ArgKind
    description: str
    required: bool
    default: Any = None
    choices: tuple[str, ...] | None = None  # static enum
    config_choices: ConfigChoices | None = None  # enum from config

    def allowed(self, config: Config | None) -> tuple[str, ...] | None:
        if self.choices is not None:
            return self.choices
        if self.config_choices is not None and config is not None:
            return tuple(self.config_choices.choices(config))
        return None

    def coerce(self, value: Any, config: Config | None) -> Any:
        """Deterministic conversion of one value; raises ValidationError(field=name)."""
        if value is None or (isinstance(value, str) and not value.strip() and self.kind is not ArgKind.STRING):
            if self.required:
                raise ValidationError(f"{self.name} is required", field=self.name, details={"problem": "missing"})
            return self.default
        try:
            out = _COERCERS[self.kind](value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{self.name}: {exc}", field=self.name, details={"problem": "malformed"}) from None
        if isinstance(out, str):
            out = out.strip()
            if len(out) > MAX_STRING_CHARS:
                raise ValidationError(f"{self.name} is too long", field=self.name, details={"problem": "too_long"})
            if not out and self.required:
                raise ValidationError(f"{self.name} is required", field=self.name, details={"problem": "missing"})
        allowed = self.allowed(config)
        if allowed is not None and out is not None:
            match = next((a for a in allowed if a.casefold() == str(out).casefold()), None)
            if match is None:
                raise ValidationError(
                    f"{self.name}: {out!r} is not one of {', '.join(allowed)}",
                    field=self.name,
                    details={"problem": "not_allowed", "allowed": list(allowed)},
                )
            out = match
        return out


def _to_str(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float | enum.Enum):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return str(value.value if isinstance(value, enum.Enum) else value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected a whole number")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("expected a whole number")
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number")
    return float(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "0"):
        return False
    raise ValueError("expected true or false")


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise TypeError("expected an ISO date (YYYY-MM-DD)")
    text = value.strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None


_COERCERS: dict[ArgKind, Callable[[Any], Any]] = {
    ArgKind.STRING: _to_str,
    ArgKind.INTEGER: _to_int,
    ArgKind.NUMBER: _to_float,
    ArgKind.BOOLEAN: _to_bool,
    ArgKind.DATE: _to_date,
}
_KINDS: dict[Any, ArgKind] = {
    str: ArgKind.STRING,
    int: ArgKind.INTEGER,
    float: ArgKind.NUMBER,
    bool: ArgKind.BOOLEAN,
    dt.date: ArgKind.DATE,
}


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Google-style docstring -> (description, {arg: description})."""
    lines = inspect.cleandoc(doc or "").splitlines()
    desc: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    arg_indent = -1
    for line in lines:
        m = _SECTION_RE.match(line)
        if m:
            section = m.group(1).lower()
            current, arg_indent = None, -1
            continue
        if section is None:
            desc.append(line)
            continue
        if section not in ("args", "arguments", "parameters") or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        am = _ARG_RE.match(line)
        if am and (arg_indent < 0 or indent <= arg_indent):
            arg_indent = indent
            current = am.group(2).lstrip("*")
            args[current] = am.group(3).strip()
        elif current is not None:
            args[current] = f"{args[current]} {line.strip()}".strip()
    paragraphs = " ".join(line.strip() if line.strip() else "\n" for line in desc).split("\n")
    description = "\n".join(" ".join(p.split()) for p in paragraphs if p.strip())
    return description, args


def _param_type(annotation: Any) -> tuple[ArgKind, bool, tuple[str, ...] | None, ConfigChoices | None]:
    """-> (kind, optional, static choices, config choices)."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"unsupported union {annotation!r}")
        optional = True
        annotation = members[0]
        origin = typing.get_origin(annotation)
    config_choices = None
    if origin is Annotated:
        base, *extras = typing.get_args(annotation)
        config_choices = next((e for e in extras if isinstance(e, ConfigChoices)), None)
        annotation = base
        origin = typing.get_origin(annotation)
    if origin is Literal:
        values = typing.get_args(annotation)
        if not all(isinstance(v, str) for v in values):
            raise TypeError("only string Literals are supported")
        return ArgKind.STRING, optional, tuple(values), config_choices
    if isinstance(annotation, type) and issubclass(annotation, enum.StrEnum):
        return ArgKind.STRING, optional, tuple(m.value for m in annotation), config_choices
    if annotation in _KINDS:
        return _KINDS[annotation], optional, None, config_choices
    raise TypeError(f"unsupported tool argument type {annotation!r}")


ToolFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool: its parameters, how to bind arguments, and how the executor treats it."""

    name: str
    description: str
    params: tuple[ToolParam, ...]
    fn: ToolFn
    fallback: bool = True  # backend down -> take a callback ticket instead
    mutating: bool = False  # sends an idempotency key
    extra: dict[str, Any] = field(default_factory=dict)

    def bind(self, arguments: dict[str, Any] | None, config: Config | None = None) -> dict[str, Any]:
        """Validate and coerce raw arguments into keyword arguments for :attr:`fn`.

        Unknown argument names are dropped and logged, not fatal.
        """
        raw = dict(arguments or {})
        known = {p.name for p in self.params}
        unknown = sorted(set(raw) - known)
        if unknown:
            log.warning("tool %s: ignoring unknown arguments %s", self.name, unknown)
        return {p.name: p.coerce(raw.get(p.name), config) for p in self.params}


def tool(
    fn: ToolFn | None = None,
    *,
    name: str | None = None,
    fallback: bool = True,
    mutating: bool = False,
) -> Any:
    """Mark an ``async def tool(ctx, ...)`` as a tool; its spec is ``fn.__tool_spec__``."""

    def wrap(f: ToolFn) -> ToolFn:
        if not inspect.iscoroutinefunction(f):
            raise TypeError(f"tool {f.__name__} must be async")
        hints = typing.get_type_hints(f, include_extras=True)
        sig = inspect.signature(f)
        plist = list(sig.parameters.values())
        if not plist or plist[0].name != "ctx":
            raise TypeError(f"tool {f.__name__}: the first parameter must be 'ctx: ToolContext'")
        description, arg_docs = parse_docstring(f.__doc__)
        if not description:
            raise TypeError(f"tool {f.__name__} needs a docstring: it documents the contract")
        params = []
        for p in plist[1:]:
            if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                raise TypeError(f"tool {f.__name__}: *args/**kwargs are not allowed")
            if p.name not in hints:
                raise TypeError(f"tool {f.__name__}: argument {p.name} needs a type hint")
            kind, optional, choices, cfg_choices = _param_type(hints[p.name])
            has_default = p.default is not inspect.Parameter.empty
            if optional and not has_default:
                raise TypeError(f"tool {f.__name__}: optional argument {p.name} needs a default")
            if p.name not in arg_docs:
                raise TypeError(f"tool {f.__name__}: argument {p.name} is not described in the docstring's Args")
            params.append(
                ToolParam(
                    name=p.name,
                    kind=kind,
                    description=arg_docs[p.name],
                    required=not has_default,
                    default=p.default if has_default else None,
                    choices=choices,
                    config_choices=cfg_choices,
                )
            )
        spec = ToolSpec(
            name=name or f.__name__,
            description=description,
            params=tuple(params),
            fn=f,
            fallback=fallback,
            mutating=mutating,
        )
        f.__tool_spec__ = spec  # type: ignore[attr-defined]
        return f

    return wrap(fn) if fn is not None else wrap


def spec_of(fn: Any) -> ToolSpec:
    spec = getattr(fn, "__tool_spec__", None)
    if not isinstance(spec, ToolSpec):
        raise TypeError(f"{fn!r} is not decorated with @tool")
    return spec


class ToolRegistry:
    """The tools a brain may call, by name."""

    def __init__(self, tools: Iterable[ToolFn | ToolSpec] = ()) -> None:
        self._specs: dict[str, ToolSpec] = {}
        for t in tools:
            self.add(t)

    def add(self, t: ToolFn | ToolSpec) -> ToolSpec:
        spec = t if isinstance(t, ToolSpec) else spec_of(t)
        if spec.name in self._specs:
            raise ValueError(f"duplicate tool name {spec.name!r}")
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> ToolSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownTool(f"unknown tool {name!r}", details={"tool": name}) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> typing.Iterator[ToolSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return list(self._specs)
