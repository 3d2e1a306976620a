"""The production model manifest: parsing, validation errors, offline verify, resolve, pin writing."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from appliance.core.errors import EngineUnavailable, ModelError
from appliance.engines import manifest as mf
from appliance.engines import model_fetch
from appliance.engines.manifest import (
    MANIFEST_PATH,
    UNPINNED_COMMENT,
    Role,
    load_manifest,
    models_dir,
    parse_manifest,
    resolve,
    resolve_model_ref,
)
from appliance.engines.model_fetch import write_pins
from appliance.engines.model_verify import VerifyStatus, averify, verify, verify_passed

# --- the real manifest ---------------------------------------------------------------------


def test_real_manifest_parses_and_every_entry_is_complete() -> None:
    man = load_manifest(MANIFEST_PATH)
    assert {r.value for r in Role} <= set(man.roles)
    for entry in man.models:
        assert entry.role and entry.repo and entry.licence and entry.files, entry.role
        assert entry.url.startswith("https://huggingface.co/"), entry.role
        for f in entry.files:
            assert f.path
            assert f.sha256 == "" or re.fullmatch(r"[0-9a-f]{64}", f.sha256)


def test_real_manifest_documented_defaults() -> None:
    man = load_manifest()
    stt = man.entry("stt")
    assert "large-v3-turbo" in stt.repo
    assert {f.path for f in stt.files} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.json",
        "preprocessor_config.json",
    }
    stt_et = man.entry("stt-et")  # TalTech's MIT Estonian turbo, shipped as a CTranslate2 folder
    assert stt_et.optional and stt_et.convert is None and stt_et.licence == "MIT" and stt_et.main == "ct2"
    assert {f.local for f in stt_et.files} >= {"ct2/model.bin", "ct2/tokenizer.json", "ct2/vocabulary.json"}
    llm = man.entry("llm")
    assert llm.main and llm.main.endswith("Q4_K_M.gguf") and "EuroLLM-9B-Instruct" in llm.main
    assert llm.licence == "Apache-2.0"
    for role, lang in (("tts-en", "en"), ("tts-ru", "ru"), ("tts-et", "et")):
        entry = man.entry(role)
        assert entry.repo == "rhasspy/piper-voices" and entry.languages == [lang]
        paths = {f.path for f in entry.files}
        assert entry.main in paths and entry.main + ".json" in paths
    tts_et = man.entry("tts-et")  # checked against piper-voices' voices.json at fetch time
    assert tts_et.catalog is not None and tts_et.catalog.path == "voices.json"
    assert tts_et.catalog.key == "et_EE-news-medium" and tts_et.main and tts_et.main.startswith("et/et_EE/")
    assert man.entry("embed").main.endswith(".gguf")
    diar = man.entry("diarization")
    assert diar.gated and diar.optional
    # the default fetch set: everything required, nothing gated
    assert [e.role for e in man.select()] == ["stt", "llm", "tts-en", "tts-ru", "tts-et", "embed"]


def test_unpinned_files_carry_the_fill_comment() -> None:
    """No invented hashes: every unpinned file line says how it gets filled."""
    for line in MANIFEST_PATH.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            continue
        if 'sha256 = ""' in line:
            assert UNPINNED_COMMENT in line, line


# --- validation errors name the file and the key ---------------------------------------------

GOOD = """
schema = 1
[[models]]
role = "llm"
languages = ["en"]
repo = "org/model"
licence = "MIT"
url = "https://example.org/card"
main = "m.gguf"
files = [ { path = "m.gguf", sha256 = "" } ]
"""


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ('sha256 = ""', 'sha256 = "abc"', "models[0] (role 'llm').files[0].sha256", "64 hex"),
        ('path = "m.gguf"', 'path = "../m.gguf"', "files[0].path", "relative"),
        ('path = "m.gguf"', 'path = "/etc/passwd"', "files[0].path", "relative"),
        ('licence = "MIT"', 'licence = ""', "models[0] (role 'llm').licence", "at least 1"),
        ('repo = "org/model"', 'repo = "no-slash"', "models[0] (role 'llm').repo", "pattern"),
        ('main = "m.gguf"', 'main = "other.gguf"', "models[0] (role 'llm')", "not one of the files"),
        ('licence = "MIT"', 'licence = "MIT"\nsize_gb = 3', "models[0] (role 'llm').size_gb", "unknown key"),
        ('languages = ["en"]', 'languages = ["english"]', "languages", "ISO 639-1"),
    ],
)
def test_invalid_manifest_names_file_and_key(old: str, new: str, key: str, words: str) -> None:
    text = GOOD.replace(old, new)
    with pytest.raises(ModelError) as info:
        parse_manifest(text, source="models/x.toml")
    msg = str(info.value)
    assert msg.startswith("models/x.toml: "), msg
    assert key in msg and words in msg, msg
    assert info.value.code == "manifest_invalid"
    assert info.value.details["file"] == "models/x.toml"


def test_duplicate_role_and_bad_toml_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="role 'llm' is listed twice"):
        parse_manifest(GOOD + GOOD.replace("schema = 1", ""))
    bad = tmp_path / "m.toml"
    bad.write_text("[[models]\n", encoding="utf-8")
    with pytest.raises(ModelError, match=re.escape(str(bad)) + ": invalid TOML"):
        load_manifest(bad)
    with pytest.raises(ModelError, match="cannot read"):
        load_manifest(tmp_path / "absent.toml")


def test_unknown_role_lists_known_ones() -> None:
    man = parse_manifest(GOOD)
    with pytest.raises(ModelError, match=r"unknown model role 'tts-xx' \(known: llm\)"):
        man.entry("tts-xx")


# --- offline verify ----------------------------------------------------------------------------


def _manifest_for(tmp_path: Path, files: dict[str, bytes], pins: dict[str, str], sizes: dict[str, int] | None = None):
    rows = []
    for name in files:
        size = f", size = {sizes[name]}" if sizes and name in sizes else ""
        rows.append(f'  {{ path = "{name}", sha256 = "{pins.get(name, "")}"{size} }},')
    text = (
        'schema = 1\n[[models]]\nrole = "stt"\nlanguages = ["en"]\nrepo = "org/stt"\nlicence = "MIT"\n'
        'url = "https://example.org/stt"\nfiles = [\n' + "\n".join(rows) + "\n]\n"
        '[[models]]\nrole = "tts-et"\nlanguages = ["et"]\nrepo = "org/voice"\nlicence = "MIT"\n'
        'url = "https://example.org/v"\noptional = true\nmain = "v.onnx"\n'
        'files = [ { path = "v.onnx", sha256 = "" } ]\n'
    )
    path = tmp_path / "manifest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_verify_reports_ok_missing_mismatch_unpinned(tmp_path: Path) -> None:
    dest = tmp_path / "models"
    good, tampered, loose = b"weights" * 100, b"config" * 10, b"vocab"
    for name, data in (("model.bin", good), ("config.json", tampered + b"!"), ("vocab.json", loose)):
        (dest / "stt").mkdir(parents=True, exist_ok=True)
        (dest / "stt" / name).write_bytes(data)
    pins = {
        "model.bin": hashlib.sha256(good).hexdigest(),
        "config.json": hashlib.sha256(tampered).hexdigest(),
        "absent.bin": "0" * 64,
        "sized.bin": "1" * 64,
    }
    (dest / "stt" / "sized.bin").write_bytes(b"12345")
    path = _manifest_for(
        tmp_path,
        {"model.bin": good, "config.json": tampered, "vocab.json": loose, "absent.bin": b"", "sized.bin": b""},
        pins,
        sizes={"sized.bin": 4},
    )

    results = {(r.role, r.file): r for r in verify(dest=dest, manifest=path)}
    assert results[("stt", "model.bin")].status == VerifyStatus.OK
    assert results[("stt", "config.json")].status == VerifyStatus.MISMATCH
    assert "sha256" in results[("stt", "config.json")].detail
    unpinned = results[("stt", "vocab.json")]
    assert unpinned.status == VerifyStatus.UNPINNED
    assert hashlib.sha256(loose).hexdigest() in unpinned.detail
    assert results[("stt", "absent.bin")].status == VerifyStatus.MISSING
    sized = results[("stt", "sized.bin")]
    assert sized.status == VerifyStatus.MISMATCH and "size 5" in sized.detail  # size checked before hashing
    optional = results[("tts-et", "v.onnx")]
    assert optional.status == VerifyStatus.MISSING and optional.optional

    assert not verify_passed(results.values())
    as_dict = results[("stt", "model.bin")].to_dict()
    assert as_dict["status"] == "ok" and as_dict["path"] == str(dest / "stt" / "model.bin")
    only = verify(["tts-et"], dest=dest, manifest=path)
    assert [r.file for r in only] == ["v.onnx"]
    assert verify_passed(only)  # an optional model may be absent


def test_verify_never_needs_the_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_fetch, "_hub", lambda: pytest.fail("verify must not import huggingface_hub"))
    path = _manifest_for(tmp_path, {"model.bin": b""}, {})
    assert [r.status for r in verify(["stt"], dest=tmp_path / "none", manifest=path)] == [VerifyStatus.MISSING]


def test_averify_runs_off_the_loop(tmp_path: Path) -> None:
    path = _manifest_for(tmp_path, {"model.bin": b""}, {})
    results = asyncio.run(averify(["stt"], dest=tmp_path, manifest=path))
    assert results[0].status == VerifyStatus.MISSING


# --- resolve -----------------------------------------------------------------------------------


def test_resolve_returns_main_or_folder_and_explains_missing(tmp_path: Path) -> None:
    path = _manifest_for(tmp_path, {"model.bin": b"x"}, {})
    dest = tmp_path / "models"
    with pytest.raises(EngineUnavailable) as info:
        resolve("stt", dest=dest, manifest=path)
    assert "appliance models fetch stt" in str(info.value) and "model.bin" in str(info.value)
    (dest / "stt").mkdir(parents=True)
    (dest / "stt" / "model.bin").write_bytes(b"x")
    assert resolve("stt", dest=dest, manifest=path) == dest / "stt"
    (dest / "tts-et").mkdir()
    (dest / "tts-et" / "v.onnx").write_bytes(b"onnx")
    assert resolve("tts-et", dest=dest, manifest=path) == dest / "tts-et" / "v.onnx"

    assert resolve_model_ref("", manifest=path) is None
    assert resolve_model_ref("tts-et", dest=dest, manifest=path) == dest / "tts-et" / "v.onnx"
    assert resolve_model_ref(str(dest / "stt" / "model.bin"), manifest=path) == dest / "stt" / "model.bin"
    with pytest.raises(EngineUnavailable, match="not found"):
        resolve_model_ref(str(tmp_path / "nope.gguf"), manifest=path)


def test_models_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert models_dir(environ={"APPLIANCE_MODELS_DIR": str(tmp_path / "m")}) == tmp_path / "m"
    cfg = SimpleNamespace(models=SimpleNamespace(dir=str(tmp_path / "cfg")))
    assert models_dir(cfg, environ={"APPLIANCE_MODELS_DIR": str(tmp_path / "m")}) == tmp_path / "cfg"
    unset = SimpleNamespace(models=SimpleNamespace(dir=""))
    assert models_dir(unset, environ={"APPLIANCE_MODELS_DIR": str(tmp_path / "m")}) == tmp_path / "m"
    assert mf.default_models_dir is models_dir
    monkeypatch.setattr(mf, "SYSTEM_MODELS_DIR", tmp_path / "absent")
    assert models_dir(environ={}) == mf.DEFAULT_MODELS_DIR
    (tmp_path / "var").mkdir()
    monkeypatch.setattr(mf, "SYSTEM_MODELS_DIR", tmp_path / "var")
    assert models_dir(environ={}) == tmp_path / "var"


# --- writing pins back -----------------------------------------------------------------------------


def test_write_pins_rewrites_only_the_touched_lines(tmp_path: Path) -> None:
    copy = tmp_path / "manifest.toml"
    shutil.copyfile(MANIFEST_PATH, copy)
    before = copy.read_text(encoding="utf-8").splitlines()
    sha_a, sha_b = "a" * 64, "b" * 64
    write_pins(
        {
            ("llm", "EuroLLM-9B-Instruct-Q4_K_M.gguf"): (sha_a, 123),
            ("diarization", "segmentation-3.0/pytorch_model.bin"): (sha_b, 456),
        },
        copy,
    )
    after = copy.read_text(encoding="utf-8").splitlines()
    changed = [(x, y) for x, y in zip(before, after, strict=True) if x != y]
    assert len(changed) == 2
    for _, new in changed:
        assert UNPINNED_COMMENT not in new
    man = load_manifest(copy)
    (gguf,) = man.entry("llm").files
    assert (gguf.sha256, gguf.size) == (sha_a, 123)
    seg = next(f for f in man.entry("diarization").files if f.dir == "segmentation-3.0")
    assert (seg.sha256, seg.size, seg.repo) == (sha_b, 456, "pyannote/segmentation-3.0")
    wes = next(f for f in man.entry("diarization").files if f.dir == "wespeaker")
    assert wes.sha256 == ""  # same file name, other folder: untouched
    assert tomllib.loads(copy.read_text(encoding="utf-8"))["schema"] == 1

    with pytest.raises(ModelError, match="could not write"):
        write_pins({("llm", "nope.gguf"): (sha_a, 1)}, copy)
