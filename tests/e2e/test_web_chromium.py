"""The web chat page in a real headless Chromium against the daemon's web server (in-process, pinned clock).

No mocks: the page talks WebSocket to the real server, the real engine books into a real SQLite file.
Chromium and Playwright come from ``tests/e2e/conftest.py`` (fails clearly when they are missing).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from appliance.booking.local import LocalBackend
from appliance.core.clock import fixed_clock
from tests.e2e.conftest import PINNED_NOW, LiveServer

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 20_000


@pytest.fixture
def page(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = chromium.new_context(viewport={"width": 1200, "height": 850}, reduced_motion="reduce")
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.page_errors = []  # type: ignore[attr-defined]
    pg.requests = []  # type: ignore[attr-defined]
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: pg.page_errors.append(str(e)))  # type: ignore[attr-defined]
    pg.on("request", lambda r: pg.requests.append(r.url))  # type: ignore[attr-defined]
    pg.goto(live_server.url)
    expect(pg.locator("#log .msg-bot")).to_have_count(1)  # the greeting
    try:
        yield pg
    finally:
        assert pg.page_errors == [], f"JavaScript errors on the page: {pg.page_errors}"  # type: ignore[attr-defined]
        context.close()


def bot_count(pg: Any) -> int:
    return pg.locator("#log .msg-bot").count()


def send(pg: Any, text: str) -> str:
    """Type a message and press Enter (keyboard only); wait for the receptionist's answer; return it."""
    from playwright.sync_api import expect

    before = bot_count(pg)
    box = pg.locator("#message")
    box.click()
    box.fill(text)
    box.press("Enter")
    expect(pg.locator("#log .msg-bot")).to_have_count(before + 1)
    expect(box).to_have_value("")
    return pg.locator("#log .msg-bot .text").last.inner_text()


def click_quick(pg: Any, label: str) -> str:
    from playwright.sync_api import expect

    before = bot_count(pg)
    pg.get_by_role("group", name="Suggested replies").get_by_role("button", name=label, exact=True).click()
    expect(pg.locator("#log .msg-bot")).to_have_count(before + 1)
    return pg.locator("#log .msg-bot .text").last.inner_text()


def bookings_in_sqlite(live: LiveServer) -> list[tuple[Any, ...]]:
    """Read the bookings table straight from the SQLite file (a second, independent connection)."""
    con = sqlite3.connect(f"file:{live.config.db_path}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(
            "SELECT id, pet_name, pet_type, start_date, end_date, owner_name, owner_phone, status, channel"
            " FROM bookings ORDER BY id"
        ).fetchall()
    finally:
        con.close()


# --------------------------------------------------------------------- tests


def test_page_is_accessible_local_and_branded(page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    expect(page).to_have_title("Paws & Whiskers Pet Hotel")
    expect(page.get_by_role("heading", level=1)).to_have_text("Paws & Whiskers Pet Hotel")
    expect(page.get_by_role("banner")).to_have_count(1)
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("contentinfo")).to_have_count(1)
    log = page.get_by_role("log")
    expect(log).to_have_attribute("aria-live", "polite")
    expect(log).to_contain_text("How can I help you?")
    expect(page.get_by_role("textbox", name="Your message")).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(page.get_by_role("button", name="New conversation")).to_be_visible()
    expect(page.get_by_role("group", name="Suggested replies").get_by_role("button")).to_have_count(4)
    expect(page.locator("#lang-badge")).to_have_text("EN")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    # every button has an accessible name
    for button in page.get_by_role("button").all():
        assert (button.get_attribute("aria-label") or button.inner_text()).strip()
    # nothing was fetched from anywhere but this server
    origin = live_server.url.rstrip("/")
    foreign = [u for u in page.requests if not (u.startswith(origin) or u.startswith("data:"))]
    assert foreign == [], f"external requests: {foreign}"
    # keyboard only: Tab reaches the skip link (with a visible focus ring), which leads to the message box
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    assert skip.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    assert skip.evaluate("e => getComputedStyle(e).outlineWidth") == "3px"
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_be_focused()
    # Shift+Tab walks back over the four suggested replies; Enter on the first one sends it
    for _ in range(4):
        page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Book a stay")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#log .msg-user .text")).to_have_text(["Book a stay"])
    expect(page.locator("#log .msg-bot")).to_have_count(2)


def test_booking_by_typing_and_quick_replies_lands_in_sqlite(page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    reply = send(page, "I need a room for my dog Max next weekend")
    assert "name" in reply.lower()
    summary = page.get_by_role("complementary")
    expect(summary).to_contain_text("Max")
    expect(summary).to_contain_text("Dec")
    send(page, "John Smith")
    reply = send(page, "+372 5123 4567")
    assert "confirm" in reply.lower()
    assert "€40.00" in reply
    reply = click_quick(page, "Yes")
    assert "confirmed" in reply.lower()
    card = page.locator(".booking-card")
    expect(card).to_have_count(1)
    number = card.inner_text().rsplit(" ", 1)[-1]
    assert number.isdigit(), card.inner_text()
    # focus went back to the message box after clicking the chip (keyboard users keep their place)
    expect(page.locator("#message")).to_be_focused()

    rows = bookings_in_sqlite(live_server)
    assert rows == [
        (number, "Max", "dog", "2026-12-05", "2026-12-06", "John Smith", "+37251234567", "confirmed", "web")
    ]
    backend = LocalBackend(live_server.brain.resources.db, live_server.config, fixed_clock(PINNED_NOW))
    found = live_server.run(backend.find_bookings(booking_id=number))
    assert [b.pet_name for b in found] == ["Max"]


def test_html_in_a_message_is_shown_as_text(page: Any) -> None:
    from playwright.sync_api import expect

    payload = "<img src=x onerror=alert(1)><b>bold</b>"
    send(page, payload)
    mine = page.locator("#log .msg-user .text").last
    expect(mine).to_have_text(payload)
    assert page.locator("#log img, #log b, #log script").count() == 0
    assert page.locator("img[src='x'], b").count() == 0
    page.wait_for_timeout(300)  # give a (wrongly) created <img> time to fail and fire onerror
    assert page.dialogs == []
    # after a reload the history is rendered as text too
    page.reload()
    expect(page.locator("#log .msg-user .text").last).to_have_text(payload)
    assert page.locator("#log img, #log b").count() == 0
    assert page.dialogs == []


def test_reload_resumes_the_conversation(page: Any) -> None:
    from playwright.sync_api import expect

    send(page, "I need a room for my dog Max next weekend")
    send(page, "John Smith")
    last = send(page, "+372 5123 4567")
    session = page.evaluate("() => localStorage.getItem('appliance.chat.session')")
    assert session
    texts_before = page.locator("#log .msg .text").all_inner_texts()

    page.reload()
    expect(page.locator("#log .msg-bot")).to_have_count(4)
    assert page.locator("#log .msg .text").all_inner_texts() == texts_before
    assert page.evaluate("() => localStorage.getItem('appliance.chat.session')") == session
    expect(page.locator("#log .msg-bot .text").last).to_have_text(last)
    expect(page.get_by_role("group", name="Suggested replies").get_by_role("button")).to_have_text(["Yes", "No"])
    expect(page.get_by_role("complementary")).to_contain_text("John Smith")
    # and it goes on where it stopped
    reply = click_quick(page, "Yes")
    assert "confirmed" in reply.lower()

    # "New conversation" starts afresh with a new session id
    page.get_by_role("button", name="New conversation").click()
    expect(page.locator("#log .msg-user")).to_have_count(0)
    expect(page.locator("#log .msg-bot")).to_have_count(1)
    assert page.evaluate("() => localStorage.getItem('appliance.chat.session')") != session


def test_reconnects_after_the_server_drops_the_socket(page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    from appliance.channels.web.server import SOCKETS_KEY

    send(page, "I need a room for my dog Max next weekend")

    async def drop_all() -> int:
        sockets = list(live_server.server.app[SOCKETS_KEY])
        for ws in sockets:
            await ws.close(code=1011, message=b"test drop")
        return len(sockets)

    assert live_server.run(drop_all()) == 1
    # the page notices, backs off, reconnects, says hello and re-renders the same history
    expect(page.locator("#notice")).to_contain_text("Connected again", timeout=TIMEOUT_MS)
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    expect(page.locator("#log .msg-bot")).to_have_count(2)
    expect(page.locator("#log .msg-user")).to_have_count(1)
    reply = send(page, "John Smith")
    assert "phone" in reply.lower()


def test_language_badge_follows_estonian(page: Any) -> None:
    from playwright.sync_api import expect

    send(page, "Tere! Ma soovin broneerida toa oma koerale järgmiseks nädalavahetuseks")
    expect(page.locator("#lang-badge")).to_have_text("ET")
    expect(page.locator("html")).to_have_attribute("lang", "et")
    expect(page.locator("#lang-badge")).to_have_attribute("aria-label", "Keel: Eesti")
    # the page's own words follow the language
    expect(page.get_by_role("textbox", name="Teie sõnum")).to_be_visible()
    expect(page.get_by_role("button", name="Saada")).to_be_visible()
    assert urlsplit(page.url).path == "/"
