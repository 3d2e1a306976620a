"""Import direction is a rule: core <- store/booking/engines <- tools <- brain <- voice <- channels <- daemon."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "appliance"

RANK = {
    "core": 0,
    "store": 1,
    "booking": 1,
    "engines": 1,
    "tools": 2,
    "brain": 3,
    "voice": 4,
    "channels": 5,
    "daemon": 6,
    "api": 6,
    "api_desk": 6,
    "cli": 7,
    "chat_cli": 7,
    "call_cli": 7,
    "doctor": 7,
    "console": 7,
    "staff_cli": 7,
    "__main__": 8,
}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "appliance" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[int, str]] = []
    pkg = ".".join(("appliance", *path.relative_to(ROOT).with_suffix("").parts))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: -node.level]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
    return out


def test_every_package_has_a_rank() -> None:
    for child in ROOT.iterdir():
        if child.name.startswith("__") and child.name != "__main__.py":
            continue
        if child.is_dir() or child.suffix == ".py":
            assert child.stem in RANK, f"appliance/{child.name} has no layer rank in test_layers.RANK"


def test_imports_point_one_way() -> None:
    wrong: list[str] = []
    for path in ROOT.rglob("*.py"):
        own = _layer(".".join(("appliance", *path.relative_to(ROOT).with_suffix("").parts)))
        if own is None or own not in RANK:
            continue
        for lineno, mod in _imports(path):
            target = _layer(mod)
            if target is None or target == own or target not in RANK:
                continue
            if RANK[target] > RANK[own]:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{lineno} {own} imports {mod}")
            # the console is a client of the control API: it may use core's shapes, never the daemon's parts
            if own == "console" and target not in ("core",):
                wrong.append(f"{path.relative_to(ROOT.parent)}:{lineno} console must use the daemon API, not {mod}")
    assert not wrong, "wrong-way imports:\n" + "\n".join(wrong)
