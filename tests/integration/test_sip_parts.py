"""The SIP channel's pure parts: caller ID, source filter, audio buffers, recording retention."""

from __future__ import annotations

import os
import time
from pathlib import Path

from appliance.channels.sip.call import FRAME_BYTES, AudioBuffers
from appliance.channels.sip.sipmsg import SourceFilter, caller_id_from_invite, host_of

INVITE = (
    "INVITE sip:appliance@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1\r\n"
    'From: "Mari" <sip:+3725551234@pbx.local>;tag=1\r\n'
    "To: <sip:appliance@127.0.0.1>\r\n"
    "{pai}"
    "Content-Length: 0\r\n\r\n"
)


def test_caller_id_prefers_p_asserted_identity() -> None:
    assert caller_id_from_invite(INVITE.format(pai="")) == "+3725551234"
    pai = "P-Asserted-Identity: <tel:+37259998877>\r\n"
    assert caller_id_from_invite(INVITE.format(pai=pai)) == "+37259998877"
    anon = INVITE.format(pai="").replace("+3725551234", "anonymous")
    assert caller_id_from_invite(anon) is None
    compact = "INVITE sip:a@b SIP/2.0\r\nf: <sip:5551@pbx>;tag=2\r\n\r\n"
    assert caller_id_from_invite(compact) == "5551"


def test_source_filter() -> None:
    f = SourceFilter(["127.0.0.1", "10.0.0.0/8"])
    assert f.allows("127.0.0.1:5060") and f.allows("10.1.2.3:5060")
    assert not f.allows("192.168.1.5:5060") and not f.allows("garbage")
    assert SourceFilter(["*"]).allows("192.168.1.5:5060")
    assert host_of("[::1]:5060") == "::1"


def test_audio_buffers_pace_and_flush() -> None:
    a = AudioBuffers()
    a.queue_tx(b"\x01\x00" * 800)  # 1600 bytes: 2.5 frames
    assert abs(a.tx_queued_s() - 0.05) < 1e-9
    assert a.take_tx() == b"\x01\x00" * 320
    assert a.take_tx() == b"\x01\x00" * 320
    last = a.take_tx()
    assert len(last) == FRAME_BYTES and last.startswith(b"\x01\x00" * 80) and last.endswith(b"\x00" * 10)
    assert a.take_tx() == bytes(FRAME_BYTES)  # silence when idle
    assert a.tx_audio_frames == 3 and a.tx_frames == 4
    a.queue_tx(bytes(6400))
    assert a.flush_tx() == 0.2 and a.tx_queued_s() == 0
    a.on_rx(b"\x05\x00" * 320)
    assert a.drain(a.rx) == b"\x05\x00" * 320 and a.drain(a.rx) == b""


def test_recordings_older_than_the_sip_retention_are_purged_by_the_privacy_job(tmp_path: Path) -> None:
    """``sip.recording_retention_days`` alone (no tenant ``recordings_days``) bounds the recordings:
    the daemon's privacy job (appliance/privacy/retention.py) is the one purge, for every process."""
    from appliance.core.config import load_config
    from appliance.privacy import retention
    from appliance.store.db import Database

    cfg = load_config(
        environ={},
        use_system=False,
        overrides={"store": {"data_dir": str(tmp_path)}, "sip": {"recording_retention_days": 30}},
    )
    d = tmp_path / "recordings"
    d.mkdir()
    old, new, record = d / "old.caller.wav", d / "new.caller.wav", d / "old.json"
    for p in (old, new, record):
        p.write_bytes(b"x")
    past = time.time() - 40 * 86400
    for p in (old, record):
        os.utime(p, (past, past))
    assert retention.days(cfg)["recordings"] == 30
    db = Database(cfg.db_path)
    try:
        assert retention.run(cfg, db)["recordings"] == 2
    finally:
        db.close()
    assert not old.exists() and not record.exists() and new.exists()


def test_digest_auth_verifies_md5_with_and_without_qop() -> None:
    import hashlib

    from appliance.channels.sip.digest import AuthResult, DigestAuthenticator, parse_digest

    auth = DigestAuthenticator({"pbx": "s3cret"}, realm="appliance", nonce_ttl_s=60)
    challenge = parse_digest(auth.challenge())
    assert challenge is not None and challenge["realm"] == "appliance" and challenge["qop"] == "auth"
    nonce = challenge["nonce"]

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    def header(password: str, *, qop: bool, nonce: str = nonce) -> str:
        ha1, ha2 = md5(f"pbx:appliance:{password}"), md5("INVITE:sip:appliance@127.0.0.1")
        if qop:
            resp = md5(f"{ha1}:{nonce}:00000001:abc:auth:{ha2}")
            return (f'Digest username="pbx", realm="appliance", nonce="{nonce}", uri="sip:appliance@127.0.0.1", '
                    f'response="{resp}", algorithm=MD5, qop=auth, nc=00000001, cnonce="abc"')  # fmt: skip
        resp = md5(f"{ha1}:{nonce}:{ha2}")
        return (
            f'Digest username="pbx",realm="appliance",nonce="{nonce}",uri="sip:appliance@127.0.0.1",response="{resp}"'
        )

    assert auth.verify("INVITE", None).result is AuthResult.MISSING
    assert auth.verify("INVITE", header("s3cret", qop=True)).result is AuthResult.OK
    assert auth.verify("INVITE", header("s3cret", qop=False)).result is AuthResult.OK
    assert auth.verify("INVITE", header("wrong", qop=True)).result is AuthResult.BAD
    assert auth.verify("INVITE", header("s3cret", qop=True), now=time.time() + 120).result is AuthResult.STALE
    forged = nonce.split(".")[0] + ".0000"
    assert auth.verify("INVITE", header("s3cret", qop=True, nonce=forged)).result is AuthResult.MISSING
