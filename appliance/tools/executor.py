"""The resilient tool executor: the reliability matrix in one place.

=========================================  ========  ===================================
condition                                  retried?  outcome
=========================================  ========  ===================================
tool returns                               -         OK with the tool's typed value
bad arguments / BookingError (4xx)         no        NEEDS_CLARIFICATION (code, field)
BackendUnavailable / BackendTimeout        yes       OK if a later attempt works, else
                                                     FALLBACK with a callback ticket
other BackendError (e.g. rejected token)   no        FALLBACK with a callback ticket
other ApplianceError / unexpected crash    no        ERROR
=========================================  ========  ===================================

Retries use exponential backoff with full jitter (``random() * min(max, base *
2**n)``), and every attempt of one call reuses one idempotency key, so a retried
``create_booking`` can never book twice. See ``docs/RELIABILITY.md``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from appliance.booking.serialize import jsonable
from appliance.booking.types import DateRange
from appliance.core import metrics
from appliance.core.config import ToolsConfig
from appliance.core.errors import ApplianceError, BackendError, BackendTimeout, BookingError, ValidationError
from appliance.core.messages import Action, OutcomeStatus
from appliance.tools.context import ToolContext
from appliance.tools.results import alternatives_of, to_plain
from appliance.tools.spec import ToolRegistry, ToolSpec
from appliance.tools.timing import Cancellable, LoopTimer, Timer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SlowNotice:
    """Passed to the ``on_slow`` hook once a call has run longer than ``slow_notice_s``."""

    tool: str
    session_id: str | None
    elapsed_s: float
    attempt: int


SlowHook = Callable[[SlowNotice], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """How one tool call ended. ``arguments`` are the coerced ones as plain data when binding worked.

    ``value`` is what the tool returned (``tools/results.py: ToolValue``) when the call is OK. A
    client error is typed by ``error_code``, ``error_field``, ``details`` (JSON-able parameters) and,
    for ``no_availability``, ``alternatives``; it carries no prose: the brain says it from templates.
    """

    status: OutcomeStatus
    tool: str
    arguments: dict[str, Any]
    value: Any = None
    error_code: str | None = None
    error_field: str | None = None
    attempts: int = 0
    duration_ms: float = 0.0
    fallback_ticket_id: int | None = None
    details: dict[str, Any] | None = None  # error details (e.g. alternatives, allowed values)
    idempotency_key: str | None = None
    alternatives: tuple[DateRange, ...] = ()  # no_availability: nearby free ranges

    @property
    def ok(self) -> bool:
        return self.status is OutcomeStatus.OK

    @property
    def data(self) -> Any:
        """The value as plain data (the boundary form: web, API, logs), or None unless OK."""
        return to_plain(self.value) if self.status is OutcomeStatus.OK else None

    def to_action(self) -> Action:
        if self.status is OutcomeStatus.OK:
            result = self.data
        else:
            result = {
                "error": {"code": self.error_code, "field": self.error_field, "details": self.details or {}},
                "fallback_ticket_id": self.fallback_ticket_id,
            }
        return Action(
            tool=self.tool,
            arguments=dict(self.arguments),
            status=self.status,
            result=result,
            error_code=self.error_code,
            attempts=self.attempts,
            duration_ms=self.duration_ms,
        )


class ToolExecutor:
    """Runs tools with timeout, bounded retries, and a callback-ticket fallback.

    ``timer`` (clock, backoff sleeps, timeouts, the slow-notice timer) and ``rand`` (the jitter)
    are injectable, so tests run retries and timeouts on a virtual clock, without waiting.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        config: ToolsConfig | None = None,
        *,
        on_slow: SlowHook | None = None,
        timer: Timer | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.registry = registry
        self.config = config or ToolsConfig()
        self.on_slow = on_slow
        self.timer: Timer = timer or LoopTimer()
        self._rand = rand
        self._background: set[asyncio.Task[Any]] = set()

    def backoff(self, retry: int) -> float:
        """Full-jitter delay before retry number ``retry`` (1-based)."""
        cap = min(self.config.backoff_max_s, self.config.backoff_base_s * (2 ** (retry - 1)))
        return self._rand() * cap

    async def execute(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        ctx: ToolContext,
        *,
        idempotency_key: str | None = None,
        on_slow: SlowHook | None = None,
    ) -> ToolResult:
        """Run one tool call to a typed outcome. Never raises for tool or backend failures."""
        started = self.timer.monotonic()
        raw_args = dict(arguments or {})
        try:
            spec = self.registry.get(name)
        except ApplianceError as exc:
            return self._result(OutcomeStatus.ERROR, name, jsonable(raw_args), started, error=exc, attempts=0)
        try:
            kwargs = spec.bind(raw_args, ctx.config)
        except ValidationError as exc:
            return self._result(OutcomeStatus.NEEDS_CLARIFICATION, name, jsonable(raw_args), started, error=exc)
        args = jsonable(kwargs)
        key = None
        if spec.mutating:
            key = idempotency_key or ctx.idempotency_key or uuid.uuid4().hex
            ctx = dataclasses.replace(ctx, idempotency_key=key)

        attempt = 0
        slow_handle = self._arm_slow_notice(spec, ctx, started, on_slow or self.on_slow, lambda: attempt)
        try:
            last_error: ApplianceError | None = None
            for attempt in range(1, self.config.max_retries + 2):  # noqa: B007 (read by the slow hook)
                try:
                    data = await self.timer.wait_for(spec.fn(ctx, **kwargs), self.config.timeout_s)
                except TimeoutError:
                    last_error = BackendTimeout(f"{name} took longer than {self.config.timeout_s:g}s")
                except BookingError as exc:
                    return self._result(
                        OutcomeStatus.NEEDS_CLARIFICATION, name, args, started, error=exc, attempts=attempt, key=key
                    )
                except BackendError as exc:
                    last_error = exc
                    if not exc.retryable:  # e.g. a rejected token: down for us, and retrying cannot help
                        log.warning("tool %s: backend refused: %s", name, exc.code)  # messages may quote input
                        break
                except ApplianceError as exc:
                    if not exc.retryable:
                        log.warning("tool %s failed: %s", name, exc.code)
                        return self._result(
                            OutcomeStatus.ERROR, name, args, started, error=exc, attempts=attempt, key=key
                        )
                    last_error = exc
                except Exception as exc:  # a bug in a tool or backend: never retried, never crashes the brain
                    log.exception("tool %s crashed", name)
                    err = ApplianceError(f"{type(exc).__name__}: {exc}", code="tool_crashed")
                    return self._result(OutcomeStatus.ERROR, name, args, started, error=err, attempts=attempt, key=key)
                else:
                    return self._result(OutcomeStatus.OK, name, args, started, value=data, attempts=attempt, key=key)
                log.info(
                    "tool %s attempt %d/%d failed: %s",
                    name,
                    attempt,
                    self.config.max_retries + 1,
                    getattr(last_error, "code", ""),
                )
                if attempt <= self.config.max_retries:
                    await self.timer.sleep(self.backoff(attempt))
            assert last_error is not None
            return await self._fallback(spec, args, ctx, started, last_error, attempt, key)
        finally:
            if slow_handle is not None:
                slow_handle.cancel()

    # -- helpers -------------------------------------------------------------------

    async def _fallback(
        self,
        spec: ToolSpec,
        args: dict[str, Any],
        ctx: ToolContext,
        started: float,
        error: ApplianceError,
        attempts: int,
        key: str | None,
    ) -> ToolResult:
        """The backend stayed down: take a callback ticket locally so the customer is not lost."""
        if not spec.fallback:
            return self._result(OutcomeStatus.ERROR, spec.name, args, started, error=error, attempts=attempts, key=key)
        details: dict[str, Any] = {
            "source": "tool_fallback",
            "tool": spec.name,
            "arguments": args,
            "error_code": error.code,
            "attempts": attempts,
        }
        if key:
            details["idempotency_key"] = key  # staff can check whether a booking went through after all
        try:
            ticket = await self.timer.wait_for(
                ctx.callbacks.create(
                    phone=args.get("owner_phone") or args.get("phone") or ctx.caller_id,
                    name=args.get("owner_name") or args.get("name") or ctx.caller_name,
                    reason=f"booking system unavailable during {spec.name}",
                    language=ctx.language,
                    session_id=ctx.session_id,
                    channel=ctx.channel,
                    details=details,
                ),
                self.config.timeout_s,
            )
        except Exception:  # the local store failing too: nothing left but an apology
            log.exception("tool %s: fallback callback ticket failed", spec.name)
            return self._result(OutcomeStatus.ERROR, spec.name, args, started, error=error, attempts=attempts, key=key)
        metrics.tool_outcome(spec.name, OutcomeStatus.FALLBACK, attempts)
        return ToolResult(
            status=OutcomeStatus.FALLBACK,
            tool=spec.name,
            arguments=args,
            error_code=error.code,
            attempts=attempts,
            duration_ms=self._elapsed_ms(started),
            fallback_ticket_id=ticket.id,
            details={"ticket_id": ticket.id, "phone": ticket.phone},
            idempotency_key=key,
        )

    def _result(
        self,
        status: OutcomeStatus,
        tool: str,
        args: dict[str, Any],
        started: float,
        *,
        value: Any = None,
        error: ApplianceError | None = None,
        attempts: int = 0,
        key: str | None = None,
    ) -> ToolResult:
        field = getattr(error, "field", None) if error is not None else None
        details = None
        if error is not None:
            details = {k: jsonable(v) for k, v in error.details.items() if k != "field"} or None
            field = field or error.details.get("field")
        metrics.tool_outcome(tool, status, attempts)
        return ToolResult(
            status=status,
            tool=tool,
            arguments=args,
            value=value if status is OutcomeStatus.OK else None,
            error_code=error.code if error is not None else None,
            error_field=field,
            attempts=attempts,
            duration_ms=self._elapsed_ms(started),
            details=details,
            idempotency_key=key,
            alternatives=alternatives_of(error.details) if error is not None else (),
        )

    def _elapsed_ms(self, started: float) -> float:
        return round((self.timer.monotonic() - started) * 1000.0, 3)

    def _arm_slow_notice(
        self,
        spec: ToolSpec,
        ctx: ToolContext,
        started: float,
        hook: SlowHook | None,
        attempt: Callable[[], int],
    ) -> Cancellable | None:
        """Fire ``hook`` once, from the event loop, if the call is still running after ``slow_notice_s``."""
        if hook is None or self.config.slow_notice_s <= 0:
            return None

        def fire() -> None:
            notice = SlowNotice(spec.name, ctx.session_id, self.timer.monotonic() - started, attempt())
            try:
                out = hook(notice)
                if inspect.isawaitable(out):
                    task = asyncio.ensure_future(out)
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
            except Exception:
                log.exception("slow-notice hook failed")

        return self.timer.call_later(self.config.slow_notice_s, fire)
