"""Markup or code pasted into a message is not the message: what the caller wrote around it is.

``plain`` drops fenced and inline code, ``<script>``/``<style>`` blocks, HTML comments and tags
(keeping the text inside ordinary tags, so ``<b>Rex</b>`` stays ``Rex``), HTML entities and
Markdown emphasis, so the rest of the message is understood as if typed plainly instead of the
whole message being refused for the markup in it.
"""

from __future__ import annotations

import html
import re

_FENCED = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_BLOCKS = re.compile(r"<(script|style|code|pre)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.DOTALL | re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
_EMPHASIS = re.compile(r"(\*\*|__|\*|~~)(?=\S)(.+?)(?<=\S)\1")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_SPACES = re.compile(r"[ \t]+")
_LINES = re.compile(r"\s*\n\s*")


def plain(text: str) -> str:
    """The message without its markup and code (unchanged when it has none)."""
    if not any(c in text for c in "`<>&*_#~"):
        return text
    out = _FENCED.sub(" ", text)
    out = _INLINE_CODE.sub(" ", out)
    out = _BLOCKS.sub(" ", out)
    out = _COMMENT.sub(" ", out)
    out = _TAG.sub(" ", out)
    out = html.unescape(out)
    out = _TAG.sub(" ", out)  # tags that were written as entities
    out = _EMPHASIS.sub(r"\2", out)
    out = _HEADING.sub("", out)
    out = _LINES.sub("\n", _SPACES.sub(" ", out))
    return out.strip()
