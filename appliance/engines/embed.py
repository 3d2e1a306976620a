"""Text embeddings for the knowledge base.

``embed`` is blocking (indexing runs in the store's threads); ``aembed`` hands it to a thread
for callers on the event loop. Vectors are L2-normalised, so a dot product is the cosine.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import threading
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.core.errors import EngineUnavailable, ModelError
from appliance.engines.base import require, require_path

if TYPE_CHECKING:
    from appliance.core.config import Config

log = logging.getLogger(__name__)


def l2_normalize(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [float(x) / norm for x in vector] if norm > 0 else [0.0] * len(vector)


class Embedder(ABC):
    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of every vector ``embed`` returns."""

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text (blocking: call from a thread, or use ``aembed``)."""

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed, list(texts))

    @property
    def name(self) -> str:
        return type(self).__name__


class HashingEmbedder(Embedder):
    """Deterministic fallback when no embedding model is configured.

    Features are the casefolded, NFKC-normalised words and their character n-grams (3-5,
    with word boundaries), hashed with BLAKE2 into ``dim`` signed buckets. It works for any
    script (Estonian, Russian, ...) by construction, needs no model and gives the same vector
    on every machine and run (Python's ``hash`` is salted; BLAKE2 is not).
    """

    _WORD = re.compile(r"\w+", re.UNICODE)

    def __init__(self, dim: int = 256, ngrams: tuple[int, int] = (3, 5)) -> None:
        if dim < 8:
            raise ValueError("dim must be at least 8")
        self._dim = dim
        self._ngrams = ngrams

    @property
    def dim(self) -> int:
        return self._dim

    def _features(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text).casefold()
        feats: list[str] = []
        lo, hi = self._ngrams
        for word in self._WORD.findall(text):
            feats.append("w:" + word)
            padded = f"<{word}>"
            for n in range(lo, hi + 1):
                feats.extend("c:" + padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
        return feats

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self._dim
        for feat in self._features(text):
            digest = hashlib.blake2b(feat.encode("utf-8"), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            vec[value % self._dim] += 1.0 if (value >> 63) & 1 else -1.0
        return l2_normalize(vec)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]


class LlamaCppEmbedder(Embedder):
    """A GGUF embedding model through llama-cpp-python (``Llama(..., embedding=True)``).

    Uses the model's own pooling (e.g. mean or CLS from its GGUF metadata); if the model
    returns one vector per token (no pooling), they are mean-pooled here.
    """

    def __init__(self, model_path: str | Path, *, n_ctx: int = 512, threads: int | None = None) -> None:
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.threads = threads
        self._llm: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._llm is None:
                require_path(self.model_path, what="embedding model")
                llama_cpp = require("llama_cpp", what="the embedding model")
                try:
                    self._llm = llama_cpp.Llama(
                        model_path=str(self.model_path),
                        embedding=True,
                        n_ctx=self.n_ctx,
                        n_threads=self.threads,
                        verbose=False,
                    )
                except Exception as exc:
                    raise EngineUnavailable(f"could not load embedding model {self.model_path}: {exc}") from exc
            return self._llm

    def load(self) -> None:
        self._load()

    @property
    def dim(self) -> int:
        return int(self._load().n_embd())

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        llm = self._load()
        out: list[list[float]] = []
        with self._lock:  # a Llama context is not safe for concurrent use
            for text in texts:
                try:
                    raw = llm.embed(text or " ", truncate=True)
                except Exception as exc:
                    raise ModelError(f"embedding failed: {exc}") from exc
                if raw and isinstance(raw[0], list):  # per-token vectors: mean-pool
                    n = len(raw)
                    raw = [sum(col) / n for col in zip(*raw, strict=True)]
                out.append(l2_normalize(raw))
        return out


__all__ = ["Embedder", "HashingEmbedder", "LlamaCppEmbedder", "l2_normalize"]


def embedder_for(config: Config) -> Embedder:
    """The configured embedder; the hashing one when no model is configured or it is missing."""
    ref = config.knowledge.embedding_model
    if not ref:
        return HashingEmbedder()
    from appliance.engines.manifest import models_dir, resolve_model_ref

    try:
        path = resolve_model_ref(ref, dest=models_dir(config))
    except EngineUnavailable as exc:
        log.warning("embedding model unavailable (%s); using the hashing embedder", exc)
        return HashingEmbedder()
    if path is None:
        return HashingEmbedder()
    return LlamaCppEmbedder(path, threads=config.llm.threads)
