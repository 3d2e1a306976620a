"""A tiny stand-in for the Hugging Face Hub, for tests that exercise ``hf_hub_download``.

A real HTTP server (``http.server`` in a daemon thread, 127.0.0.1, ephemeral port) answering
``HEAD``/``GET /{repo_id}/resolve/{revision}/{filename}`` with the headers huggingface_hub reads
(``huggingface_hub/file_download.py: get_hf_file_metadata``):

* ``X-Repo-Commit``: the commit the revision resolves to (required, else "not a Hub endpoint");
* ``ETag``: git blob sha1 for regular files, sha256 for LFS files, which also get
  ``X-Linked-Etag`` (the sha256) and ``X-Linked-Size``;
* ``Content-Length``; ``Accept-Ranges: bytes``, and ``206`` + ``Content-Range`` for ``Range: bytes=N-``
  (http_get resumes with it after a dropped connection);
* errors as the Hub sends them: ``X-Error-Code`` ``RepoNotFound`` / ``RevisionNotFound`` /
  ``EntryNotFound`` / ``GatedRepo`` (401 without a token, 403 with a wrong one).

No Xet headers are sent, so huggingface_hub takes its plain HTTP path even when hf_xet is installed.

    with FakeHub() as hub:
        hub.add_repo("org/model", {"model.bin": b"..."}, gated=True, token="hf_test")
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LFS_MIN_SIZE = 1024  # files at least this big are served as LFS files


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, bytes]
    commit: str
    revisions: set[str] = field(default_factory=lambda: {"main"})
    gated: bool = False
    token: str | None = None
    lfs_min_size: int = LFS_MIN_SIZE

    def is_lfs(self, name: str) -> bool:
        return len(self.files[name]) >= self.lfs_min_size


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None
    authorization: str | None
    status: int


class FakeHub:
    """A Hub-compatible HTTP server holding a few in-memory repos."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[Request] = []
        self._truncate: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- repos -------------------------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        revisions: tuple[str, ...] = ("main",),
        gated: bool = False,
        token: str | None = None,
        lfs_min_size: int = LFS_MIN_SIZE,
    ) -> FakeRepo:
        commit = hashlib.sha1(repo_id.encode()).hexdigest()
        repo = FakeRepo(repo_id, dict(files), commit, set(revisions) | {commit}, gated, token, lfs_min_size)
        with self._lock:
            self.repos[repo_id] = repo
        return repo

    def set_file(self, repo_id: str, name: str, data: bytes) -> None:
        """Replace a file's content (e.g. a tampered upload)."""
        with self._lock:
            self.repos[repo_id].files[name] = data

    def truncate_next_get(self, repo_id: str, name: str, after: int) -> None:
        """The next full GET of this file announces the whole length, sends ``after`` bytes and drops."""
        with self._lock:
            self._truncate[(repo_id, name)] = after

    def gets(self, name: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == "GET" and (name is None or r.path.endswith("/" + name))]

    # -- server ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeHub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output quiet
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    # -- helpers -----------------------------------------------------------------------------

    def _log(self, status: int) -> None:
        with self.fake._lock:
            self.fake.requests.append(
                Request(
                    self.command,
                    urlsplit(self.path).path,
                    self.headers.get("Range"),
                    self.headers.get("Authorization"),
                    status,
                )
            )

    def _error(self, status: int, code: str, message: str, commit: str | None = None) -> None:
        self._log(status)
        body = f'{{"error": "{message}"}}'.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def _serve(self, *, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        head, sep, tail = path.lstrip("/").partition("/resolve/")
        if not sep or "/" not in tail:
            self._error(404, "RepoNotFound", "Repository not found")
            return
        repo_id = head
        revision, _, name = tail.partition("/")
        with self.fake._lock:
            repo = self.fake.repos.get(repo_id)
            data = repo.files.get(name) if repo else None
        if repo is None:
            self._error(401, "RepoNotFound", "Repository not found")
            return
        if repo.gated:
            auth = self.headers.get("Authorization")
            if not auth:
                self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must be authenticated.")
                return
            if auth != f"Bearer {repo.token}":
                self._error(
                    403, "GatedRepo", f"Access to model {repo_id} is restricted and you are not in the authorized list."
                )
                return
        if revision not in repo.revisions:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        if data is None:
            self._error(404, "EntryNotFound", f"{name} does not exist on {revision}", commit=repo.commit)
            return

        total = len(data)
        start = 0
        rng = self.headers.get("Range")
        if body and rng and rng.startswith("bytes="):
            first = rng.removeprefix("bytes=").split("-", 1)[0]
            start = int(first) if first else 0
            if start >= total:
                self._log(416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{total}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        status = 206 if body and rng and start > 0 else 200
        payload = data[start:]
        cut = None
        if body and status == 200:
            with self.fake._lock:
                cut = self.fake._truncate.pop((repo_id, name), None)
        self._log(status)
        self.send_response(status)
        etag = sha256_bytes(data) if repo.is_lfs(name) else git_blob_sha1(data)
        self.send_header("ETag", f'"{etag}"')
        self.send_header("X-Repo-Commit", repo.commit)
        if repo.is_lfs(name):
            self.send_header("X-Linked-Etag", f'"{etag}"')
            self.send_header("X-Linked-Size", str(total))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
        self.end_headers()
        if not body:
            return
        if cut is not None:
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)
