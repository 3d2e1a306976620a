"""The tenant's knowledge base: Markdown files -> chunks in SQLite, FTS5 + sqlite-vec.

Files live under ``knowledge.dir`` as ``<lang>/<topic>.md`` (e.g. ``et/hinnad.md``).
They are split at headings into passages of at most ``knowledge.chunk_chars``,
stored in a derived SQLite file (``<data_dir>/knowledge.db``, rebuilt by
``appliance kb reindex``) with an FTS5 index and a ``vec0`` table of
embeddings. Retrieval is hybrid: BM25 over prefix-expanded words (a cheap
stand-in for stemming Estonian and Russian case forms) fused with vector
similarity by reciprocal rank. Only passages in the session language are
returned, so every answer is in that language. Embeddings must be
multilingual: a GGUF embedding model from the manifest (``knowledge.embedding_model``),
else the deterministic character n-gram :class:`HashingEmbedder`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.core.config import Config
from appliance.core.errors import StoreError

log = logging.getLogger(__name__)

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$", re.MULTILINE)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MIN_VECTOR_SIMILARITY = 0.30
RRF_K = 60
STOPWORDS = frozenset(
    """a an the is are do does you your we our i my me to of in on for and or what when where how which can could
    have has with at be it this that there ja on kas mis kus kui ma mu mul teil teie te see et ka ning või oma
    и в на с по что как где когда ли у вы вас ваш мы я не а это есть можно""".split()
)


@dataclass(frozen=True, slots=True)
class Chunk:
    id: int
    language: str
    source: str
    heading: str
    text: str
    score: float = 0.0


def chunk_markdown(text: str, max_chars: int) -> list[tuple[str, str]]:
    """Split at headings; long sections at paragraph boundaries. Returns (heading, passage)."""
    sections: list[tuple[str, str]] = []
    matches = list(_HEADING.finditer(text))
    if not matches or matches[0].start() > 0:
        head_end = matches[0].start() if matches else len(text)
        sections.append(("", text[:head_end]))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        sections.append((m.group(2).strip(), text[m.end() : end]))
    out: list[tuple[str, str]] = []
    for heading, body in sections:
        paras = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
        buf = ""
        for p in paras:
            if buf and len(buf) + len(p) + 2 > max_chars:
                out.append((heading, buf))
                buf = ""
            buf = f"{buf}\n\n{p}" if buf else p
            while len(buf) > max_chars:
                cut = buf.rfind(" ", 0, max_chars)
                cut = cut if cut > max_chars // 2 else max_chars
                out.append((heading, buf[:cut].strip()))
                buf = buf[cut:].strip()
        if buf:
            out.append((heading, buf))
    return [(h, f"{h}\n{t}" if h else t) for h, t in out if t]


_RU_PREFIXES = ("пере", "при", "под", "раз", "рас", "без", "вы", "за", "на", "от", "по", "об", "до", "у")


def _stem(word: str) -> str:
    """A crude prefix stem: enough to match case forms (koer/koera, парковка/парковку) in FTS5."""
    return word if len(word) < 6 else word[: max(5, min(len(word) - 3, 6))]


def fts_query(text: str) -> str:
    """OR of the question's content words as prefixes ("vaktsine"*); Russian verbal prefixes
    are also stripped ("припарковаться" -> "парков"*), since FTS5 has no stemmer for them."""
    terms = []
    for w in _WORD.findall(text.casefold()):
        if w in STOPWORDS or len(w) < 3:
            continue
        stems = {_stem(w)}
        for pre in _RU_PREFIXES:
            if w.startswith(pre) and len(w) - len(pre) >= 6:
                stems.add(_stem(w[len(pre) :]))
                break
        for stem in sorted(stems):
            terms.append(f'"{stem}"*' if len(stem) >= 4 else f'"{stem}"')
    return " OR ".join(dict.fromkeys(terms))


def _pack(vec: list[float]) -> bytes:
    return struct.pack(f"{len(vec)}f", *vec)


class KnowledgeBase:
    """Hybrid retrieval over one SQLite file. Thread-safe; searches run off the event loop."""

    mode = "hybrid"

    def __init__(self, path: Path, config: Config, embedder: Any) -> None:
        self.path = path
        self.config = config
        self.embedder = embedder  # engines.embed.embedder_for(config); injected: the store imports no engines
        self._lock = threading.Lock()
        self._conn = self._connect()

    @classmethod
    def open(cls, db: Any, config: Config, embedder: Any) -> KnowledgeBase:
        """Open (and build on first use) the index next to the main database."""
        kb = cls(config.data_path / config.knowledge.db_file, config, embedder)
        if kb.stale():
            kb.reindex()
        return kb

    def _connect(self) -> Any:
        import sqlean
        import sqlite_vec

        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlean.connect(str(self.path), check_same_thread=False, isolation_level=None)
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS kb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS kb_chunks (
                id INTEGER PRIMARY KEY, language TEXT NOT NULL, source TEXT NOT NULL,
                heading TEXT NOT NULL, text TEXT NOT NULL);
            CREATE VIRTUAL TABLE IF NOT EXISTS kb_fts USING fts5(
                text, content='kb_chunks', content_rowid='id', tokenize='unicode61 remove_diacritics 0');
            """
        )
        return conn

    # -- indexing ----------------------------------------------------------------

    def _files(self) -> list[tuple[str, Path]]:
        root = self.config.kb_path
        langs = set(self.config.tenant.languages)
        out = []
        if root.is_dir():
            for p in sorted(root.glob("*/*.md")):
                if p.parent.name in langs:
                    out.append((p.parent.name, p))
        return out

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(getattr(self.embedder, "name", type(self.embedder).__name__).encode())
        h.update(str(self.config.knowledge.chunk_chars).encode())
        for lang, p in self._files():
            h.update(f"{lang}/{p.name}".encode())
            h.update(p.read_bytes())
        return h.hexdigest()

    def stale(self) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT value FROM kb_meta WHERE key='fingerprint'").fetchone()
        return row is None or row[0] != self.fingerprint()

    def reindex(self) -> dict[str, Any]:
        files = self._files()
        rows: list[tuple[str, str, str, str]] = []
        for lang, p in files:
            for heading, passage in chunk_markdown(p.read_text(encoding="utf-8"), self.config.knowledge.chunk_chars):
                rows.append((lang, f"{lang}/{p.name}", heading, passage))
        vectors = self.embedder.embed([r[3] for r in rows]) if rows else []
        dim = self.embedder.dim
        with self._lock:
            c = self._conn
            try:
                c.execute("BEGIN IMMEDIATE")
                c.execute("DROP TABLE IF EXISTS kb_vec")
                c.execute(f"CREATE VIRTUAL TABLE kb_vec USING vec0(embedding float[{dim}] distance_metric=cosine)")
                c.execute("DELETE FROM kb_chunks")
                c.execute("INSERT INTO kb_fts(kb_fts) VALUES('delete-all')")
                for (lang, source, heading, text), vec in zip(rows, vectors, strict=True):
                    cur = c.execute(
                        "INSERT INTO kb_chunks(language, source, heading, text) VALUES (?,?,?,?)",
                        (lang, source, heading, text),
                    )
                    rid = cur.lastrowid
                    c.execute("INSERT INTO kb_fts(rowid, text) VALUES (?,?)", (rid, text))
                    c.execute("INSERT INTO kb_vec(rowid, embedding) VALUES (?,?)", (rid, _pack(vec)))
                fp = self.fingerprint()
                c.execute("INSERT OR REPLACE INTO kb_meta VALUES ('fingerprint', ?)", (fp,))
                c.execute("INSERT OR REPLACE INTO kb_meta VALUES ('dim', ?)", (str(dim),))
                c.execute("COMMIT")
            except Exception as exc:
                c.execute("ROLLBACK")
                raise StoreError(f"knowledge reindex failed: {exc}") from exc
        stats = {"files": len(files), "chunks": len(rows), "embedder": getattr(self.embedder, "name", "?"), "dim": dim}
        log.info("knowledge base indexed: %s", json.dumps(stats))
        return stats

    # -- retrieval -----------------------------------------------------------------

    def search_sync(self, question: str, language: str, k: int = 3) -> list[Chunk]:
        q = fts_query(question)
        vec = self.embedder.embed([question])[0]
        with self._lock:
            c = self._conn
            fts: list[int] = []
            if q:
                fts = [
                    r[0]
                    for r in c.execute(
                        "SELECT kb_fts.rowid FROM kb_fts JOIN kb_chunks ON kb_chunks.id = kb_fts.rowid "
                        "WHERE kb_fts MATCH ? AND kb_chunks.language = ? ORDER BY bm25(kb_fts) LIMIT ?",
                        (q, language, k * 4),
                    )
                ]
            near: list[tuple[int, float]] = []
            has_vec = c.execute("SELECT 1 FROM sqlite_master WHERE name='kb_vec'").fetchone()
            if has_vec:
                near = [
                    (r[0], 1.0 - float(r[1]))
                    for r in c.execute(
                        "SELECT rowid, distance FROM kb_vec WHERE embedding MATCH ? AND k = ?",
                        (_pack(vec), k * 8),
                    )
                    if r[1] is not None  # a query without words embeds to zeros: no direction, no distance
                ]
            scores: dict[int, float] = {}
            for rank, rid in enumerate(fts):
                scores[rid] = scores.get(rid, 0.0) + 1.0 / (RRF_K + rank)
            for rank, (rid, sim) in enumerate(near):
                if sim >= MIN_VECTOR_SIMILARITY:
                    scores[rid] = scores.get(rid, 0.0) + 1.0 / (RRF_K + rank)
            if not scores:
                return []
            ids = sorted(scores, key=lambda r: -scores[r])
            placeholders = ",".join("?" * len(ids))
            rows = {
                r[0]: r
                for r in c.execute(
                    f"SELECT id, language, source, heading, text FROM kb_chunks WHERE id IN ({placeholders})", ids
                )
            }
        out = [
            Chunk(rows[i][0], rows[i][1], rows[i][2], rows[i][3], rows[i][4], scores[i])
            for i in ids
            if i in rows and rows[i][1] == language
        ]
        return out[:k]

    async def search(self, question: str, language: str, k: int = 3) -> list[Chunk]:
        return await asyncio.to_thread(self.search_sync, question, language, k)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def reindex(db: Any, config: Config, embedder: Any) -> dict[str, Any]:
    """``appliance kb reindex``."""
    kb = KnowledgeBase(config.data_path / config.knowledge.db_file, config, embedder)
    try:
        return kb.reindex()
    finally:
        kb.close()
