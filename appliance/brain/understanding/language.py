"""Language identification and per-session language tracking.

Evidence, cheapest first (see ``docs/LANGUAGE.md`` for the rules and numbers):

1. script: Cyrillic letters are decisive for Russian when it is the only
   configured Cyrillic language;
2. tiny lexicons of very common words per built-in language (plus ``õ`` for
   Estonian) - decisive when they all point one way;
3. lingua (``lingua-language-detector``) restricted to the configured
   languages, with the lexicon hits folded in as a bias;
4. an optional speech-recognition hint (Whisper's language + probability),
   weighted, never trusted blindly.

:class:`LanguageTracker` is a small state machine on top: it buffers words
until it is confident, then keeps the session language and only switches on a
confident utterance with enough real content (or an explicit request such as
"по-русски, пожалуйста"). Short tokens ("OK", "jah", "Max", "12") never flip a
decided session. Its state is plain data (``to_dict``/``from_dict``).
"""

from __future__ import annotations

import enum
import math
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.core.errors import ConfigError, EngineUnavailable

BUILTIN_LANGUAGES: tuple[str, ...] = ("en", "et", "ru")
CYRILLIC_LANGUAGES = frozenset({"ru", "uk", "be", "bg", "mk", "sr", "kk", "mn"})
_INSTALL_HINT = "pip install lingua-language-detector==2.1.1"


class UnsupportedLanguage(ConfigError, ValueError):
    """A configured language code that lingua cannot detect (or is not ISO 639-1)."""

    code = "unsupported_language"


class Reason(enum.StrEnum):
    DEFAULT = "default"  # no usable evidence yet: tenant default
    GUESS = "guess"  # undecided: best guess so far
    GREETING = "greeting"  # a strong single-word cue decided the first language
    SCRIPT = "script"  # decided by the writing system
    KEYWORD = "keyword"  # decided by the common-word lexicons
    DETECTOR = "detector"  # decided by lingua (+ lexicon bias, + hint)
    BUDGET = "budget"  # word budget ran out: best guess taken
    KEPT = "kept"  # decided; this utterance did not argue for a switch
    SHORT = "short"  # decided; too little content to switch on
    SWITCHED = "switched"  # confident utterance in another language
    REQUESTED = "requested"  # the caller asked for another language by name


@dataclass(frozen=True, slots=True)
class LanguageDecision:
    language: str
    confidence: float
    decided: bool
    switched: bool
    reason: str


# --- lexicons -------------------------------------------------------------------

# Very common words that are (nearly) unique to one of the built-in languages.
# Words shared between English and Estonian ("on", "see", "me", "all", "just") are left out.
_LEXICON: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the is and i you my want need please a to for have do can would like with it this what how when are "
        "we book booking room dog cat night nights hello hi hey thanks thank yes your our i'd i'm don't "
        "could there".split()
    ),
    "et": frozenset(
        "ja on ma mul soovin tahan palun kas ei jah tere ning mis kus kui mina teil teie sa te ta oma koer koera "
        "koerale kass kassi kassile tuba toa aitäh tänan broneerida broneering broneeringu ööd ööks homme täna "
        "vaba hind maksab kuni alates tahaks tahaksin sooviksin saab saaks või aga ka siis nüüd tervist "
        "hommikust päevast õhtust halloo tšau".split()
    ),
    "ru": frozenset(
        "я мне хочу нужно пожалуйста да нет и в на с здравствуйте привет спасибо номер собака кошка "
        "забронировать бронь сколько".split()
    ),
}

# Single words that may decide the *first* language of a session on their own.
_CUES: dict[str, frozenset[str]] = {
    "en": frozenset("hello hi hey yes please thanks morning afternoon evening".split()),
    "et": frozenset("tere tervist jah palun aitäh tänan hommikust päevast õhtust halloo tšau tsau".split()),
    "ru": frozenset(),  # any Cyrillic word is a cue for Russian (script)
}

# Tokens that carry no language information.
_NEUTRAL = frozenset("ok okay okey okei ок окей hmm hm mhm aha ah oh eh uh um ммм хм ага mm".split())

# "please speak X": the caller names the language they want.
_REQUESTS: dict[str, re.Pattern[str]] = {
    "en": re.compile(r"\b(in english|speak english|english,? please|inglise keeles|по-английски|на английском)\b"),
    "et": re.compile(r"\b(in estonian|speak estonian|eesti keeles|räägi(?:te)? eesti|по-эстонски|на эстонском)\b"),
    "ru": re.compile(r"(in russian|speak russian|vene keeles|räägi(?:te)? vene|по-русски|на русском)"),
}

_TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_CYRILLIC_RE = re.compile(r"[\u0400-\u04ff]")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")
_ESTONIAN_O = "õ"


# --- lingua ---------------------------------------------------------------------

_DETECTORS: dict[frozenset[str], Any] = {}
_LOCK = threading.Lock()


def _lingua() -> Any:
    try:
        import lingua
    except ImportError as exc:  # pragma: no cover - lingua is a declared dependency
        raise EngineUnavailable("language detection needs lingua", install_hint=_INSTALL_HINT) from exc
    return lingua


def validate_languages(languages: Iterable[str]) -> tuple[str, ...]:
    """Check every code is ISO 639-1 and known to lingua; return them in order, deduplicated."""
    lingua = _lingua()
    out: list[str] = []
    for code in languages:
        try:
            if not isinstance(code, str) or not re.fullmatch(r"[a-z]{2}", code):
                raise ValueError(code)
            lingua.Language.from_iso_code_639_1(lingua.IsoCode639_1.from_str(code))
        except (ValueError, AttributeError, TypeError):
            raise UnsupportedLanguage(
                f"language {code!r} is not an ISO 639-1 code the language detector supports", key="tenant.languages"
            ) from None
        if code not in out:
            out.append(code)
    if not out:
        raise UnsupportedLanguage("at least one language must be configured", key="tenant.languages")
    return tuple(out)


def get_detector(languages: Iterable[str]) -> Any:
    """The lingua detector for this language set, built once (with preloaded models) and cached.

    Building and preloading takes ~0.2 s for three languages: call :func:`warm_up` from a thread at
    startup so the first turn does not pay for it on the event loop.
    """
    key = frozenset(validate_languages(languages))
    det = _DETECTORS.get(key)
    if det is not None:
        return det
    with _LOCK:
        det = _DETECTORS.get(key)
        if det is None:
            lingua = _lingua()
            langs = [lingua.Language.from_iso_code_639_1(lingua.IsoCode639_1.from_str(c)) for c in sorted(key)]
            builder = lingua.LanguageDetectorBuilder.from_languages(*langs) if len(langs) > 1 else None
            if builder is None:  # lingua needs two languages; a single-language tenant never needs detection
                builder = lingua.LanguageDetectorBuilder.from_languages(langs[0], lingua.Language.ENGLISH)
            det = builder.with_preloaded_language_models().build()
            _DETECTORS[key] = det
    return det


def warm_up(languages: Iterable[str] = BUILTIN_LANGUAGES) -> None:
    """Build and cache the detector (blocking; run it in a thread)."""
    get_detector(languages)


# --- evidence -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evidence:
    scores: tuple[tuple[str, float], ...]  # best first, sums to ~1; empty when there is no evidence
    content_words: int
    source: Reason  # script / keyword / detector / default
    cue: str | None = None  # a language this text strongly signals even when it is very short

    @property
    def top(self) -> tuple[str | None, float]:
        return self.scores[0] if self.scores else (None, 0.0)


def _normalise(scores: dict[str, float]) -> tuple[tuple[str, float], ...]:
    total = sum(scores.values())
    if total <= 0:
        return ()
    return tuple(sorted(((k, v / total) for k, v in scores.items()), key=lambda kv: -kv[1]))


class LanguageIdentifier:
    """Stateless evidence gathering for one configured language set."""

    def __init__(self, languages: Sequence[str], *, detector: Any = None, hint_weight: float = 2.0) -> None:
        self.languages = validate_languages(languages)
        self._detector = detector
        self.hint_weight = hint_weight
        self._cyrillic = [c for c in self.languages if c in CYRILLIC_LANGUAGES]

    @property
    def detector(self) -> Any:
        if self._detector is None:
            self._detector = get_detector(self.languages)
        return self._detector

    def _lingua_scores(self, text: str) -> dict[str, float]:
        values = self.detector.compute_language_confidence_values(text)
        out = {c: 0.0 for c in self.languages}
        for v in values:
            code = v.language.iso_code_639_1.name.lower()
            if code in out:
                out[code] = float(v.value)
        return out

    def evidence(self, text: str, hint: str | None = None, hint_probability: float | None = None) -> Evidence:
        lowered = text.lower()
        tokens = _TOKEN_RE.findall(lowered)
        content = [t for t in tokens if t not in _NEUTRAL]
        ev = self._text_evidence(lowered, content)
        return self._apply_hint(ev, hint, hint_probability)

    def _text_evidence(self, lowered: str, content: list[str]) -> Evidence:
        n = len(content)
        if n == 0:
            return Evidence((), 0, Reason.DEFAULT)
        cyr = len(_CYRILLIC_RE.findall(lowered))
        lat = len(_LATIN_RE.findall(lowered))
        if cyr and cyr >= lat and len(self._cyrillic) == 1:
            lang = self._cyrillic[0]
            conf = min(0.99, 0.5 + 0.5 * cyr / (cyr + lat))
            rest = {c: (1 - conf) / max(1, len(self.languages) - 1) for c in self.languages if c != lang}
            return Evidence(_normalise({lang: conf, **rest}), n, Reason.SCRIPT, cue=lang)
        hits = {c: sum(1 for t in content if t in _LEXICON.get(c, ())) for c in self.languages}
        if "et" in hits and _ESTONIAN_O in lowered:
            hits["et"] += 1
        if cyr == 0:  # Latin text: Cyrillic-only languages get no lexicon credit
            for c in self._cyrillic:
                hits[c] = 0
        cue = None
        if n <= 2:
            cued = {c for c in self.languages if any(t in _CUES.get(c, ()) for t in content)}
            others = {c for c in self.languages if c not in cued and hits[c]}
            if len(cued) == 1 and not others:
                cue = next(iter(cued))
        hit_langs = [c for c, h in hits.items() if h]
        if len(hit_langs) == 1 and hits[hit_langs[0]] >= 2 and hits[hit_langs[0]] * 2 >= n:
            lang = hit_langs[0]
            rest = {c: 0.05 / max(1, len(self.languages) - 1) for c in self.languages if c != lang}
            return Evidence(_normalise({lang: 0.95, **rest}), n, Reason.KEYWORD, cue=cue)
        probs = self._lingua_scores(" ".join(content))
        # Log-linear blend: each lexicon hit multiplies the odds by e^1.5.
        logits = {c: math.log(probs.get(c, 0.0) + 1e-3) + 1.5 * hits[c] for c in self.languages}
        m = max(logits.values())
        return Evidence(_normalise({c: math.exp(v - m) for c, v in logits.items()}), n, Reason.DETECTOR, cue=cue)

    def _apply_hint(self, ev: Evidence, hint: str | None, probability: float | None) -> Evidence:
        """Fold in a speech-recognition hint: ignored when unsure or not configured; never decisive alone."""
        if not hint or hint not in self.languages or probability is None or probability < 0.5 or not ev.scores:
            return ev
        scores = dict(ev.scores)
        scores[hint] = scores.get(hint, 0.0) * (1.0 + self.hint_weight * probability)
        return Evidence(_normalise(scores), ev.content_words, ev.source, ev.cue)

    def detect(self, text: str) -> list[tuple[str, float]]:
        """Configured languages with confidences, best first (empty when the text has no words)."""
        return [(c, round(p, 4)) for c, p in self.evidence(text).scores]

    def requested(self, text: str) -> str | None:
        """A configured language the caller explicitly asks for ("in English, please"), if any."""
        lowered = text.lower()
        found = [c for c in self.languages if c in _REQUESTS and _REQUESTS[c].search(lowered)]
        return found[0] if len(found) == 1 else None

    def is_language(self, text: str, lang: str, *, confidence: float = 0.85) -> bool:
        """False when ``text`` is confidently another configured language (used to vet replies).

        Texts with fewer than two words of content (names, numbers, "OK") pass.
        """
        ev = self.evidence(text)
        top, conf = ev.top
        if top is None or top == lang or ev.content_words < 2:
            return True
        return conf < confidence


# --- tracker --------------------------------------------------------------------


class LanguageTracker:
    """Per-session language state machine (see the module docstring and docs/LANGUAGE.md)."""

    BUFFER_CHARS = 600

    def __init__(
        self,
        languages: Sequence[str],
        default: str,
        *,
        confidence: float = 0.85,
        word_budget: int = 8,
        switch_min_words: int = 3,
        detector: Any = None,
        identifier: LanguageIdentifier | None = None,
    ) -> None:
        self.identifier = identifier or LanguageIdentifier(languages, detector=detector)
        self.languages = self.identifier.languages
        if default not in self.languages:
            raise UnsupportedLanguage(f"default language {default!r} is not configured", key="tenant.default_language")
        self.default = default
        self.confidence = confidence
        self.word_budget = word_budget
        self.switch_min_words = switch_min_words
        self.language = default
        self.decided = len(self.languages) == 1
        self.last_confidence = 1.0 if self.decided else 0.0
        self.switches = 0
        self._buffer = ""
        self._words = 0

    # convenience pass-throughs
    def detect(self, text: str) -> list[tuple[str, float]]:
        return self.identifier.detect(text)

    def is_language(self, text: str, lang: str | None = None) -> bool:
        return self.identifier.is_language(text, lang or self.language, confidence=self.confidence)

    def _decision(self, conf: float, switched: bool, reason: str) -> LanguageDecision:
        self.last_confidence = conf
        return LanguageDecision(self.language, round(conf, 4), self.decided, switched, str(reason))

    def observe(self, text: str, hint: str | None = None, hint_probability: float | None = None) -> LanguageDecision:
        """Update the session language with one user utterance and say which language to reply in."""
        if len(self.languages) == 1:
            return self._decision(1.0, False, Reason.KEPT)
        if not self.decided:
            return self._observe_undecided(text, hint, hint_probability)
        return self._observe_decided(text, hint, hint_probability)

    def _observe_undecided(self, text: str, hint: str | None, hint_p: float | None) -> LanguageDecision:
        ident = self.identifier
        own = ident.evidence(text, hint, hint_p)
        self._buffer = (self._buffer + " " + text).strip()[-self.BUFFER_CHARS :]
        self._words += own.content_words
        ev = ident.evidence(self._buffer, hint, hint_p) if self._words else own
        top, conf = ev.top
        asked = ident.requested(text)
        if asked:
            self.language, self.decided, reason, conf = asked, True, Reason.REQUESTED, max(conf, self.confidence)
        elif own.cue and (top == own.cue or self._words <= 2):
            # A lone greeting ("Tere", "Здравствуйте") sets the first language.
            self.language, self.decided = own.cue, True
            reason = Reason.SCRIPT if own.source == Reason.SCRIPT else Reason.GREETING
            conf = max(conf if top == own.cue else 0.0, self.confidence)
        elif top is not None and conf >= self.confidence and self._words >= 2:
            self.language, self.decided, reason = top, True, ev.source
        elif self._words >= self.word_budget:
            self.language, self.decided, reason = top or self.default, True, Reason.BUDGET
        elif top is not None and self._words >= 2:
            self.language, reason = top, Reason.GUESS
        else:
            self.language, reason, conf = self.default, Reason.DEFAULT, 0.0
        if self.decided:
            self._buffer, self._words = "", 0
        return self._decision(conf, False, reason)

    def _observe_decided(self, text: str, hint: str | None, hint_p: float | None) -> LanguageDecision:
        ident = self.identifier
        asked = ident.requested(text)
        if asked and asked != self.language:
            self.language = asked
            self.switches += 1
            return self._decision(self.confidence, True, Reason.REQUESTED)
        tokens = [t for t in _TOKEN_RE.findall(text.lower()) if t not in _NEUTRAL]
        if len(tokens) < self.switch_min_words:
            return self._decision(self.last_confidence, False, Reason.SHORT)
        ev = ident.evidence(text, hint, hint_p)
        top, conf = ev.top
        if top is not None and top != self.language and conf >= self.confidence:
            self.language = top
            self.switches += 1
            return self._decision(conf, True, Reason.SWITCHED)
        own = dict(ev.scores).get(self.language, conf)
        return self._decision(own, False, Reason.KEPT)

    # --- persistence -----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "language": self.language,
            "decided": self.decided,
            "confidence": self.last_confidence,
            "switches": self.switches,
            "buffer": self._buffer,
            "words": self._words,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], languages: Sequence[str], default: str, **kwargs: Any) -> LanguageTracker:
        """Restore a tracker; state naming a language no longer configured starts afresh."""
        tracker = cls(languages, default, **kwargs)
        lang = data.get("language")
        if data.get("version") != 1 or lang not in tracker.languages:
            return tracker
        tracker.language = lang
        tracker.decided = bool(data.get("decided")) or tracker.decided
        tracker.last_confidence = float(data.get("confidence", 0.0))
        tracker.switches = int(data.get("switches", 0))
        tracker._buffer = str(data.get("buffer", ""))[-cls.BUFFER_CHARS :]
        tracker._words = int(data.get("words", 0))
        return tracker


# --- module-level helpers (built-in languages unless told otherwise) -----------

_IDENTIFIERS: dict[tuple[str, ...], LanguageIdentifier] = {}


def identifier_for(languages: Sequence[str]) -> LanguageIdentifier:
    """A shared :class:`LanguageIdentifier` per language list (it holds no per-session state)."""
    key = tuple(languages)
    ident = _IDENTIFIERS.get(key)
    if ident is None:
        ident = _IDENTIFIERS[key] = LanguageIdentifier(key)
    return ident


_identifier = identifier_for  # older private name, kept for callers that already use it


def detect(text: str, languages: Sequence[str] = BUILTIN_LANGUAGES) -> list[tuple[str, float]]:
    """``[(lang, confidence), ...]`` best first, among ``languages``."""
    return identifier_for(languages).detect(text)


def is_language(
    text: str, lang: str, languages: Sequence[str] = BUILTIN_LANGUAGES, *, confidence: float = 0.85
) -> bool:
    """False when ``text`` is confidently a configured language other than ``lang``."""
    return identifier_for(languages).is_language(text, lang, confidence=confidence)
