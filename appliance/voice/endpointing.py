"""Semantic end of turn: does a (speculative) transcript look like a finished turn?

Pure and table-tested (``tests/unit/test_turn_complete.py``). The voice input processor runs
STT speculatively a moment into the caller's silence; when the transcript looks complete the
turn ends after a short silence, otherwise after the normal one. So this function only decides
*how long to wait*, never what was said: a wrong "complete" costs a turn cut at a pause, a
wrong "unfinished" costs the normal wait (the old behaviour).

Rules, in order (word lists for en/et/ru, all applied whatever the language):

1. empty                                          -> unfinished (nothing to answer yet)
2. ends with a comma, hyphen, dash, colon, "..."  -> unfinished
3. last word is a continuation word or a filler   -> unfinished (STT puts a full stop after
   "and ..." too)
4. only greeting or addressing words ("Hello", "Tere", "Здравствуйте", "Good morning", "Excuse
   me") and no question mark                     -> unfinished: callers pause after a greeting
   before the request ("Здравствуйте, | хочу забронировать ..."), and Whisper writes "Tere."
   or "Здравствуйте." at that pause as often as a comma (the trained test model does, on the
   first word of "Tere, sooviks ..."); cutting it into a turn of its own answers the greeting,
   and a one-word turn cannot switch the reply language. A greeting alone costs only the normal
   wait. "Hello?" / "Алло?" (is anyone there?) is a whole turn (rule 5)
4b. the start of a phone number: fewer than 7 digits (as digits or digit words) when the
   brain awaits a phone number, or fewer than 10 after a "+" (a country code and 7)
                                                  -> unfinished: callers (and espeak) pause
   between digit groups ("+372 | 5123 | 4567", "five one two three | four five ...")
5. a short reply: yes/no, thanks, a greeting or goodbye, a number   -> complete
6. ends with ? or !                               -> complete
7. one to three words when the brain awaits a slot (a name, a pet type, a date, a phone
   number, a booking id)                          -> statement ("Max", but "My dog" may go on)
8. one or two words and a full stop               -> unfinished: Whisper puts a full stop after
   the first words of a sentence when the caller takes a breath ("Sooviksin." | "broneerida
   toa ...", "Собака останется." | "с понедельника ..."); short replies that are whole turns
   are caught by rules 5 and 7
9. ends with a full stop                          -> statement: probably complete, but Whisper
   writes a full stop after a fragment too ("I would like to book a room for my dog next."
   at a gap between words), so the segmenter waits a little longer for it
   (``TurnSegmenter`` ``statement_silence_s``) than for a question or a short reply
10. otherwise                                     -> unfinished (Whisper punctuates finished
   sentences, so an unpunctuated long sentence is more likely cut off mid-way)

:func:`turn_verdict` gives the three-way answer; :func:`turn_complete` is "not unfinished".
"""

from __future__ import annotations

import enum
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
    "en": frozenset(
        "yes yeah yep no nope ok okay sure correct right thanks thank you please fine great exactly "
        "hello hi hey bye goodbye".split()
    ),
    "et": frozenset(
        "jah jaa jajah ei ok okei selge sobib õige aitäh tänan palun täpselt muidugi tere tervist head aega "
        "nägemist".split()
    ),
    "ru": frozenset(
        "да нет ага ок окей конечно хорошо верно правильно спасибо пожалуйста точно ладно привет здравствуйте "
        "алло до свидания".split()
    ),
}
# Greetings and ways of addressing someone: alone, with anything but a question mark, they open a
# turn rather than make one (rule 4). Whole phrases are listed; a transcript qualifies when its
# words are a run of them ("Hi there", "Tere hommikust", "Алло, здравствуйте"), so "Good." is not.
GREETINGS: dict[str, frozenset[str]] = {
    "en": frozenset(
        ("hello", "hi", "hey", "hiya", "hi there", "hello there", "good morning", "good afternoon", "good evening",
         "good day", "excuse me", "sorry")
    ),
    "et": frozenset(
        ("tere", "tervist", "tsau", "tšau", "hei", "tere hommikust", "tere päevast", "tere õhtust", "head päeva",
         "hommikust", "vabandage", "vabandust")
    ),
    "ru": frozenset(
        ("здравствуйте", "здравствуй", "привет", "алло", "добрый день", "доброе утро", "добрый вечер", "доброго дня",
         "извините", "простите")
    ),
}  # fmt: skip
# slots whose answer is a short phrase (Reply.awaiting values, see brain.dialogue.brain._public_awaiting)
SHORT_SLOTS = frozenset(
    "pet_name owner_name pet_type start_date end_date owner_phone callback_phone booking_id confirmation "
    "alternative".split()
)
PHONE_SLOTS = frozenset(("owner_phone", "callback_phone"))
MIN_PHONE_DIGITS = 7  # a local number; "5123" is only its start (rule 4b)
MIN_INTERNATIONAL_DIGITS = 10  # a country code and a local number: "+372 5123" is only a start
DIGIT_WORDS = frozenset(
    "zero oh one two three four five six seven eight nine "
    "null üks kaks kolm neli viis kuus seitse kaheksa üheksa "
    "ноль один два три четыре пять шесть семь восемь девять".split()
)
# a statement of this many words or fewer is taken for the start of a sentence (rule 8)
MAX_FRAGMENT_WORDS = 2
# Continuation words and fillers are checked in all three languages at once: Whisper's language
# guess can be wrong on a short fragment, and an extra "unfinished" only costs the normal wait.
_NOT_DONE = frozenset().union(*CONTINUATION.values(), *FILLERS.values())
_SHORT = frozenset().union(*SHORT_ANSWERS.values())
_GREETING_PHRASES = frozenset(tuple(p.split()) for phrases in GREETINGS.values() for p in phrases)
_LONGEST_GREETING = max(len(p) for p in _GREETING_PHRASES)
_ASKS = re.compile(r"[?？][!！]?$")
_UNFINISHED_END = re.compile(r"(,|;|:|-|–|—|\.\.\.|…)$")
_STRONG_END = re.compile(r"[?!？！]$")
_STATEMENT_END = re.compile(r"[.。]$")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"^\+?\d[\d\s./:-]*$")


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


class TurnVerdict(enum.StrEnum):
    UNFINISHED = "unfinished"  # wait the normal end-of-turn silence
    STATEMENT = "statement"  # ends with a full stop: complete unless Whisper punctuated a fragment
    COMPLETE = "complete"  # a question, an exclamation, a short answer, a number, an awaited slot


def turn_verdict(text: str, language: str | None, awaiting: str | None = None) -> TurnVerdict:
    """How finished ``text`` (a transcript of the caller's speech so far) looks; see the module
    docstring for the rules. ``language`` is kept for future per-language rules (the word lists
    of all three languages apply, see ``_NOT_DONE``); ``awaiting`` is the slot the brain asked
    for in its previous reply (``Reply.awaiting``): a short answer to it ("Max", "Tamm",
    "the 12th") is complete without punctuation."""
    stripped = text.strip().strip("\"'«»“”")
    if not stripped or _UNFINISHED_END.search(stripped):
        return TurnVerdict.UNFINISHED
    words = _words(stripped)
    if not words or words[-1] in _NOT_DONE:
        return TurnVerdict.UNFINISHED
    if not _ASKS.search(stripped.rstrip()) and _only_greetings(words):
        return TurnVerdict.UNFINISHED  # "Здравствуйте." at the pause before the request (rule 4)
    bare = stripped.rstrip(".!?。？！ ")
    if _phone_start(bare, words, awaiting):
        return TurnVerdict.UNFINISHED
    if _NUMBER.match(bare) or (len(words) <= 3 and all(w in _SHORT for w in words)):
        return TurnVerdict.COMPLETE
    if _STRONG_END.search(stripped):
        return TurnVerdict.COMPLETE
    if awaiting in SHORT_SLOTS and len(words) <= 3:
        # "Max" is the answer to "what is your dog's name?", but so is the start of "My dog | is
        # called Max": as good as a statement, not as sure as a yes or a number
        return TurnVerdict.STATEMENT
    if _STATEMENT_END.search(stripped):
        return TurnVerdict.STATEMENT if len(words) > MAX_FRAGMENT_WORDS else TurnVerdict.UNFINISHED
    return TurnVerdict.UNFINISHED


def _only_greetings(words: list[str]) -> bool:
    """Rule 4: the words are one greeting phrase after another ("алло здравствуйте")."""
    ok = [True] + [False] * len(words)  # ok[i]: words[:i] is a run of greeting phrases
    for i in range(1, len(words) + 1):
        ok[i] = any(
            ok[i - n] and tuple(words[i - n : i]) in _GREETING_PHRASES for n in range(1, min(i, _LONGEST_GREETING) + 1)
        )
    return bool(words) and ok[-1]


def _phone_start(bare: str, words: list[str], awaiting: str | None) -> bool:
    """Rule 4b: only digits so far, too few for a phone number, and one is expected."""
    if _NUMBER.match(bare):
        digits = sum(c.isdigit() for c in bare)
        if bare.startswith("+"):
            return digits < MIN_INTERNATIONAL_DIGITS
        return digits < MIN_PHONE_DIGITS and awaiting in PHONE_SLOTS
    if awaiting in PHONE_SLOTS and all(w in DIGIT_WORDS or w.isdigit() for w in words):
        return sum(len(w) if w.isdigit() else 1 for w in words) < MIN_PHONE_DIGITS
    return False


def turn_complete(text: str, language: str | None, awaiting: str | None = None) -> bool:
    """True when ``text`` looks like a finished turn (a statement or better, :func:`turn_verdict`)."""
    return turn_verdict(text, language, awaiting) is not TurnVerdict.UNFINISHED
