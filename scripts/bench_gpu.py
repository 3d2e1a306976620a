#!/usr/bin/env python3
"""Per-stage latency of production-shaped models with random weights, 1..20 concurrent calls.

    python scripts/bench_gpu.py --device cuda --shape production --calls 1,4,8,12,16,20
    python scripts/bench_gpu.py --device cpu --shape tiny --calls 1,2 --rounds 1   # plumbing

Latency depends on a model's shape, not its values, so no real weights are needed:

* **STT**: a Whisper of large-v3-turbo shape (d_model 1280, 32 encoder / 4 decoder layers,
  20 heads, 128 mel bins, the project's multilingual tokenizer) initialised at random with
  transformers and converted to CTranslate2 with ``scripts/make_test_models.py``'s code, run
  through faster-whisper on 2-6 s utterances (espeak-ng speech). Mode ``batched``: the N
  utterances of one point go through one ``BatchedInferencePipeline`` call (``clip_timestamps``
  marks each), so all N finish together; mode ``threads``: N threads share one ``WhisperModel``.
  Output is capped (``--stt-tokens``) and temperature fallback is off: random weights would
  otherwise decode to the 448-token limit and retry at every temperature.
* **LLM**: a llama-architecture GGUF of EuroLLM-9B's shape (hidden 4096, 42 layers, 32 heads,
  8 KV heads, FFN 12288, vocabulary 128000: ~9.2 B parameters) written with ``gguf`` from one
  random tensor per distinct shape (so writing it is cheap), prompted with as many tokens as the
  real extraction system prompt (``appliance/brain/understanding/prompts/extract.*.md``) has at
  ~3 characters per token, and an output capped at ``--llm-tokens`` with EOS banned. In-process
  (llama-cpp-python, one model: concurrent calls queue, as in the appliance's worker) or, with
  ``--llm-server URL``, N concurrent requests to an OpenAI-compatible server (``llama-server
  -np 20`` serving the same GGUF, or vLLM) that batches them; the prompt goes as token ids to
  ``/v1/completions``, so its length does not depend on the server's tokenizer.
* **TTS**: Piper on a typical reply. ``--tts-model`` names a real Piper voice (``.onnx`` with its
  ``.onnx.json``); without one the tiny random graph of ``make_test_models.py`` runs (plumbing
  only: its cost is not a production voice's).

One JSON line per (stage, calls) point on stdout; progress on stderr. Models are built once
into ``--work`` (default ``~/.cache/appliance/bench_gpu``) and reused.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
PROMPTS = REPO_ROOT / "appliance" / "brain" / "understanding" / "prompts"
RATE = 16000
CHARS_PER_TOKEN = 3.0  # conservative for et/ru; English is nearer 4 with Llama-3/Qwen tokenizers
TYPICAL_REPLY = "Thank you, I have booked you for Tuesday at three o'clock. Is there anything else I can help you with?"
UTTERANCES = [  # ~2-6 s of espeak-ng speech each
    "I would like a haircut tomorrow.",
    "Can I book a table for four people on Friday evening at seven?",
    "Hello, I need to move my appointment to next week please.",
    "What are your opening hours on Saturday and Sunday, and do I need to book in advance?",
    "Yes please.",
    "My name is Anna and my phone number is five five five, one two three four.",
]

STT_SHAPES: dict[str, dict[str, int]] = {
    "production": {  # openai/whisper-large-v3-turbo
        "d_model": 1280,
        "encoder_layers": 32,
        "decoder_layers": 4,
        "encoder_attention_heads": 20,
        "decoder_attention_heads": 20,
        "encoder_ffn_dim": 5120,
        "decoder_ffn_dim": 5120,
        "num_mel_bins": 128,
    },
    "tiny": {"num_mel_bins": 80},  # make_test_models.py's defaults: d_model 64, 1 layer each side
}
LLM_SHAPES: dict[str, dict[str, int]] = {
    # EuroLLM-9B-Instruct (docs/MODELS.md), a llama: 42 layers, GQA 32/8, FFN 12288, vocab 128000
    "production": {"hidden": 4096, "layers": 42, "heads": 32, "kv_heads": 8, "ff": 12288, "vocab": 128000},
    "tiny": {"hidden": 64, "layers": 2, "heads": 4, "kv_heads": 4, "ff": 128, "vocab": 512},
}


def log(msg: str) -> None:
    print(f"[bench_gpu] {msg}", file=sys.stderr, flush=True)


def _make_test_models() -> Any:
    spec = importlib.util.spec_from_file_location("make_test_models", REPO_ROOT / "scripts" / "make_test_models.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, int(np.ceil(0.95 * len(ordered))) - 1))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


# --- model building ------------------------------------------------------------------


def build_whisper(target: Path, shape: str, quantization: str) -> Path:
    if (target / "model.bin").is_file():
        return target
    import torch
    import transformers
    from transformers import WhisperForConditionalGeneration

    mtm = _make_test_models()
    transformers.logging.set_verbosity_error()
    tok, languages = mtm.whisper_tokenizer()
    sizes = dict(STT_SHAPES[shape])
    mel = sizes.pop("num_mel_bins")
    config, gen = mtm.whisper_configs(tok, languages, **sizes)
    config.num_mel_bins = mel
    torch.manual_seed(mtm.SEED)
    log(f"building a random whisper ({shape}) into {target}")
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = gen
    mtm.export_whisper_ct2(model, gen, tok, target, quantization=quantization)
    pre = json.loads((target / "preprocessor_config.json").read_text())
    pre["feature_size"] = mel  # export_whisper_ct2 writes 80; large-v3(-turbo) uses 128
    (target / "preprocessor_config.json").write_text(json.dumps(pre, indent=2))
    return target


def build_llm_gguf(path: Path, dims: dict[str, int], qtype_name: str) -> Path:
    """A llama GGUF of the given shape; one random tensor per distinct shape, reused by every
    layer, so a 9B file costs its disk write, not 9 B random draws."""
    if path.is_file():
        return path
    import gguf

    mtm = _make_test_models()
    qtype = {"f16": gguf.GGMLQuantizationType.F16, "q8_0": gguf.GGMLQuantizationType.Q8_0}[qtype_name]
    hidden, heads, kv_heads, ff, vocab = dims["hidden"], dims["heads"], dims["kv_heads"], dims["ff"], dims["vocab"]
    head_dim = hidden // heads
    tokens = list(mtm.SPECIAL_TOKENS) + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN] + [gguf.TokenType.CONTROL] * (len(mtm.SPECIAL_TOKENS) - 1)
    types += [gguf.TokenType.BYTE] * 256
    pad = vocab - len(tokens)  # unused ids that give the output layer its production width
    tokens += [f"<unused{i}>" for i in range(pad)]
    types += [gguf.TokenType.UNUSED] * pad
    rng = np.random.default_rng(20240601)
    cache: dict[tuple[int, ...], np.ndarray] = {}

    def w(*shape: int) -> np.ndarray:
        if shape not in cache:
            data = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
            cache[shape] = data.astype(np.float16) if qtype_name == "f16" else gguf.quants.quantize(data, qtype)
        return cache[shape]

    def add(writer: Any, name: str, data: np.ndarray) -> None:
        writer.add_tensor(name, data, raw_dtype=qtype if qtype_name == "q8_0" else None)

    path.parent.mkdir(parents=True, exist_ok=True)
    log(f"writing a random {qtype_name} llama GGUF {dims} to {path}")
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("bench-random-llama")
    writer.add_context_length(8192)
    writer.add_embedding_length(hidden)
    writer.add_block_count(dims["layers"])
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if qtype_name == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * vocab)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_chat_template(mtm.CHATML_TEMPLATE)
    ones = np.ones(hidden, dtype=np.float32)
    add(writer, "token_embd.weight", w(vocab, hidden))
    for i in range(dims["layers"]):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        add(writer, f"blk.{i}.attn_q.weight", w(hidden, hidden))
        add(writer, f"blk.{i}.attn_k.weight", w(kv_heads * head_dim, hidden))
        add(writer, f"blk.{i}.attn_v.weight", w(kv_heads * head_dim, hidden))
        add(writer, f"blk.{i}.attn_output.weight", w(hidden, hidden))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        add(writer, f"blk.{i}.ffn_gate.weight", w(ff, hidden))
        add(writer, f"blk.{i}.ffn_up.weight", w(ff, hidden))
        add(writer, f"blk.{i}.ffn_down.weight", w(hidden, ff))
    writer.add_tensor("output_norm.weight", ones)
    add(writer, "output.weight", w(vocab, hidden))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def system_prompt_chars() -> int:
    """The longest extraction system prompt (characters), the LLM prompt's real length."""
    return max(len(p.read_text(encoding="utf-8")) for p in PROMPTS.glob("extract.*.md"))


# --- stages ----------------------------------------------------------------------------


def utterances(n: int, synthetic: bool) -> list[np.ndarray]:
    """n utterances of 2-6 s: espeak-ng speech, or noise of those lengths with --synthetic-audio."""
    out: list[np.ndarray] = []
    rng = np.random.default_rng(7)
    for i in range(n):
        if synthetic:
            out.append((rng.standard_normal(int(RATE * (2 + 4 * (i % 5) / 4))) * 0.1).astype(np.float32))
            continue
        from tests.support.speech import speech

        pcm = np.frombuffer(speech(UTTERANCES[i % len(UTTERANCES)], "en"), dtype="<i2")
        audio = pcm.astype(np.float32) / 32768.0
        if len(audio) < 2 * RATE:  # pad to the 2 s floor with silence
            audio = np.concatenate([audio, np.zeros(2 * RATE - len(audio), np.float32)])
        out.append(audio[: 6 * RATE])
    return out


def run_concurrent(n: int, job: Callable[[int], Any]) -> list[float]:
    """Start n jobs at once; each job's latency from the common start to its own end."""
    barrier = threading.Barrier(n)

    def timed(i: int) -> float:
        barrier.wait()
        start = time.perf_counter()
        job(i)
        return time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(timed, range(n)))


def bench_stt(args: argparse.Namespace, calls: list[int], emit: Callable[..., None]) -> None:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    quant = "float16" if args.device == "cuda" else "float32"
    model_dir = build_whisper(args.work / f"whisper-{args.shape}-{quant}", args.shape, quant)
    compute = "float16" if args.device == "cuda" else "int8"
    model = WhisperModel(
        str(model_dir), device=args.device, compute_type=compute, num_workers=max(calls), cpu_threads=0
    )
    batched = BatchedInferencePipeline(model=model)
    audio = utterances(max(calls), args.synthetic_audio)
    opts: dict[str, Any] = {
        "language": "en",
        "beam_size": 1,
        "temperature": 0.0,
        "without_timestamps": True,
        "condition_on_previous_text": False,
        "max_new_tokens": args.stt_tokens,
        "compression_ratio_threshold": None,
        "log_prob_threshold": None,
        "no_speech_threshold": None,
    }

    def one(i: int) -> None:
        segments, _ = model.transcribe(audio[i], vad_filter=False, **opts)
        list(segments)

    def batch(n: int) -> None:
        gap = np.zeros(RATE // 2, np.float32)
        parts, clips, t = [], [], 0.0
        for a in audio[:n]:
            parts += [a, gap]
            clips.append({"start": t, "end": t + len(a) / RATE})
            t += (len(a) + len(gap)) / RATE
        segments, _ = batched.transcribe(np.concatenate(parts), clip_timestamps=clips, batch_size=n, **opts)
        list(segments)

    one(0)  # warm-up
    for n in calls:
        lat: list[float] = []
        for _ in range(args.rounds):
            if args.stt_mode == "batched":
                start = time.perf_counter()
                batch(n)
                lat += [time.perf_counter() - start] * n  # all n finish together
            else:
                lat += run_concurrent(n, one)
        secs = [len(a) / RATE for a in audio[:n]]
        emit("stt", n, lat, mode=args.stt_mode, audio_s_mean=round(sum(secs) / n, 2), max_new_tokens=args.stt_tokens)


def bench_llm(args: argparse.Namespace, calls: list[int], emit: Callable[..., None]) -> None:
    prompt_chars = system_prompt_chars() + 200  # + the caller's turn and the context lines
    prompt_tokens = args.prompt_tokens or int(prompt_chars / CHARS_PER_TOKEN)
    extra = {"prompt_chars": prompt_chars, "prompt_tokens": prompt_tokens, "max_tokens": args.llm_tokens}
    rng = np.random.default_rng(3)
    prompt = [1] + [int(t) for t in rng.integers(5, 261, prompt_tokens - 1)]  # byte tokens: valid in any vocab
    if args.llm_server:
        # /v1/completions with token ids (vLLM and llama-server accept them): the prompt has exactly
        # prompt_tokens tokens whatever the served model's tokenizer. llama-cpp-python's server takes
        # only text: --server-prompt text sends prompt_tokens letters (one token each in the
        # byte-level GGUF this script writes; fewer with a real BPE vocabulary).
        text = "".join(chr(97 + (t % 26)) for t in prompt[1:])

        def ask(i: int) -> None:
            body = {
                "model": args.llm_model,
                "prompt": prompt if args.server_prompt == "ids" else text,
                "max_tokens": args.llm_tokens,
                "temperature": 0.0,
                "ignore_eos": True,  # vLLM and llama-server honour it; others ignore it
                "cache_prompt": False,  # llama-server: no prefix reuse between calls
            }
            req = urllib.request.Request(
                args.llm_server.rstrip("/") + "/completions",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=300) as resp:
                resp.read()

        ask(0)
        for n in calls:
            lat = [x for _ in range(args.rounds) for x in run_concurrent(n, ask)]
            emit("llm", n, lat, mode="server", **extra)
        return

    import llama_cpp

    if args.device == "cuda" and not llama_cpp.llama_supports_gpu_offload():
        # A 9B model on the CPU would spend the GPU machine's time for nothing: say so and go on.
        reason = "this llama-cpp-python build has no GPU offload: install a CUDA build or use --llm-server"
        log(reason)
        print(json.dumps({"stage": "llm", "device": args.device, "shape": args.shape, "skipped": reason}), flush=True)
        return
    dims = dict(LLM_SHAPES[args.shape])
    for key in ("hidden", "layers", "ff", "vocab"):
        if getattr(args, f"llm_{key}") is not None:
            dims[key] = getattr(args, f"llm_{key}")
    name = "-".join(f"{k}{v}" for k, v in sorted(dims.items()))
    path = build_llm_gguf(args.work / f"llm-{name}-{args.llm_type}.gguf", dims, args.llm_type)
    llm = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=prompt_tokens + args.llm_tokens + 64,
        n_batch=512,
        n_gpu_layers=-1 if args.device == "cuda" else 0,
        verbose=False,
    )
    lock = threading.Lock()  # one model, one request at a time: the in-process worker's shape

    def ask_local(i: int) -> None:
        with lock:
            llm.reset()  # no prefix reuse between calls: each call's prompt is processed in full
            llm.create_completion(prompt, max_tokens=args.llm_tokens, temperature=0.0, logit_bias={2: -100.0})

    ask_local(0)
    for n in calls:
        lat = [x for _ in range(args.rounds) for x in run_concurrent(n, ask_local)]
        gpu = bool(llama_cpp.llama_supports_gpu_offload())
        emit("llm", n, lat, mode="in-process", llm_dims=dims, llm_type=args.llm_type, gpu_offload=gpu, **extra)


def bench_tts(args: argparse.Namespace, calls: list[int], emit: Callable[..., None]) -> None:
    from piper import PiperVoice

    model = args.tts_model
    if model is None:
        mtm = _make_test_models()
        model = args.work / "piper-tiny" / "tiny-en.onnx"
        if not model.is_file():
            model.parent.mkdir(parents=True, exist_ok=True)
            mtm.build_piper_onnx(model)
            cfg = mtm.piper_config("en-us", "en")
            Path(str(model) + ".json").write_text(json.dumps(cfg, ensure_ascii=False))
    voice = PiperVoice.load(str(model), use_cuda=args.device == "cuda")
    first_sentence = TYPICAL_REPLY.split(". ", 1)[0] + "."  # the first audio a caller hears

    def say(i: int) -> None:
        for _chunk in voice.synthesize(first_sentence):
            pass

    say(0)
    for n in calls:
        lat = [x for _ in range(args.rounds) for x in run_concurrent(n, say)]
        emit("tts", n, lat, model=str(model) if args.tts_model else "tiny-random", text_chars=len(first_sentence))


STAGES = {"stt": bench_stt, "llm": bench_llm, "tts": bench_tts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--shape", choices=["production", "tiny"], default="production")
    parser.add_argument("--calls", default="1,4,8,12,16,20", help="comma-separated concurrent-call counts")
    parser.add_argument("--stages", default="stt,llm,tts")
    parser.add_argument("--rounds", type=int, default=3, help="repeats per point")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "appliance" / "bench_gpu")
    parser.add_argument("--stt-mode", choices=["batched", "threads"], default="batched")
    parser.add_argument("--stt-tokens", type=int, default=24, help="decoded tokens per utterance (cap)")
    parser.add_argument("--synthetic-audio", action="store_true", help="noise instead of espeak-ng speech")
    parser.add_argument("--llm-tokens", type=int, default=48, help="output tokens per request (cap)")
    parser.add_argument("--prompt-tokens", type=int, default=0, help="override the prompt length")
    parser.add_argument("--llm-type", choices=["q8_0", "f16"], default="q8_0")
    parser.add_argument("--llm-hidden", type=int)
    parser.add_argument("--llm-layers", type=int)
    parser.add_argument("--llm-ff", type=int)
    parser.add_argument("--llm-vocab", type=int)
    parser.add_argument("--llm-server", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--llm-model", default="", help="model name for --llm-server")
    parser.add_argument("--server-prompt", choices=["ids", "text"], default="ids", help="prompt as token ids or text")
    parser.add_argument("--tts-model", type=Path, help="a real Piper voice .onnx (default: the tiny random graph)")
    args = parser.parse_args(argv)
    calls = [int(c) for c in args.calls.split(",") if c.strip()]
    if not calls or min(calls) < 1:
        parser.error("--calls needs positive integers")
    args.work.mkdir(parents=True, exist_ok=True)

    def emit(stage: str, n: int, lat: list[float], **extra: Any) -> None:
        row = {"stage": stage, "device": args.device, "shape": args.shape, "calls": n, "samples": len(lat)}
        row.update(percentiles(lat))
        row.update(extra)
        print(json.dumps(row), flush=True)

    for stage in args.stages.split(","):
        if stage not in STAGES:
            parser.error(f"unknown stage {stage!r}")
        log(f"stage {stage}")
        STAGES[stage](args, calls, emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
