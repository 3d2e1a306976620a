"""Several businesses on one box: the tenants of a :class:`~appliance.core.config.Config`.

The top-level ``[tenant]`` (with ``resources``, ``pricing`` and ``knowledge``) is the default
tenant, so a single-tenant config is unchanged; each ``[[tenants]]`` entry adds one more.
:func:`tenant_view` turns the config into the one a tenant sees (its own tenant, resources,
prices and knowledge base), and everything built from that view (booking backend,
conversation store, callback repository, knowledge base, brain) is scoped to the tenant by
its constructor: the store filters every query on ``tenant_id``. Routing a call or a chat to
a tenant is decided here too (:func:`tenant_for_call`, :func:`chat_routes`), from config alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:
    from appliance.core.config import CallbacksConfig, Config, PricingConfig, ResourceConfig, TenantSite


def _check_pets(where: str, pets: list[str], resources: list[ResourceConfig], pricing: PricingConfig) -> None:
    offered = set(pets)
    for i, res in enumerate(resources):
        for pet in res.pet_types:
            if pet not in offered:
                raise ValueError(f"{where}resources[{i}].pet_types: {pet!r} is not in the tenant's pet_types")
    priced = {r.pet_type for r in pricing.rules}
    for pet in pets:
        if resources and pet not in priced:
            raise ValueError(f"{where}pricing.rules: no price for pet type {pet!r}")


def _digits(number: str) -> str:
    """A called number as compared: '+372 5555 0101' and '37255550101' are the same DID."""
    return "".join(ch for ch in number if ch.isdigit()) or number.strip().lower()


def check_sites(cfg: Config) -> None:
    """Cross-checks of ``[[tenants]]``: unique ids, resource ids, DIDs, accounts, paths, hosts."""
    if cfg.tenants and cfg.tools.backend != "local":  # one HTTP system would see every tenant's bookings
        raise ValueError(
            "tenants: several businesses need tools.backend = 'local' (the HTTP backend is one business's)"
        )
    seen_ids = {cfg.tenant.id}
    resource_ids = {r.id for r in cfg.resources}  # one resources table: ids are unique on the box
    dids: set[str] = set()
    accounts = {a.id for a in cfg.sip.accounts}
    used_accounts: set[str] = set()
    paths: set[str] = set()
    hosts: set[str] = set()
    for i, site in enumerate(cfg.tenants):
        where = f"tenants[{i}]."
        if site.id in seen_ids:
            raise ValueError(f"{where}id: tenant {site.id!r} is defined twice")
        seen_ids.add(site.id)
        _check_pets(where, site.pet_types, site.resources, site.pricing)
        for j, res in enumerate(site.resources):
            if res.id in resource_ids:
                raise ValueError(f"{where}resources[{j}].id: {res.id!r} is used by another tenant")
            resource_ids.add(res.id)
        for did in site.sip_dids:
            if _digits(did) in dids:
                raise ValueError(f"{where}sip_dids: {did!r} routes to two tenants")
            dids.add(_digits(did))
        for number in site.sms_numbers:  # a number of its own DIDs is fine (the same business)
            if _digits(number) in dids - {_digits(d) for d in site.sip_dids}:
                raise ValueError(f"{where}sms_numbers: {number!r} routes to two tenants")
            if cfg.sms.sender and _digits(number) == _digits(cfg.sms.sender):
                raise ValueError(f"{where}sms_numbers: {number!r} is the default tenant's sms.sender")
            dids.add(_digits(number))
        for acc in site.sip_accounts:
            if acc not in accounts:
                raise ValueError(f"{where}sip_accounts: {acc!r} is not a sip.accounts id")
            if acc in used_accounts:
                raise ValueError(f"{where}sip_accounts: {acc!r} routes to two tenants")
            used_accounts.add(acc)
        if site.chat_path in paths or site.chat_path.startswith(("/static/", "/api/", "/ws/")):
            raise ValueError(f"{where}web_path: {site.chat_path!r} is taken")
        paths.add(site.chat_path)
        for host in site.web_hosts:
            if host.lower() in hosts:
                raise ValueError(f"{where}web_hosts: {host!r} routes to two tenants")
            hosts.add(host.lower())
        try:
            callbacks_of(cfg, site.callbacks)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(x) for x in err["loc"])
            raise ValueError(f"{where}callbacks.{field}: {err['msg']}") from None


def callbacks_of(cfg: Config, changes: dict[str, Any]) -> CallbacksConfig:
    """The top-level ``[callbacks]`` with a tenant's changes."""
    from appliance.core.config import CallbacksConfig

    if not changes:
        return cfg.callbacks
    return CallbacksConfig.model_validate({**cfg.callbacks.model_dump(), **changes})


def site(cfg: Config, tenant_id: str) -> TenantSite | None:
    return next((t for t in cfg.tenants if t.id == tenant_id), None)


def tenant_view(cfg: Config, tenant_id: str) -> Config:
    """The config as tenant ``tenant_id`` sees it: its ``tenant``, ``resources``, ``pricing`` and
    knowledge base, and no other tenants. The default tenant's view is the config itself."""
    from appliance.core.config import TenantConfig
    from appliance.core.errors import NotFound

    if tenant_id == cfg.tenant.id:
        return cfg
    entry = site(cfg, tenant_id)
    if entry is None:
        raise NotFound(f"no tenant {tenant_id!r}", details={"tenant": tenant_id})
    tenant = TenantConfig.model_validate(entry.model_dump(include=set(TenantConfig.model_fields)))
    kb_dir = entry.knowledge_dir or str(Path(cfg.knowledge.dir) / entry.id)
    knowledge = cfg.knowledge.model_copy(update={"dir": kb_dir, "db_file": f"knowledge-{entry.id}.db"})
    return cfg.model_copy(
        update={
            "tenant": tenant,
            "resources": list(entry.resources),
            "pricing": entry.pricing,
            "knowledge": knowledge,
            "callbacks": callbacks_of(cfg, entry.callbacks),
            "tenants": [],
        }
    )


def tenant_for_call(cfg: Config, called: str | None, account: str | None) -> str:
    """Which tenant a SIP call is for: the called number (DID) first, then the account it arrived
    on; anything else is the default tenant's."""
    if called:
        want = _digits(called)
        for entry in cfg.tenants:
            if any(_digits(d) == want for d in entry.sip_dids):
                return entry.id
    if account:
        for entry in cfg.tenants:
            if account in entry.sip_accounts:
                return entry.id
    return cfg.tenant.id


def tenant_for_text(cfg: Config, receiver: str | None, account: str | None = None) -> str:
    """Which tenant a received text is for: the number it was sent to in a tenant's
    ``sms_numbers`` or ``sip_dids`` (compared by digits), else the SIP account a SIP MESSAGE
    arrived on; anything else (the box's ``sms.sender``, an unknown number) is the default
    tenant's. The same rule as :func:`tenant_for_call`, with the texting numbers added."""
    if receiver:
        want = _digits(receiver)
        for entry in cfg.tenants:
            if any(_digits(n) == want for n in (*entry.sms_numbers, *entry.sip_dids)):
                return entry.id
    return tenant_for_call(cfg, None, account)


def sms_sender(cfg: Config, tenant_id: str) -> str:
    """The number a tenant's texts are sent from: its first ``sms_numbers`` entry, else its first
    ``sip_dids`` entry (a reply to it comes back to the same tenant), else the box's ``sms.sender``
    (the default tenant's, and that of a tenant with no number of its own)."""
    entry = site(cfg, tenant_id)
    if entry is not None:
        for number in (*entry.sms_numbers, *entry.sip_dids):
            return number
    return cfg.sms.sender


@dataclass(frozen=True, slots=True)
class ChatRoute:
    """Where a tenant's chat page is served: a path prefix, and host names that serve it at /."""

    tenant_id: str
    path: str
    hosts: tuple[str, ...] = ()


def chat_routes(cfg: Config) -> list[ChatRoute]:
    """The chat pages of the ``[[tenants]]`` (the default tenant's page is at /)."""
    return [ChatRoute(t.id, t.chat_path, tuple(h.lower() for h in t.web_hosts)) for t in cfg.tenants]


@dataclass(frozen=True, slots=True)
class StaffPeer:
    """Who is on the other end of the staff socket (``SO_PEERCRED``, the process's groups)."""

    uid: int
    gids: frozenset[int]


def visible_tenants(
    cfg: Config, peer: StaffPeer | None, *, service_uid: int, gid_of: Callable[[str], int | None]
) -> list[str]:
    """The tenants a staff member may see and act for, by permission: a tenant with a
    ``staff_group`` to that group's members only; one without, to everyone who may connect at all
    (the socket's ``api.group``). Root, the service's own user and ``api.admin_group`` see every
    tenant. A caller the socket cannot identify (``peer`` None) is in no group: it sees only the
    tenants without a ``staff_group``. ``gid_of``: a group name's id (None: no such group, so
    nobody is in it)."""
    every = cfg.tenant_ids
    if peer is not None and peer.uid in (0, service_uid):
        return every
    gids = peer.gids if peer is not None else frozenset()
    admin = gid_of(cfg.api.admin_group) if cfg.api.admin_group else None
    if admin is not None and admin in gids:
        return every
    groups = {cfg.tenant.id: cfg.tenant.staff_group, **{t.id: t.staff_group for t in cfg.tenants}}
    out = []
    for tenant_id in every:
        group = groups.get(tenant_id, "")
        gid = gid_of(group) if group else None
        if not group or (gid is not None and gid in gids):
            out.append(tenant_id)
    return out


def tenant_scope(cfg: Config, wanted: str | None) -> list[str]:
    """The tenants a staff command shows (``--tenant``): none given, the default tenant; ``all``,
    every tenant; else the one named (an unknown one is :class:`NotFound`)."""
    from appliance.core.errors import NotFound

    if not wanted:
        return [cfg.tenant.id]
    if wanted == "all":
        return cfg.tenant_ids
    if wanted not in cfg.tenant_ids:
        raise NotFound(f"no tenant {wanted!r}", details={"tenant": wanted})
    return [wanted]
