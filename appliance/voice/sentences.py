"""Split streamed text into speakable sentences, so the first one is spoken while later ones
are still being produced.

A boundary is a terminator (``. ! ? …`` and runs of them, ``...``) optionally followed by
closing quotes or brackets, then whitespace, then the start of a new sentence. Because text
arrives in pieces, a boundary is only confirmed once the next non-space character is seen;
:meth:`SentenceChunker.flush` releases what is left.

Not a boundary: known abbreviations (``dr.``, ``e.g.``, Estonian ``nr.``, ``jne.``,
Russian ``т.е.``, ``ул.``), single initials (``J. Smith``), and a period followed by a
lowercase word or a digit (Estonian dates and ordinals: ``10.12. kuni``, ``5. mail``).
"""

from __future__ import annotations

import re

TERMINATORS = ".!?…"
_CLOSERS = "\"'”’»)]"
_OPENERS = "\"'“‘«(["

ABBREVIATIONS: frozenset[str] = frozenset(
    # English
    "dr mr mrs ms prof st sr jr vs etc e.g i.e no approx tel min max a.m p.m "
    "jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun "
    # Estonian
    "nr jne jm vt nt lk hr pr kl u s.o s.t k.a e.kr p.kr dots tn mnt pst "
    # Russian
    "г гг ул т.е т.д т.п т.к др стр им тел руб коп мин см пр д кв ок напр тыс млн млрд с ч".split()
)

# Abbreviations that often end a sentence: a boundary when a capital follows.
SENTENCE_FINAL: frozenset[str] = frozenset({"etc", "jne", "jt", "jm", "т.д", "т.п", "др"})

_WORD_BEFORE = re.compile(r"([\w.]+)$")


class SentenceChunker:
    """Incremental sentence splitter. ``feed`` returns the sentences completed so far."""

    def __init__(self, *, max_chars: int = 220, abbreviations: frozenset[str] = ABBREVIATIONS) -> None:
        self.max_chars = max_chars
        self.abbreviations = abbreviations
        self._buf = ""

    def feed(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        while True:
            cut = self._find_boundary(self._buf)
            if cut is None:
                break
            sentence, self._buf = self._buf[:cut].strip(), self._buf[cut:].lstrip()
            if sentence:
                out.append(sentence)
        while len(self._buf) > self.max_chars:
            cut = self._soft_cut(self._buf)
            sentence, self._buf = self._buf[:cut].strip(), self._buf[cut:].lstrip()
            if sentence:
                out.append(sentence)
        return out

    def flush(self) -> list[str]:
        rest, self._buf = self._buf.strip(), ""
        return [rest] if rest else []

    def split(self, text: str) -> list[str]:
        """Whole-text convenience: feed then flush."""
        return self.feed(text) + self.flush()

    # -- internals ----------------------------------------------------------------

    def _find_boundary(self, buf: str) -> int | None:
        i = 0
        n = len(buf)
        while i < n:
            ch = buf[i]
            if ch == "\n" and i + 1 < n and buf[i + 1] == "\n":
                return i + 2
            if ch not in TERMINATORS:
                i += 1
                continue
            j = i
            while j < n and buf[j] in TERMINATORS:
                j += 1
            while j < n and buf[j] in _CLOSERS:
                j += 1
            if j >= n:
                return None  # need more text to decide
            if not buf[j].isspace():
                i = j  # "10.12", "e.g" inside a token
                continue
            k = j
            while k < n and buf[k].isspace():
                k += 1
            if k >= n:
                return None  # wait for the next word
            if self._is_boundary(buf, i, j, buf[k]):
                return j
            i = j
        return None

    def _is_boundary(self, buf: str, term_at: int, after: int, next_char: str) -> bool:
        run = buf[term_at:after].rstrip(_CLOSERS)
        if run != ".":
            # "!", "?", "…", "...", "?!": a boundary unless the next word is lowercase
            return not next_char.islower()
        if next_char.islower() or next_char.isdigit():
            return False
        m = _WORD_BEFORE.search(buf[:term_at])
        word = m.group(1) if m else ""
        bare = word.lower().strip(".")
        if bare in SENTENCE_FINAL:
            return next_char.isupper()
        if bare in self.abbreviations:
            return False
        if len(word) == 1 and word.isalpha() and word.isupper():
            return False  # an initial: "J. Smith"
        return next_char.isupper() or next_char in _OPENERS or not next_char.isalnum()

    def _soft_cut(self, buf: str) -> int:
        """No sentence end within max_chars: cut after the last clause mark, else a space."""
        window = buf[: self.max_chars]
        for marks in (";:", ",", " "):
            idx = max(window.rfind(m) for m in marks)
            if idx > 20:
                return idx + 1
        return self.max_chars
