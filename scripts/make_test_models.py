#!/usr/bin/env python3
"""Generate tiny random-weight test models (plumbing only, never content).

    python scripts/make_test_models.py [--out models/test] [--force] [--only NAME ...]

Makes, under ``--out`` (default ``models/test``, gitignored):

* ``llm/tiny-chat.gguf``: a 2-layer llama with a byte-level SentencePiece-style vocabulary
  (``<unk> <s> </s> <|im_start|> <|im_end|>`` + 256 ``<0xXX>`` byte tokens) and a ChatML
  chat template; loads in ``llama_cpp.Llama`` and runs grammar-constrained chat completions.
* ``embed/tiny-embed.gguf``: the same shape of model with ``pooling_type = mean``, for
  ``Llama(..., embedding=True)``; byte-level, so any language's text embeds.
* ``whisper/``: a random ``WhisperForConditionalGeneration`` (d_model 64, 1 layer each side,
  the real multilingual vocabulary of 51865) converted to CTranslate2, with a ``tokenizer.json``
  built offline from ``whisper/assets/multilingual.tiktoken`` in the openai-whisper sdist
  (fetched from PyPI with pip once and cached in ``~/.cache/appliance/``).
* ``piper/tiny-en.onnx`` and ``piper/tiny-ru.onnx`` (+ ``.onnx.json``): a minimal ONNX graph with
  Piper's inputs and outputs that turns phoneme ids into a tone, 256 samples per id.
* ``diarize/`` (only with ``--only diarize``; the tests use ``--out models/test-diarize``): pyannote
  segmentation and embedding checkpoints and a PLDA, made by ``scripts/diarize_test_models.py``
  in the isolated ``.venv-diarize``.

Idempotent: ``MANIFEST.json`` records every file's sha256 and a recipe version; a model whose
files all exist and match is skipped. Deterministic seeds. Never touches a model hub.
"""

from __future__ import annotations

import os

# Before any Hugging Face import: never reach for a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import argparse  # noqa: E402
import ast  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "models" / "test"
MANIFEST = "MANIFEST.json"
RECIPE_VERSION = 1
SEED = 20240601

CACHE_DIR = Path(os.environ.get("APPLIANCE_CACHE_DIR", Path.home() / ".cache" / "appliance"))
WHISPER_SDIST = "openai-whisper==20250625"

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]


def log(msg: str) -> None:
    print(f"[make_test_models] {msg}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- GGUF llama models ---------------------------------------------------------


def write_tiny_llama_gguf(
    path: Path,
    *,
    seed: int,
    name: str,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    ff: int = 128,
    ctx: int = 2048,
    pooling_mean: bool = False,
) -> None:
    """A random llama with a byte-level vocabulary, written with ``gguf.GGUFWriter``."""
    import gguf
    import numpy as np

    rng = np.random.default_rng(seed)
    tokens: list[str] = list(SPECIAL_TOKENS) + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN] + [gguf.TokenType.CONTROL] * (len(SPECIAL_TOKENS) - 1)
    types += [gguf.TokenType.BYTE] * 256
    vocab = len(tokens)

    def w(*shape: int, std: float = 0.02) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(ctx)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    if pooling_mean:
        writer.add_pooling_type(gguf.PoolingType.MEAN)

    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * vocab)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)
    writer.add_chat_template(CHATML_TEMPLATE)

    writer.add_tensor("token_embd.weight", w(vocab, hidden, std=0.5))
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_q.weight", w(hidden, hidden))
        writer.add_tensor(f"blk.{i}.attn_k.weight", w(hidden, hidden))
        writer.add_tensor(f"blk.{i}.attn_v.weight", w(hidden, hidden))
        writer.add_tensor(f"blk.{i}.attn_output.weight", w(hidden, hidden))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", w(ff, hidden))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", w(ff, hidden))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", w(hidden, ff))
    writer.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    writer.add_tensor("output.weight", w(vocab, hidden))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def make_chat_llm(out: Path) -> list[Path]:
    path = out / "llm" / "tiny-chat.gguf"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_tiny_llama_gguf(path, seed=SEED, name="appliance-tiny-chat")
    return [path]


def make_embed(out: Path) -> list[Path]:
    path = out / "embed" / "tiny-embed.gguf"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_tiny_llama_gguf(path, seed=SEED + 1, name="appliance-tiny-embed", layers=1, pooling_mean=True)
    return [path]


# --- Whisper (CTranslate2) -------------------------------------------------------


def _whisper_sdist() -> Path:
    """The openai-whisper sdist, fetched from PyPI with pip once and cached outside the repo."""
    cache = CACHE_DIR / "sdist"
    found = sorted(cache.glob("openai_whisper-*.tar.gz")) if cache.is_dir() else []
    if found:
        return found[-1]
    cache.mkdir(parents=True, exist_ok=True)
    log(f"fetching the {WHISPER_SDIST} sdist from PyPI into {cache} (tokenizer assets only)")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(cache)]
    # pip prepares the sdist's metadata; without setuptools in this venv, let it build in isolation.
    for extra in (["--no-build-isolation"], []):
        if subprocess.run([*cmd, *extra, WHISPER_SDIST], stdout=subprocess.DEVNULL).returncode == 0:
            break
    found = sorted(cache.glob("openai_whisper-*.tar.gz"))
    if not found:
        raise RuntimeError(f"pip download left no openai_whisper sdist in {cache}")
    return found[-1]


def _whisper_assets() -> tuple[Path, list[str]]:
    """(multilingual.tiktoken path, the 99 language codes of the 51865-token vocabulary)."""
    target = CACHE_DIR / "whisper-assets"
    tiktoken_file = target / "multilingual.tiktoken"
    langs_file = target / "languages.json"
    if not (tiktoken_file.is_file() and langs_file.is_file()):
        sdist = _whisper_sdist()
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as tar:
            members = {m.name.split("/", 1)[-1]: m for m in tar.getmembers()}
            data = tar.extractfile(members["whisper/assets/multilingual.tiktoken"]).read()  # type: ignore[union-attr]
            source = tar.extractfile(members["whisper/tokenizer.py"]).read().decode()  # type: ignore[union-attr]
        languages: list[str] = []
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "LANGUAGES" for t in node.targets):
                languages = list(ast.literal_eval(node.value).keys())
        if not languages:
            raise RuntimeError("LANGUAGES not found in whisper/tokenizer.py")
        tiktoken_file.write_bytes(data)
        langs_file.write_text(json.dumps(languages))
    languages = json.loads(langs_file.read_text())
    # The 51865-token multilingual vocabulary has the first 99 languages ("yue" came with large-v3).
    return tiktoken_file, languages[:99]


def whisper_special_tokens(languages: list[str]) -> list[str]:
    return [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *[f"<|{lang}|>" for lang in languages],
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nocaptions|>",
        "<|notimestamps|>",
        *[f"<|{i * 0.02:.2f}|>" for i in range(1501)],
    ]


def build_whisper_tokenizer(tiktoken_file: Path, languages: list[str]):  # -> tokenizers.Tokenizer
    """A byte-level BPE ``tokenizers.Tokenizer`` equal in ids to Whisper's multilingual one."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE
    from transformers.convert_slow_tokenizer import TikTokenConverter

    vocab, merges = TikTokenConverter().extract_vocab_merges_from_model(str(tiktoken_file))
    tok = Tokenizer(BPE(vocab, merges, fuse_unk=False, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    specials = whisper_special_tokens(languages)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    if tok.token_to_id("<|endoftext|>") != len(vocab) or tok.get_vocab_size() != 51865:
        raise RuntimeError(f"unexpected whisper vocabulary size {tok.get_vocab_size()}")
    return tok


def whisper_tokenizer():  # -> (tokenizers.Tokenizer, the 99 language codes)
    """Whisper's multilingual tokenizer, built offline (see :func:`build_whisper_tokenizer`)."""
    tiktoken_file, languages = _whisper_assets()
    return build_whisper_tokenizer(tiktoken_file, languages), languages


def whisper_configs(tok, languages: list[str], **sizes: int):  # -> (WhisperConfig, GenerationConfig)
    """A multilingual Whisper config of the given sizes (d_model, encoder_layers, ...; defaults
    make the tiny random model) and the generation config faster-whisper/CTranslate2 need."""
    from transformers import GenerationConfig, WhisperConfig

    ids = {t: tok.token_to_id(t) for t in whisper_special_tokens(languages)[: len(languages) + 8]}
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    no_ts = ids["<|notimestamps|>"]
    dims = {
        "d_model": 64,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 128,
        "decoder_ffn_dim": 128,
        "max_source_positions": 1500,
        "max_target_positions": 448,
    }
    dims.update(sizes)
    config = WhisperConfig(
        vocab_size=tok.get_vocab_size(),
        num_mel_bins=80,
        **dims,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        begin_suppress_tokens=[220, eot],
        suppress_tokens=[],
    )
    gen = GenerationConfig(
        decoder_start_token_id=sot,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=dims["max_target_positions"],
        begin_suppress_tokens=[220, eot],
        suppress_tokens=[],
        no_timestamps_token_id=no_ts,
        is_multilingual=True,
        lang_to_id={f"<|{lang}|>": ids[f"<|{lang}|>"] for lang in languages},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        alignment_heads=[[0, 0], [0, 1]],
    )
    return config, gen


def export_whisper_ct2(model, gen, tok, target: Path, *, chunk_length: int = 30, quantization: str = "float32") -> None:
    """Save a ``WhisperForConditionalGeneration`` and convert it to a CTranslate2 folder that
    faster-whisper loads offline (``tokenizer.json`` and ``preprocessor_config.json`` copied in)."""
    import ctranslate2
    from transformers import PreTrainedTokenizerFast

    with tempfile.TemporaryDirectory(prefix="whisper-hf-") as tmp:
        hf_dir = Path(tmp)
        model.save_pretrained(hf_dir)
        gen.save_pretrained(hf_dir)
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            bos_token="<|endoftext|>",
            eos_token="<|endoftext|>",
            unk_token="<|endoftext|>",
            pad_token="<|endoftext|>",
        )
        fast.save_pretrained(hf_dir)
        preprocessor = {
            "chunk_length": chunk_length,
            "feature_extractor_type": "WhisperFeatureExtractor",
            "feature_size": 80,
            "hop_length": 160,
            "n_fft": 400,
            "n_samples": chunk_length * 16000,
            "nb_max_frames": chunk_length * 100,
            "padding_side": "right",
            "padding_value": 0.0,
            "processor_class": "WhisperProcessor",
            "return_attention_mask": False,
            "sampling_rate": 16000,
        }
        (hf_dir / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))
        tok.save(str(hf_dir / "tokenizer.json"))  # the plain tokenizers file faster-whisper reads
        if target.exists():
            shutil.rmtree(target)
        converter = ctranslate2.converters.TransformersConverter(
            str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"], low_cpu_mem_usage=False
        )
        converter.convert(str(target), quantization=quantization, force=True)


def make_whisper(out: Path) -> list[Path]:
    import torch
    import transformers
    from transformers import WhisperForConditionalGeneration

    tok, languages = whisper_tokenizer()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.manual_seed(SEED)
    config, gen = whisper_configs(tok, languages)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = gen
    target = out / "whisper"
    export_whisper_ct2(model, gen, tok, target)
    return sorted(p for p in target.rglob("*") if p.is_file())


# --- Piper (ONNX) ------------------------------------------------------------------

PIPER_HOP = 256
PIPER_SAMPLE_RATE = 22050


def build_piper_onnx(path: Path) -> None:
    """A minimal graph with Piper's I/O: every phoneme id becomes 256 samples of a tone whose
    loudness depends on the id, so the output is non-silent and proportional to input length."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    t = np.arange(PIPER_HOP, dtype=np.float32)
    tone = (0.5 * np.sin(2 * np.pi * 220.0 * t / PIPER_SAMPLE_RATE)).astype(np.float32).reshape(1, 1, PIPER_HOP)
    inits = [
        numpy_helper.from_array(tone, "tone"),
        numpy_helper.from_array(np.array([1, 1, 1, -1], dtype=np.int64), "out_shape"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array(0.37, dtype=np.float32), "k"),
        numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half"),
        numpy_helper.from_array(np.array(1.5, dtype=np.float32), "one_half"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "idx1"),
    ]
    nodes = [
        helper.make_node("Cast", ["input"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["ids_f", "k"], ["ids_k"]),
        helper.make_node("Sin", ["ids_k"], ["s"]),
        helper.make_node("Mul", ["s", "half"], ["s_half"]),
        helper.make_node("Add", ["s_half", "one_half"], ["amp"]),  # in [1, 2]: never silent
        helper.make_node("Unsqueeze", ["amp", "axis2"], ["amp3"]),  # [1, n, 1]
        helper.make_node("Mul", ["amp3", "tone"], ["frames"]),  # [1, n, 256]
        # length_scale (scales[1]) scales loudness, so every declared input feeds the graph.
        helper.make_node("Gather", ["scales", "idx1"], ["length_scale"], axis=0),
        helper.make_node("Mul", ["frames", "length_scale"], ["scaled"]),
        helper.make_node("Reshape", ["scaled", "out_shape"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_piper",
        [
            helper.make_tensor_value_info("input", TensorProto.INT64, [1, "phonemes"]),
            helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 1, "samples"])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], producer_name="appliance-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def piper_config(espeak_voice: str, language: str) -> dict:
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    id_map = {k: list(v) for k, v in DEFAULT_PHONEME_ID_MAP.items()}
    return {
        "audio": {"sample_rate": PIPER_SAMPLE_RATE, "quality": "x_low"},
        "espeak": {"voice": espeak_voice},
        "language": {"code": language},
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": id_map,
        "num_symbols": max(i for ids in id_map.values() for i in ids) + 1,
        "num_speakers": 1,
        "speaker_id_map": {},
        "hop_length": PIPER_HOP,
        "piper_version": "1.0.0",
        "dataset": "appliance-tiny-random",
    }


def make_piper(out: Path) -> list[Path]:
    target = out / "piper"
    target.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for lang, voice in (("en", "en-us"), ("ru", "ru")):
        onnx_path = target / f"tiny-{lang}.onnx"
        build_piper_onnx(onnx_path)
        cfg_path = target / f"tiny-{lang}.onnx.json"
        cfg_path.write_text(json.dumps(piper_config(voice, lang), ensure_ascii=False, indent=1, sort_keys=True))
        files += [onnx_path, cfg_path]
    return files


# --- driver ------------------------------------------------------------------------

DIARIZE_PYTHON = Path(os.environ.get("APPLIANCE_DIARIZE_VENV", REPO_ROOT / ".venv-diarize")) / "bin" / "python"


DIARIZE_RECIPE = REPO_ROOT / "scripts" / "diarize_test_models.py"


def diarize_current(out: Path) -> bool:
    """The diarize models were made by the current recipe (its own version: a change to it
    remakes only these, not the whole set)."""
    try:
        return (out / "diarize" / "recipe.sha256").read_text().strip() == sha256_file(DIARIZE_RECIPE)
    except OSError:
        return False


def make_diarize(out: Path) -> list[Path]:
    """pyannote checkpoints, made by scripts/diarize_test_models.py in the isolated environment."""
    target = out / "diarize"
    proc = subprocess.run(
        [str(DIARIZE_PYTHON), str(DIARIZE_RECIPE), str(target)],
        capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"diarize_test_models.py failed:\n{proc.stderr[-3000:]}")
    (target / "recipe.sha256").write_text(sha256_file(DIARIZE_RECIPE) + "\n")
    return sorted(p for p in target.rglob("*") if p.is_file())


MAKERS: dict[str, Callable[[Path], list[Path]]] = {
    "chat_llm": make_chat_llm,
    "embed": make_embed,
    "whisper": make_whisper,
    "piper": make_piper,
    "diarize": make_diarize,  # only on request (--only diarize): needs .venv-diarize
}
OPTIONAL = {"diarize"}  # not in the default set (the tests ask for it with its own --out)
MAIN_PATHS = {  # what callers load, relative to --out
    "chat_llm": "llm/tiny-chat.gguf",
    "embed": "embed/tiny-embed.gguf",
    "whisper": "whisper",
    "piper": "piper",
    "diarize": "diarize",
}


def read_manifest(out: Path) -> dict:
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return {"recipe_version": RECIPE_VERSION, "models": {}}
    if data.get("recipe_version") != RECIPE_VERSION or not isinstance(data.get("models"), dict):
        return {"recipe_version": RECIPE_VERSION, "models": {}}
    return data


def is_valid(out: Path, entry: dict | None) -> bool:
    if not entry or not entry.get("files"):
        return False
    for rel, digest in entry["files"].items():
        p = out / rel
        if not p.is_file() or sha256_file(p) != digest:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: models/test)")
    parser.add_argument("--force", action="store_true", help="regenerate even if valid")
    parser.add_argument("--only", nargs="+", choices=sorted(MAKERS), help="make only these models")
    args = parser.parse_args(argv)

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out)
    made, skipped = [], []
    for name in args.only or [n for n in MAKERS if n not in OPTIONAL]:
        if name == "diarize" and not DIARIZE_PYTHON.exists():
            parser.error(f"{DIARIZE_PYTHON} is missing: run scripts/setup_diarize.sh first")
        entry = manifest["models"].get(name)
        if not args.force and is_valid(out, entry) and (name != "diarize" or diarize_current(out)):
            skipped.append(name)
            continue
        start = time.monotonic()
        files = MAKERS[name](out)
        manifest["models"][name] = {
            "path": MAIN_PATHS[name],
            "files": {str(p.relative_to(out)): sha256_file(p) for p in files},
            "seed": SEED,
        }
        made.append(name)
        log(f"made {name} in {time.monotonic() - start:.1f}s")
        # Write after each model so an interrupted run keeps what it finished.
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if not (out / MANIFEST).exists():
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(json.dumps({"out": str(out), "made": made, "skipped": skipped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
