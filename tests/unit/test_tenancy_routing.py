"""Which tenant a SIP call is for: the called number from the INVITE, then the account; which
tenant a text is for: the number it was sent to, then the SIP account; the number it texts from."""

from __future__ import annotations

import pytest

from appliance.channels.sip.sipmsg import called_from_invite
from appliance.core.config import Config, load_config
from appliance.core.errors import ConfigError
from appliance.core.tenancy import chat_routes, sms_sender, tenant_for_call, tenant_for_text, tenant_scope

INVITE = (
    "INVITE sip:3725550200@10.0.0.5:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
    "From: <sip:+37251234567@10.0.0.1>;tag=1\r\n"
    'To: "Clinic" <sip:+3725550200@10.0.0.5>\r\n'
    "Call-ID: abc\r\n\r\n"
)


def test_called_number_is_the_to_user_else_the_request_uri_user() -> None:
    assert called_from_invite(INVITE) == "+3725550200"
    no_to_user = INVITE.replace('To: "Clinic" <sip:+3725550200@10.0.0.5>', "To: <sip:10.0.0.5>")
    assert called_from_invite(no_to_user) == "3725550200"
    assert called_from_invite(INVITE.replace("t: ", "x: ").replace("To: ", "t: ")) == "+3725550200"  # compact form
    assert called_from_invite("garbage") is None


def _cfg() -> Config:
    site = {
        "id": "clinic", "name": "Clinic", "sip_dids": ["+372 555 0200"], "sip_accounts": ["trunk-b"],
        "web_hosts": ["Chat.Clinic.Example"],
    }  # fmt: skip
    sip = {"accounts": [{"id": "trunk-a"}, {"id": "trunk-b"}]}
    return load_config(environ={}, use_system=False, overrides={"tenants": [site], "sip": sip})


def test_the_did_wins_then_the_account_then_the_default() -> None:
    cfg = _cfg()
    assert tenant_for_call(cfg, "+3725550200", "trunk-a") == "clinic"
    assert tenant_for_call(cfg, "5551234", "trunk-b") == "clinic"
    assert tenant_for_call(cfg, "5551234", "trunk-a") == "demo"
    assert tenant_for_call(cfg, None, None) == "demo"
    [route] = chat_routes(cfg)
    assert (route.path, route.hosts) == ("/t/clinic/", ("chat.clinic.example",))
    assert tenant_scope(cfg, None) == ["demo"] and tenant_scope(cfg, "all") == ["demo", "clinic"]


def _sms_cfg(**sms: object) -> Config:
    sites = [
        {"id": "clinic", "name": "Clinic", "sip_dids": ["+372 555 0200"], "sip_accounts": ["trunk-b"],
         "sms_numbers": ["+372 555 0300", "1346"]},
        {"id": "hotel", "name": "Hotel", "sip_dids": ["+372 555 0400"]},
        {"id": "shop", "name": "Shop"},
    ]  # fmt: skip
    sip = {"accounts": [{"id": "trunk-a"}, {"id": "trunk-b"}]}
    return load_config(
        environ={}, use_system=False, overrides={"tenants": sites, "sip": sip, "sms": {"sender": "1345", **sms}}
    )


@pytest.mark.parametrize(
    ("receiver", "account", "tenant"),
    [
        ("+3725550300", None, "clinic"),  # an sms_numbers entry
        ("3725550300", "trunk-a", "clinic"),  # compared by digits; the number wins over the account
        ("1346", None, "clinic"),  # a short code of its own
        ("+3725550200", None, "clinic"),  # a DID takes texts too
        ("372 555 0400", None, "hotel"),
        ("1345", None, "demo"),  # the box's sms.sender: the default tenant's
        ("+3725559999", None, "demo"),  # unknown: the default tenant
        ("+3725559999", "trunk-b", "clinic"),  # a SIP MESSAGE on the clinic's account
        ("alice", "trunk-a", "demo"),  # a SIP user, an account nobody claims
        (None, None, "demo"),  # Kannel gave no receiver
        ("", "trunk-b", "clinic"),
    ],
)
def test_a_text_goes_to_the_tenant_whose_number_it_was_sent_to(
    receiver: str | None, account: str | None, tenant: str
) -> None:
    assert tenant_for_text(_sms_cfg(), receiver, account) == tenant


def test_the_number_a_tenant_texts_from() -> None:
    cfg = _sms_cfg()
    assert [sms_sender(cfg, t) for t in cfg.tenant_ids] == ["1345", "+372 555 0300", "+372 555 0400", "1345"]


@pytest.mark.parametrize(
    ("sites", "error"),
    [
        ([{"id": "a", "sip_dids": ["+3725550200"]}, {"id": "b", "sms_numbers": ["3725550200"]}], "routes to two"),
        ([{"id": "a", "sms_numbers": ["1346"]}, {"id": "b", "sms_numbers": ["1346"]}], "routes to two"),
        ([{"id": "a", "sms_numbers": ["1345"]}], "sms.sender"),
    ],
)
def test_a_texting_number_routes_to_one_tenant(sites: list[dict[str, object]], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        load_config(environ={}, use_system=False, overrides={"tenants": sites, "sms": {"sender": "1345"}})


def test_a_tenant_may_text_from_its_own_did() -> None:
    site = {"id": "a", "sip_dids": ["+3725550200"], "sms_numbers": ["+372 555 0200"]}
    cfg = load_config(environ={}, use_system=False, overrides={"tenants": [site]})
    assert tenant_for_text(cfg, "3725550200") == "a" and sms_sender(cfg, "a") == "+372 555 0200"
