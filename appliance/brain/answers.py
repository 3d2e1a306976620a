"""Answers to questions: opening hours and prices from config and tools, the
rest from the tenant's knowledge base, grounded in the retrieved passages."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import TYPE_CHECKING, Any

from appliance.brain import streaming
from appliance.brain.render import Money, Part, Word
from appliance.brain.state import Awaiting, DialogueState, Task
from appliance.brain.understand import prompt
from appliance.brain.verbalize import speakable
from appliance.core.clock import local_today
from appliance.core.errors import ApplianceError
from appliance.core.messages import OutcomeStatus

if TYPE_CHECKING:
    from appliance.brain.engine import Engine

log = logging.getLogger(__name__)

_HOURS = re.compile(
    r"\b(open|opening|hours|close|closing|lahti|avatud|lahtioleku\w*|suletud|töötate|"
    r"работаете|работает|часы работы|открыт\w*|закрыт\w*|график)\b",
    re.IGNORECASE,
)
_PRICE = re.compile(
    r"\b(price|prices|cost|costs|how much|rate|rates|hind|hinnad|hinna|maksab|maksumus|kui palju|"
    r"цена|цены|стоит|стоимость|сколько)\b",
    re.IGNORECASE,
)
_DAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "closed"),
    "et": ("E", "T", "K", "N", "R", "L", "P", "suletud"),
    "ru": ("Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс", "закрыто"),
}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
MAX_ANSWER_CHARS = 400


async def answer_question(engine: Engine, text: str, lang: str, state: DialogueState) -> list[Part]:
    if _HOURS.search(text):
        return [Part("hours_answer", {"hours": opening_hours(engine, lang)})]
    if _PRICE.search(text):
        parts = await _prices(engine, text, lang, state)
        if parts:
            return parts
    return await _from_knowledge(engine, text, lang, state)


def opening_hours(engine: Engine, lang: str) -> str:
    oh = engine.config.opening_hours
    names = _DAYS.get(lang, _DAYS["en"])
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


async def _prices(engine: Engine, text: str, lang: str, state: DialogueState) -> list[Part]:
    """Per-night prices come from the quote tool (a plain weekday night), never from the model."""
    from appliance.brain.extract import extract

    today = local_today(engine.clock, engine.config.tenant.tz)
    ex = extract(
        text,
        lang,
        today=today,
        region=engine.config.tenant.phone_region,
        pet_types=tuple(engine.config.tenant.pet_types),
    )
    pets = [ex.pet_type] if ex.pet_type in engine.config.tenant.pet_types else list(engine.config.tenant.pet_types)
    run = engine.tool_runner(state)
    monday = today + dt.timedelta(days=(7 - today.weekday()) % 7 or 7)
    parts: list[Part] = []
    for pet in pets:
        res = await run(
            "quote_price", {"pet_type": pet, "start_date": monday, "end_date": monday + dt.timedelta(days=1)}
        )
        if res.status is not OutcomeStatus.OK:
            continue
        q = res.data or {}
        parts.append(
            Part("price_answer", {"pet_type": Word(pet), "price": Money(int(q["total_minor"]), str(q["currency"]))})
        )
    return parts


async def _from_knowledge(engine: Engine, text: str, lang: str, state: DialogueState) -> list[Part]:
    kb = engine.knowledge
    hits: list[Any] = []
    if kb is not None:
        try:
            hits = await kb.search(text, lang, k=engine.config.knowledge.top_k)
        except Exception:
            log.exception("knowledge search failed")
            hits = []
    if not hits:
        if state.task is Task.NONE:
            state.awaiting = Awaiting.CALLBACK_OFFER
        return [Part("kb_none")]
    answer = await _llm_answer(engine, text, lang, hits)
    if answer is None:
        answer = extractive(hits[0].text)
    return [Part("kb_answer", {"answer": answer})]


async def _llm_answer(engine: Engine, text: str, lang: str, hits: list[Any]) -> str | None:
    und = engine.understanding
    if und.llm is None or und.llm_status != "ready":
        return None
    context = "\n---\n".join(h.text for h in hits)
    system = prompt("answer", lang).replace("{business}", engine.config.tenant.name).replace("{context}", context)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
    stream = streaming.current()
    try:
        if stream is not None:  # voice: speak each grounded sentence while the LLM goes on
            return await _streamed_answer(und.llm, messages, stream, context, lang, engine)
        out = await und.llm.chat(messages, max_tokens=160, timeout=engine.config.llm.timeout_s)
    except ApplianceError as exc:
        log.warning("LLM answer failed: %s", exc)
        und.mark_failed()
        return None
    return grounded_answer(out, context, lang, engine)


async def _streamed_answer(
    llm: Any, messages: list[dict[str, str]], stream: streaming.SpeechStream, context: str, lang: str, engine: Engine
) -> str | None:
    """The answer sentence by sentence into the speech stream; each sentence is checked like a
    whole answer, and the first that fails ends the answer (generation stops, the rest is dropped)."""
    accepted: list[str] = []

    def take(sentence: str) -> bool:
        total = sum(len(a) + 1 for a in accepted) + len(sentence)
        if total > MAX_ANSWER_CHARS or grounded_answer(sentence, context, lang, engine) is None:
            return False
        accepted.append(sentence)
        stream.say(speakable(sentence, lang), lang)  # as Renderer.part speaks it: digits as words
        return True

    tokens = llm.chat_stream(messages, max_tokens=160, timeout=engine.config.llm.timeout_s)
    try:
        async for token in tokens:
            if not all(take(sentence) for sentence in stream.feed(token)):
                stream.flush()
                return " ".join(accepted) or None
    finally:
        await tokens.aclose()
    all(take(sentence) for sentence in stream.flush())
    return " ".join(accepted) or None


def grounded_answer(out: str, context: str, lang: str, engine: Engine) -> str | None:
    """Accept a generated answer only if it is short, in the session language,
    and every number in it appears in the retrieved passages."""
    answer = (out or "").strip()
    if not answer or "NO_ANSWER" in answer or len(answer) > MAX_ANSWER_CHARS:
        return None
    if not set(_NUMBER.findall(answer)) <= set(_NUMBER.findall(context)):
        return None
    if not engine.identifier.is_language(answer, lang, confidence=engine.config.language.confidence):
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
