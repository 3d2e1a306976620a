"""Route the brain's slow-tool hook to the call that is waiting.

``Brain.on_slow`` is one attribute on an engine that serves every channel and every
concurrent call, while the "one moment, I'm checking" has to be spoken on the call whose tool
is slow. :class:`SlowNoticeRouter` takes that attribute over and dispatches by session id;
each voice call registers a handler for its own session and removes it when it ends. Sessions
without a handler (web chat, CLI) fall through to whatever hook was there before.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("appliance.voice")

SlowHandler = Callable[[str], Awaitable[None]]  # (language) -> None


class SlowNoticeRouter:
    """An ``Brain.on_slow`` that calls the handler registered for the session."""

    def __init__(self, previous: Callable[[str, str], Awaitable[None]] | None = None) -> None:
        self._handlers: dict[str, SlowHandler] = {}
        self._previous = previous

    async def __call__(self, session_id: str, language: str) -> None:
        handler = self._handlers.get(session_id)
        if handler is not None:
            await handler(language)
        elif self._previous is not None:
            await self._previous(session_id, language)

    def register(self, session_id: str, handler: SlowHandler) -> None:
        if session_id in self._handlers and self._handlers[session_id] is not handler:
            log.warning("session %s: a second voice call took over the slow-tool notice", session_id)
        self._handlers[session_id] = handler

    def unregister(self, session_id: str, handler: SlowHandler) -> None:
        if self._handlers.get(session_id) is handler:
            del self._handlers[session_id]

    def __len__(self) -> int:
        return len(self._handlers)


def attach_slow_notice(brain: Any, session_id: str, handler: SlowHandler) -> Callable[[], None] | None:
    """Register ``handler`` for ``session_id`` on ``brain.on_slow`` (installing a router there).

    Returns the function that detaches it, or None when the brain has no ``on_slow`` hook.
    """
    if not hasattr(brain, "on_slow"):
        return None
    router = brain.on_slow
    if not isinstance(router, SlowNoticeRouter):
        router = SlowNoticeRouter(previous=router)
        brain.on_slow = router
    router.register(session_id, handler)
    return lambda: router.unregister(session_id, handler)
