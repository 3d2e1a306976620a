"""Texts of several businesses on one box (docs/SMS.md "Several businesses").

Each tenant has an :class:`SmsTenant`: its brain (its language default, its name in replies,
its bookings), its view of the config, and its rows: inbound log, outbox and opt-outs, each
filtered on its ``tenant_id``. A received text goes to the tenant whose number it was sent to
(:func:`appliance.core.tenancy.tenant_for_text`, the same rule as calls, with the tenants'
``sms_numbers`` added); what a tenant sends goes out from its number and SIP account
(:class:`SmsOrigin`). With one tenant there is one ``SmsTenant``, the default, and nothing
differs from a single-business box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from appliance.brain.text.render import Renderer
from appliance.channels.sms.transport import SmsOrigin
from appliance.core.clock import Clock
from appliance.core.config import Config
from appliance.core.tenancy import site, sms_sender
from appliance.privacy.find import optout_key
from appliance.store.db import Database
from appliance.store.outbox import InboundLog, OptOuts, Outbox


class SmsBrains(Protocol):
    """The brains by tenant (:class:`appliance.brain.factory.TenantBrains`)."""

    def get(self, tenant_id: str) -> Any: ...


class HashedOptOuts(OptOuts):
    """A tenant's opt-out list, also under the salted hash an erasure leaves instead of the number.
    Per tenant: STOP to one business does not stop the texts of another on the same box."""

    def __init__(self, config: Config, db: Database, *, clock: Clock) -> None:
        super().__init__(db, tenant_id=config.tenant.id, clock=clock)
        self.config = config

    async def is_opted_out(self, phone: str) -> bool:
        if await super().is_opted_out(phone):
            return True
        key = optout_key(self.config, phone)
        return key is not None and await super().is_opted_out(key)

    async def opt_in(self, phone: str) -> None:
        await super().opt_in(phone)
        key = optout_key(self.config, phone)
        if key is not None:
            await super().opt_in(key)


@dataclass(frozen=True, slots=True)
class SmsTenant:
    """One business's side of the SMS channel."""

    config: Config  # the tenant's view (appliance.core.tenancy.tenant_view)
    brain: Any
    outbox: Outbox
    inbound: InboundLog
    optouts: HashedOptOuts
    renderer: Renderer
    origin: SmsOrigin | None  # None: the transports' own number and account (the default tenant)
    session_tag: str  # in its session ids after the number: "" for the default tenant, else "<id>-"

    @property
    def tenant_id(self) -> str:
        return self.config.tenant.id


def sms_tenant(view: Config, brain: Any, db: Database, *, clock: Clock, origin: SmsOrigin | None = None) -> SmsTenant:
    """The SMS side of the tenant ``view`` is the view of; ``origin`` None: the default tenant."""
    tenant = view.tenant.id
    return SmsTenant(
        config=view,
        brain=brain,
        outbox=Outbox(db, tenant_id=tenant, clock=clock),
        inbound=InboundLog(db, tenant_id=tenant, clock=clock),
        optouts=HashedOptOuts(view, db, clock=clock),
        renderer=Renderer(view.tenant.name),
        origin=origin,
        session_tag="" if origin is None else f"{tenant}-",
    )


def origin_of(config: Config, tenant_id: str) -> SmsOrigin:
    """Where tenant ``tenant_id``'s texts go out from: its number (``sms_sender``) and its first
    ``sip_accounts`` entry (none: the trunk account)."""
    entry = site(config, tenant_id)
    account = entry.sip_accounts[0] if entry is not None and entry.sip_accounts else None
    return SmsOrigin(number=sms_sender(config, tenant_id) or None, sip_account=account)


def sms_tenants(
    config: Config, brain: Any, db: Database, tenants: SmsBrains | None, *, clock: Clock
) -> dict[str, SmsTenant]:
    """Every tenant's SMS side, the default tenant's first. ``tenants`` None: the default only."""
    out = {config.tenant.id: sms_tenant(config, brain, db, clock=clock)}
    if tenants is not None:
        for tenant_id in config.tenant_ids[1:]:
            view = config.for_tenant(tenant_id)
            out[tenant_id] = sms_tenant(view, tenants.get(tenant_id), db, clock=clock,
                                        origin=origin_of(config, tenant_id))  # fmt: skip
    return out
