"""Import direction is a rule: core <- store/engines <- booking <- tools <- brain <- voice <- channels <- daemon.

Packages of the same rank may not import each other (that is how a package cycle starts), and the
rooms inside ``appliance.brain`` have their own ranks: state <- text/understanding <- dialogue <- factory.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "appliance"

RANK = {
    "core": 0,
    "store": 1,
    "engines": 1,
    "booking": 1.5,  # the local backend stores bookings; the store knows no booking
    "tools": 2,
    "privacy": 2.5,  # find/export/erase/retention of personal data: core, store, booking
    "brain": 3,
    "voice": 4,
    "channels": 5,
    "daemon": 6,
    "api": 6,
    "api_desk": 6,
    "api_privacy": 6,
    "api_outbox": 6,
    "api_access": 6,  # who may see which tenant on the staff socket
    "cli": 7,
    "chat_cli": 7,
    "call_cli": 7,
    "doctor": 7,
    "console": 7,
    "ops": 6,
    "staff_cli": 7,
    "privacy_cli": 7,
    "outbox_cli": 7,
    "__main__": 8,
}
ENTRY_RANK = 6  # from here up, modules of one rank are entry points and may call each other


# Rooms inside the brain (appliance.brain.<room>), same rules as above.
BRAIN_RANK = {
    "state": 0,  # the dialogue state every room reads
    "text": 1,  # render, verbalize, templates: parts -> words
    "understanding": 1,  # language, extract, the LLM proposal and its validation: words -> extraction
    "dialogue": 2,  # the brain, the policy, flows, answers: extraction -> tool calls -> parts
    "factory": 3,  # wires one brain from the configuration
}


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["appliance", "brain"] or len(parts) < 3:
        return None
    return parts[2]


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
            if RANK[target] > RANK[own] or (RANK[target] == RANK[own] < ENTRY_RANK):
                wrong.append(f"{path.relative_to(ROOT.parent)}:{lineno} {own} imports {mod}")
            # the console is a client of the control API: it may use core's shapes, never the daemon's parts
            if own == "console" and target not in ("core",):
                wrong.append(f"{path.relative_to(ROOT.parent)}:{lineno} console must use the daemon API, not {mod}")
    assert not wrong, "wrong-way imports:\n" + "\n".join(wrong)


def test_brain_rooms_point_one_way() -> None:
    wrong: list[str] = []
    for path in (ROOT / "brain").rglob("*.py"):
        own = _room(".".join(("appliance", *path.relative_to(ROOT).with_suffix("").parts)))
        if own is None or own == "__init__":
            continue
        assert own in BRAIN_RANK, f"{path} is in no room of test_layers.BRAIN_RANK"
        for lineno, mod in _imports(path):
            target = _room(mod)
            if target is None or target == own:
                continue
            if target not in BRAIN_RANK or BRAIN_RANK[target] >= BRAIN_RANK[own]:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{lineno} brain.{own} imports {mod}")
    assert not wrong, "wrong-way imports between the brain's rooms:\n" + "\n".join(wrong)
