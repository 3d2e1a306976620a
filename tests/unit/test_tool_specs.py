"""Tool schemas come from signatures and docstrings; arguments are coerced deterministically."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Literal

import pytest

from appliance.core.config import load_config
from appliance.core.errors import UnknownTool, ValidationError
from appliance.core.messages import Action, OutcomeStatus
from appliance.tools import BOOKING_TOOLS, ToolContext, ToolExecutor, ToolRegistry, ToolResult, default_registry, tool
from appliance.tools.spec import PetType, parse_docstring, spec_of

EXPECTED = {
    "check_availability": (["pet_type", "start_date", "end_date"], []),
    "quote_price": (["pet_type", "start_date", "end_date"], []),
    "create_booking": (["pet_name", "pet_type", "start_date", "end_date", "owner_name", "owner_phone"], []),
    "cancel_booking": (["booking_id"], []),
    "change_booking": (["booking_id"], ["start_date", "end_date", "pet_name", "pet_type"]),
    "find_bookings": ([], ["booking_id", "phone", "pet_name"]),
    "request_callback": (["phone"], ["name", "reason"]),
    "transfer_to_staff": ([], ["reason"]),
}
JSON_TYPES = {"string", "integer", "number", "boolean"}


@pytest.fixture(scope="module")
def config():
    return load_config(environ={}, use_system=False)


def _check_schema_shape(schema: dict) -> None:
    """A structural check of the JSON Schema subset we emit (no jsonschema dependency)."""
    assert set(schema) == {"name", "description", "parameters"}
    assert isinstance(schema["name"], str) and schema["name"].isidentifier()
    assert isinstance(schema["description"], str) and len(schema["description"]) > 20
    params = schema["parameters"]
    assert params["type"] == "object"
    assert params["additionalProperties"] is False
    assert isinstance(params["properties"], dict)
    assert isinstance(params["required"], list)
    assert set(params["required"]) <= set(params["properties"])
    assert len(set(params["required"])) == len(params["required"])
    for name, prop in params["properties"].items():
        assert prop["type"] in JSON_TYPES, name
        assert isinstance(prop["description"], str) and prop["description"].strip(), f"{name} has no description"
        assert set(prop) <= {"type", "format", "enum", "description", "default"}, name
        if "enum" in prop:
            assert prop["enum"] and all(isinstance(v, str) for v in prop["enum"])
        if "format" in prop:
            assert prop["format"] == "date" and prop["type"] == "string"
    json.dumps(schema)  # plain JSON


def test_every_tool_has_a_valid_schema(config):
    registry = default_registry()
    assert registry.names() == list(EXPECTED)
    for schema in registry.schemas(config):
        _check_schema_shape(schema)
        required, optional = EXPECTED[schema["name"]]
        props = schema["parameters"]["properties"]
        assert schema["parameters"]["required"] == required
        assert sorted(props) == sorted(required + optional)
        assert "ctx" not in props  # the injected context is never part of the contract


def test_dates_and_pet_type_enum(config):
    schema = spec_of(BOOKING_TOOLS[2]).schema(config)  # create_booking
    props = schema["parameters"]["properties"]
    assert props["start_date"] == {
        "type": "string",
        "format": "date",
        "description": "Check-in day (YYYY-MM-DD).",
    }
    assert props["pet_type"]["enum"] == ["dog", "cat"]
    assert props["owner_phone"]["description"].startswith("The owner's phone number")


def test_pet_type_enum_follows_the_tenant_config():
    cfg = load_config(
        environ={"APPLIANCE__TENANT__PET_TYPES": '["dog", "cat", "rabbit"]'},
        use_system=False,
        overrides={"resources": [], "pricing": {"rules": []}},
    )
    props = default_registry().get("check_availability").schema(cfg)["parameters"]["properties"]
    assert props["pet_type"]["enum"] == ["dog", "cat", "rabbit"]


def test_openai_tools_wrapper(config):
    tools = default_registry().openai_tools(config)
    assert all(t["type"] == "function" and "parameters" in t["function"] for t in tools)


def test_optional_default_in_schema(config):
    props = default_registry().get("request_callback").schema(config)["parameters"]["properties"]
    assert props["reason"]["default"] == ""
    assert "default" not in props["name"]


def test_parse_docstring_google_style():
    desc, args = parse_docstring(
        """Do a thing.

        More about it.

        Args:
            first: The first
                argument, continued.
            second (int): The second one.

        Returns:
            ignored: not an argument.
        """
    )
    assert desc == "Do a thing.\nMore about it."
    assert args == {"first": "The first argument, continued.", "second": "The second one."}


def test_bind_coerces_iso_dates_and_enums(config):
    spec = default_registry().get("create_booking")
    kwargs = spec.bind(
        {
            "pet_name": " Rex ",
            "pet_type": "DOG",
            "start_date": "2030-06-01",
            "end_date": "2030-06-04T00:00:00",
            "owner_name": "Mari Maasikas",
            "owner_phone": 5551234,
            "invented": "dropped",
        },
        config,
    )
    assert kwargs == {
        "pet_name": "Rex",
        "pet_type": "dog",
        "start_date": dt.date(2030, 6, 1),
        "end_date": dt.date(2030, 6, 4),
        "owner_name": "Mari Maasikas",
        "owner_phone": "5551234",
    }


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"pet_type": "dog", "start_date": "next friday", "end_date": "2030-06-04"}, "start_date"),
        ({"pet_type": "dog", "start_date": "2030-06-01", "end_date": "2030-13-01"}, "end_date"),
        ({"pet_type": "parrot", "start_date": "2030-06-01", "end_date": "2030-06-04"}, "pet_type"),
        ({"start_date": "2030-06-01", "end_date": "2030-06-04"}, "pet_type"),
        ({"pet_type": "dog", "start_date": 20300601, "end_date": "2030-06-04"}, "start_date"),
        ({"pet_type": "dog", "start_date": "", "end_date": "2030-06-04"}, "start_date"),
    ],
)
def test_bad_arguments_name_the_field(config, args, field):
    with pytest.raises(ValidationError) as info:
        default_registry().get("check_availability").bind(args, config)
    assert info.value.field == field


def test_bad_pet_type_lists_allowed_values(config):
    with pytest.raises(ValidationError) as info:
        default_registry().get("quote_price").bind(
            {"pet_type": "parrot", "start_date": "2030-06-01", "end_date": "2030-06-04"}, config
        )
    assert info.value.details["allowed"] == ["dog", "cat"]


def test_required_string_cannot_be_blank(config):
    with pytest.raises(ValidationError) as info:
        default_registry().get("cancel_booking").bind({"booking_id": "   "}, config)
    assert info.value.field == "booking_id"


def test_literal_and_static_enums():
    @tool
    async def pick(ctx: ToolContext, size: Literal["s", "m"], pet: PetType | None = None) -> dict:
        """Pick a size.

        Args:
            size: The size.
            pet: The pet.
        """
        return {}

    spec = spec_of(pick)
    props = spec.schema(None)["parameters"]["properties"]
    assert props["size"]["enum"] == ["s", "m"]
    assert "enum" not in props["pet"]  # without a config there is nothing to list
    assert spec.bind({"size": "M"})["size"] == "m"


def test_decorator_rejects_undocumented_or_untyped_tools():
    with pytest.raises(TypeError, match="not described"):

        @tool
        async def undocumented(ctx: ToolContext, x: str) -> dict:
            """Does something useful for the caller."""
            return {}

    with pytest.raises(TypeError, match="must be async"):

        @tool
        def sync(ctx: ToolContext) -> dict:
            """Sync."""
            return {}

    with pytest.raises(TypeError, match="ctx"):

        @tool
        async def no_ctx(x: str) -> dict:
            """No context.

            Args:
                x: X.
            """
            return {}


def test_registry_unknown_and_duplicate():
    registry = default_registry()
    with pytest.raises(UnknownTool):
        registry.get("launch_rocket")
    with pytest.raises(ValueError, match="duplicate"):
        ToolRegistry([*BOOKING_TOOLS, BOOKING_TOOLS[0]])


def test_tool_result_to_action():
    ok = ToolResult(OutcomeStatus.OK, "quote_price", {"pet_type": "dog"}, data={"total_minor": 100}, attempts=1)
    action = ok.to_action()
    assert isinstance(action, Action)
    assert action.status is OutcomeStatus.OK and action.result == {"total_minor": 100}
    bad = ToolResult(
        OutcomeStatus.NEEDS_CLARIFICATION,
        "quote_price",
        {},
        error_code="validation_error",
        error_field="start_date",
        user_message="When?",
        attempts=1,
    )
    action = bad.to_action()
    assert action.error_code == "validation_error"
    assert action.result is not None and action.result["error"]["field"] == "start_date"


def test_executor_unknown_tool_and_bad_arguments_never_call_anything(config):
    class Exploding:
        name = "exploding"

        def __getattr__(self, item):
            raise AssertionError("the backend must not be called")

    ctx = ToolContext(backend=Exploding(), callbacks=Exploding(), config=config)  # type: ignore[arg-type]
    executor = ToolExecutor(default_registry())

    async def run():
        unknown = await executor.execute("launch_rocket", {}, ctx)
        bad = await executor.execute("quote_price", {"pet_type": "dog", "start_date": "soon", "end_date": "x"}, ctx)
        nothing = await executor.execute("change_booking", {"booking_id": "B1"}, ctx)
        return unknown, bad, nothing

    unknown, bad, nothing = asyncio.run(run())
    assert unknown.status is OutcomeStatus.ERROR and unknown.error_code == "unknown_tool"
    assert bad.status is OutcomeStatus.NEEDS_CLARIFICATION
    assert (bad.error_code, bad.error_field, bad.attempts) == ("validation_error", "start_date", 0)
    assert nothing.status is OutcomeStatus.NEEDS_CLARIFICATION and nothing.error_field == "start_date"
