"""LLM server mode against a real ``python -m llama_cpp.server`` on loopback serving the tiny test
GGUF: extraction and knowledge-base answers go through the server (checked at a recording
proxy), and a server SIGKILLed mid-conversation costs nothing but the LLM: the conversation goes
on on the rules path, "degraded" is said once, and the LLM is used again when the server is back.

The tiny model's words are random: these tests check plumbing (requests, schema, streaming,
fallbacks), never content.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from appliance.brain.understanding import proposal
from appliance.brain.understanding.proposal import EXTRACTION_SCHEMA
from appliance.core.errors import EngineError
from appliance.core.messages import Channel, ChunkType, ReplyChunk, Utterance
from appliance.engines.llm_server import OpenAIServerEngine
from appliance.voice.sentences import SentenceChunker
from tests.integration.test_conversations import Convo, make_config
from tests.support.llm_server import LlamaServer, RecordingProxy, free_port

pytestmark = pytest.mark.slow

VAGUE = "well, you know, the thing"
BOOK = ["I need a room for my dog Rex from 10 December to 12 December", "Mari Maasikas", "+372 5123 4567", "yes"]
NOTICE = "basic mode"  # en.toml degraded_notice


@pytest.fixture(scope="module")
def server(test_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    srv = LlamaServer(test_models["chat_llm"], tmp_path_factory.mktemp("llmsrv") / "server.log")
    srv.start()
    yield srv
    srv.stop()


def server_config(tmp_path: Path, base_url: str, **llm: object):
    return make_config(tmp_path, llm={"mode": "server", "base_url": base_url, "timeout_s": 30.0, **llm})


def test_engine_plumbing(server: LlamaServer) -> None:
    """The model name is asked once; the schema goes as json_schema, then (llama-cpp-python
    refuses that) as json_object, which is kept; the JSON comes back as an object; chat streams."""

    async def run(engine: OpenAIServerEngine) -> tuple[dict[str, object], dict[str, object], list[str]]:
        msgs = [{"role": "user", "content": "hello"}]
        try:
            first = await engine.complete_json(msgs, EXTRACTION_SCHEMA, timeout=30, max_tokens=128)
            second = await engine.complete_json(msgs, EXTRACTION_SCHEMA, timeout=30, max_tokens=128)
            pieces = [p async for p in engine.chat_stream(msgs, timeout=30, max_tokens=16)]
        finally:
            await engine.aclose()
        return first, second, pieces

    with RecordingProxy(server.base_url) as proxy:
        engine = OpenAIServerEngine(proxy.base_url)
        first, second, pieces = asyncio.run(run(engine))
    assert engine.model == server.models()["data"][0]["id"]
    assert [(m, p) for m, p, _ in proxy.requests][0] == ("GET", "/v1/models")
    posts = proxy.posts()
    assert len(posts) == 4 and engine.requests == 4
    assert posts[0]["response_format"]["type"] == "json_schema"
    assert posts[0]["response_format"]["json_schema"]["schema"] == EXTRACTION_SCHEMA
    assert posts[1]["response_format"] == {"type": "json_object", "schema": EXTRACTION_SCHEMA}
    assert posts[2]["response_format"] == {"type": "json_object", "schema": EXTRACTION_SCHEMA}
    assert engine.schema_format == "json_object"
    for out in (first, second):  # the grammar holds the random model to the schema's keys
        assert isinstance(out, dict) and set(out) <= set(EXTRACTION_SCHEMA["properties"])
    assert posts[3].get("stream") is True and "response_format" not in posts[3]
    assert len(pieces) >= 1 and all(isinstance(p, str) for p in pieces)


def test_conversation_extraction_goes_through_the_server(server: LlamaServer, tmp_path: Path) -> None:
    with RecordingProxy(server.base_url) as proxy:
        c = Convo(server_config(tmp_path, proxy.base_url), llm="config", session="srv-extract")
        try:
            assert isinstance(c.brain.understanding.llm, OpenAIServerEngine)  # built by make_llm
            reply = c.say(VAGUE, "en")  # the rules find nothing: the model is asked
            assert c.brain.understanding.llm_status == "ready" and not reply.degraded
            posts = proxy.posts()
            assert posts and posts[-1]["response_format"]["schema"] == EXTRACTION_SCHEMA
            assert posts[-1]["messages"][-1] == {"role": "user", "content": VAGUE}
            reply = c.script([(t, "en") for t in BOOK])
            assert reply.booking_id is not None, reply.text
        finally:
            c.close()


def test_kb_answer_streams_through_the_server(server: LlamaServer, tmp_path: Path) -> None:
    with RecordingProxy(server.base_url) as proxy:
        c = Convo(server_config(tmp_path, proxy.base_url), llm="config", session="srv-kb")
        try:
            utt = Utterance("srv-kb", Channel.VOICE, "Which vaccinations does my dog need?")

            async def ask() -> list[ReplyChunk]:
                return [ch async for ch in c.brain.handle_stream(utt, SentenceChunker)]

            chunks = c.loop.run_until_complete(ask())
        finally:
            c.close()
    streamed = [p for p in proxy.posts() if p.get("stream")]
    assert streamed, proxy.requests  # the answer was asked for as a token stream
    assert "vaccin" in streamed[-1]["messages"][0]["content"].lower()  # with the retrieved passage
    last = chunks[-1]
    assert last.type is ChunkType.REPLY and last.reply is not None
    assert last.reply.text and not last.reply.degraded


def test_stream_cut_by_sigkill_is_an_engine_error(test_models: dict[str, Path], tmp_path: Path) -> None:
    srv = LlamaServer(test_models["chat_llm"], tmp_path / "server.log")
    srv.start()

    async def run() -> None:
        engine = OpenAIServerEngine(srv.base_url)
        msgs = [{"role": "user", "content": "tell me a long story"}]
        pieces = 0
        try:
            with pytest.raises(EngineError) as exc:
                async for _ in engine.chat_stream(msgs, timeout=60, max_tokens=400):
                    pieces += 1
                    srv.kill()  # the first piece arrived: kill the server mid-answer
            assert pieces >= 1 and exc.value.code == "engine_unreachable"
            with pytest.raises(EngineError):  # connection refused now
                await engine.chat(msgs, timeout=5, max_tokens=4)
        finally:
            await engine.aclose()

    try:
        asyncio.run(run())
    finally:
        srv.stop()


def test_server_killed_mid_conversation(
    test_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proposal, "RETRY_AFTER_FAILURE_S", 1.0)  # the retry window, shortened
    srv = LlamaServer(test_models["chat_llm"], tmp_path / "server.log")
    srv.start()
    cfg = server_config(tmp_path, srv.base_url, schema_format="json_object")  # llama-cpp-python's spelling
    c = Convo(cfg, llm="config", session="srv-kill")
    engine = c.brain.understanding.llm
    try:
        assert isinstance(engine, OpenAIServerEngine)
        reply = c.say(VAGUE, "en")
        assert engine.requests == 1 and not reply.degraded

        srv.kill()
        replies = [c.say(VAGUE, "en")]  # the request fails: rules path, degraded
        assert c.brain.understanding.llm_status == "failing" and c.brain.degraded
        replies += [c.say(t, "en") for t in BOOK]  # the booking goes on without the model
        assert replies[-1].booking_id is not None, replies[-1].text
        assert all(r.degraded for r in replies)
        assert sum(NOTICE in r.text for r in replies) == 1  # said once

        srv.start()  # back on the same port
        time.sleep(1.2)  # past the retry window
        before = engine.requests
        reply = c.say(VAGUE, "en")
        assert engine.requests > before  # the model is asked again ...
        assert c.brain.understanding.llm_status == "ready" and not reply.degraded  # ... and trusted again
    finally:
        c.close()
        srv.stop()


def test_doctor_reports_the_server(server: LlamaServer, tmp_path: Path) -> None:
    from appliance.ops.checks import llm_server_check

    name = server.models()["data"][0]["id"]
    status, detail = llm_server_check(server_config(tmp_path, server.base_url))[2:]
    assert status == "ok" and name in detail, detail
    status, detail = llm_server_check(server_config(tmp_path, server.base_url, model="no-such-model"))[2:]
    assert status == "warn" and "no-such-model" in detail
    dead = f"http://127.0.0.1:{free_port()}/v1"
    assert llm_server_check(server_config(tmp_path, dead))[2] == "warn"


def test_a_server_that_never_answers_times_out() -> None:
    """A socket that accepts connections and says nothing: the request's timeout, as in-process."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        engine = OpenAIServerEngine(f"http://127.0.0.1:{silent.getsockname()[1]}/v1", model="m")
        msgs = [{"role": "user", "content": "hi"}]

        async def run() -> list[str]:
            codes = []
            try:
                for call in (
                    engine.complete_json(msgs, EXTRACTION_SCHEMA, timeout=0.5),
                    engine.chat(msgs, timeout=0.5),
                    _drain(engine.chat_stream(msgs, timeout=0.5)),
                ):
                    started = time.monotonic()
                    with pytest.raises(EngineError) as exc:
                        await call
                    assert time.monotonic() - started < 5
                    codes.append(exc.value.code)
            finally:
                await engine.aclose()
            return codes

        assert asyncio.run(run()) == ["engine_timeout"] * 3


async def _drain(pieces: AsyncIterator[str]) -> None:
    async for _ in pieces:
        pass


def test_api_key(test_models: dict[str, Path], tmp_path: Path) -> None:
    srv = LlamaServer(test_models["chat_llm"], tmp_path / "server.log", api_key="s3cret")
    srv.start()
    msgs = [{"role": "user", "content": "hi"}]

    async def run(key: str) -> str:
        engine = OpenAIServerEngine(srv.base_url, model="tiny", api_key=key)
        try:
            return await engine.chat(msgs, timeout=30, max_tokens=4)
        finally:
            await engine.aclose()

    try:
        with pytest.raises(EngineError) as exc:
            asyncio.run(run(""))
        assert "401" in str(exc.value)
        assert isinstance(asyncio.run(run("s3cret")), str)
    finally:
        srv.stop()


def test_a_host_name_is_refused_before_any_lookup() -> None:
    with pytest.raises(ValueError, match="no DNS lookups"):
        OpenAIServerEngine("http://gpu-server.lan:8000/v1")
