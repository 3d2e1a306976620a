"""A small client of the daemon's control API (``/v1`` over the Unix socket).

Used by the console and the staff CLI commands. Answers are plain JSON;
errors become :class:`~appliance.core.control.ApiError` with the server's code.
A daemon that is not running is ``ApiError(unavailable)``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from appliance.core.control import ApiError, ErrorCode, event_from_dict
from appliance.core.messages import Event

BASE = "http://appliance/v1"  # the host is ignored on a Unix socket


class ApiClient:
    def __init__(self, socket_path: Path | str, *, timeout_s: float = 15.0, tenant: str | None = None) -> None:
        self.socket_path = str(socket_path)
        self.tenant = tenant  # ``?tenant=``: one tenant's data (an id) or every tenant's lists ("all")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=self.socket_path))
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def request(self, method: str, path: str, data: Any = None, params: dict[str, str] | None = None) -> Any:
        if self.tenant:
            params = {**(params or {}), "tenant": self.tenant}
        try:
            async with self._session().request(
                method, BASE + path, json=data, params=params, timeout=self.timeout
            ) as resp:
                raw = await resp.read()
                try:
                    payload = json.loads(raw) if raw else {}
                except ValueError:
                    payload = {}
                if resp.status >= 400:
                    raise ApiError.from_dict(payload, resp.status)
                return payload
        except (aiohttp.ClientConnectionError, FileNotFoundError, ConnectionRefusedError) as exc:
            raise ApiError(
                ErrorCode.UNAVAILABLE, f"the appliance daemon is not reachable on {self.socket_path}: {exc}"
            ) from None

    async def get(self, path: str, **params: str) -> Any:
        return await self.request("GET", path, params=params or None)

    async def post(self, path: str, data: Any = None) -> Any:
        return await self.request("POST", path, data if data is not None else {})

    async def events(self, recent: int = 0) -> AsyncIterator[Event | None]:
        """Events as they happen, until the daemon closes the stream (then the iterator ends).

        The first item is ``None``, as soon as the stream is open: load a snapshot then, and no
        event after it can be missed."""
        try:
            async with self._session().ws_connect(BASE + f"/events?recent={recent}", heartbeat=20) as ws:
                yield None
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        yield event_from_dict(json.loads(msg.data))
                    elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                        break
        except (aiohttp.ClientConnectionError, FileNotFoundError, ConnectionRefusedError) as exc:
            raise ApiError(ErrorCode.UNAVAILABLE, f"event stream lost: {exc}") from None
