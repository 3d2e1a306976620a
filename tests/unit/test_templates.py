"""One text system: every sentence is a template key, present in every language, with the same
parameters; brain and tools code holds no sentence of its own, and errors are said by code."""

from __future__ import annotations

import ast
import re
import string
import tomllib
from pathlib import Path

import pytest

from appliance.brain.text import render
from appliance.core import errors

ROOT = Path(__file__).resolve().parents[2] / "appliance"
TEMPLATES = ROOT / "brain" / "text" / "templates"
LANGS = ("en", "et", "ru")


def _load(lang: str) -> dict[str, dict[str, str]]:
    with (TEMPLATES / f"{lang}.toml").open("rb") as fh:
        return tomllib.load(fh)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_three_languages_have_templates() -> None:
    assert set(render.supported_template_languages()) == set(LANGS)


@pytest.mark.parametrize("lang", LANGS[1:])
def test_every_key_exists_in_every_language(lang: str) -> None:
    en, other = _load("en"), _load(lang)
    assert set(other) == set(en), "tables differ"
    for table in en:
        missing = sorted(set(en[table]) - set(other[table]))
        extra = sorted(set(other[table]) - set(en[table]))
        assert not missing, f"{lang}.toml [{table}] lacks {missing}"
        assert not extra, f"{lang}.toml [{table}] has keys English lacks: {extra}"


@pytest.mark.parametrize("lang", LANGS[1:])
def test_no_translation_needs_a_parameter_english_does_not_get(lang: str) -> None:
    """The code fills what English names; a translation may leave one out (the name of the
    business, say, where the grammar would need its case), never need another."""
    en, other = _load("en"), _load(lang)
    for table, keys in en.items():
        for key, text in keys.items():
            assert _fields(other[table][key]) <= _fields(text), f"{lang}.toml [{table}] {key}"


# -- every key the code names exists --------------------------------------------------------

# call name -> template table for its first string argument
_KEY_CALLS = {
    "say": "text",
    "Part": "text",
    "template": "text",
    "voice_text": "text",
    "word": "words",
    "Word": "words",
    "quick_label": "quick",
    "form": "forms",
    "error_text": "errors",
}


def _literal_keys() -> list[tuple[str, str, str]]:
    found = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else None
            if name not in _KEY_CALLS:
                continue
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value not in LANGS:
                    found.append((f"{path.relative_to(ROOT.parent)}:{node.lineno}", _KEY_CALLS[name], arg.value))
                    break
    return found


def test_every_key_named_in_code_exists() -> None:
    en = _load("en")
    keys = _literal_keys()
    assert len(keys) > 50  # the scan sees the code
    missing = [f"{where} [{table}] {key}" for where, table, key in keys if key not in en.get(table, {})]
    assert not missing, "template keys named in code but missing:\n" + "\n".join(missing)


# -- no sentence outside the templates -------------------------------------------------------

# Language data, not sentences: number words and month names (voice forms), and the
# understanding side's word lists and prompts (what callers say, not what we say).
_DATA_MODULES = ("brain/text/verbalize/", "brain/understanding/")
# Staff-facing ticket reasons (the staff console shows them; not said to callers).
_STAFF_TEXT = {
    "callback requested",
    "asked for a person",
    "customer asked for a person",
    "booking system unavailable during",
}
_WORD = re.compile(r"[^\W\d_]{2,}")


def _is_pattern(text: str) -> bool:
    """A regular expression (what callers say, matched), not a sentence."""
    return "|" in text or "\\b" in text


def _is_diagnostic(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside a log call, an exception being raised or built, or an f-string of either."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name in ("debug", "info", "warning", "error", "exception", "critical") or name.endswith(
                ("Error", "Exception", "Unavailable", "Timeout", "NotFound", "Conflict", "Tool", "Rejected")
            ):
                return True
    return False


def test_brain_and_tools_code_says_no_sentence_of_its_own() -> None:
    prose: list[str] = []
    for folder in ("brain", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = str(path.relative_to(ROOT))
            if rel.startswith(_DATA_MODULES):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
            docstrings = {
                id(n.body[0].value)
                for n in ast.walk(tree)
                if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and n.body
                and isinstance(n.body[0], ast.Expr)
                and isinstance(n.body[0].value, ast.Constant)
            }
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in docstrings:
                    continue
                text = node.value.strip()
                if (
                    " " not in text
                    or len(_WORD.findall(text)) < 2
                    or text in _STAFF_TEXT
                    or _is_pattern(text)
                    or _is_diagnostic(node, parents)
                ):
                    continue
                prose.append(f"appliance/{rel}:{node.lineno} {text[:60]!r}")
    assert not prose, "sentences outside the templates:\n" + "\n".join(prose)


# -- errors are said by code, in the caller's language ---------------------------------------


def _error_classes() -> list[type[errors.ApplianceError]]:
    out, todo = [], [errors.ApplianceError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo += cls.__subclasses__()
    return out


@pytest.mark.parametrize("lang", LANGS)
def test_channel_errors_have_their_own_sentence(lang: str) -> None:
    table = _load(lang)["errors"]
    for cls in (
        errors.BackendError,
        errors.BackendUnavailable,
        errors.BackendTimeout,
        errors.StoreError,
        errors.EngineError,
        errors.EngineUnavailable,
        errors.ModelError,
        errors.InputRejected,
    ):
        assert cls.code in table, f"{lang}.toml [errors] lacks {cls.code}"
    for cls in _error_classes():
        assert render.error_text(lang, cls.code)  # unknown codes get the default
    assert render.error_text(lang, "no_such_code") == table["default"]


def test_errors_carry_no_prose_parameter() -> None:
    with pytest.raises(TypeError):
        errors.ApplianceError("x", user_message="Hello")  # type: ignore[call-arg]
    assert "user_message" not in errors.BackendUnavailable("down").to_dict()


def test_estonian_and_russian_errors_are_not_english() -> None:
    en = _load("en")["errors"]
    for lang in ("et", "ru"):
        other = _load(lang)["errors"]
        assert all(other[k] != en[k] for k in en), lang
