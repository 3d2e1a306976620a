"""Typed tools and the resilient executor (the booking backends live in ``appliance.booking``).

Layer 2: imports ``appliance.core`` and ``appliance.booking`` only.
"""

from appliance.tools.booking_tools import BOOKING_TOOLS, default_registry
from appliance.tools.context import CallbackSink, ToolContext
from appliance.tools.executor import SlowNotice, ToolExecutor, ToolResult
from appliance.tools.spec import ConfigChoices, PetType, ToolRegistry, ToolSpec, parse_docstring, tool

__all__ = [
    "BOOKING_TOOLS",
    "CallbackSink",
    "ConfigChoices",
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
