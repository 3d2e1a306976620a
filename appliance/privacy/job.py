"""The daemon's privacy job: at start, finish interrupted erasures and re-apply erasures a backup
restore undid; then enforce retention hourly."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from appliance.core.clock import Clock, system_clock
from appliance.core.config import Config
from appliance.privacy import erase, reapply, retention
from appliance.store.db import Database

log = logging.getLogger("appliance.privacy")


class PrivacyJob:
    def __init__(
        self, config: Config, db: Database, *, clock: Clock = system_clock, interval_s: float = 3600.0
    ) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.interval_s = interval_s
        self.last: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> PrivacyJob:
        """Finish pending erasures (before any channel opens), then start the retention loop."""
        await asyncio.to_thread(erase.recover, self.config, self.db, self.clock)
        await asyncio.to_thread(reapply.reapply, self.config, self.db, self.clock)  # after a backup restore
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    async def _loop(self) -> None:
        while True:
            try:  # an erase that failed in the API (a busy database) is finished here, not only at start
                await asyncio.to_thread(erase.recover, self.config, self.db, self.clock, min_age_s=600)
                self.last = await asyncio.to_thread(retention.run_all, self.config, self.db, self.clock)
            except Exception:  # the next run tries again; a failed pass must not stop the daemon
                log.exception("retention run failed")
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
