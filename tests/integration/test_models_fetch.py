"""``fetch`` against a real local HTTP server standing in for the Hugging Face Hub (never the real one)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.core.errors import ModelError
from appliance.engines.manifest import load_manifest, resolve
from appliance.engines.model_fetch import FetchStage, fetch
from appliance.engines.model_verify import VerifyStatus, verify, verify_passed
from tests.support.fake_hub import FakeHub

hub_constants = pytest.importorskip("huggingface_hub.constants")

TOKEN = "hf_test_token_for_the_fake_hub"
WEIGHTS = os.urandom(200_000)  # LFS-sized: served with X-Linked-Etag / X-Linked-Size
CONFIG = b'{"d_model": 64}\n'  # small: served like a regular git file
VOICE = os.urandom(50_000)
VOICE_JSON = b'{"audio": {"sample_rate": 22050}}'
SEGMENTATION = os.urandom(30_000)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


MANIFEST = f"""
schema = 1

[[models]]
role = "stt"
languages = ["en", "et", "ru"]
repo = "test-org/whisper-ct2"
licence = "MIT"
url = "https://huggingface.co/test-org/whisper-ct2"
files = [
  {{ path = "model.bin", sha256 = "{sha(WEIGHTS)}", size = {len(WEIGHTS)} }},
  {{ path = "config.json", sha256 = "{sha(CONFIG)}" }},
]

[[models]]
role = "tts-en"
languages = ["en"]
repo = "test-org/voices"
revision = "v1.0.0"
licence = "MIT"
url = "https://huggingface.co/test-org/voices"
main = "en/voice.onnx"
files = [
  {{ path = "en/voice.onnx", sha256 = "" }},  # fill on first fetch: appliance models fetch --update-hashes
  {{ path = "en/voice.onnx.json", sha256 = "" }},  # fill on first fetch: appliance models fetch --update-hashes
]

[[models]]
role = "diarization"
repo = "test-org/gated-pipeline"
licence = "MIT"
url = "https://huggingface.co/test-org/gated-pipeline"
optional = true
gated = true
main = "config.yaml"
files = [
  {{ path = "config.yaml", sha256 = "" }},  # fill on first fetch: appliance models fetch --update-hashes
  {{ path = "pytorch_model.bin", repo = "test-org/gated-segmentation", dir = "segmentation", sha256 = "{sha(SEGMENTATION)}" }},
]
"""


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A fake hub on 127.0.0.1, HF_ENDPOINT pointing at it, offline mode lifted for this test only."""
    with FakeHub() as fake:
        fake.add_repo("test-org/whisper-ct2", {"model.bin": WEIGHTS, "config.json": CONFIG})
        fake.add_repo(
            "test-org/voices", {"en/voice.onnx": VOICE, "en/voice.onnx.json": VOICE_JSON}, revisions=("main", "v1.0.0")
        )
        fake.add_repo("test-org/gated-pipeline", {"config.yaml": b"pipeline: {}\n"}, gated=True, token=TOKEN)
        fake.add_repo("test-org/gated-segmentation", {"pytorch_model.bin": SEGMENTATION}, gated=True, token=TOKEN)
        home = tmp_path / "hf-home"
        monkeypatch.setenv("HF_HOME", str(home))
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        # huggingface_hub reads these at import time: patch the module too
        monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(home / "hub"))
        monkeypatch.setattr(hub_constants, "HF_TOKEN_PATH", str(home / "token"))
        monkeypatch.setattr(hub_constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"), raising=False)
        yield fake


@pytest.fixture
def manifest_file(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.toml"
    path.write_text(MANIFEST, encoding="utf-8")
    return path


def test_fetch_downloads_and_verifies_sha256(hub: FakeHub, manifest_file: Path, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    events = []
    results = fetch(["stt"], dest=dest, manifest=manifest_file, progress=events.append)

    assert [(r.file, r.status, r.downloaded) for r in results] == [
        ("model.bin", VerifyStatus.OK, True),
        ("config.json", VerifyStatus.OK, True),
    ]
    assert (dest / "stt" / "model.bin").read_bytes() == WEIGHTS
    assert (dest / "stt" / "config.json").read_bytes() == CONFIG
    assert results[0].sha256 == sha(WEIGHTS)
    assert {e.stage for e in events} >= {FetchStage.DOWNLOAD, FetchStage.VERIFY, FetchStage.DONE}
    assert hub.gets("model.bin") and all(r.status == 200 for r in hub.gets())

    # offline verify agrees; resolve hands the engines the folder
    assert all(r.status == VerifyStatus.OK for r in verify(["stt"], dest=dest, manifest=manifest_file))
    assert resolve("stt", dest=dest, manifest=manifest_file) == dest / "stt"

    # a second fetch finds everything pinned and matching: no request at all
    before = len(hub.requests)
    again = fetch(["stt"], dest=dest, manifest=manifest_file, progress=events.append)
    assert [r.downloaded for r in again] == [False, False]
    assert len(hub.requests) == before
    assert events[-1].stage == FetchStage.SKIP


def test_unpinned_files_are_reported_and_update_hashes_pins_them(
    hub: FakeHub, manifest_file: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "models"
    results = fetch(["tts-en"], dest=dest, manifest=manifest_file)
    assert [r.status for r in results] == [VerifyStatus.UNPINNED, VerifyStatus.UNPINNED]
    assert any("/resolve/v1.0.0/" in r.path for r in hub.gets())  # the entry's revision is used
    assert load_manifest(manifest_file).entry("tts-en").files[0].sha256 == ""  # not asked to pin

    statuses = {r.file: r.status for r in verify(["tts-en"], dest=dest, manifest=manifest_file)}
    assert statuses == {"en/voice.onnx": VerifyStatus.UNPINNED, "en/voice.onnx.json": VerifyStatus.UNPINNED}

    fetch(["tts-en"], dest=dest, manifest=manifest_file, update_hashes=True)
    pinned = load_manifest(manifest_file).entry("tts-en")
    assert [(f.sha256, f.size) for f in pinned.files] == [(sha(VOICE), len(VOICE)), (sha(VOICE_JSON), len(VOICE_JSON))]
    assert "fill on first fetch" in manifest_file.read_text()  # the gated entry's lines keep theirs
    assert all(r.status == VerifyStatus.OK for r in verify(["tts-en"], dest=dest, manifest=manifest_file))
    assert resolve("tts-en", dest=dest, manifest=manifest_file) == dest / "tts-en" / "en" / "voice.onnx"


def test_tampered_download_is_deleted_and_raises(hub: FakeHub, manifest_file: Path, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    evil = bytearray(WEIGHTS)
    evil[1000] ^= 0xFF
    hub.set_file("test-org/whisper-ct2", "model.bin", bytes(evil))

    with pytest.raises(ModelError) as info:
        fetch(["stt"], dest=dest, manifest=manifest_file)
    assert info.value.code == "model_mismatch"
    assert "model.bin" in str(info.value) and "deleted" in str(info.value)
    assert not (dest / "stt" / "model.bin").exists()
    assert not (dest / "stt" / ".cache" / "huggingface" / "download" / "model.bin.metadata").exists()

    # once the hub serves the right bytes again, fetch succeeds
    hub.set_file("test-org/whisper-ct2", "model.bin", WEIGHTS)
    assert [r.status for r in fetch(["stt"], dest=dest, manifest=manifest_file)] == [VerifyStatus.OK] * 2


def test_tampered_local_file_is_caught_by_verify_and_repaired_by_fetch(
    hub: FakeHub, manifest_file: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "models"
    fetch(["stt"], dest=dest, manifest=manifest_file)
    target = dest / "stt" / "model.bin"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01  # same size: only the hash can tell
    target.write_bytes(bytes(data))

    bad = {r.file: r for r in verify(["stt"], dest=dest, manifest=manifest_file)}
    assert bad["model.bin"].status == VerifyStatus.MISMATCH and "sha256" in bad["model.bin"].detail
    assert not verify_passed(bad.values())

    gets = len(hub.gets("model.bin"))
    results = fetch(["stt"], dest=dest, manifest=manifest_file)
    assert results[0].downloaded and results[0].status == VerifyStatus.OK
    assert len(hub.gets("model.bin")) == gets + 1
    assert target.read_bytes() == WEIGHTS


def test_gated_repo_needs_a_token(hub: FakeHub, manifest_file: Path, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    with pytest.raises(ModelError) as info:
        fetch(["diarization"], dest=dest, manifest=manifest_file)
    assert info.value.code == "model_gated"
    assert "gated" in str(info.value) and "token" in str(info.value)
    assert hub.requests == []  # refused before any request

    with pytest.raises(ModelError) as info:
        fetch(["diarization"], dest=dest, manifest=manifest_file, token="hf_wrong")
    assert info.value.code == "model_gated"
    assert "test-org/gated-pipeline" in str(info.value)
    assert not (dest / "diarization" / "config.yaml").exists()

    results = fetch(["diarization"], dest=dest, manifest=manifest_file, token=TOKEN)
    assert [(r.file, r.status) for r in results] == [
        ("config.yaml", VerifyStatus.UNPINNED),
        ("segmentation/pytorch_model.bin", VerifyStatus.OK),
    ]
    assert (dest / "diarization" / "segmentation" / "pytorch_model.bin").read_bytes() == SEGMENTATION
    assert all(r.authorization == f"Bearer {TOKEN}" for r in hub.gets())


def test_gated_repo_token_from_environment(
    hub: FakeHub, manifest_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    results = fetch(["diarization"], dest=tmp_path / "models", manifest=manifest_file)
    assert len(results) == 2


def test_interrupted_download_resumes_with_a_range_request(
    hub: FakeHub, manifest_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "models"
    # huggingface_hub reads 10 MB chunks: make them small so the bytes before the drop are kept
    monkeypatch.setattr(hub_constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)
    half = len(WEIGHTS) // 2
    hub.truncate_next_get("test-org/whisper-ct2", "model.bin", after=half)

    results = fetch(["stt"], dest=dest, manifest=manifest_file)

    assert results[0].status == VerifyStatus.OK
    assert (dest / "stt" / "model.bin").read_bytes() == WEIGHTS
    gets = hub.gets("model.bin")
    assert [g.status for g in gets] == [200, 206]
    assert gets[1].range is not None and gets[1].range.startswith("bytes=")
    assert int(gets[1].range.removeprefix("bytes=").split("-")[0]) > 0


def test_missing_file_and_offline_mode_give_clear_errors(
    hub: FakeHub, manifest_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "models"
    hub.repos["test-org/whisper-ct2"].files.pop("config.json")
    with pytest.raises(ModelError) as info:
        fetch(["stt"], dest=dest, manifest=manifest_file)
    assert info.value.code == "model_not_found" and "config.json" in str(info.value)

    with pytest.raises(ModelError, match="unknown model role 'nope'"):
        fetch(["nope"], dest=dest, manifest=manifest_file)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        fetch(["stt"], dest=dest, manifest=manifest_file)
    assert info.value.code == "hub_offline" and "HF_HUB_OFFLINE" in str(info.value)


def test_default_fetch_takes_required_roles_and_explicit_endpoint_wins(
    hub: FakeHub, manifest_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # would fail: the explicit endpoint must win
    results = fetch(dest=tmp_path / "models", manifest=manifest_file, endpoint=hub.url)
    assert sorted({r.role for r in results}) == ["stt", "tts-en"]  # the optional gated one is not fetched
    assert verify_passed(verify(dest=tmp_path / "models", manifest=manifest_file))


# --- catalog check (Piper's voices.json) and a CTranslate2 folder entry ---------------------------

ET_VOICE = os.urandom(40_000)
ET_VOICE_JSON = b'{"audio": {"sample_rate": 22050}, "num_speakers": 3}'
ET_ONNX = "et/et_EE/news/medium/et_EE-news-medium.onnx"


def voices_json(key: str = "et_EE-news-medium", size: int = len(ET_VOICE), files: tuple[str, ...] = ()) -> bytes:
    listed = files or (ET_ONNX, ET_ONNX + ".json")
    body = {
        key: {
            "key": key,
            "language": {"code": "et_EE", "family": "et"},
            "files": {
                p: {"size_bytes": size if p == ET_ONNX else len(ET_VOICE_JSON), "md5_digest": "x"} for p in listed
            },
        },
        "en_US-lessac-medium": {"key": "en_US-lessac-medium", "files": {}},
    }
    return json.dumps(body).encode()


CATALOG_MANIFEST = f"""
schema = 1

[[models]]
role = "tts-et"
languages = ["et"]
repo = "test-org/piper-voices"
revision = "main"
licence = "CC-BY-4.0"
url = "https://huggingface.co/test-org/piper-voices"
main = "{ET_ONNX}"
catalog = {{ path = "voices.json", key = "et_EE-news-medium" }}
files = [
  {{ path = "{ET_ONNX}", sha256 = "" }},  # fill on first fetch: appliance models fetch --update-hashes
  {{ path = "{ET_ONNX}.json", sha256 = "" }},  # fill on first fetch: appliance models fetch --update-hashes
]

[[models]]
role = "stt-et"
languages = ["et"]
repo = "test-org/whisper-et"
licence = "MIT"
url = "https://huggingface.co/test-org/whisper-et"
optional = true
main = "ct2"
files = [
  {{ path = "ct2/model.bin", sha256 = "{sha(WEIGHTS)}" }},
  {{ path = "tokenizer.json", dir = "ct2", sha256 = "{sha(CONFIG)}" }},
]
"""


def _catalog_hub(hub: FakeHub, catalog: bytes) -> None:
    files = {"voices.json": catalog, ET_ONNX: ET_VOICE, ET_ONNX + ".json": ET_VOICE_JSON}
    hub.add_repo("test-org/piper-voices", files)
    hub.add_repo("test-org/whisper-et", {"ct2/model.bin": WEIGHTS, "tokenizer.json": CONFIG})


@pytest.fixture
def catalog_manifest(tmp_path: Path) -> Path:
    path = tmp_path / "catalog-manifest.toml"
    path.write_text(CATALOG_MANIFEST, encoding="utf-8")
    return path


def test_estonian_voice_is_checked_in_the_catalog_then_fetched(
    hub: FakeHub, catalog_manifest: Path, tmp_path: Path
) -> None:
    _catalog_hub(hub, voices_json())
    results = fetch(["tts-et", "stt-et"], dest=tmp_path / "models", manifest=catalog_manifest)
    assert {(r.role, r.file) for r in results} == {
        ("tts-et", ET_ONNX),
        ("tts-et", ET_ONNX + ".json"),
        ("stt-et", "ct2/model.bin"),
        ("stt-et", "ct2/tokenizer.json"),
    }
    assert resolve("tts-et", dest=tmp_path / "models", manifest=catalog_manifest).read_bytes() == ET_VOICE
    ct2 = resolve("stt-et", dest=tmp_path / "models", manifest=catalog_manifest)
    assert ct2.name == "ct2" and (ct2 / "model.bin").read_bytes() == WEIGHTS and (ct2 / "tokenizer.json").is_file()
    assert ("GET", "/test-org/piper-voices/resolve/main/voices.json") in {(r.method, r.path) for r in hub.requests}


def test_a_voice_missing_from_the_catalog_fails_clearly_before_downloading(
    hub: FakeHub, catalog_manifest: Path, tmp_path: Path
) -> None:
    _catalog_hub(hub, voices_json(key="et_EE-other-medium"))
    with pytest.raises(ModelError) as info:
        fetch(["tts-et"], dest=tmp_path / "models", manifest=catalog_manifest)
    assert info.value.code == "model_not_in_catalog"
    msg = str(info.value)
    assert "'et_EE-news-medium' is not listed in test-org/piper-voices/voices.json@main" in msg, msg
    assert "et_EE-other-medium" in msg  # what the catalog does list for Estonian
    assert not any(ET_ONNX in r.path for r in hub.requests)  # nothing large was downloaded


def test_catalog_without_a_file_or_with_another_size_fails(
    hub: FakeHub, catalog_manifest: Path, tmp_path: Path
) -> None:
    _catalog_hub(hub, voices_json(files=(ET_ONNX,)))
    with pytest.raises(ModelError, match="without et/et_EE/news/medium/et_EE-news-medium.onnx.json"):
        fetch(["tts-et"], dest=tmp_path / "a", manifest=catalog_manifest)
    hub.add_repo(
        "test-org/piper-voices",
        {"voices.json": voices_json(size=123), ET_ONNX: ET_VOICE, ET_ONNX + ".json": ET_VOICE_JSON},
    )
    with pytest.raises(ModelError, match="test-org/piper-voices's catalog says 123") as info:
        fetch(["tts-et"], dest=tmp_path / "b", manifest=catalog_manifest)
    assert info.value.code == "model_mismatch"
