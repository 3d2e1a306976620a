"""Just enough SIP message handling for the worker proxy (proxy.py): parse, edit headers, serialize.

Parsing is strict about structure (a start line, ``name: value`` headers, a blank line) and lenient
about everything else; anything that does not parse raises :class:`SipParseError` and is dropped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

COMPACT = {"v": "via", "i": "call-id", "f": "from", "t": "to", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding"}  # fmt: skip
_REQUEST = re.compile(r"^([A-Za-z]+) (\S+) SIP/2\.0$")
_STATUS = re.compile(r"^SIP/2\.0 (\d{3}) ?(.*)$")


class SipParseError(ValueError):
    pass


@dataclass
class SipMessage:
    method: str = ""  # requests
    uri: str = ""
    status: int = 0  # responses
    reason: str = ""
    headers: list[list[str]] = field(default_factory=list)  # [name, value], in order
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    @classmethod
    def parse(cls, data: bytes) -> SipMessage:
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = data.partition(b"\n\n")
        if not sep:
            raise SipParseError("no end of headers")
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            raise SipParseError("headers are not UTF-8") from None
        lines = text.replace("\r\n", "\n").split("\n")
        msg = cls(body=body)
        first = lines[0].strip()
        if m := _REQUEST.match(first):
            msg.method, msg.uri = m.group(1).upper(), m.group(2)
        elif m := _STATUS.match(first):
            msg.status, msg.reason = int(m.group(1)), m.group(2)
        else:
            raise SipParseError(f"bad start line {first[:60]!r}")
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and msg.headers:  # folded continuation
                msg.headers[-1][1] += " " + line.strip()
                continue
            name, colon, value = line.partition(":")
            if not colon or not name.strip() or " " in name.strip():
                raise SipParseError(f"bad header line {line[:60]!r}")
            msg.headers.append([name.strip(), value.strip()])
        for required in ("via", "call-id", "cseq", "from", "to"):
            if msg.get(required) is None:
                raise SipParseError(f"no {required} header")
        cseq = msg.get("cseq") or ""
        parts = cseq.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise SipParseError(f"bad CSeq {cseq!r}")
        return msg

    # ------------------------------------------------------------------ headers

    @staticmethod
    def _is(name: str, wanted: str) -> bool:
        n = name.lower()
        return COMPACT.get(n, n) == wanted

    def get(self, name: str) -> str | None:
        for n, v in self.headers:
            if self._is(n, name):
                return v
        return None

    def values(self, name: str) -> list[str]:
        """Every value of a header, comma-separated lists split (Via, Route, Record-Route)."""
        out: list[str] = []
        for n, v in self.headers:
            if self._is(n, name):
                out.extend(split_list(v))
        return out

    def remove(self, name: str) -> None:
        self.headers = [h for h in self.headers if not self._is(h[0], name)]

    def remove_prefix(self, prefix: str) -> None:
        self.headers = [h for h in self.headers if not h[0].lower().startswith(prefix)]

    def add(self, name: str, value: str) -> None:
        """Append a header after the last one (before the body)."""
        self.headers.append([name, value])

    def push_first(self, name: str, value: str) -> None:
        """Insert a header value on top of the existing ones of that name (Via, Record-Route)."""
        for i, (n, _) in enumerate(self.headers):
            if self._is(n, name):
                self.headers.insert(i, [name, value])
                return
        self.headers.insert(0, [name, value])

    def pop_first(self, name: str) -> str | None:
        """Remove and return the topmost value of a (possibly comma-separated) header."""
        for i, (n, v) in enumerate(self.headers):
            if self._is(n, name):
                items = split_list(v)
                if len(items) <= 1:
                    del self.headers[i]
                else:
                    self.headers[i][1] = ", ".join(items[1:])
                return items[0] if items else None
        return None

    def set_first(self, name: str, value: str) -> None:
        for i, (n, v) in enumerate(self.headers):
            if self._is(n, name):
                items = split_list(v)
                self.headers[i][1] = ", ".join([value, *items[1:]])
                return

    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        num, method = (self.get("cseq") or "0 X").split()
        return int(num), method.upper()

    def to_tag(self) -> str | None:
        return param(self.get("to") or "", "tag")

    def to_bytes(self) -> bytes:
        start = f"{self.method} {self.uri} SIP/2.0" if self.is_request else f"SIP/2.0 {self.status} {self.reason}"
        self.remove("content-length")
        self.headers.append(["Content-Length", str(len(self.body))])
        lines = [start, *(f"{n}: {v}" for n, v in self.headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, not inside <...> or quotes."""
    out: list[str] = []
    cur: list[str] = []
    depth, quoted = 0, False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0 and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def param(value: str, name: str) -> str | None:
    """A ;name=value parameter of a header value (outside any <uri>)."""
    tail = value.rsplit(">", 1)[-1] if ">" in value else value
    for p in tail.split(";")[1:]:
        k, _, v = p.partition("=")
        if k.strip().lower() == name:
            return v.strip()
    return None


@dataclass(frozen=True, slots=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @classmethod
    def parse(cls, value: str) -> Via:
        proto, _, rest = value.strip().partition(" ")
        parts = proto.split("/")
        if len(parts) != 3 or not rest:
            raise SipParseError(f"bad Via {value[:60]!r}")
        sent_by, *params = [p.strip() for p in rest.split(";")]
        host, port = split_hostport(sent_by)
        kv = {}
        for p in params:
            k, _, v = p.partition("=")
            kv[k.lower()] = v
        return cls(parts[2].upper(), host, port, kv)

    def reply_address(self) -> tuple[str, int]:
        """Where a response to this hop goes (RFC 3261 18.2.2, RFC 3581)."""
        host = self.params.get("received") or self.host
        rport = self.params.get("rport")
        port = int(rport) if rport and rport.isdigit() else (self.port or 5060)
        return host, port


def with_received(via: str, ip: str, port: int) -> str:
    """The Via value with received= and rport= naming where the request really came from."""
    parts = [p for p in via.split(";") if p.split("=", 1)[0].strip().lower() not in ("received", "rport")]
    return ";".join([*parts, f"received={ip}", f"rport={port}"])


def split_hostport(sent_by: str) -> tuple[str, int | None]:
    sent_by = sent_by.strip()
    if sent_by.startswith("["):
        host, _, rest = sent_by[1:].partition("]")
        port = rest.lstrip(":")
    else:
        host, _, port = sent_by.partition(":")
    if port and not port.isdigit():
        raise SipParseError(f"bad port in {sent_by!r}")
    return host, int(port) if port else None


def uri_hostport(uri: str) -> tuple[str, int | None] | None:
    """host and port of a sip: URI (in <...> or bare), or None."""
    m = re.search(r"<?\s*sips?:(?:[^@<>;]*@)?(\[[^\]]+\]|[^:;>?\s]+)(?::(\d+))?", uri, re.IGNORECASE)
    if not m:
        return None
    host = m.group(1).strip("[]")
    return host, int(m.group(2)) if m.group(2) else None


def derive_branch(msg: SipMessage, top_via: Via, salt: str) -> str:
    """Our branch for a forwarded request: a function of the incoming one, so a CANCEL or the ACK of
    a failed INVITE (same branch as their INVITE) gets the same branch downstream too."""
    incoming = top_via.params.get("branch", "")
    if not incoming.startswith("z9hG4bK"):  # RFC 2543 peer: derive from the transaction's identity
        incoming = f"{top_via.host}:{top_via.port}|{msg.call_id}|{msg.cseq[0]}|{msg.get('from')}"
    return "z9hG4bK-ap" + hashlib.sha1(f"{salt}|{incoming}".encode()).hexdigest()[:20]


def response_to(req: SipMessage, status: int, reason: str, *, to_tag: str, source: tuple[str, int]) -> SipMessage:
    """A response the proxy sends itself (403, 486, 481, OPTIONS 200...)."""
    resp = SipMessage(status=status, reason=reason)
    vias = req.values("via")
    for i, v in enumerate(vias):
        resp.add("Via", with_received(v, source[0], source[1]) if i == 0 else v)
    to = req.get("to") or ""
    if status > 100 and param(to, "tag") is None:
        to = f"{to};tag={to_tag}"
    resp.add("From", req.get("from") or "")
    resp.add("To", to)
    resp.add("Call-ID", req.call_id)
    resp.add("CSeq", req.get("cseq") or "")
    resp.add("Server", "appliance-receptionist-proxy")
    return resp
