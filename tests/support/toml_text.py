"""A config as an operator writes it: a dict of tables (and arrays of tables) as TOML text, for
tests that run the CLI or the daemon on a config file (no TOML writer is a dependency)."""

from __future__ import annotations

import json
from typing import Any


def value(v: Any) -> str:
    """One value: inline tables and arrays; JSON strings, numbers and booleans are TOML's too."""
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    return json.dumps(v)


def dumps(tables: dict[str, Any]) -> str:
    """``{"sms": {...}, "tenants": [{...}]}`` -> ``[sms]`` ... ``[[tenants]]`` ..."""
    out: list[str] = []
    for name, body in tables.items():
        for entry, header in [(body, f"[{name}]")] if isinstance(body, dict) else [(b, f"[[{name}]]") for b in body]:
            out.append(header)
            out += [f"{k} = {value(v)}" for k, v in entry.items()]
            out.append("")
    return "\n".join(out)
