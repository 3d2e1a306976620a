"""Understanding: rules first, the LLM second, and code disposes.

The deterministic extractors decide whenever they find anything. Only when
they find nothing useful, and an LLM is configured and healthy, is the LLM
asked for a schema-constrained JSON proposal. Every proposed value is then
validated: names must occur in what the user said, phone numbers must be made
of the user's digits and parse, date phrases must occur in the text and are
re-parsed by the rules, intents come from a closed list. Yes/no and pet types
are never taken from the LLM: an explicit yes before a booking must be heard
by the rules. A timeout, crash or garbage marks the engine degraded and the
deterministic path carries on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import phonenumbers

from appliance.brain.state import Awaiting, DialogueState
from appliance.brain.understanding.extract import Extraction, extract
from appliance.core.config import Config
from appliance.core.errors import ApplianceError
from appliance.core.messages import Intent

log = logging.getLogger(__name__)

PROMPT_DIR = Path(__file__).with_name("prompts")
LLM_INTENTS = (
    Intent.BOOK,
    Intent.QUESTION,
    Intent.CHECK_BOOKING,
    Intent.CANCEL_BOOKING,
    Intent.CHANGE_BOOKING,
    Intent.GREETING,
    Intent.THANKS,
    Intent.OUT_OF_SCOPE,
)
RETRY_AFTER_FAILURE_S = 30.0
_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*", re.UNICODE)

EXTRACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": [i.value for i in LLM_INTENTS] + ["unknown"]},
        "pet_name": {"type": ["string", "null"]},
        "owner_name": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"]},
        "date_text": {"type": ["string", "null"]},
    },
    "required": ["intent"],
}


def extractor_awaiting(a: Awaiting | None) -> str | None:
    """The slot name the extractors use to resolve short answers."""
    if a is None:
        return None
    return {
        Awaiting.CALLER_ID: "confirmation",
        Awaiting.CONFIRMATION: "confirmation",
        Awaiting.CANCEL_CONFIRMATION: "confirmation",
        Awaiting.CHANGE_CONFIRMATION: "confirmation",
        Awaiting.CALLBACK_OFFER: "confirmation",
        Awaiting.YEAR_CONFIRMATION: "confirmation",
        Awaiting.ALTERNATIVE: "start_date",
        Awaiting.CHANGE_DATES: "start_date",
        Awaiting.CALLBACK_PHONE: "owner_phone",
    }.get(a, a.value)


@cache
def prompt(name: str, lang: str) -> str:
    path = PROMPT_DIR / f"{name}.{lang}.md"
    if not path.is_file():
        path = PROMPT_DIR / f"{name}.en.md"
    return path.read_text(encoding="utf-8")


def is_useful(ex: Extraction) -> bool:
    return bool(
        ex.intents
        or ex.yes is not None
        or ex.booking_id
        or any(
            v is not None
            for v in (ex.pet_type, ex.pet_name, ex.owner_name, ex.phone, ex.start, ex.end, ex.nights, ex.single_date)
        )
    )


class Understanding:
    def __init__(
        self,
        config: Config,
        llm: Any = None,
        *,
        configured: bool | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.llm = llm
        self._monotonic = monotonic  # when a failed LLM may be asked again (a virtual clock in tests)
        # "configured": the tenant wants an LLM. Configured but missing/broken = degraded.
        self.configured = (config.llm.mode != "off") if configured is None else configured
        self._failed_at: float | None = None if llm is not None or not self.configured else monotonic()
        self.llm_calls = 0
        self.llm_rejected = 0

    @property
    def degraded(self) -> bool:
        return self.configured and (self.llm is None or self._failed_at is not None)

    @property
    def llm_status(self) -> str:
        if not self.configured:
            return "off"
        if self.llm is None:
            return "unavailable"
        return "failing" if self._failed_at is not None else "ready"

    def mark_failed(self) -> None:
        self._failed_at = self._monotonic()

    def rules(self, text: str, state: DialogueState, today: dt.date) -> Extraction:
        return extract(
            text,
            state.language,
            today=today,
            region=self.config.tenant.phone_region,
            pet_types=tuple(self.config.tenant.pet_types),
            awaiting=extractor_awaiting(state.awaiting),
        )

    async def understand(self, text: str, state: DialogueState, today: dt.date) -> Extraction:
        ex = self.rules(text, state, today)
        if is_useful(ex) or self.llm is None:
            return ex
        if self._failed_at is not None and self._monotonic() - self._failed_at < RETRY_AFTER_FAILURE_S:
            return ex
        proposal = await self._ask_llm(text, state)
        if proposal is None:
            return ex
        return self.validate(proposal, text, state, today, ex)

    async def _ask_llm(self, text: str, state: DialogueState) -> dict[str, Any] | None:
        messages = [
            {"role": "system", "content": prompt("extract", state.language)},
            {"role": "user", "content": text},
        ]
        self.llm_calls += 1
        try:
            out = await self.llm.complete_json(
                messages, EXTRACTION_SCHEMA, timeout=self.config.llm.timeout_s, max_tokens=128
            )
        except ApplianceError as exc:
            log.warning("LLM extraction failed (%s); continuing on the rules", exc)
            self._failed_at = self._monotonic()
            return None
        except Exception:
            log.exception("LLM extraction crashed; continuing on the rules")
            self._failed_at = self._monotonic()
            return None
        self._failed_at = None
        return out if isinstance(out, dict) else None

    def validate(
        self, proposal: dict[str, Any], text: str, state: DialogueState, today: dt.date, rules: Extraction
    ) -> Extraction:
        """Keep only what the user's own words support."""
        accepted: dict[str, Any] = {}
        lowered = text.casefold()
        words = {w.casefold() for w in _WORD.findall(text)}

        intent = proposal.get("intent")
        if isinstance(intent, str) and intent in {i.value for i in LLM_INTENTS}:  # a list would not hash
            accepted["intents"] = (Intent(intent),)

        for key in ("pet_name", "owner_name"):
            value = proposal.get(key)
            if isinstance(value, str) and _grounded_name(value, words):
                accepted[key] = value.strip()

        phone = proposal.get("phone")
        if isinstance(phone, str):
            norm = _grounded_phone(phone, text, self.config.tenant.phone_region)
            if norm:
                accepted["phone"] = norm

        date_text = proposal.get("date_text")
        if isinstance(date_text, str) and 0 < len(date_text) <= 60 and date_text.casefold() in lowered:
            reparsed = self.rules(date_text, state, today)
            for key in ("start", "end", "nights", "single_date"):
                if getattr(reparsed, key) is not None:
                    accepted[key] = getattr(reparsed, key)

        rejected = sum(1 for v in proposal.values() if not (v is None or v == "" or v == "unknown")) - len(accepted)
        self.llm_rejected += max(0, rejected)
        if not accepted:
            return rules
        return dataclasses.replace(rules, **accepted)


def _grounded_name(value: str, words: set[str]) -> bool:
    tokens = _WORD.findall(value)
    if not tokens or len(tokens) > 4 or len(value) > 60:
        return False
    return all(t.casefold() in words for t in tokens)


def _grounded_phone(value: str, text: str, region: str) -> str | None:
    digits = re.sub(r"\D", "", value)
    if len(digits) < 6 or digits not in re.sub(r"\D", "", text):
        return None
    try:
        num = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
