"""Helpers for driving the console under Textual's Pilot against a real front desk, and SVG snapshots."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, RichLog, Static

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"


async def until(pilot: Pilot[Any], cond: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what or cond}")


def text_of(app: Any, selector: str) -> str:
    """The plain text a Static or a RichLog shows (a log's wrapped lines joined with single spaces)."""
    widget = app.query_one(selector)
    if isinstance(widget, RichLog):
        return " ".join(" ".join(strip.text.split()) for strip in widget.lines)
    assert isinstance(widget, Static)
    return str(widget.render())


async def fill_form(pilot: Pilot[Any], **values: str) -> None:
    """Fill the open FormScreen's inputs by field name and submit it."""
    screen = pilot.app.screen
    for name, value in values.items():
        screen.query_one(f"#f-{name}", Input).value = value
    screen.query(Input).last().focus()
    await pilot.press("enter")  # Enter on the last field submits the form
    await pilot.pause(0.1)


def notifications(app: Any) -> list[str]:
    return [str(n.message) for n in app._notifications]


def _normalise(svg: str) -> str:
    # Rich numbers its CSS classes and clip paths with a hash of the content; keep the drawing, drop the ids
    svg = re.sub(r"terminal-\d+", "terminal", svg)
    return svg


def assert_svg_snapshot(name: str, svg: str) -> None:
    """Compare with tests/snapshots/NAME.svg; UPDATE_SNAPSHOTS=1 writes it (review the SVG, then commit it)."""
    path = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        if os.environ.get("UPDATE_SNAPSHOTS") != "1":
            raise AssertionError(f"{path} did not exist and was written: review it, then rerun")
        return
    want = _normalise(path.read_text(encoding="utf-8"))
    got = _normalise(svg)
    if want != got:
        (path.parent / f"{name}.actual.svg").write_text(svg, encoding="utf-8")
        raise AssertionError(f"console snapshot {name} differs: see {name}.actual.svg next to {path}")


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause(0.2)
    await asyncio.sleep(0)
