"""The receptionist's tools: typed signatures the executor binds arguments to.

Each tool only adapts arguments to the :class:`~appliance.booking.types.BookingBackend`
(or the callback sink) and returns its typed answer (``tools/results.py``); plain dicts
are made only at the boundaries. Booking rules (stay length, lead time, capacity,
prices) live in the backend's domain rules, never here.
"""

from __future__ import annotations

import datetime as dt

from appliance.booking.types import Availability, Booking, BookingChange, BookingRequest, Quote
from appliance.core.errors import ValidationError
from appliance.core.tickets import CallbackTicket
from appliance.tools.context import ToolContext
from appliance.tools.results import FoundBookings, Transfer
from appliance.tools.spec import PetType, ToolRegistry, tool


@tool
async def check_availability(
    ctx: ToolContext, pet_type: PetType, start_date: dt.date, end_date: dt.date
) -> Availability:
    """Check whether there is a free room for a pet for a stay, and suggest nearby dates if not.

    Args:
        pet_type: The kind of pet staying.
        start_date: Check-in day (YYYY-MM-DD).
        end_date: Check-out day (YYYY-MM-DD); the pet stays the nights before this day.
    """
    return await ctx.backend.check_availability(pet_type, start_date, end_date)


@tool
async def quote_price(ctx: ToolContext, pet_type: PetType, start_date: dt.date, end_date: dt.date) -> Quote:
    """Calculate the price of a stay, with its lines (nights, surcharges). Amounts are in minor units (cents).

    Args:
        pet_type: The kind of pet staying.
        start_date: Check-in day (YYYY-MM-DD).
        end_date: Check-out day (YYYY-MM-DD).
    """
    return await ctx.backend.quote_price(pet_type, start_date, end_date)


@tool(mutating=True)
async def create_booking(
    ctx: ToolContext,
    pet_name: str,
    pet_type: PetType,
    start_date: dt.date,
    end_date: dt.date,
    owner_name: str,
    owner_phone: str,
) -> Booking:
    """Book a stay. Only call this after the customer has confirmed every detail read back to them.

    Args:
        pet_name: The pet's name.
        pet_type: The kind of pet staying.
        start_date: Check-in day (YYYY-MM-DD).
        end_date: Check-out day (YYYY-MM-DD).
        owner_name: The owner's full name.
        owner_phone: The owner's phone number, as said by the customer.
    """
    request = BookingRequest(
        pet_name=pet_name,
        pet_type=pet_type,
        start=start_date,
        end=end_date,
        owner_name=owner_name,
        owner_phone=owner_phone,
        channel=ctx.channel,
        session_id=ctx.session_id,
    )
    return await ctx.backend.create_booking(request, _key(ctx))


@tool(mutating=True)
async def cancel_booking(ctx: ToolContext, booking_id: str) -> Booking:
    """Cancel an existing booking. Only call this after the customer has confirmed the cancellation.

    Args:
        booking_id: The booking number the customer was given.
    """
    return await ctx.backend.cancel_booking(booking_id, _key(ctx))


@tool(mutating=True)
async def change_booking(
    ctx: ToolContext,
    booking_id: str,
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
    pet_name: str | None = None,
    pet_type: PetType | None = None,
) -> Booking:
    """Change the dates or pet of an existing booking. Give only the fields that change.

    Args:
        booking_id: The booking number the customer was given.
        start_date: The new check-in day (YYYY-MM-DD), if it changes.
        end_date: The new check-out day (YYYY-MM-DD), if it changes.
        pet_name: The new pet name, if it changes.
        pet_type: The new kind of pet, if it changes.
    """
    if all(v is None for v in (start_date, end_date, pet_name, pet_type)):
        raise ValidationError("nothing to change", field="start_date")
    change = BookingChange(start=start_date, end=end_date, pet_name=pet_name, pet_type=pet_type)
    return await ctx.backend.change_booking(booking_id, change, _key(ctx))


@tool
async def find_bookings(
    ctx: ToolContext, booking_id: str | None = None, phone: str | None = None, pet_name: str | None = None
) -> FoundBookings:
    """Look up existing bookings by booking number or the owner's phone number; a pet name narrows the search.

    Args:
        booking_id: The booking number, if the customer knows it.
        phone: The phone number the booking was made with.
        pet_name: The pet's name, to narrow the search.
    """
    if booking_id is None and phone is None and pet_name is None:
        raise ValidationError("give a booking number, a phone number or a pet name", field="booking_id")
    found = await ctx.backend.find_bookings(booking_id=booking_id, phone=phone, pet_name=pet_name)
    return FoundBookings(tuple(found))


@tool(fallback=False)
async def request_callback(ctx: ToolContext, phone: str, name: str | None = None, reason: str = "") -> CallbackTicket:
    """Ask the staff to call the customer back, e.g. for questions the receptionist cannot answer.

    Args:
        phone: The number to call back.
        name: The customer's name, if known.
        reason: What the call is about, in a few words.
    """
    return await ctx.callbacks.create(
        phone=phone,
        name=name or ctx.caller_name,
        reason=reason or "callback requested",
        language=ctx.language,
        session_id=ctx.session_id,
        channel=ctx.channel,
        details={"source": "request_callback"},
    )


@tool(fallback=False)
async def transfer_to_staff(ctx: ToolContext, reason: str = "") -> Transfer:
    """Hand the conversation to a human member of staff (phone calls are transferred to the front desk).

    Args:
        reason: Why the customer wants a person, in a few words.
    """
    if ctx.channel == "voice":
        return Transfer(ctx.config.tenant.transfer_extension, reason)
    # Web chat and the CLI cannot be transferred: staff call the customer back instead.
    ticket = await ctx.callbacks.create(
        phone=ctx.caller_id,
        name=ctx.caller_name,
        reason=reason or "asked for a person",
        language=ctx.language,
        session_id=ctx.session_id,
        channel=ctx.channel,
        details={"source": "transfer_to_staff"},
    )
    return Transfer(None, reason, ticket.id)


def _key(ctx: ToolContext) -> str:
    if not ctx.idempotency_key:
        raise RuntimeError("mutating tools run through the executor, which sets ctx.idempotency_key")
    return ctx.idempotency_key


BOOKING_TOOLS = (
    check_availability,
    quote_price,
    create_booking,
    cancel_booking,
    change_booking,
    find_bookings,
    request_callback,
    transfer_to_staff,
)


def default_registry() -> ToolRegistry:
    """A fresh registry with every receptionist tool."""
    return ToolRegistry(BOOKING_TOOLS)
