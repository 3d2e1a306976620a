"""One brain per tenant (several businesses on one box, docs/PRIVACY.md "Tenancy").

Each brain is built by :func:`~appliance.brain.factory.build_brain` from the tenant's view of
the config (:func:`appliance.core.tenancy.tenant_view`), so its booking backend, conversation
store, callback repository and knowledge base are constructed with that tenant and filter on
it. The brains share the one database and the one LLM; each has its own knowledge base.
With no ``[[tenants]]`` there is one brain, exactly as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from appliance.brain.dialogue.brain import Brain, EventSink
from appliance.brain.factory import build_brain
from appliance.core.clock import Clock, system_clock
from appliance.core.config import Config
from appliance.core.errors import NotFound
from appliance.core.tenancy import tenant_for_call
from appliance.store.db import Database


class TenantBrains:
    """The brains by tenant id, the default tenant's first."""

    def __init__(self, config: Config, brains: dict[str, Brain], *, db: Database | None = None) -> None:
        self.config = config
        self.brains = brains
        self._db = db  # opened here for several brains (closed by aclose); None: the one brain owns it

    @property
    def default(self) -> Brain:
        return self.brains[self.config.tenant.id]

    def get(self, tenant_id: str) -> Brain:
        brain = self.brains.get(tenant_id)
        if brain is None:
            raise NotFound(f"no tenant {tenant_id!r}", details={"tenant": tenant_id})
        return brain

    def for_call(self, called: str | None, account: str | None) -> Brain:
        """The brain of the tenant a SIP call is for (its called number, else its account)."""
        return self.brains[tenant_for_call(self.config, called, account)]

    def __iter__(self) -> Iterator[Brain]:
        return iter(self.brains.values())

    def __len__(self) -> int:
        return len(self.brains)

    async def aclose(self) -> None:
        for brain in reversed(list(self.brains.values())):  # the default brain (owning the LLM) last
            await brain.aclose()
        if self._db is not None:
            await asyncio.to_thread(self._db.close)


async def build_tenant_brains(
    config: Config,
    *,
    db: Database | None = None,
    clock: Clock = system_clock,
    on_event: EventSink | None = None,
    llm: Any = "config",
) -> TenantBrains:
    """A brain for every tenant of ``config`` (one, for a single-tenant config)."""
    if not config.tenants:
        brain = await build_brain(config, db=db, clock=clock, on_event=on_event, llm=llm)
        return TenantBrains(config, {config.tenant.id: brain})
    own_db = db is None
    if db is None:
        config.data_path.mkdir(parents=True, exist_ok=True)
        db = await asyncio.to_thread(Database.from_config, config)
    brains: dict[str, Brain] = {}
    try:
        first = await build_brain(config, db=db, clock=clock, on_event=on_event, llm=llm)
        brains[config.tenant.id] = first
        shared_llm = first.understanding.llm
        for tenant_id in config.tenant_ids[1:]:
            view = config.for_tenant(tenant_id)
            brains[tenant_id] = await build_brain(view, db=db, clock=clock, on_event=on_event, llm=shared_llm)
    except BaseException:
        await TenantBrains(config, brains, db=db if own_db else None).aclose()
        raise
    return TenantBrains(config, brains, db=db if own_db else None)
