"""Typed tools, the resilient executor, and the HTTP booking backend.

Layer 2: imports ``appliance.core`` and ``appliance.booking`` only.
"""

from appliance.tools.booking_tools import BOOKING_TOOLS, default_registry
from appliance.tools.context import CallbackSink, ToolContext
from appliance.tools.executor import SlowNotice, ToolExecutor, ToolResult
from appliance.tools.http_backend import HttpBackend
from appliance.tools.spec import ConfigChoices, PetType, ToolRegistry, ToolSpec, parse_docstring, tool

__all__ = [
    "BOOKING_TOOLS",
    "CallbackSink",
    "ConfigChoices",
    "HttpBackend",
    "PetType",
    "SlowNotice",
    "ToolContext",
    "ToolExecutor",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "default_registry",
    "parse_docstring",
    "tool",
]
