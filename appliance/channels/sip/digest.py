"""Server-side SIP digest authentication (RFC 2617 / RFC 3261 §22) for inbound INVITEs.

pjsua2 only authenticates as a client, so the endpoint checks ``Authorization`` itself before a
call is accepted. Nonces are stateless: ``<hex time>.<HMAC(secret, time)>``, valid for
``nonce_ttl_s``; MD5 with ``qop=auth`` (what Asterisk, FreePBX and softphones send) or without qop.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


class AuthResult(enum.StrEnum):
    OK = "ok"
    MISSING = "missing"  # no credentials: challenge (401)
    STALE = "stale"  # right password, expired nonce: challenge again with stale=true
    BAD = "bad"  # wrong user, password or response: 403


@dataclass(frozen=True, slots=True)
class Verdict:
    result: AuthResult
    username: str | None = None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_digest(value: str | None) -> dict[str, str] | None:
    """``Digest username="a", realm="b", ...`` -> ``{"username": "a", ...}``; None if not Digest."""
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(rest)}


class DigestAuthenticator:
    def __init__(self, credentials: dict[str, str], *, realm: str = "appliance", nonce_ttl_s: float = 300.0) -> None:
        self.credentials = dict(credentials)
        self.realm = realm
        self.nonce_ttl_s = nonce_ttl_s
        self._secret = secrets.token_bytes(16)

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]

    def nonce(self, now: float | None = None) -> str:
        stamp = format(int(now if now is not None else time.time()), "x")
        return f"{stamp}.{self._sign(stamp)}"

    def _nonce_fresh(self, nonce: str, now: float) -> bool | None:
        """True: ours and fresh; False: ours but expired; None: not ours."""
        stamp, _, sig = nonce.partition(".")
        if not hmac.compare_digest(sig, self._sign(stamp)):
            return None
        try:
            issued = int(stamp, 16)
        except ValueError:
            return None
        return now - issued <= self.nonce_ttl_s

    def challenge(self, *, stale: bool = False) -> str:
        """The ``WWW-Authenticate`` value of a 401."""
        out = f'Digest realm="{self.realm}", nonce="{self.nonce()}", algorithm=MD5, qop="auth"'
        return out + (", stale=true" if stale else "")

    def verify(self, method: str, authorization: str | None, now: float | None = None) -> Verdict:
        params = parse_digest(authorization)
        if params is None:
            return Verdict(AuthResult.MISSING)
        user = params.get("username", "")
        password = self.credentials.get(user)
        nonce, uri, response = params.get("nonce", ""), params.get("uri", ""), params.get("response", "")
        if password is None or params.get("realm") != self.realm or not response:
            return Verdict(AuthResult.BAD, user or None)
        if params.get("algorithm", "MD5").upper() != "MD5":
            return Verdict(AuthResult.BAD, user)
        ha1 = _md5(f"{user}:{self.realm}:{password}")
        ha2 = _md5(f"{method}:{uri}")
        qop = params.get("qop")
        if qop:
            if qop.lower() != "auth":
                return Verdict(AuthResult.BAD, user)
            expected = _md5(f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:{qop}:{ha2}")
        else:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        if not hmac.compare_digest(expected, response.lower()):
            return Verdict(AuthResult.BAD, user)
        fresh = self._nonce_fresh(nonce, now if now is not None else time.time())
        if fresh is None:
            return Verdict(AuthResult.MISSING, user)  # a nonce we never issued (or from before a restart)
        return Verdict(AuthResult.OK if fresh else AuthResult.STALE, user)
