"""The one dialogue engine behind every channel.
(~500 lines: one turn's whole life in one class, by design, and its entry points (greet, an automatic callback); the decisions live in ``policy.py``,
``flows.py``, ``clarify.py`` and ``answers.py``.)

``Brain.handle(utterance) -> Reply``: load the session, decide the language,
understand (rules first, LLM proposals second and validated), let the
:class:`~appliance.brain.dialogue.policy.Dialogue` act through the tools, render the
reply per channel, and persist state and turns in one transaction. A restarted
daemon continues any conversation where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from appliance.brain.dialogue import resume
from appliance.brain.dialogue.policy import YES_NO, Dialogue, TurnOutput
from appliance.brain.dialogue.streaming import stream_handle
from appliance.brain.state import Awaiting, DialogueState, Task
from appliance.brain.text.render import Part, Renderer, quick_label, word
from appliance.brain.understanding import markup, safety
from appliance.brain.understanding.extract import Extraction, extract
from appliance.brain.understanding.language import LanguageTracker, identifier_for
from appliance.brain.understanding.proposal import Understanding
from appliance.core import metrics
from appliance.core.clock import Clock, local_today, system_clock
from appliance.core.config import Config
from appliance.core.messages import Channel, Event, EventType, Intent, QuickReply, Reply, ReplyChunk, Utterance
from appliance.core.ports import Chunker, SlowHook
from appliance.core.tickets import CallbackOutcome, CallbackTicket
from appliance.tools.context import CallbackSink, ToolContext
from appliance.tools.executor import SlowNotice, ToolExecutor, ToolResult

log = logging.getLogger(__name__)

EventSink = Callable[[Event], Any]


class Closable(Protocol):
    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BrainStatus:
    llm: str  # off / ready / unavailable
    knowledge: str  # off / fts / hybrid
    degraded: bool


class Brain:
    """One brain, many channels. It owns what ``build_brain`` opened for it (``resources``) and
    closes it in :meth:`aclose`."""

    def __init__(
        self,
        config: Config,
        *,
        sessions: Any,
        executor: ToolExecutor,
        backend: Any,
        callbacks: CallbackSink,
        understanding: Understanding | None = None,
        knowledge: Any = None,
        clock: Clock = system_clock,
        on_event: EventSink | None = None,
        resources: Closable | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.executor = executor
        self.backend = backend
        self.callbacks = callbacks
        self.understanding = understanding or Understanding(config, llm=None)
        self.knowledge = knowledge
        self.clock = clock
        self.on_event = on_event
        self.resources = resources
        rooms = {r.id: dict(r.name) for r in config.resources}
        by_pet: dict[str, str] = {}
        for r in config.resources:
            for p in r.pet_types:
                by_pet.setdefault(p, r.id)
        self.renderer = Renderer(
            config.tenant.name, rooms, by_pet, today=lambda: local_today(self.clock, config.tenant.tz)
        )
        self.identifier = identifier_for(tuple(config.tenant.languages))
        self._locks: dict[str, list[Any]] = {}  # session -> [lock, users]

    async def aclose(self) -> None:
        """Close what the factory opened for this brain (database, LLM, backend, knowledge base)."""
        if self.resources is not None:
            await self.resources.aclose()

    # ------------------------------------------------------------------ status

    @property
    def degraded(self) -> bool:
        return self.understanding.degraded

    def status(self) -> BrainStatus:
        kb = "off" if self.knowledge is None else getattr(self.knowledge, "mode", "fts")
        return BrainStatus(self.understanding.llm_status, kb, self.degraded)

    # ------------------------------------------------------------------ turns

    @contextlib.asynccontextmanager
    async def _session_lock(self, session_id: str) -> AsyncIterator[None]:
        """One turn at a time per session; the lock is dropped when nobody holds or awaits it,
        so a long-running appliance does not keep one per conversation it ever had."""
        entry = self._locks.get(session_id)
        if entry is None:
            entry = self._locks[session_id] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(session_id, None)

    @property
    def sessions_in_turn(self) -> int:
        """Sessions with a turn running or waiting (their per-session lock exists only then)."""
        return len(self._locks)

    async def handle(self, utt: Utterance, *, on_slow: SlowHook | None = None) -> Reply:
        """One turn. ``on_slow`` (voice): called with the session language when a tool is slow,
        so the call that waits says "one moment"; it is passed per call, never stored here."""
        async with self._session_lock(utt.session_id):
            return await self._handle(utt, on_slow)

    def handle_stream(
        self, utt: Utterance, chunker: Callable[[], Chunker], *, on_slow: SlowHook | None = None
    ) -> AsyncGenerator[ReplyChunk, None]:
        """Voice: the reply sentence by sentence as it is produced, then the whole reply
        (:mod:`appliance.brain.dialogue.streaming`; ``chunker`` makes the voice layer's sentence splitter)."""
        return stream_handle(functools.partial(self.handle, on_slow=on_slow), utt, chunker)

    async def greet(self, session_id: str, channel: Channel, *, caller_id: str | None = None) -> Reply:
        """The first words of a call or chat, in the tenant's default language."""
        async with self._session_lock(session_id):
            state = await self._load(session_id, channel)
            if caller_id:
                state.caller_id = caller_id
            state.greeted = True
            out = TurnOutput()
            if state.caller_id and channel is Channel.VOICE and not state.turns:
                await self._offer_resume(state, out)
            resumed = state.awaiting is Awaiting.RESUME_OFFER
            multilingual = (
                not resumed and self.config.tenant.greeting == "multilingual" and len(self.config.tenant.languages) > 1
            )
            if not resumed:
                out.say("greeting_intro" if multilingual else "greeting")
            reply = self._reply(state, out, Part("greeting"))
            if multilingual:
                reply = _multilingual(reply, self.config.tenant.languages)
            turn_id = await self._save(state, None, reply, channel)
            return dataclasses.replace(reply, turn_id=turn_id)

    async def _offer_resume(self, state: DialogueState, out: TurnOutput) -> None:
        """The same caller ID called within ``voice.resume_window_s`` and left a booking
        unfinished: take its task and slots over and offer to continue, in its language."""
        window = self.config.voice.resume_window_s
        if window <= 0 or state.caller_id is None:
            return
        since = self.clock() - dt.timedelta(seconds=window)
        prev = await self.sessions.latest_for_caller(
            state.caller_id, channel=state.channel, since=since, exclude=state.session_id
        )
        old = resume.state_of(prev)
        if old is None or not resume.unfinished_booking(old):
            return
        resume.take_over(state, old)
        state.awaiting = Awaiting.RESUME_OFFER
        out.parts.clear()  # "Hello, this is ..." without "How can I help you?"
        out.say("greeting_short")
        s = old.slots
        if s.pet_name and s.start_date and s.end_date:
            out.say("resume_offer", pet_name=s.pet_name, start=s.start_date, end=s.end_date)
        else:
            out.say("resume_offer_short")

    async def open_callback(self, session_id: str, ticket: CallbackTicket) -> Reply:
        """The first words of an automatic callback about ``ticket`` (``dialogue/resume.py``)."""
        async with self._session_lock(session_id):
            state = await self._load(session_id, Channel.VOICE)
            state.greeted = True
            old = resume.state_of(await self.sessions.get(ticket.session_id)) if ticket.session_id else None
            today = local_today(self.clock, self.config.tenant.tz)
            dialogue = Dialogue(self.config, self.tool_runner(state), self._answer)
            out = await resume.open_callback(state, old, ticket, dialogue, today)
            reply = self._reply(state, out)
            turn_id = await self._save(state, None, reply, Channel.VOICE)
            self._emit(state, reply, out)
            return dataclasses.replace(reply, turn_id=turn_id)

    async def callback_outcome(self, session_id: str) -> CallbackOutcome:
        """What an automatic callback's session came to (a booking, a no, or neither)."""
        state = resume.state_of(await self.sessions.get(session_id))
        if state is None:
            return CallbackOutcome(None, False, 0)
        return CallbackOutcome(state.last_booking_id, state.callback_declined, state.turns)

    async def record_timeline(self, turn_id: int, stages: dict[str, float], *, total_ms: float | None = None) -> None:
        """Voice: attach a turn's timeline (speech start ... playback end) to its stored reply."""
        await self.sessions.update_timeline(turn_id, stages, total_ms=total_ms)

    async def end_session(self, session_id: str) -> None:
        """A voice call ended: its end is recorded (``dialogue/cut_calls.py``: one without)."""
        await self.sessions.end_session(session_id)

    async def snapshot(self, session_id: str) -> dict[str, Any]:
        """Where a conversation stands (for a web page that reconnects)."""
        rec = await self.sessions.get(session_id)
        if rec is None or not rec.state:
            return {"language": self.config.tenant.default_language, "quick_replies": [], "awaiting": None, "slots": {}}
        state = DialogueState.from_dict(rec.state)
        return {
            "language": state.language,
            "quick_replies": [{"label": q.label, "value": q.value} for q in self._quick_replies(state, TurnOutput())],
            "awaiting": _public_awaiting(state.awaiting),
            "slots": state.slots.to_public(),
        }

    async def _handle(self, utt: Utterance, on_slow: SlowHook | None = None) -> Reply:
        started = time.perf_counter()
        channel = Channel(utt.channel)
        state = await self._load(utt.session_id, channel)
        if utt.caller_id and not state.caller_id:
            state.caller_id = utt.caller_id
        tracker = LanguageTracker.from_dict(
            state.language_state,
            self.config.tenant.languages,
            self.config.tenant.default_language,
            confidence=self.config.language.confidence,
            word_budget=self.config.language.word_budget,
            switch_min_words=self.config.language.switch_min_words,
            identifier=self.identifier,
        )
        text, problem = safety.clean(utt.text, self.config.web.max_message_chars)
        said = markup.plain(text) if problem is None else text  # pasted markup and code are not the message
        if problem is None and not said:
            problem = "empty"
        out = TurnOutput()
        if utt.dtmf:  # a keypad digit: no language evidence, no text to understand
            text, problem = f"[{utt.dtmf}]", "dtmf"
        if problem is None:
            decision = tracker.observe(said, utt.language_hint, utt.language_probability)
            if decision.language != state.language:
                metrics.LANGUAGE_SWITCHES.labels(state.language, decision.language).inc()
            state.language = decision.language
            state.language_state = tracker.to_dict()
        if problem == "dtmf":
            dialogue = Dialogue(self.config, self.tool_runner(state, on_slow), self._answer)
            out = await dialogue.keypad(state, utt.dtmf or "")
        elif problem == "too_long":
            out.say("input_too_long")
        elif problem == "empty":
            out.say("empty_input")
            self._reask(state, out)
        elif safety.is_injection(said):
            log.warning("session %s: prompt-injection attempt refused", utt.session_id)
            out.say("injection")
            self._reask(state, out)
        else:
            today = local_today(self.clock, self.config.tenant.tz)
            ex = await self.understanding.understand(said, state, today)
            dialogue = Dialogue(self.config, self.tool_runner(state, on_slow), self._answer)
            try:
                out = await dialogue.step(state, ex, said, today)
            except Exception:  # a bug must not lose the conversation: apologise, keep state
                log.exception("session %s: dialogue step failed", utt.session_id)
                out = TurnOutput()
                out.say("error")
                self._reask(state, out)
            if state.misunderstood >= 3 and state.task is not Task.CALLBACK:
                state.misunderstood = 0
                out.say("kb_none")
                state.awaiting = Awaiting.CALLBACK_OFFER
        if self.degraded and not state.degraded_noticed:
            out.parts.append(Part("degraded_notice", optional=True))
            state.degraded_noticed = True
        state.turns += 1
        reply = self._reply(state, out)
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.TURNS.labels(channel.value).inc()
        metrics.BRAIN_SECONDS.labels(channel.value).observe(elapsed_ms / 1000)
        turn_id = await self._save(
            state, utt, reply, channel, stored_text=text if problem != "too_long" else None, ms=elapsed_ms
        )
        reply = dataclasses.replace(reply, turn_id=turn_id)
        self._emit(state, reply, out, user_text=text if problem is None else None, ms=elapsed_ms)
        return reply

    # --------------------------------------------------------------- helpers

    def _reask(self, state: DialogueState, out: TurnOutput) -> None:
        """After an interruption (injection, empty input), repeat the pending question."""
        Dialogue(self.config, self.tool_runner(state), self._answer).ask_again(state, out)

    def tool_runner(self, state: DialogueState, on_slow: SlowHook | None = None) -> Any:
        async def run(name: str, args: dict[str, Any], *, idempotency_key: str | None = None) -> ToolResult:
            # Built per call: the slots (phone, name) may have changed earlier in this turn.
            session_id, channel = state.session_id, state.channel
            if idempotency_key and idempotency_key == state.commit_key and len(state.commit_origin) == 2:
                session_id, channel = state.commit_origin  # a callback replays the failed request as it was
            ctx = ToolContext(
                backend=self.backend,
                callbacks=self.callbacks,
                config=self.config,
                session_id=session_id,
                channel=channel,
                language=state.language,
                caller_id=state.slots.owner_phone or state.caller_id,
                caller_name=state.slots.owner_name,
            )

            async def slow(notice: SlowNotice) -> None:
                self._publish(
                    EventType.LOG, state.session_id, {"slow_tool": notice.tool, "elapsed_s": notice.elapsed_s}
                )
                if on_slow is not None:
                    await on_slow(state.language)

            return await self.executor.execute(name, args, ctx, idempotency_key=idempotency_key, on_slow=slow)

        return run

    async def _answer(self, text: str, lang: str, state: DialogueState) -> list[Part]:
        from appliance.brain.dialogue.answers import answer_question

        return await answer_question(self, text, lang, state)

    def _reply(self, state: DialogueState, out: TurnOutput, *extra: Part) -> Reply:
        parts = out.parts or list(extra)
        lang = state.language
        text, speakable, sms = self.renderer.render(parts, lang)
        return Reply(
            session_id=state.session_id,
            text=text,
            language=lang,
            speakable=speakable,
            sms=sms,
            quick_replies=tuple(self._quick_replies(state, out)),
            slots=state.slots.to_public(),
            awaiting=_public_awaiting(state.awaiting),
            intent=state.task.value if state.task is not Task.NONE else None,
            actions=tuple(out.actions),
            booking_id=out.booking_id,
            degraded=self.degraded,
            end_of_conversation=out.end,
            transfer_to=out.transfer_to,
            protected=any(p.protected for p in parts),
        )

    def _quick_replies(self, state: DialogueState, out: TurnOutput) -> list[QuickReply]:
        lang = state.language
        a = state.awaiting
        if a in YES_NO:
            return [
                QuickReply(quick_label(lang, "yes"), quick_label(lang, "yes")),
                QuickReply(quick_label(lang, "no"), quick_label(lang, "no")),
            ]
        if a is Awaiting.PET_TYPE:
            return [QuickReply(word(lang, p).capitalize(), word(lang, p)) for p in self.config.tenant.pet_types]
        if a is Awaiting.START_DATE:
            return [
                QuickReply(quick_label(lang, k), quick_label(lang, k))
                for k in ("tomorrow", "this_weekend", "next_week")
            ]
        if a is Awaiting.END_DATE:
            return [QuickReply(quick_label(lang, k), quick_label(lang, k)) for k in ("one_night", "one_week")]
        if a is Awaiting.ALTERNATIVE and state.alternatives:
            out_list = []
            for s, e in state.alternatives:
                sd, ed = dt.date.fromisoformat(s), dt.date.fromisoformat(e)
                label = f"{self.renderer.fact(sd, lang, False)} – {self.renderer.fact(ed, lang, False)}"
                out_list.append(QuickReply(label, f"{s}/{e}"))
            return out_list
        if a is None and state.task is Task.NONE:
            return [
                QuickReply(quick_label(lang, k), quick_label(lang, k)) for k in ("book", "hours", "prices", "human")
            ]
        return []

    async def _load(self, session_id: str, channel: Channel) -> DialogueState:
        rec = await self.sessions.get(session_id)
        if rec is not None and rec.state:
            try:
                return DialogueState.from_dict(rec.state)
            except (KeyError, TypeError, ValueError):
                log.exception("session %s: unreadable state, starting afresh", session_id)
        return DialogueState(session_id=session_id, channel=channel.value, language=self.config.tenant.default_language)

    async def _save(
        self,
        state: DialogueState,
        utt: Utterance | None,
        reply: Reply,
        channel: Channel,
        *,
        stored_text: str | None = None,
        ms: float | None = None,
    ) -> int:
        user_text = None
        if utt is not None:
            user_text = stored_text if stored_text is not None else safety.truncated_for_log(utt.text)
        return await self.sessions.save_turn(
            state.session_id,
            state.to_dict(),
            channel=channel.value,
            language=state.language,
            user_text=user_text,
            reply_text=reply.text,
            total_ms=ms,
            ended=state.ended,
        )

    def _emit(
        self, state: DialogueState, reply: Reply, out: TurnOutput, *, user_text: str | None = None, ms: float = 0.0
    ) -> None:
        for action in out.actions:  # counted whether or not anyone listens to the events
            if action.status == "ok" and action.tool in ("create_booking", "cancel_booking", "change_booking"):
                metrics.BOOKINGS.labels(action.tool.removesuffix("_booking")).inc()
        if self.on_event is None:
            return
        turn = {
            "text": reply.text,
            "language": reply.language,
            "user": user_text,
            "ms": round(ms, 1),
            "channel": state.channel,
            "caller_id": state.caller_id,
            "degraded": reply.degraded,
            "ended": reply.end_of_conversation,
        }
        self._publish(EventType.TURN, state.session_id, turn)
        self._publish(EventType.SLOTS, state.session_id, {"slots": reply.slots, "awaiting": reply.awaiting})
        for action in out.actions:
            self._publish(
                EventType.TOOL_ACTION,
                state.session_id,
                {"tool": action.tool, "status": str(action.status), "error_code": action.error_code,
                 "ms": round(action.duration_ms, 1), "booking_id": (action.result or {}).get("id")},
            )  # fmt: skip
            if action.tool == "create_booking" and action.status == "ok":
                held = (action.result or {}).get("status") == "held"
                kind = EventType.BOOKING_HELD if held else EventType.BOOKING_CREATED
                self._publish(kind, state.session_id, dict(action.result or {}))
            elif action.tool == "cancel_booking" and action.status == "ok":
                self._publish(EventType.BOOKING_CANCELLED, state.session_id, dict(action.result or {}))
            elif action.tool == "change_booking" and action.status == "ok":
                self._publish(EventType.BOOKING_CHANGED, state.session_id, dict(action.result or {}))
            elif action.tool == "request_callback" or action.status == "fallback":
                self._publish(EventType.CALLBACK_REQUESTED, state.session_id, dict(action.result or {}))
        if reply.transfer_to:
            self._publish(EventType.TRANSFER, state.session_id, {"to": reply.transfer_to})

    def _publish(self, type_: EventType, session_id: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            try:
                self.on_event(Event(type_, data, session_id))
            except Exception:  # a broken listener must not break the conversation
                log.exception("event listener failed")


def _multilingual(reply: Reply, languages: list[str]) -> Reply:
    """ "Hello! Tere! Здравствуйте!" before the default language's introduction; each hello is
    spoken in its own language (``Reply.spoken_parts``)."""
    from appliance.brain.text.render import template

    hellos = tuple((template(lang, "hello"), lang) for lang in languages)
    prefix = " ".join(text for text, _ in hellos)
    speakable = reply.speakable or reply.text
    return dataclasses.replace(
        reply,
        text=f"{prefix} {reply.text}",
        speakable=f"{prefix} {speakable}",
        spoken_parts=(*hellos, (speakable, reply.language)),
    )


def _public_awaiting(a: Awaiting | None) -> str | None:
    """What the CLI/web report: a slot name, 'confirmation', or null."""
    if a is None:
        return None
    if a in (Awaiting.CONFIRMATION, Awaiting.CANCEL_CONFIRMATION, Awaiting.CHANGE_CONFIRMATION):
        return "confirmation"
    if a is Awaiting.CALLER_ID:
        return "owner_phone"
    if a in (Awaiting.CALLBACK_OFFER, Awaiting.YEAR_CONFIRMATION):
        return "confirmation"
    if a is Awaiting.CHANGE_DATES:
        return "start_date"
    return a.value


__all__ = ["Brain", "BrainStatus", "Extraction", "Intent", "extract"]
