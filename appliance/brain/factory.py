"""Wire one :class:`~appliance.brain.dialogue.brain.Brain` from the configuration (used by the daemon and the CLI).

Several businesses on one box (docs/PRIVACY.md "Tenancy"): :func:`build_tenant_brains` builds one
brain per tenant, each from the tenant's view of the config (:func:`appliance.core.tenancy.tenant_view`),
so its booking backend, conversation store, callback repository and knowledge base are constructed
with that tenant and filter on it. The brains share the one database and the one LLM; each has its
own knowledge base. With no ``[[tenants]]`` there is one brain, exactly as before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from appliance.booking.local import LocalBackend
from appliance.brain.dialogue.brain import Brain, EventSink
from appliance.brain.understanding.proposal import Understanding
from appliance.core.clock import Clock, system_clock
from appliance.core.config import Config
from appliance.core.errors import EngineUnavailable, NotFound
from appliance.core.messages import Event
from appliance.core.tenancy import tenant_for_call
from appliance.store.conversations import ConversationStore
from appliance.store.db import Database
from appliance.store.repos import CallbackRepository
from appliance.tools.booking_tools import default_registry
from appliance.tools.executor import ToolExecutor

log = logging.getLogger(__name__)


@dataclass
class OwnedResources:
    """What ``build_brain`` opened for a brain, closed together by ``Brain.aclose``."""

    db: Database
    backend: Any
    llm: Any
    knowledge: Any
    owns_db: bool
    owns_llm: bool = True

    async def aclose(self) -> None:
        if self.knowledge is not None:
            self.knowledge.close()
        if self.llm is not None and self.owns_llm:
            try:
                await self.llm.aclose()
            except Exception:
                log.exception("closing the LLM failed")
        if self.backend is not None and getattr(self.backend, "name", "") != "local":
            await self.backend.aclose()
        if self.owns_db:
            self.db.close()


def make_backend(config: Config, db: Database, clock: Clock) -> Any:
    if config.tools.backend == "http":
        from appliance.booking.http import HttpBackend

        return HttpBackend(config.tools.http_url, token=config.tools.http_token, timeout=config.tools.timeout_s)
    backend = LocalBackend(db, config, clock)
    backend.sync_resources()
    return backend


def make_llm(config: Config) -> Any:
    """The configured LLM, or None (rules only: by choice when mode is off, degraded otherwise)."""
    mode = config.llm.mode
    if mode == "off":
        return None
    if mode == "server":  # an OpenAI-compatible server; failures are supervised per request
        from appliance.engines.llm_server import OpenAIServerEngine

        c = config.llm
        return OpenAIServerEngine(
            c.base_url, model=c.model, api_key=c.api_key, context_length=c.context, schema_format=c.schema_format
        )
    try:
        from appliance.engines.llm import LlamaCppEngine
        from appliance.engines.manifest import resolve_model_ref

        path = resolve_model_ref(config.llm.model or "llm", dest=_models_dir(config))
        if path is None:
            raise EngineUnavailable("no LLM model configured", install_hint="appliance models fetch llm")
        if mode == "thread":
            return LlamaCppEngine(path, n_ctx=config.llm.context, threads=config.llm.threads, isolation="thread")
        return LlamaCppEngine(path, n_ctx=config.llm.context, threads=config.llm.threads, isolation="process")
    except EngineUnavailable as exc:
        if mode == "auto":
            log.warning("LLM not available, running on the deterministic path: %s", exc)
        else:
            log.error("LLM not available (llm.mode=%s), running degraded: %s", mode, exc)
        return None


def _models_dir(config: Config) -> Any:
    from appliance.engines.manifest import models_dir

    return models_dir(config)


def make_knowledge(config: Config, db: Database) -> Any:
    try:
        from appliance.engines.embed import embedder_for
        from appliance.store.knowledge import KnowledgeBase

        return KnowledgeBase.open(db, config, embedder_for(config))
    except Exception:
        log.exception("knowledge base unavailable; questions get the callback offer")
        return None


async def build_brain(
    config: Config,
    *,
    db: Database | None = None,
    clock: Clock = system_clock,
    llm: Any = "config",
    on_event: EventSink | None = None,
    knowledge: Any = "config",
) -> Brain:
    """The brain, owning what it opened here (``await brain.aclose()`` closes it)."""
    # Opening (migrating), syncing resources and indexing the knowledge base block: keep them off the loop.
    owns_db = db is None
    if db is None:
        config.data_path.mkdir(parents=True, exist_ok=True)
        db = await asyncio.to_thread(Database.from_config, config)
    backend = await asyncio.to_thread(make_backend, config, db, clock)
    owns_llm = llm == "config"
    if owns_llm:
        llm = make_llm(config)
    if knowledge == "config":
        knowledge = await asyncio.to_thread(make_knowledge, config, db)
    callbacks = CallbackRepository(db, tenant_id=config.tenant.id, clock=clock, actor="brain")
    executor = ToolExecutor(default_registry(), config.tools)
    understanding = Understanding(config, llm)
    return Brain(
        config,
        sessions=ConversationStore(db, tenant_id=config.tenant.id, clock=clock),
        executor=executor,
        backend=backend,
        callbacks=callbacks,
        understanding=understanding,
        knowledge=knowledge,
        clock=clock,
        on_event=on_event,
        resources=OwnedResources(db, backend, llm, knowledge, owns_db, owns_llm),
    )


def stamped(on_event: EventSink | None, tenant_id: str) -> EventSink | None:
    """``on_event`` with the tenant named in each event's data (several businesses share one
    event bus; the staff API shows a member of a tenant's ``staff_group`` only that tenant's)."""
    if on_event is None:
        return None
    sink = on_event

    def publish(ev: Event) -> Any:
        if "tenant" not in ev.data:
            ev = dataclasses.replace(ev, data={**ev.data, "tenant": tenant_id})
        return sink(ev)

    return publish


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
        first = await build_brain(config, db=db, clock=clock, on_event=stamped(on_event, config.tenant.id), llm=llm)
        brains[config.tenant.id] = first
        shared_llm = first.understanding.llm
        for tenant_id in config.tenant_ids[1:]:
            view = config.for_tenant(tenant_id)
            brains[tenant_id] = await build_brain(
                view, db=db, clock=clock, on_event=stamped(on_event, tenant_id), llm=shared_llm
            )
    except BaseException:
        await TenantBrains(config, brains, db=db if own_db else None).aclose()
        raise
    return TenantBrains(config, brains, db=db if own_db else None)
