"""Kamailio's routing query: bytes in, a typed Query or a QueryError naming the problem.

The body is what the seed's RELAY_API route builds with jansson_set. Kamailio writes the
string "<null>" for an empty pseudo-variable and may send numbers as strings; fields a
newer config adds are ignored. `request_uri` (optional, c4router's own config sends it) is
read for RFC 4694's portability parameters only: `npdi` (the number was looked up
upstream) and `rn=` (its routing number). Nothing from here reaches a header unchecked: URIs are
parsed into a user and a host with strict character sets; display names are decoded to
plain text (a quoted-string's quotes and quoted-pairs undone, control characters dropped)
and quoted again on the way out (routing.engine.rtjson.quote_display).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import orjson

from routing.engine.grammar import parse_address

MAX_BODY = 16 * 1024
MAX_FIELD = 1024
NULL = "<null>"

# RFC 3261 user part: unreserved / escaped / user-unreserved.
_USER_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+")
_HOST_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
MAX_DISPLAY = 64


class QueryError(ValueError):
    """A malformed query: the message names the field and the problem."""


@dataclass(slots=True)
class Party:
    """One end of the call as the query gave it: display name, URI user and host."""

    display: str
    user: str
    host: str


@dataclass(slots=True)
class Query:
    source_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    source_port: int
    call_id: str
    caller: Party
    callee: Party
    # RFC 4694, from the Request-URI: `npdi` (the portability lookup was done upstream)
    # and `rn` (the routing number it found): "+" and E.164 digits for a global rn, the
    # digits as sent for a local one (normalized like the called number), None without.
    npdi: bool = False
    rn: str | None = None


ANONYMOUS = Party(display="", user="anonymous", host="anonymous.invalid")


def parse_query(body: bytes) -> Query:
    if len(body) > MAX_BODY:
        raise QueryError(f"body: larger than {MAX_BODY} bytes")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise QueryError(f"body: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise QueryError("body: expected a JSON object")

    event = _text(data, "event")
    if event is not None and event != "sip-routing":
        raise QueryError(f"event: unsupported event {event[:40]!r} (expected 'sip-routing')")

    source_text = _text(data, "source_ip")
    if source_text is None:
        raise QueryError("source_ip: required")
    source_ip = parse_ip(source_text)

    source_port = _port(data.get("source_port"))
    call_id = _text(data, "call_id") or ""
    if not call_id.isprintable() and _CONTROL_RE.search(call_id):
        raise QueryError("call_id: control characters are not allowed")

    to_uri = _text(data, "to_uri")
    if to_uri is None:
        raise QueryError("to_uri: required")
    callee = _party(to_uri, _text(data, "to_name"), "to_uri")
    from_uri = _text(data, "from_uri")
    caller = (
        ANONYMOUS if from_uri is None else _party(from_uri, _text(data, "from_name"), "from_uri")
    )
    # auth, from_tag and to_tag are read for type only: routing does not depend on them.
    for name in ("from_tag", "to_tag"):
        _text(data, name)
    _auth(data.get("auth"))
    request_uri = _text(data, "request_uri")
    npdi, rn = _portability(request_uri) if request_uri is not None else (False, None)
    return Query(
        source_ip=source_ip,
        source_port=source_port,
        call_id=call_id,
        caller=caller,
        callee=callee,
        npdi=npdi,
        rn=rn,
    )


def _portability(uri: str) -> tuple[bool, str | None]:
    """(npdi, rn) of a Request-URI (RFC 4694): the parameters of its telephone-subscriber,
    in a sip:/sips: URI's user part (`sip:+12025331234;npdi;rn=+13035440000@host`) or a
    tel: URI; the SIP URI's own parameters too, where some gateways put them. Other
    parameters are ignored; an rn that is not a telephone number is refused."""
    lowered = uri.lower()
    if "npdi" not in lowered and "rn=" not in lowered:
        return False, None  # the usual call: one scan of the text, nothing to parse
    if _CONTROL_RE.search(uri):
        raise QueryError("request_uri: control characters are not allowed")
    text = uri.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    scheme, sep, rest = text.partition(":")
    if not sep or scheme.lower() not in {"sip", "sips", "tel"}:
        raise QueryError("request_uri: not a sip:, sips: or tel: URI")
    rest = rest.split("?", 1)[0]
    if scheme.lower() == "tel":
        params = rest.split(";")[1:]
    else:
        userinfo, _, hostpart = rest.rpartition("@")
        params = userinfo.split(":", 1)[0].split(";")[1:] + hostpart.split(";")[1:]
    npdi = False
    rn = None
    for param in params:
        name, _, value = param.partition("=")
        name = name.strip().lower()
        if name == "npdi":
            npdi = True
        elif name == "rn" and rn is None:
            # RFC 3966's visual separators are allowed in the digits, and dropped.
            digits = value.strip().replace("-", "").replace(".", "").replace("(", "")
            digits = digits.replace(")", "")
            number = digits[1:] if digits.startswith("+") else digits
            if not (0 < len(number) <= 15 and number.isascii() and number.isdigit()):
                raise QueryError("request_uri: rn is not a telephone number")
            if digits.startswith("+") and number[0] == "0":
                raise QueryError("request_uri: rn is not an E.164 number")
            rn = digits
    return npdi, rn


_IP_CACHE: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address] = {}
_IP_CACHE_SIZE = 65536


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IP address, without a scope id (whatever follows '%' would reach the answer and
    the log as typed); remembered, since calls come from a bounded set of peers: a known
    source costs one dict lookup, the check runs once per new text."""
    address = _IP_CACHE.get(text)
    if address is None:
        try:
            address = parse_address(text)
        except ValueError:
            raise QueryError("source_ip: not an IP address") from None
        if len(_IP_CACHE) >= _IP_CACHE_SIZE:
            _IP_CACHE.clear()  # a flood of random sources: start over rather than grow
        _IP_CACHE[text] = address
    return address


def _text(data: dict[str, object], name: str) -> str | None:
    """A string field; None when absent, JSON null or Kamailio's "<null>"."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise QueryError(f"{name}: expected a string, got {type(value).__name__}")
    if len(value) > MAX_FIELD:
        raise QueryError(f"{name}: longer than {MAX_FIELD} characters")
    if value in (NULL, ""):
        return None
    return value


def _port(value: object) -> int:
    if value is None or value in (NULL, ""):
        return 0
    if isinstance(value, bool):
        raise QueryError("source_port: expected an integer, got bool")
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > 5:
            raise QueryError("source_port: not an integer")
        value = int(value)
    if not isinstance(value, int):
        raise QueryError(f"source_port: expected an integer, got {type(value).__name__}")
    if not 0 <= value <= 65535:
        raise QueryError("source_port: out of range 0-65535")
    return value


def _auth(value: object) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, str) and (value in {NULL, ""} or (value.isascii() and value.isdigit())):
        return
    raise QueryError("auth: expected 0 or 1")


def sanitize_display(value: str | None) -> str:
    """A display name as plain text: what the caller's header shows, without control
    characters; at most MAX_DISPLAY characters.

    Kamailio gives the display as written in the header: our config unquotes it
    (`$(fn{s.unquote})`: `Say \\"hi\\"`), the seed's sends it with its quotes (`$fn`:
    `"Say \\"hi\\""`). Either way a backslash in a SIP display name is always the start of
    a quoted-pair (a token cannot hold one), so both decode to `Say "hi"`, which
    quote_display() writes back as a quoted-pair: the caller's `"` reaches the carrier as
    the caller meant it, not as a stray quote that would end the display.
    """
    if not value:
        return ""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value.strip()[:MAX_DISPLAY]  # the usual case, checked in C
    text = value.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    if "\\" in text:
        text = _QUOTED_PAIR_RE.sub(r"\1", text)
    return _CONTROL_RE.sub("", text).strip()[:MAX_DISPLAY]


def _party(uri: str, display: str | None, name: str) -> Party:
    user, host = split_uri(uri, name)
    return Party(display=sanitize_display(display), user=user, host=host)


# The usual shape, sip:user@host[:port][;params], in one match (no control character can
# pass it); anything else takes the general path below.
_SIMPLE_URI_RE = re.compile(
    r"sips?:([A-Za-z0-9\-_.!~*'()&=+$,/%]+)@([A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?)"
    r"(?::[0-9]{1,5})?(?:;[^?<>\x00-\x20\x7f]*)?"
)


def split_uri(uri: str, name: str = "uri") -> tuple[str, str]:
    """(user, host) of a sip:/sips:/tel: URI; the port and parameters are not kept."""
    simple = _SIMPLE_URI_RE.fullmatch(uri)
    if simple is not None:
        return simple.group(1), simple.group(2).lower()
    if _CONTROL_RE.search(uri):
        raise QueryError(f"{name}: control characters are not allowed")
    text = uri.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in {"sip", "sips", "tel"}:
        raise QueryError(f"{name}: not a sip:, sips: or tel: URI")
    if scheme == "tel":
        user = rest.split(";", 1)[0]
        host = ""
    else:
        userinfo, at, hostport = rest.rpartition("@")
        if not at:
            userinfo, hostport = "", rest
        user = userinfo.split(":", 1)[0]  # drop a password, never used
        hostport = hostport.split(";", 1)[0].split("?", 1)[0]
        if hostport.startswith("["):
            host = hostport[: hostport.find("]") + 1]
        else:
            host = hostport.split(":", 1)[0]
        if not _HOST_RE.fullmatch(host):
            raise QueryError(f"{name}: invalid host")
    if user and not _USER_RE.fullmatch(user):
        raise QueryError(f"{name}: invalid characters in the user part")
    return user, host.lower()
