"""Which businesses a staff member sees on the staff socket (``tenant.staff_group``): a table of
peers (user, groups) against a box with two tenants, as numbers."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.core.config import load_config
from appliance.core.tenancy import StaffPeer, visible_tenants

GIDS = {"hotel-staff": 1001, "clinic-staff": 1002, "appliance-admin": 1003}
SERVICE_UID = 990


def _cfg(hotel_group: str = "hotel-staff", clinic_group: str = "clinic-staff", **api: Any) -> Any:
    clinic = {
        "id": "clinic", "name": "Clinic", "pet_types": ["dog"], "staff_group": clinic_group,
        "resources": [{"id": "ward", "name": {"en": "ward"}, "pet_types": ["dog"], "capacity": 1}],
        "pricing": {"rules": [{"pet_type": "dog", "per_night": "50.00"}]},
    }  # fmt: skip
    return load_config(
        environ={},
        use_system=False,
        overrides={"tenant": {"id": "hotel", "staff_group": hotel_group}, "tenants": [clinic], "api": api},
    )


@pytest.mark.parametrize(
    ("uid", "groups", "expected"),
    [
        (0, [], ["hotel", "clinic"]),  # root
        (SERVICE_UID, [], ["hotel", "clinic"]),  # the daemon's own user
        (1500, ["appliance-admin"], ["hotel", "clinic"]),  # the box's admins
        (1500, ["hotel-staff"], ["hotel"]),
        (1500, ["clinic-staff"], ["clinic"]),
        (1500, ["hotel-staff", "clinic-staff"], ["hotel", "clinic"]),
        (1500, [], []),  # may connect (api.group) but is nobody's staff
        (1500, ["no-such-group"], []),
    ],
)
def test_a_staff_member_sees_the_businesses_of_their_groups(uid: int, groups: list[str], expected: list[str]) -> None:
    peer = StaffPeer(uid, frozenset(GIDS.get(g, 4242) for g in groups))
    assert visible_tenants(_cfg(), peer, service_uid=SERVICE_UID, gid_of=GIDS.get) == expected


def test_a_business_without_a_staff_group_is_every_staff_members() -> None:
    cfg = _cfg(hotel_group="")
    peer = StaffPeer(1500, frozenset({GIDS["clinic-staff"]}))
    assert visible_tenants(cfg, peer, service_uid=SERVICE_UID, gid_of=GIDS.get) == ["hotel", "clinic"]
    assert visible_tenants(cfg, StaffPeer(1500, frozenset()), service_uid=SERVICE_UID, gid_of=GIDS.get) == ["hotel"]


def test_a_staff_group_that_does_not_exist_leaves_the_business_to_the_admins() -> None:
    gid_of = {"appliance-admin": 1003}.get  # the groups were never created on this box
    assert visible_tenants(_cfg(), StaffPeer(1500, frozenset({1001, 1002})), service_uid=1, gid_of=gid_of) == []
    assert visible_tenants(_cfg(), StaffPeer(1500, frozenset({1003})), service_uid=1, gid_of=gid_of) == [
        "hotel",
        "clinic",
    ]
    # no admin group configured: only root and the service user see everything
    cfg = _cfg(admin_group="")
    assert visible_tenants(cfg, StaffPeer(1500, frozenset({1003})), service_uid=1, gid_of=GIDS.get) == []


def test_a_peer_the_socket_cannot_identify_is_in_no_group() -> None:
    assert visible_tenants(_cfg(), None, service_uid=SERVICE_UID, gid_of=GIDS.get) == []
    assert visible_tenants(_cfg(hotel_group=""), None, service_uid=SERVICE_UID, gid_of=GIDS.get) == ["hotel"]
