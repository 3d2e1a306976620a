"""Which tenant a SIP call is for, and the SIP service as that tenant sees it.

Several businesses on one box (docs/PRIVACY.md "Tenancy"): the number called (the To user,
a DID) or else the SIP account the call arrived on picks the tenant
(:func:`appliance.core.tenancy.tenant_for_call`). The call then runs on a view of the one
:class:`~appliance.channels.sip.service.SipService` whose ``config``, ``brain`` and
``callbacks`` are that tenant's; the endpoint, the speech engines, the live calls and the
call records stay shared. One view per tenant, made at its first call.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Protocol

from appliance.core.config import Config
from appliance.core.ports import BrainPort
from appliance.tools.context import CallbackSink

if TYPE_CHECKING:
    from appliance.channels.sip.call import CallHandle
    from appliance.channels.sip.service import SipService


class TenantBrain(BrainPort, Protocol):
    """A tenant's brain, with its view of the config and its callback tickets."""

    @property
    def config(self) -> Config: ...

    @property
    def callbacks(self) -> CallbackSink: ...


class SipTenants(Protocol):
    """The brains by tenant (:class:`appliance.brain.factory.TenantBrains`)."""

    def for_call(self, called: str | None, account: str | None) -> TenantBrain: ...


def tenant_service(service: SipService, handle: CallHandle) -> SipService:
    """``service`` as the tenant of ``handle`` sees it (``service`` itself for the default tenant)."""
    if service.tenants is None:
        return service
    return tenant_view_of(service, service.tenants.for_call(handle.called, handle.account))


def tenant_view_of(service: SipService, brain: TenantBrain) -> SipService:
    """``service`` as ``brain``'s tenant sees it (an automatic callback of that tenant dials
    through it): ``service`` itself for the default tenant, else the tenant's one view."""
    tenant_id = brain.config.tenant.id
    if tenant_id == service.config.tenant.id:
        return service
    view = service.views.get(tenant_id)
    if view is None:
        view = copy.copy(service)  # shares the endpoint, engines, tasks, live calls and records
        view.config, view.brain, view.callbacks = brain.config, brain, brain.callbacks
        view.tenants, view.views = None, {}
        service.views[tenant_id] = view
    return view
