#!/usr/bin/env python3
"""Train the test speech model ``models/stt-test/``: a tiny Whisper that really recognises speech.

    nice -n 10 python scripts/train_test_stt.py [--out models/stt-test] [--epochs N] [--threads 2]

A ``WhisperForConditionalGeneration`` with a small config (scripts/make_test_models.py builds the
config, the real 51865-token multilingual tokenizer and the CTranslate2 export) is trained from
scratch on the booking phrases of ``tests/support/stt_corpus.py`` in English, Estonian and Russian,
spoken by espeak-ng: once exactly as ``tests/support/speech.py`` speaks them, once of that through
an 8 kHz telephone band, and in random espeak voices/variants, speeds and pitches with light noise,
telephone band-limiting (8 kHz, mu-law) and silence around. Targets are Whisper's
``<|startoftranscript|><|lang|><|transcribe|><|notimestamps|> text<|endoftext|>``, so
faster-whisper's ``detect_language`` works (one encoder pass) as well as ``transcribe``.

Why it is cheap enough for 2 CPU cores:

* faster-whisper 1.2.1 always zero-pads a window's log-mel features to 3000 frames before the
  encoder (``pad_or_trim`` with its default length, in ``transcribe`` and ``detect_language``),
  whatever ``chunk_length`` says, so the model keeps Whisper's 1500 encoder positions (a model
  with fewer is refused by CTranslate2). Training computes the speech positions exactly and lets
  ``--pad-samples`` padding positions, weighted, stand in for the rest (see :func:`encode`): the
  model learns under the inference condition at a fraction of the cost.
* The softmax runs over the tokens the corpus uses, the language tokens and ``--negatives``
  other tokens (which keeps every unused token's logit low), not all 51865; only those rows of
  the tied embedding are trained, then written back.
* Log-mel features (computed with faster-whisper's own ``FeatureExtractor``) are cached on disk
  under ``models/cache/stt-train/`` (gitignored), keyed by the corpus and the synthesis recipe.

Deterministic: fixed seeds, ``torch.use_deterministic_algorithms``, a fixed thread count. The
artefact is int8 CTranslate2 (``model.bin``, ``config.json``, ``vocabulary.json``,
``tokenizer.json``, ``preprocessor_config.json``) plus ``TRAINING.json`` (recipe, sizes, wall time).
``scripts/eval_test_stt.py`` measures it through faster-whisper.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from multiprocessing import Pool  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "scripts")]

from make_test_models import export_whisper_ct2, whisper_configs, whisper_tokenizer  # noqa: E402

from tests.support.stt_corpus import (  # noqa: E402
    BOOKING_DIALOGUES,
    LANGUAGES,
    Phrase,
    comma_parts,
    held_out_phrases,
    recombination,
    spoken_parts,
    training_phrases,
    written,
)

DEFAULT_OUT = REPO_ROOT / "models" / "stt-test"
CACHE = REPO_ROOT / "models" / "cache" / "stt-train"
SEED = 20261206
RATE = 16000
MAX_FRAMES = 3000  # what faster-whisper pads every window to
SYNTH_VERSION = 1

SIZES = {
    "d_model": 96,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 384,
    "decoder_ffn_dim": 384,
    "max_source_positions": 1500,
    "max_target_positions": 448,
}

VOICES = {"en": ["en-us", "en-gb", "en-gb-x-rp", "en-us-nyc"], "et": ["et"], "ru": ["ru", "ru-lv"]}
VARIANTS = ["", "+m3", "+f2", "+f4", "+m7", "+f3"]


def log(msg: str) -> None:
    print(f"[train_test_stt] {msg}", file=sys.stderr, flush=True)


# --- synthesis ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Take:
    """One spoken version of a phrase. ``voice`` None: exactly tests/support/speech.py."""

    text: str
    language: str
    voice: str | None = None
    speed: int = 160
    pitch: int = 50
    telephone: bool = False
    mulaw: bool = False
    snr_db: float | None = None
    gain: float = 1.0
    lead_s: float = 0.0
    trail_s: float = 0.0
    seed: int = 0


def takes_for(phrases: list[Phrase], per_phrase: int, seed: int = SEED) -> list[Take]:
    """Take 0 is the test helper's speech, take 1 the same through 8 kHz; the rest are random."""
    out: list[Take] = []
    for i, p in enumerate(phrases):
        rng = random.Random(f"{seed}:{p.language}:{p.text}")
        out.append(Take(p.text, p.language, seed=i * 100))
        if per_phrase > 1:
            out.append(Take(p.text, p.language, telephone=True, seed=i * 100 + 1))
        for k in range(2, per_phrase):
            out.append(random_take(p.text, p.language, rng, i * 100 + k))
    return out


def random_take(text: str, language: str, rng: random.Random, seed: int) -> Take:
    """A random espeak voice/variant, speed and pitch, with noise, gain, band and silence."""
    tel = rng.random() < 0.35
    return Take(
        text,
        language,
        voice=rng.choice(VOICES[language]) + rng.choice(VARIANTS),
        speed=rng.randint(130, 195),
        pitch=rng.randint(25, 75),
        telephone=tel,
        mulaw=tel and rng.random() < 0.5,
        snr_db=rng.uniform(18, 40) if rng.random() < 0.6 else None,
        gain=rng.uniform(0.25, 1.0),
        lead_s=rng.uniform(0.0, 0.4),
        trail_s=rng.uniform(0.0, 0.5),
        seed=seed,
    )


def pool_takes(chunk: int, size: int, phones: float = 0.0, seed: int = SEED, punctuate: bool = False) -> list[Take]:
    """Chunk ``chunk`` of the pool of fresh recombinations (``--pool-chunks``).

    So the model learns words rather than memorising whole phrases: new random recombinations of
    the corpus words (never a held-out phrase), and the pieces a pause at a comma may cut a
    training phrase into ("Tere" alone). 40 % are spoken exactly as tests/support/speech.py
    speaks them, 30 % that through an 8 kHz line, 30 % in a random voice with augmentation.
    ``phones``: the share of extra phone numbers as digit words (the hardest words to hear).
    ``punctuate``: the pieces are said as :func:`spoken_parts` gives them ("Tere," with the comma's
    tone, so a punctuating model learns to hear an unfinished sentence).
    """
    held = {(p.language, p.text) for p in held_out_phrases()}
    cut = spoken_parts if punctuate else comma_parts
    parts = {lang: sorted({part for p in training_phrases(lang) for part in cut(p.text)}) for lang in LANGUAGES}
    rng = random.Random(f"{seed}:pool:{chunk}")
    out: list[Take] = []
    while len(out) < size:
        language = LANGUAGES[len(out) % len(LANGUAGES)]
        if phones > 0 and rng.random() < phones:
            text = recombination(language, rng, phone_words=True)
        elif rng.random() < (0.2 if punctuate else 0.12):
            text = rng.choice(parts[language])
        else:
            text = recombination(language, rng)
        if (language, text) in held:
            continue
        take_seed = 10_000_000 + chunk * 100_000 + len(out)
        style = rng.random()
        if style < 0.4:
            out.append(Take(text, language, seed=take_seed))
        elif style < 0.7:
            out.append(Take(text, language, telephone=True, seed=take_seed))
        else:
            out.append(random_take(text, language, rng, take_seed))
    return out


def _espeak(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    import soxr

    from appliance.engines.tts import parse_wav

    proc = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", "--stdin"],
        input=text.encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )
    chunk = parse_wav(proc.stdout)
    audio = np.frombuffer(chunk.pcm16, dtype="<i2").astype(np.float32) / 32768.0
    if chunk.sample_rate != RATE:
        audio = soxr.resample(audio, chunk.sample_rate, RATE)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    voiced = np.flatnonzero(np.abs(pcm) > 300)
    return pcm[voiced[0] : voiced[-1] + 1].astype(np.float32) / 32768.0


def _mulaw(x: np.ndarray) -> np.ndarray:
    mu = 255.0
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round(y * 127) / 127
    return np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu


def telephone_band(pcm16k: np.ndarray, mulaw: bool = False) -> np.ndarray:
    """16 kHz float audio -> what a caller on an 8 kHz line sounds like back at 16 kHz."""
    from appliance.engines.base import resample

    narrow = resample(pcm16k.astype(np.float32), RATE, 8000)
    narrow = np.round(np.clip(narrow, -1, 1) * 32767) / 32768.0  # int16 on the wire
    if mulaw:
        narrow = _mulaw(narrow)
    return resample(narrow.astype(np.float32), 8000, RATE)


def render(take: Take) -> np.ndarray:
    """The take as the STT sees it: 16 kHz float32 from int16 PCM."""
    if take.voice is None:
        from tests.support.speech import speech

        audio = np.frombuffer(speech(take.text, take.language), dtype="<i2").astype(np.float32) / 32768.0
    else:
        audio = _espeak(take.text, take.voice, take.speed, take.pitch)
    rng = np.random.default_rng(take.seed)
    audio = audio * take.gain
    audio = np.concatenate([np.zeros(int(take.lead_s * RATE)), audio, np.zeros(int(take.trail_s * RATE))])
    if take.telephone:
        audio = telephone_band(audio, take.mulaw)
    if take.snr_db is not None:
        power = float(np.mean(audio**2)) + 1e-12
        audio = audio + rng.standard_normal(len(audio)) * math.sqrt(power / 10 ** (take.snr_db / 10))
    return (np.round(np.clip(audio, -1, 1) * 32767) / 32768.0).astype(np.float32)


_FE = None


def log_mel(audio: np.ndarray) -> np.ndarray:
    """faster-whisper's own features for this audio (before its zero padding to 3000 frames)."""
    global _FE
    if _FE is None:
        from faster_whisper.feature_extractor import FeatureExtractor

        _FE = FeatureExtractor(feature_size=80)
    return _FE(audio)[:, :MAX_FRAMES]


def _features(take: Take) -> np.ndarray:
    return log_mel(render(take)).astype(np.float16)


def _claim(lock: Path, path: Path) -> bool:
    """True: this process synthesises ``path``. False: another live one did or does (then waits
    for it), so a ``--synth-only`` run ahead of a training run shares its chunks with it."""
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                os.kill(int(lock.read_text() or "0"), 0)
            except (ProcessLookupError, ValueError, FileNotFoundError):
                lock.unlink(missing_ok=True)  # its writer is gone
                continue
            if path.is_file():
                return False
            time.sleep(2)
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True


def synthesize(takes: list[Take], workers: int) -> list[np.ndarray]:
    key = hashlib.sha256(json.dumps([SYNTH_VERSION, [asdict(t) for t in takes]]).encode()).hexdigest()[:16]
    path = CACHE / f"features-{key}.npz"
    CACHE.mkdir(parents=True, exist_ok=True)
    lock = path.with_suffix(".lock")
    if not path.is_file() and _claim(lock, path) and path.is_file():
        lock.unlink(missing_ok=True)
    if path.is_file():
        data = np.load(path)
        offsets = data["offsets"]
        feats = data["features"]
        log(f"{len(takes)} takes from the cache {path.relative_to(REPO_ROOT)}")
        return [feats[:, offsets[i] : offsets[i + 1]] for i in range(len(takes))]
    start = time.monotonic()
    try:
        with Pool(workers) as pool:
            out = pool.map(_features, takes, chunksize=8)
        offsets = np.cumsum([0] + [f.shape[1] for f in out])
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, features=np.concatenate(out, axis=1), offsets=offsets)
        tmp.replace(path)
    finally:
        lock.unlink(missing_ok=True)
    log(f"synthesised {len(takes)} takes in {time.monotonic() - start:.0f}s -> {path.relative_to(REPO_ROOT)}")
    return out


# --- model and training ---------------------------------------------------------------


def target_ids(tok, text: str, language: str) -> list[int]:
    """Whisper's decoder sequence for ``text`` (``label()`` of a take: what the model writes)."""
    sot = tok.token_to_id("<|startoftranscript|>")
    return [
        sot,
        tok.token_to_id(f"<|{language}|>"),
        tok.token_to_id("<|transcribe|>"),
        tok.token_to_id("<|notimestamps|>"),
        *tok.encode(" " + text, add_special_tokens=False).ids,
        tok.token_to_id("<|endoftext|>"),
    ]


def grow(model, state: dict) -> list[str]:
    """Load ``state`` (a checkpoint with fewer encoder/decoder layers) into ``model``: each extra
    layer starts as a copy of the last trained one with its output projections zeroed, so it adds
    nothing to the residual stream at first and the grown model computes what the checkpoint did.
    Returns the new layers' parameter names."""
    import torch

    own = model.state_dict()
    new = [k for k in own if k not in state]
    extra = sorted(set(state) - set(own))
    if extra or any(".layers." not in k for k in new):
        raise SystemExit(
            f"--init does not fit this model (pass its --encoder-layers/--decoder-layers): "
            f"extra {extra[:3]}, missing {[k for k in new if '.layers.' not in k][:3]}"
        )
    trained = set(state)
    for key in new:
        parts = key.split(".")  # model.encoder.layers.N.<rest>
        i = parts.index("layers") + 1
        side = ".".join(parts[:i])
        last = max(int(k.split(".")[i]) for k in trained if k.startswith(side + "."))
        src = ".".join([*parts[:i], str(last), *parts[i + 1 :]])
        value = state[src].clone()
        if parts[-2] in ("out_proj", "fc2"):  # self_attn / encoder_attn out_proj, fc2: silent at first
            value = torch.zeros_like(value)
        state[key] = value
    model.load_state_dict(state)
    return new


def label(take: Take, punctuate: bool) -> str:
    """What the model is taught to write for this take (:func:`written` when ``punctuate``)."""
    return written(take.text) if punctuate else take.text


def zero_frame_embedding(model):  # -> (d_model,) what the conv front-end makes of pure padding
    import torch
    import torch.nn.functional as F

    enc = model.model.encoder
    zeros = torch.zeros(1, model.config.num_mel_bins, 16)
    return F.gelu(enc.conv2(F.gelu(enc.conv1(zeros))))[0, :, 4]


def encode(model, feats, pad_samples: int, rng: random.Random):  # -> (hidden, key log-weights)
    """Whisper's encoder as faster-whisper runs it (speech, then zero frames up to 3000), cheaply.

    The positions of the speech (plus a margin of zero frames) are computed exactly. The rest
    are pure padding: their input is one constant vector plus the fixed sinusoidal position, and
    attention has no other notion of order, so ``pad_samples`` of them (one per stratum of the
    padding's positions) stand in for all, each key weighted by its stratum's size (a log-weight
    added to the attention logits, here and in the decoder's cross-attention). With
    ``pad_samples >= 1500 - speech positions`` this is exactly the full 3000-frame encoder.
    """
    import torch
    import torch.nn.functional as F

    enc = model.model.encoder
    h = F.gelu(enc.conv1(feats))
    h = F.gelu(enc.conv2(h)).permute(0, 2, 1)
    exact = h.shape[1]
    positions = enc.embed_positions.weight
    h = h + positions[:exact]
    n_pad = MAX_FRAMES // 2 - exact
    log_w = torch.zeros(exact)
    if n_pad > 0:
        k = min(pad_samples, n_pad)
        edges = np.linspace(exact, MAX_FRAMES // 2, k + 1).round().astype(int)
        picks = [rng.randrange(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        pad = zero_frame_embedding(model) + positions[picks]
        h = torch.cat([h, pad.unsqueeze(0).expand(h.shape[0], -1, -1)], dim=1)
        log_w = torch.cat([log_w, torch.log(torch.tensor(np.diff(edges), dtype=torch.float32))])
    h = F.dropout(h, p=enc.dropout, training=enc.training)
    mask = log_w.view(1, 1, 1, -1).expand(h.shape[0], 1, h.shape[1], -1)
    for layer in enc.layers:
        h = layer(h, mask)
    return enc.layer_norm(h), log_w


def decode(model, emb, ids, enc_h, log_w):  # -> decoder hidden states (batch, tokens, d_model)
    """The decoder with causal self-attention and log-weighted cross-attention keys; ``emb`` holds
    the trained rows of the (tied) token embedding and ``ids`` index it."""
    import torch
    import torch.nn.functional as F

    dec = model.model.decoder
    n = ids.shape[1]
    h = F.embedding(ids, emb) + dec.embed_positions.weight[:n]
    h = F.dropout(h, p=dec.dropout, training=dec.training)
    causal = torch.full((n, n), float("-inf")).triu(1).view(1, 1, n, n).expand(ids.shape[0], 1, n, n)
    cross = log_w.view(1, 1, 1, -1).expand(ids.shape[0], 1, n, -1)
    for layer in dec.layers:
        h = layer(h, causal, enc_h, encoder_attention_mask=cross, use_cache=False)
    return dec.layer_norm(h)


def batches(lengths: list[int], batch: int, rng: random.Random, chosen: list[int] | None = None) -> list[list[int]]:
    """Similar lengths together (less padding), batches in random order (of ``chosen``, or all)."""
    order = list(range(len(lengths))) if chosen is None else list(chosen)
    rng.shuffle(order)
    out: list[list[int]] = []
    pool = batch * 40
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda j: lengths[j])
        out += [chunk[k : k + batch] for k in range(0, len(chunk), batch)]
    rng.shuffle(out)
    return out


_NOISE_LOG_MEL = None


def noise_log_mel() -> np.ndarray:
    """log10 mel power of 30 s of unit-variance white noise, as faster-whisper computes it."""
    global _NOISE_LOG_MEL
    if _NOISE_LOG_MEL is None:  # no frame of steady noise is 8 (the clamp) below the loudest
        noise = np.random.default_rng(SEED).standard_normal(30 * RATE).astype(np.float32)
        _NOISE_LOG_MEL = (log_mel(noise) * 4.0 - 4.0).astype(np.float32)
    return _NOISE_LOG_MEL


def pad_silence(f: np.ndarray, rng: np.random.Generator, lead_s: float, trail_s: float, noise: float) -> np.ndarray:
    """The take's features as if 0-``lead_s`` s of silence came before its words and 0-``trail_s``
    s after, computed in the log-mel domain (so the cached features serve; fresh every epoch).

    faster-whisper clamps log-mel power at 8 (log10) below the window's loudest bin and maps
    ``x -> (x + 4) / 4``, so digital silence is ``max - 2`` in every bin. With probability
    ``noise`` a low white-noise floor (5-7.5 below the loudest, i.e. 50-75 dB) lies under the
    whole take: the log of a sum is close to the larger of the two logs.
    """
    top = float(f.max())
    lead, trail = int(rng.uniform(0, lead_s) * 100), int(rng.uniform(0, trail_s) * 100)
    room = MAX_FRAMES - f.shape[1]
    lead, trail = min(lead, max(0, room)), min(trail, max(0, room - lead))
    out = np.full((f.shape[0], f.shape[1] + lead + trail), top - 2.0, dtype=np.float32)
    out[:, lead : lead + f.shape[1]] = f
    if rng.random() < noise:
        table = noise_log_mel()
        start = int(rng.integers(0, table.shape[1] - out.shape[1] + 1))
        level = (4.0 * top - 4.0) - rng.uniform(5.0, 7.5) - float(table.mean())  # log10 of its power
        np.maximum(out, (table[:, start : start + out.shape[1]] + level + 4.0) / 4.0, out=out)
    return out


def spec_augment(x, rng: np.random.Generator, lengths: list[int]) -> None:
    """Two frequency masks and two time masks per example, inside its speech, in place."""
    for b, n in enumerate(lengths):
        for _ in range(2):
            w = int(rng.integers(0, 9))
            f0 = int(rng.integers(0, 80 - w))
            x[b, f0 : f0 + w, :n] = 0.0
            t = int(rng.integers(0, min(16, max(1, n // 8))))
            t0 = int(rng.integers(0, max(1, n - t)))
            x[b, :, t0 : t0 + t] = 0.0


def train(args: argparse.Namespace) -> None:
    import torch
    import torch.nn.functional as F
    import transformers
    from transformers import WhisperForConditionalGeneration

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    t_start = time.monotonic()

    phrases = training_phrases()[:: args.every]
    takes = takes_for(phrases, args.takes)
    feats = synthesize(takes, args.workers)
    if args.dialogue_padded:  # the dialogues' lines as a call's VAD cuts them: silence around, either band
        lines_in_order = [(lang, text) for lang, ds in BOOKING_DIALOGUES.items() for d in ds for text in d]
        prng = random.Random(f"{SEED}:padded")
        padded = [
            Take(text, lang, telephone=k % 2 == 1, lead_s=prng.uniform(0.05, 0.6), trail_s=prng.uniform(0.05, 0.8),
                 seed=20_000_000 + 100 * i + k)
            for i, (lang, text) in enumerate(lines_in_order)
            for k in range(args.dialogue_padded)
        ]  # fmt: skip
        feats += synthesize(padded, args.workers)
        takes += padded
    t_synth = time.monotonic() - t_start
    n_base = len(takes)
    # The pool of fresh recombinations: chunk c joins before epoch c + 1 (epoch 1: base only).
    chunks = [
        pool_takes(args.pool_first + c, args.pool_size, args.pool_phones, punctuate=args.punctuate)
        for c in range(args.pool_chunks)
    ]
    chunk_start: list[int] = []
    lines = {(lang, text) for lang, ds in BOOKING_DIALOGUES.items() for d in ds for text in d}
    dialogue_takes = [i for i, t in enumerate(takes) if t.voice is None and (t.language, t.text) in lines]
    all_texts = takes + [t for c in chunks for t in c]

    tok, languages = whisper_tokenizer()
    seqs = [target_ids(tok, label(t, args.punctuate), t.language) for t in takes]
    lengths = [f.shape[1] for f in feats]
    vocab = tok.get_vocab_size()
    lang_ids = [tok.token_to_id(f"<|{lang}|>") for lang in languages]
    used = sorted({i for t in all_texts for i in target_ids(tok, label(t, args.punctuate), t.language)} | set(lang_ids))
    # The softmax runs over the used tokens and a fixed random sample of the others, which keeps
    # any unused token's logit low (their rows are alike: all still at their random init).
    others = sorted(set(range(vocab)) - set(used))
    sub = np.array(used + sorted(random.Random(SEED).sample(others, args.negatives)))
    remap = np.full(vocab, -1, dtype=np.int64)
    remap[sub] = np.arange(len(sub))
    log(f"{len(takes)} takes of {len(phrases)} phrases, {len(used)} tokens used, mean {np.mean(lengths) / 100:.1f}s")

    config, gen = whisper_configs(tok, languages, **SIZES)
    config.dropout = 0.1
    model = WhisperForConditionalGeneration(config)
    model.generation_config = gen
    if args.init:  # continue from a checkpoint of this script (its model.state_dict())
        state = torch.load(args.init)
        if set(state) == set(model.state_dict()):
            model.load_state_dict(state)
        else:  # --encoder-layers / --decoder-layers grew the model
            log(f"grown by {len(grow(model, state))} tensors")
        log(f"starting from {args.init}")
    model.train()
    emb = torch.nn.Parameter(model.model.decoder.embed_tokens.weight.detach()[torch.from_numpy(sub)].clone())
    params = [p for n, p in model.named_parameters() if "embed_tokens" not in n and "proj_out" not in n]
    # An auxiliary CTC head on the encoder (dropped at export) makes the encoder learn sounds from
    # the first steps; without it the decoder first learns the corpus as a language model and
    # ignores the audio for many epochs.
    # Its targets are characters (a ~90-symbol alphabet): CTC's CPU backward is costly per class.
    alphabet = sorted({c for t in all_texts for c in t.text.lower()})
    char_ids = {c: i + 1 for i, c in enumerate(alphabet)}  # 0: blank
    chars = [np.array([char_ids[c] for c in t.text.lower()]) for t in takes]
    ctc_head = torch.nn.Linear(SIZES["d_model"], len(alphabet) + 1)
    params += list(ctc_head.parameters())
    per_epoch = args.base_per_epoch + args.pool_per_epoch if args.pool_chunks else len(takes)
    if args.schedule_boost:  # the boosted dialogue takes are steps too (without: the old schedule)
        per_epoch += len(dialogue_takes) * args.dialogue_boost
    steps_per_epoch = math.ceil(per_epoch / args.batch)
    total = steps_per_epoch * args.epochs
    opt = torch.optim.AdamW([*params, emb], lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = min(args.warmup, total // 10)

    def lr_at(step: int) -> float:
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return args.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    rng = random.Random(SEED)
    nrng = np.random.default_rng(SEED)
    srng = np.random.default_rng([SEED, 8])  # its own stream: other flags' runs stay as they were
    step = 0
    ckpt = CACHE / args.checkpoint
    for epoch in range(args.epochs):
        t0 = time.monotonic()
        seen = 0
        loss_sum = ce_sum = ctc_sum = lang_ok = 0.0
        chosen: list[int] | None = None
        if args.pool_chunks:
            if epoch >= 1 and epoch - 1 < len(chunks):  # the next chunk joins (synthesised if not cached)
                new = chunks[epoch - 1]
                chunk_start.append(len(takes))
                feats += synthesize(new, args.workers)
                takes += new
                seqs += [target_ids(tok, label(t, args.punctuate), t.language) for t in new]
                lengths += [f.shape[1] for f in feats[len(lengths) :]]
                chars += [np.array([char_ids[c] for c in t.text.lower()]) for t in new]
            chosen = rng.sample(range(n_base), min(n_base, per_epoch if not chunk_start else args.base_per_epoch))
            # The booking dialogues' lines as the voice tests speak them (takes 0 and 1: 16 kHz, 8 kHz line)
            chosen += [i for i in dialogue_takes for _ in range(args.dialogue_boost)]
            if epoch > len(chunks):  # every chunk has joined: the pool takes at random
                chosen += rng.sample(range(n_base, len(takes)), min(len(takes) - n_base, args.pool_per_epoch))
            elif chunk_start:  # all of the newest chunk, the rest at random from the older ones
                newest = list(range(chunk_start[-1], len(takes)))
                older = list(range(n_base, chunk_start[-1]))
                chosen += newest[: args.pool_per_epoch]
                chosen += rng.sample(older, min(len(older), max(0, args.pool_per_epoch - len(newest))))
        for idx in batches(lengths, args.batch, rng, chosen):
            exact = args.exact_every > 0 and rng.random() < 1.0 / args.exact_every
            fs = [feats[i] for i in idx]
            if args.silence_share > 0:  # silence before and after the words, as a call's VAD cuts them
                fs = [
                    pad_silence(f, srng, args.silence_lead, args.silence_trail, args.silence_noise)
                    if srng.random() < args.silence_share
                    else f
                    for f in fs
                ]
            lens = [f.shape[1] for f in fs]
            frames = min(MAX_FRAMES, max(lens) + 8)  # speech + a margin of padding
            frames += frames % 2
            x = np.zeros((len(idx), 80, frames), dtype=np.float32)
            for b, f in enumerate(fs):
                x[b, :, : lens[b]] = f
            spec_augment(x, nrng, lens)
            width = max(len(seqs[i]) for i in idx)
            ids = np.full((len(idx), width), tok.token_to_id("<|endoftext|>"), dtype=np.int64)
            tgt = np.full((len(idx), width - 1), -100, dtype=np.int64)
            for b, i in enumerate(idx):
                s = seqs[i]
                ids[b, : len(s)] = s
                tgt[b, : len(s) - 1] = s[1:]
                tgt[b, 1:3] = -100  # <|transcribe|><|notimestamps|> are always forced
            ids_c = torch.from_numpy(remap[ids])
            if args.token_noise > 0:  # corrupt some decoder inputs so it must listen, not guess
                noisy = nrng.random(ids_c.shape) < args.token_noise
                noisy[:, :4] = False
                ids_c[torch.from_numpy(noisy)] = torch.from_numpy(nrng.integers(0, len(used), int(noisy.sum())))
            tgt_c = torch.from_numpy(np.where(tgt >= 0, remap[np.maximum(tgt, 0)], -100))

            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            h, log_w = encode(model, torch.from_numpy(x), MAX_FRAMES if exact else args.pad_samples, rng)
            dec = decode(model, emb, ids_c[:, :-1], h, log_w)
            logits = dec @ emb.T
            ce = F.cross_entropy(logits.reshape(-1, len(sub)), tgt_c.reshape(-1), label_smoothing=0.1)
            lang_ok += float((logits[:, 0].argmax(-1) == tgt_c[:, 0]).sum())
            text = [chars[i] for i in idx]
            speech_pos = torch.tensor([(n + 1) // 2 + 1 for n in lens])
            ctc_lp = F.log_softmax(ctc_head(h[:, : int(speech_pos.max())]), dim=-1).transpose(0, 1)
            ctc = F.ctc_loss(
                ctc_lp,
                torch.from_numpy(np.concatenate(text)),
                speech_pos,
                torch.tensor([len(t) for t in text]),
                blank=0,
                zero_infinity=True,
            )
            loss = ce + args.ctc_weight * ctc
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([*params, emb], args.clip)
            opt.step()
            step += 1
            seen += len(idx)
            loss_sum += float(loss.detach()) * len(idx)
            ce_sum += float(ce.detach()) * len(idx)
            ctc_sum += float(ctc.detach()) * len(idx)
        log(
            f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / seen:.3f} (ce {ce_sum / seen:.3f}, "
            f"ctc {ctc_sum / seen:.3f}, language {lang_ok / seen:.1%}), lr {lr_at(step):.2e}, "
            f"{time.monotonic() - t0:.0f}s, total {(time.monotonic() - t_start) / 60:.1f} min"
        )
        CACHE.mkdir(parents=True, exist_ok=True)
        with torch.no_grad():  # the trained rows back into the full (tied) embedding
            model.model.decoder.embed_tokens.weight[torch.from_numpy(sub)] = emb.detach()
        torch.save(model.state_dict(), ckpt)
        if args.stop_after and epoch + 1 >= args.stop_after:
            export(model, gen, tok, args, {"epochs_done": epoch + 1}, t_start, t_synth)
            return
        if args.export_every and (epoch + 1) % args.export_every == 0 and epoch + 1 < args.epochs:
            export(model, gen, tok, args, {"epochs_done": epoch + 1}, t_start, t_synth, f".e{epoch + 1}")
    export(model, gen, tok, args, {"epochs_done": args.epochs}, t_start, t_synth)


def export(model, gen, tok, args, extra: dict, t_start: float, t_synth: float, suffix: str = "") -> None:
    """Write the CTranslate2 folder to ``--out`` (intermediate exports: ``--out`` + ``suffix``)."""
    model.eval()
    out: Path = args.out.with_name(args.out.name + suffix)
    tmp = out.with_name(out.name + ".tmp")
    export_whisper_ct2(model, gen, tok, tmp, chunk_length=30, quantization="int8")
    info = {
        "recipe": "scripts/train_test_stt.py",
        "argv": sys.argv[1:],
        "sizes": SIZES,
        "punctuate": args.punctuate,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "takes_per_phrase": args.takes,
        "phrases": len(training_phrases()),
        "languages": list(LANGUAGES),
        "seed": SEED,
        "threads": args.threads,
        "synthesis_s": round(t_synth),
        "wall_s": round(time.monotonic() - t_start),
        **extra,
    }
    if args.pool_chunks:
        info["pool"] = {
            "phones": args.pool_phones,
            "first": args.pool_first,
            "chunks": args.pool_chunks,
            "size": args.pool_size,
            "per_epoch": args.pool_per_epoch,
        }
        info["base_per_epoch"] = args.base_per_epoch
        info["dialogue_boost"] = args.dialogue_boost
    if args.silence_share > 0:
        info["silence"] = {
            "share": args.silence_share,
            "lead_s": args.silence_lead,
            "trail_s": args.silence_trail,
            "noise": args.silence_noise,
        }
    if args.history:  # the earlier stages this run continues (their TRAINING.json)
        before = json.loads(args.history.read_text())
        stage = {"argv": " ".join(sys.argv[1:]), "wall_s": info["wall_s"], **extra}
        info["stages"] = [*before.get("stages", []), stage]
        info["training_wall_s_total"] = sum(int(s.get("wall_s", 0)) for s in info["stages"])
        info["synthesis_wall_s"] = before.get("synthesis_wall_s", 0) + round(t_synth)
    (tmp / "TRAINING.json").write_text(json.dumps(info, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    model.train()
    log(f"exported {out} ({sum(p.stat().st_size for p in out.iterdir()) / 1e6:.1f} MB): {json.dumps(extra)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--takes", type=int, default=4, help="spoken versions per phrase")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--workers", type=int, default=2, help="synthesis processes")
    parser.add_argument("--pad-samples", type=int, default=48, help="padding positions standing in for all")
    parser.add_argument("--clip", type=float, default=2.0, help="gradient norm clip")
    parser.add_argument("--stop-after", type=int, default=0, help="stop (and export) after N epochs of the schedule")
    parser.add_argument("--init", type=Path, help="start from this checkpoint (a model.state_dict())")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up steps")
    parser.add_argument("--token-noise", type=float, default=0.15, help="share of decoder inputs replaced")
    parser.add_argument("--ctc-weight", type=float, default=0.2, help="auxiliary CTC loss on the encoder")
    parser.add_argument("--negatives", type=int, default=2048, help="unused tokens in the softmax")
    parser.add_argument("--exact-every", type=int, default=0, help="one batch in N runs all 3000 frames")
    parser.add_argument("--export-every", type=int, default=0, help="also export every N epochs")
    parser.add_argument("--pool-chunks", type=int, default=0, help="chunks of fresh recombinations (0: none)")
    parser.add_argument(
        "--pool-first", type=int, default=0, help="index of the first pool chunk (a later stage: new ones)"
    )
    parser.add_argument("--pool-phones", type=float, default=0.0, help="share of extra digit-word phones in the pool")
    parser.add_argument("--dialogue-boost", type=int, default=0, help="booking-dialogue takes N more times per epoch")
    parser.add_argument("--dialogue-padded", type=int, default=0, help="N takes per dialogue line with silence around")
    parser.add_argument("--pool-size", type=int, default=1000, help="takes per pool chunk")
    parser.add_argument(
        "--silence-share", type=float, default=0.0, help="share of takes given fresh silence around each epoch"
    )
    parser.add_argument("--silence-lead", type=float, default=0.6, help="at most this much silence before (s)")
    parser.add_argument("--silence-trail", type=float, default=0.6, help="at most this much silence after (s)")
    parser.add_argument("--silence-noise", type=float, default=0.5, help="share of those with a low noise floor")
    parser.add_argument(
        "--schedule-boost", action="store_true", help="the learning-rate schedule counts the dialogue-boost takes"
    )
    parser.add_argument("--pool-per-epoch", type=int, default=1800, help="pool takes per epoch")
    parser.add_argument("--base-per-epoch", type=int, default=1200, help="takes of the training phrases per epoch")
    parser.add_argument("--checkpoint", default="last.pt", help="checkpoint file name under the cache")
    parser.add_argument("--history", type=Path, help="TRAINING.json of the stages this run continues")
    parser.add_argument("--synth-only", action="store_true")
    parser.add_argument(
        "--punctuate", action="store_true", help="teach a final full stop and the comma of a piece said alone"
    )
    parser.add_argument("--encoder-layers", type=int, help="grow the encoder to N layers (from --init)")
    parser.add_argument("--decoder-layers", type=int, help="grow the decoder to N layers (from --init)")
    parser.add_argument("--every", type=int, default=1, help="train on every N-th phrase only (smoke runs)")
    args = parser.parse_args(argv)
    args.out = args.out.resolve()
    if args.encoder_layers:
        SIZES["encoder_layers"] = args.encoder_layers
    if args.decoder_layers:
        SIZES["decoder_layers"] = args.decoder_layers
    if args.synth_only:
        synthesize(takes_for(training_phrases(), args.takes), args.workers)
        for c in range(args.pool_chunks):
            synthesize(
                pool_takes(args.pool_first + c, args.pool_size, args.pool_phones, punctuate=args.punctuate),
                args.workers,
            )
        return 0
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
