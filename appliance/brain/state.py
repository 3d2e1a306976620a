"""Persistent dialogue state of one conversation.

Everything the engine needs to continue a conversation after a daemon restart
lives here and is stored as JSON in the session row. Plain mutable dataclass,
converted with :meth:`DialogueState.to_dict` / :meth:`DialogueState.from_dict`.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SLOT_ORDER = ("pet_type", "pet_name", "start_date", "end_date", "owner_name", "owner_phone")


class Task(enum.StrEnum):
    NONE = "none"
    BOOK = "book"
    CANCEL = "cancel"
    CHANGE = "change"
    CHECK = "check"
    CALLBACK = "callback"


class Awaiting(enum.StrEnum):
    PET_TYPE = "pet_type"
    PET_NAME = "pet_name"
    START_DATE = "start_date"
    END_DATE = "end_date"
    OWNER_NAME = "owner_name"
    OWNER_PHONE = "owner_phone"
    CALLER_ID = "caller_id"  # yes/no: use the number you are calling from?
    CONFIRMATION = "confirmation"  # yes/no before a booking is committed
    ALTERNATIVE = "alternative"  # pick one of the offered date ranges
    BOOKING_ID = "booking_id"  # identify a booking (number, or phone + pet name)
    CANCEL_CONFIRMATION = "cancel_confirmation"
    CHANGE_DATES = "change_dates"
    CHANGE_CONFIRMATION = "change_confirmation"
    CALLBACK_PHONE = "callback_phone"
    CALLBACK_OFFER = "callback_offer"  # yes/no: shall a colleague call you back?
    YEAR_CONFIRMATION = "year_confirmation"  # yes/no: a far date said without its year, read back with it
    RESUME_OFFER = "resume_offer"  # yes/no: continue the booking of a call that dropped?


@dataclass
class Slots:
    pet_type: str | None = None
    pet_name: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    owner_name: str | None = None
    owner_phone: str | None = None
    nights: int | None = None  # a duration heard before the start date was known

    def missing(self) -> list[str]:
        return [s for s in SLOT_ORDER if getattr(self, s) is None]

    def to_public(self) -> dict[str, Any]:
        """The slots as the CLI/web report them: ISO dates, E.164 phone, null while unknown."""
        return {
            "pet_name": self.pet_name,
            "pet_type": self.pet_type,
            "start_date": self.start_date.isoformat() if self.start_date else None,
            "end_date": self.end_date.isoformat() if self.end_date else None,
            "owner_name": self.owner_name,
            "owner_phone": self.owner_phone,
        }

    def to_dict(self) -> dict[str, Any]:
        d = self.to_public()
        d["nights"] = self.nights
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Slots:
        def date(v: Any) -> dt.date | None:
            return dt.date.fromisoformat(v) if v else None

        return cls(
            pet_type=d.get("pet_type"),
            pet_name=d.get("pet_name"),
            start_date=date(d.get("start_date")),
            end_date=date(d.get("end_date")),
            owner_name=d.get("owner_name"),
            owner_phone=d.get("owner_phone"),
            nights=d.get("nights"),
        )


@dataclass
class DialogueState:
    session_id: str
    channel: str
    language: str
    task: Task = Task.NONE
    awaiting: Awaiting | None = None
    slots: Slots = field(default_factory=Slots)
    caller_id: str | None = None
    caller_id_offered: bool = False
    # booking flow
    quote_total_minor: int | None = None
    quote_currency: str | None = None
    room: str | None = None
    alternatives: list[tuple[str, str]] = field(default_factory=list)
    pending_dates: list[str] = field(default_factory=list)  # [start, end or ""] awaiting YEAR_CONFIRMATION
    last_booking_id: str | None = None
    # cancel / change / check flow
    target_booking_id: str | None = None
    target_summary: dict[str, Any] = field(default_factory=dict)
    change_start: dt.date | None = None
    change_end: dt.date | None = None
    # A fresh value each time a summary or confirmation question is put to the customer. It is part
    # of every idempotency key, so a repeated "yes" (or a retry after a crash) for the SAME question
    # never books twice, while asking again later for the same data makes a new booking.
    confirm_nonce: str | None = None
    # An automatic callback (dialogue/resume.py): the ticket it calls about; the idempotency key
    # of the booking attempt that failed, its arguments and its session and channel, so the same
    # booking confirmed in the callback replays that very request and can never be made twice
    # (whatever became of the first try); and whether the callee said no to it.
    callback_ticket: int | None = None
    commit_key: str | None = None
    commit_args: dict[str, Any] = field(default_factory=dict)
    commit_origin: list[str] = field(default_factory=list)  # [session_id, channel]
    callback_declined: bool = False
    # the slots of a booking the backend could not take (a callback ticket was made): what an
    # automatic callback about that ticket continues with
    fallback_slots: dict[str, Any] = field(default_factory=dict)
    # bookkeeping
    language_state: dict[str, Any] = field(default_factory=dict)
    greeted: bool = False
    degraded_noticed: bool = False
    misunderstood: int = 0
    turns: int = 0
    ended: bool = False

    def reset_task(self) -> None:
        """Forget the current task but keep who we are talking to."""
        owner_name, owner_phone = self.slots.owner_name, self.slots.owner_phone
        self.task = Task.NONE
        self.awaiting = None
        self.slots = Slots(owner_name=owner_name, owner_phone=owner_phone)
        self.quote_total_minor = None
        self.quote_currency = None
        self.room = None
        self.alternatives = []
        self.pending_dates = []
        self.target_booking_id = None
        self.target_summary = {}
        self.change_start = None
        self.change_end = None
        self.confirm_nonce = None
        self.commit_key = None
        self.commit_args = {}
        self.commit_origin = []
        self.misunderstood = 0

    def new_confirmation(self) -> None:
        self.confirm_nonce = uuid.uuid4().hex[:16]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["task"] = self.task.value
        d["awaiting"] = self.awaiting.value if self.awaiting else None
        d["slots"] = self.slots.to_dict()
        d["change_start"] = self.change_start.isoformat() if self.change_start else None
        d["change_end"] = self.change_end.isoformat() if self.change_end else None
        d["alternatives"] = [list(a) for a in self.alternatives]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DialogueState:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["task"] = Task(kw.get("task") or "none")
        kw["awaiting"] = Awaiting(kw["awaiting"]) if kw.get("awaiting") else None
        kw["slots"] = Slots.from_dict(kw.get("slots") or {})
        for k in ("change_start", "change_end"):
            kw[k] = dt.date.fromisoformat(kw[k]) if kw.get(k) else None
        kw["alternatives"] = [tuple(a) for a in kw.get("alternatives") or []]
        return cls(**kw)
