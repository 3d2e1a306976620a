"""Answers to questions: opening hours and prices from config and tools, the
rest from the tenant's knowledge base, grounded in the retrieved passages."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import TYPE_CHECKING, Any

from appliance.booking.types import Quote
from appliance.brain.dialogue import streaming
from appliance.brain.state import Awaiting, DialogueState, Task
from appliance.brain.text.render import Money, Part, Word, word
from appliance.brain.text.verbalize import speakable
from appliance.brain.understanding.proposal import prompt
from appliance.core.clock import local_today
from appliance.core.errors import ApplianceError
from appliance.core.messages import OutcomeStatus

if TYPE_CHECKING:
    from appliance.brain.dialogue.brain import Brain

log = logging.getLogger(__name__)

_HOURS = re.compile(
    r"\b(open|opening|hours|close|closing|lahti|avatud|lahtioleku\w*|suletud|töötate|"
    r"работаете|(?:когда|до\s+скольки|со\s+скольки|во\s+сколько)\s+(?:\w+\s+)?работает|часы работы|"
    r"открыт\w*|закрыт\w*|график)\b",
    re.IGNORECASE,
)
_PRICE = re.compile(
    r"\b(price|prices|cost|costs|how much|rate|rates|hind|hinnad|hinna|maksab|maksumus|kui palju|"
    r"цена|цены|стоит|стоимость|сколько)\b",
    re.IGNORECASE,
)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # [words] day_<key>: short weekday names
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
MAX_ANSWER_CHARS = 400


async def answer_question(brain: Brain, text: str, lang: str, state: DialogueState) -> list[Part]:
    if _HOURS.search(text):
        return [Part("hours_answer", {"hours": opening_hours(brain, lang)})]
    if _PRICE.search(text):
        parts = await _prices(brain, text, lang, state)
        if parts:
            return parts
    return await _from_knowledge(brain, text, lang, state)


def opening_hours(brain: Brain, lang: str) -> str:
    oh = brain.config.opening_hours
    names = [word(lang, f"day_{d}") for d in _DAYS] + [word(lang, "closed")]
    values = [oh.mon, oh.tue, oh.wed, oh.thu, oh.fri, oh.sat, oh.sun]
    groups: list[tuple[int, int, str]] = []
    for i, v in enumerate(values):
        if groups and groups[-1][2] == v:
            groups[-1] = (groups[-1][0], i, v)
        else:
            groups.append((i, i, v))
    out = []
    for a, b, v in groups:
        days = names[a] if a == b else f"{names[a]}–{names[b]}"
        out.append(f"{days} {names[7] if v == 'closed' else v}")
    return ", ".join(out)


async def _prices(brain: Brain, text: str, lang: str, state: DialogueState) -> list[Part]:
    """Per-night prices come from the quote tool (a plain weekday night), never from the model."""
    from appliance.brain.understanding.extract import extract

    today = local_today(brain.clock, brain.config.tenant.tz)
    ex = extract(
        text,
        lang,
        today=today,
        region=brain.config.tenant.phone_region,
        pet_types=tuple(brain.config.tenant.pet_types),
    )
    pets = [ex.pet_type] if ex.pet_type in brain.config.tenant.pet_types else list(brain.config.tenant.pet_types)
    run = brain.tool_runner(state)
    monday = today + dt.timedelta(days=(7 - today.weekday()) % 7 or 7)
    parts: list[Part] = []
    for pet in pets:
        res = await run(
            "quote_price", {"pet_type": pet, "start_date": monday, "end_date": monday + dt.timedelta(days=1)}
        )
        if res.status is not OutcomeStatus.OK:
            continue
        q: Quote = res.value
        parts.append(Part("price_answer", {"pet_type": Word(pet), "price": Money(q.total_minor, q.currency)}))
    return parts


async def _from_knowledge(brain: Brain, text: str, lang: str, state: DialogueState) -> list[Part]:
    kb = brain.knowledge
    hits: list[Any] = []
    if kb is not None:
        try:
            hits = await kb.search(text, lang, k=brain.config.knowledge.top_k)
        except Exception:
            log.exception("knowledge search failed")
            hits = []
    if not hits:
        if state.task is Task.NONE:
            state.awaiting = Awaiting.CALLBACK_OFFER
        return [Part("kb_none")]
    answer = await _llm_answer(brain, text, lang, hits)
    if answer is None:
        answer = extractive(hits[0].text)
    return [Part("kb_answer", {"answer": answer})]


async def _llm_answer(brain: Brain, text: str, lang: str, hits: list[Any]) -> str | None:
    und = brain.understanding
    if und.llm is None or und.llm_status != "ready":
        return None
    context = "\n---\n".join(h.text for h in hits)
    system = prompt("answer", lang).replace("{business}", brain.config.tenant.name).replace("{context}", context)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
    stream = streaming.current()
    try:
        if stream is not None:  # voice: speak each grounded sentence while the LLM goes on
            return await _streamed_answer(und.llm, messages, stream, context, lang, brain)
        out = await und.llm.chat(messages, max_tokens=160, timeout=brain.config.llm.timeout_s)
    except ApplianceError as exc:
        log.warning("LLM answer failed: %s", exc)
        und.mark_failed()
        return None
    return grounded_answer(out, context, lang, brain)


async def _streamed_answer(
    llm: Any, messages: list[dict[str, str]], stream: streaming.SpeechStream, context: str, lang: str, brain: Brain
) -> str | None:
    """The answer sentence by sentence into the speech stream; each sentence is checked like a
    whole answer, and the first that fails ends the answer (generation stops, the rest is dropped)."""
    accepted: list[str] = []

    def take(sentence: str) -> bool:
        total = sum(len(a) + 1 for a in accepted) + len(sentence)
        if total > MAX_ANSWER_CHARS or grounded_answer(sentence, context, lang, brain) is None:
            return False
        accepted.append(sentence)
        stream.say(speakable(sentence, lang), lang)  # as Renderer.part speaks it: digits as words
        return True

    tokens = llm.chat_stream(messages, max_tokens=160, timeout=brain.config.llm.timeout_s)
    try:
        async for token in tokens:
            if not all(take(sentence) for sentence in stream.feed(token)):
                stream.flush()
                return " ".join(accepted) or None
    finally:
        await tokens.aclose()
    all(take(sentence) for sentence in stream.flush())
    return " ".join(accepted) or None


def grounded_answer(out: str, context: str, lang: str, brain: Brain) -> str | None:
    """Accept a generated answer only if it is short, in the session language,
    and every number in it appears in the retrieved passages."""
    answer = (out or "").strip()
    if not answer or "NO_ANSWER" in answer or len(answer) > MAX_ANSWER_CHARS:
        return None
    if not set(_NUMBER.findall(answer)) <= set(_NUMBER.findall(context)):
        return None
    if not brain.identifier.is_language(answer, lang, confidence=brain.config.language.confidence):
        return None
    return answer


def extractive(chunk: str, max_chars: int = 300) -> str:
    """The first sentences of the best passage, without Markdown decoration."""
    text = re.sub(r"^#+\s*", "", chunk.strip(), flags=re.MULTILINE)
    text = re.sub(r"[*_`>]+", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > 60 else cut.rstrip() + "…"
