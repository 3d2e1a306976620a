"""Semantic end of turn: does a (speculative) transcript look like a finished turn?

Pure and table-tested (``tests/unit/test_turn_complete.py``). The voice input processor runs
STT speculatively a moment into the caller's silence; when the transcript looks complete the
turn ends after a short silence, otherwise after the normal one. So this function only decides
*how long to wait*, never what was said: a wrong "complete" costs a turn cut at a pause, a
wrong "unfinished" costs the normal wait (the old behaviour).

Rules, in order (word lists for en/et/ru, all applied whatever the language):

1. empty                                          -> unfinished (nothing to answer yet)
2. ends with a comma, hyphen, dash, colon, "..."  -> unfinished
3. ends with terminal punctuation (. ? !)         -> complete, unless the last word is a
   continuation word or a filler (STT puts a full stop after "and ..." too)
4. last word is a continuation word or a filler   -> unfinished
5. a short answer: yes/no words, a number, one to three words when the brain awaits a slot
   (a name, a pet type, a date, a phone number, a booking id)   -> complete
6. otherwise                                      -> unfinished (Whisper punctuates finished
   sentences, so an unpunctuated long sentence is more likely cut off mid-way)
"""

from __future__ import annotations

import re

CONTINUATION: dict[str, frozenset[str]] = {
    "en": frozenset(
        "and or but for to the a an my your our with from until till because of in on at "
        "than that which who if so as about into like".split()
    ),
    "et": frozenset("ja või aga et kui ning mu minu kuni alates sest ehk nagu ka siis oma meie teie".split()),
    "ru": frozenset(
        "и или но для на в во с со до мой моя моего моей моё мои потому что а к по от из за чтобы "
        "если как у о об".split()
    ),
}
FILLERS: dict[str, frozenset[str]] = {
    "en": frozenset("um umm uh uhh er erm hmm hm mm".split()),
    "et": frozenset("öö ööö ee eee mm hmm".split()),
    "ru": frozenset("ээ эээ эм мм ммм хм".split()),
}
SHORT_ANSWERS: dict[str, frozenset[str]] = {
    "en": frozenset("yes yeah yep no nope ok okay sure correct right thanks please fine great exactly".split()),
    "et": frozenset("jah jaa jajah ei ok okei selge sobib õige aitäh tänan palun täpselt muidugi".split()),
    "ru": frozenset("да нет ага ок окей конечно хорошо верно правильно спасибо пожалуйста точно ладно".split()),
}
# slots whose answer is a short phrase (Reply.awaiting values, see brain.engine._public_awaiting)
SHORT_SLOTS = frozenset(
    "pet_name owner_name pet_type start_date end_date owner_phone callback_phone booking_id confirmation "
    "alternative".split()
)
# Continuation words and fillers are checked in all three languages at once: Whisper's language
# guess can be wrong on a short fragment, and an extra "unfinished" only costs the normal wait.
_NOT_DONE = frozenset().union(*CONTINUATION.values(), *FILLERS.values())
_SHORT = frozenset().union(*SHORT_ANSWERS.values())
_UNFINISHED_END = re.compile(r"(,|;|:|-|–|—|\.\.\.|…)$")
_TERMINAL_END = re.compile(r"[.?!。？！]$")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"^\+?\d[\d\s./:-]*$")


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def turn_complete(text: str, language: str | None, awaiting: str | None = None) -> bool:
    """True when ``text`` (a transcript of the caller's speech so far) looks like a finished turn.

    ``language``: the transcript's language (kept for the signature and future per-language rules;
    the word lists of all three languages apply, see ``_NOT_DONE``).
    ``awaiting``: the slot the brain asked for in its previous reply (``Reply.awaiting``); a
    short answer to it ("Max", "Tamm", "the 12th") is complete without punctuation."""
    stripped = text.strip().strip("\"'«»“”")
    if not stripped:
        return False
    if _UNFINISHED_END.search(stripped):
        return False
    words = _words(stripped)
    if not words:
        return False
    if words[-1] in _NOT_DONE:
        return False
    if _TERMINAL_END.search(stripped):
        return True
    if _NUMBER.match(stripped):
        return True
    if len(words) <= 3 and all(w in _SHORT for w in words):
        return True
    return awaiting in SHORT_SLOTS and len(words) <= 3
