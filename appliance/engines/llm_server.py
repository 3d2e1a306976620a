"""The LLM on an OpenAI-compatible server (``llm.mode = "server"``): llama.cpp's server, vLLM.

The scale-out path: several appliances, or a bigger model, on one GPU box. The same
:class:`~appliance.engines.llm.LLMEngine` port as the in-process model, so the brain's
supervision is unchanged: every failure (connection refused, a server killed mid-answer, a
timeout, an HTTP error, bad JSON) raises :class:`EngineError`/:class:`ModelError`, the
understanding marks the LLM failed, says "degraded" once and retries after its window.

Schema-constrained extraction is sent as ``response_format``. Servers spell it differently:
OpenAI, vLLM and llama.cpp's ``llama-server`` take ``{"type": "json_schema", "json_schema":
{"name", "schema"}}``; llama-cpp-python's ``python -m llama_cpp.server`` takes only
``{"type": "json_object", "schema": ...}``. ``schema_format="auto"`` sends ``json_schema``
first and, when the server refuses it (HTTP 400/422, or an error naming ``response_format``:
llama-cpp-python says 500), ``json_object`` with the schema, and keeps whichever worked.

No DNS: the host in ``base_url`` must be an IP address (config validation), and
``trust_env=False`` keeps proxy variables out of it. See docs/LLM.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import aiohttp

from appliance.core.config import check_server_url
from appliance.core.errors import EngineError, ModelError
from appliance.engines.llm import LLMCapabilities, LLMEngine, Message, parse_json_object

log = logging.getLogger(__name__)

SchemaFormat = Literal["auto", "json_schema", "json_object"]


def _timeout_error(timeout: float) -> EngineError:
    return EngineError(f"the LLM server did not answer within {timeout:.1f}s", code="engine_timeout", retryable=True)


def _unreachable(url: str, exc: BaseException) -> EngineError:
    return EngineError(
        f"the LLM server at {url} failed: {type(exc).__name__}: {exc}", code="engine_unreachable", retryable=True
    )


class _Refused(Exception):
    """The server does not take this request's shape (the schema format)."""


class OpenAIServerEngine(LLMEngine):
    """Chat completions over HTTP (aiohttp); requests may overlap, the server queues them."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "",
        api_key: str = "",
        context_length: int = 4096,
        schema_format: SchemaFormat = "auto",
    ) -> None:
        check_server_url(base_url)  # an IP address: a host name would need a DNS lookup
        self.base_url = base_url.rstrip("/")
        self.model = model  # empty: the first of GET /models, asked once
        self.api_key = api_key
        self.schema_format: SchemaFormat = schema_format
        self.capabilities = LLMCapabilities(context_length=context_length, json_schema=True, streaming=True)
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0  # chat completions sent (tests and `appliance doctor` read it)

    # --- public API ---------------------------------------------------------------

    async def load(self) -> None:
        """Check the server answers (start-up); raises EngineError when it does not."""
        await self._model_name(timeout=10.0)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], *, timeout: float, max_tokens: int = 256
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"messages": [dict(m) for m in messages], "max_tokens": max_tokens, "temperature": 0.0}
        formats = ("json_schema", "json_object") if self.schema_format == "auto" else (self.schema_format,)
        for i, fmt in enumerate(formats):
            body["response_format"] = _response_format(fmt, schema)
            try:
                data = await self._post(body, timeout)
            except _Refused as exc:
                if i + 1 < len(formats):
                    log.info("the LLM server refused response_format %s (%s); trying %s", fmt, exc, formats[i + 1])
                    continue
                raise ModelError(f"the LLM server refused the request: {exc}") from None
            if self.schema_format == "auto" and fmt != "json_schema":
                self.schema_format = "json_object"  # remembered: one request per extraction from now on
            return parse_json_object(_message_text(data))
        raise AssertionError("unreachable")  # pragma: no cover

    async def chat(self, messages: Sequence[Message], *, max_tokens: int = 256, timeout: float) -> str:
        body = {"messages": [dict(m) for m in messages], "max_tokens": max_tokens, "temperature": 0.7}
        try:
            data = await self._post(body, timeout)
        except _Refused as exc:
            raise ModelError(f"the LLM server refused the request: {exc}") from None
        return _message_text(data).strip()

    async def chat_stream(
        self, messages: Sequence[Message], *, max_tokens: int = 256, timeout: float
    ) -> AsyncIterator[str]:
        """Token pieces from the server's server-sent events as they arrive; the timeout covers the
        whole answer. A consumer that stops early closes the connection, which stops generation."""
        body: dict[str, Any] = {"messages": [dict(m) for m in messages], "max_tokens": max_tokens}
        body.update(temperature=0.7, stream=True)
        session = self._client()
        url = f"{self.base_url}/chat/completions"
        try:
            body["model"] = await self._model_name(timeout)
            self.requests += 1
            async with session.post(url, json=body, headers=self._headers(), timeout=_client_timeout(timeout)) as resp:
                await _check_status(resp)
                async for raw in resp.content:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        continue  # blank separators, comments (": ping")
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    piece = _delta_text(payload)
                    if piece:
                        yield piece
        except _Refused as exc:
            raise ModelError(f"the LLM server refused the request: {exc}") from None
        except TimeoutError:
            raise _timeout_error(timeout) from None
        except (aiohttp.ClientError, OSError) as exc:
            await self.aclose()  # a restarted server gets fresh connections
            raise _unreachable(self.base_url, exc) from exc

    # --- plumbing -----------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No proxies from the environment; IP hosts only (checked by the config), so no resolver use.
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    async def _model_name(self, timeout: float) -> str:
        if self.model:
            return self.model
        try:
            async with self._client().get(
                f"{self.base_url}/models", headers=self._headers(), timeout=_client_timeout(timeout)
            ) as resp:
                await _check_status(resp)
                data = await resp.json(content_type=None)
        except _Refused as exc:
            raise ModelError(f"the LLM server refused GET /models: {exc}") from None
        except TimeoutError:
            raise _timeout_error(timeout) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise _unreachable(self.base_url, exc) from exc
        try:
            self.model = str(data["data"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise ModelError(
                "the LLM server lists no model; set llm.model", details={"body": str(data)[:200]}
            ) from None
        log.info("LLM server %s serves %s", self.base_url, self.model)
        return self.model

    async def _post(self, body: dict[str, Any], timeout: float) -> Any:
        url = f"{self.base_url}/chat/completions"
        try:
            body["model"] = await self._model_name(timeout)
            self.requests += 1
            async with self._client().post(
                url, json=body, headers=self._headers(), timeout=_client_timeout(timeout)
            ) as resp:
                await _check_status(resp)
                return await resp.json(content_type=None)
        except TimeoutError:
            raise _timeout_error(timeout) from None
        except (aiohttp.ClientError, OSError) as exc:
            await self.aclose()  # a restarted server gets fresh connections
            raise _unreachable(self.base_url, exc) from exc
        except ValueError as exc:  # a body that is not JSON
            raise ModelError(f"the LLM server sent a body that is not JSON: {exc}") from exc


def _client_timeout(timeout: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 2.0))


def _response_format(fmt: str, schema: dict[str, Any]) -> dict[str, Any]:
    if fmt == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "extraction", "schema": schema, "strict": True}}


async def _check_status(resp: aiohttp.ClientResponse) -> None:
    if resp.status < 400:
        return
    text = (await resp.text())[:300]
    # llama-cpp-python answers a request it cannot validate with HTTP 500 naming the field.
    if resp.status in (400, 422) or "response_format" in text:
        raise _Refused(f"HTTP {resp.status}: {text}")
    raise EngineError(f"the LLM server answered HTTP {resp.status}: {text}", code="engine_http", retryable=True)


def _message_text(data: Any) -> str:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ModelError("the LLM server's answer has no message", details={"body": str(data)[:200]}) from None
    return content if isinstance(content, str) else ""


def _delta_text(payload: str) -> str:
    try:
        delta = json.loads(payload)["choices"][0].get("delta") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise ModelError("the LLM server sent a malformed stream event", details={"event": payload[:200]}) from None
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


__all__ = ["OpenAIServerEngine", "SchemaFormat"]
