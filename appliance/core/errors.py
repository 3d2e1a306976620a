"""One error tree for the whole appliance.

Every error the appliance raises on purpose derives from :class:`ApplianceError`.
Each carries a stable machine ``code``, parameters in ``details`` (JSON-able: a
field, a limit, an allowed list), and a ``retryable`` flag the tool executor reads
to decide whether trying again can help. The message is for logs and staff only.

What a caller hears about an error comes from the templates, by code and in the
caller's language (``appliance.brain.text.render.error_text(lang, code)``, the
``[errors]`` table), never from the error. ``user_message`` below is a legacy
English default that only the web channel's JSON error payload and the voice
processor still read; it goes when they use ``error_text``.
"""

from __future__ import annotations

from typing import Any


class ApplianceError(Exception):
    """Root of every deliberate appliance error."""

    code: str = "appliance_error"
    retryable: bool = False
    user_message: str = "Something went wrong."  # legacy, see the module docstring

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        retryable: bool | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message or type(self).__name__)
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.details: dict[str, Any] = dict(details or {})

    @property
    def message(self) -> str:
        return str(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "details": self.details,
        }


# --- configuration -----------------------------------------------------------


class ConfigError(ApplianceError):
    """The configuration cannot be loaded. Names the file and the key."""

    code = "config_error"
    user_message = "The appliance is misconfigured."

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message, details={"file": file, "key": key})


# --- storage -----------------------------------------------------------------


class StoreError(ApplianceError):
    code = "store_error"
    user_message = "I could not save that right now."


class MigrationError(StoreError):
    code = "migration_error"


# --- booking domain (client errors: never retried) ---------------------------


class BookingError(ApplianceError):
    """A domain rule said no. The user can fix it; retrying cannot."""

    code = "booking_error"
    retryable = False
    user_message = "That booking request is not valid."


class ValidationError(BookingError):
    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = None, **kw: Any) -> None:
        self.field = field
        details = dict(kw.pop("details", None) or {})
        details.setdefault("field", field)
        super().__init__(message, details=details, **kw)


class NoAvailability(BookingError):
    code = "no_availability"
    user_message = "There is no free room for those dates."


class NotFound(BookingError):
    code = "not_found"
    user_message = "I could not find that booking."


class Conflict(BookingError):
    """E.g. cancelling an already cancelled booking, or an idempotency key reused for other data."""

    code = "conflict"


# --- backends and tools (transient: retryable) --------------------------------


class BackendError(ApplianceError):
    code = "backend_error"
    user_message = "Our booking system is not answering right now."


class BackendUnavailable(BackendError):
    """Connection refused or dropped, or a 5xx answer."""

    code = "backend_unavailable"
    retryable = True


class BackendTimeout(BackendError):
    code = "backend_timeout"
    retryable = True


class ToolError(ApplianceError):
    code = "tool_error"


class UnknownTool(ToolError):
    code = "unknown_tool"


# --- engines and models --------------------------------------------------------


class EngineError(ApplianceError):
    code = "engine_error"
    user_message = "I am having trouble understanding right now."


class EngineUnavailable(EngineError):
    """A model is missing, failed to load, or an optional dependency is absent."""

    code = "engine_unavailable"

    def __init__(self, message: str, *, install_hint: str | None = None, **kw: Any) -> None:
        self.install_hint = install_hint
        if install_hint:
            message = f"{message} (install hint: {install_hint})"
        super().__init__(message, **kw)


class ModelError(EngineError):
    code = "model_error"


class InputRejected(ApplianceError):
    """Hostile, oversized or malformed input. Answered politely, never processed."""

    code = "input_rejected"
    user_message = "Sorry, I could not process that message."
