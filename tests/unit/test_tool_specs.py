"""Tool parameters come from signatures and docstrings; arguments are coerced deterministically."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Literal

import pytest

from appliance.core.config import load_config
from appliance.core.errors import UnknownTool, ValidationError
from appliance.core.messages import Action, OutcomeStatus
from appliance.tools import BOOKING_TOOLS, ToolContext, ToolExecutor, ToolRegistry, ToolResult, default_registry, tool
from appliance.tools.results import Transfer
from appliance.tools.spec import ArgKind, PetType, parse_docstring, spec_of

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


@pytest.fixture(scope="module")
def config():
    return load_config(environ={}, use_system=False)


def test_every_tool_has_typed_documented_parameters(config):
    registry = default_registry()
    assert registry.names() == list(EXPECTED)
    for spec in registry:
        required, optional = EXPECTED[spec.name]
        assert [p.name for p in spec.params if p.required] == required
        assert sorted(p.name for p in spec.params) == sorted(required + optional)
        assert "ctx" not in {p.name for p in spec.params}  # the injected context is never an argument
        assert len(spec.description) > 20
        for p in spec.params:
            assert p.description.strip(), f"{spec.name}.{p.name} has no description"


def test_dates_and_pet_type_enum(config):
    params = {p.name: p for p in spec_of(BOOKING_TOOLS[2]).params}  # create_booking
    assert params["start_date"].kind is ArgKind.DATE
    assert params["start_date"].description == "Check-in day (YYYY-MM-DD)."
    assert params["pet_type"].allowed(config) == ("dog", "cat")
    assert params["owner_phone"].description.startswith("The owner's phone number")


def test_pet_type_enum_follows_the_tenant_config():
    cfg = load_config(
        environ={"APPLIANCE__TENANT__PET_TYPES": '["dog", "cat", "rabbit"]'},
        use_system=False,
        overrides={"resources": [], "pricing": {"rules": []}},
    )
    params = {p.name: p for p in default_registry().get("check_availability").params}
    assert params["pet_type"].allowed(cfg) == ("dog", "cat", "rabbit")


def test_optional_default(config):
    params = {p.name: p for p in default_registry().get("request_callback").params}
    assert params["reason"].default == "" and not params["reason"].required
    assert params["name"].default is None


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
    params = {p.name: p for p in spec.params}
    assert params["size"].allowed(None) == ("s", "m")
    assert params["pet"].allowed(None) is None  # without a config there is nothing to list
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
    ok = ToolResult(OutcomeStatus.OK, "transfer_to_staff", {"reason": ""}, value=Transfer("200", ""), attempts=1)
    action = ok.to_action()
    assert isinstance(action, Action)
    assert action.status is OutcomeStatus.OK
    assert action.result == {"transfer_to": "200", "reason": "", "ticket_id": None}
    bad = ToolResult(
        OutcomeStatus.NEEDS_CLARIFICATION,
        "quote_price",
        {},
        error_code="validation_error",
        error_field="start_date",
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
