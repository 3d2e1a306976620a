"""Which tenant a SIP call is for: the called number from the INVITE, then the account."""

from __future__ import annotations

from appliance.channels.sip.sipmsg import called_from_invite
from appliance.core.config import Config, load_config
from appliance.core.tenancy import chat_routes, tenant_for_call, tenant_scope

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
