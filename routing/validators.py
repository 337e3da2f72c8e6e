"""Validators for what an admin types, shared by the models, the API and the CSV imports.

Each one raises ValidationError with a message that names the problem and, where it helps,
what to type instead. The models attach them to fields, so the admin form, the DRF
serializers (ModelSerializer copies model validators) and the importers (full_clean) all
refuse the same bad input with the same words.
"""

from __future__ import annotations

import contextlib
import re
import zoneinfo
from functools import lru_cache

from django.core.exceptions import ValidationError

from routing.engine import grammar
from routing.engine.numbers import PatternError, ReplacementError, compile_pattern, compile_rule

PREFIX_MAX_LENGTH = 20
# RFC 3261 token characters: what a header name may contain.
_HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SOCKET_RE = re.compile(r"(udp|tcp|tls|sctp):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})")
# A SIP URI as an admin types it: sip:[user@]host[:port][;params]. The user part uses the
# characters RFC 3261 allows unescaped (unreserved, user-unreserved, escapes).
_SIP_URI_RE = re.compile(
    r"^sips?:"
    r"(?:(?P<user>[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+)@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<params>(?:;[A-Za-z0-9\-_.!~*'()%]+(?:=[A-Za-z0-9\-_.!~*'()%\[\]:/&+$]*)?)*)$"
)
# Headers c4router or Kamailio own: an extra header must not fight them.
RESERVED_HEADERS = frozenset(
    {
        "via",
        "v",
        "from",
        "f",
        "to",
        "t",
        "call-id",
        "i",
        "cseq",
        "contact",
        "m",
        "route",
        "record-route",
        "max-forwards",
        "content-length",
        "l",
        "content-type",
        "c",
    }
)


_UNPRINTABLE_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """Text safe on one log or terminal line: control characters and line separators as
    Python escapes ('\\r', '\\n', '\\x00'), so that a hostile value reported in an error
    cannot start a line of its own."""
    return _UNPRINTABLE_RE.sub(lambda match: repr(match.group())[1:-1], text)


def validate_digits(value: str) -> None:
    """A number or prefix in E.164 digits: 0-9 only, no '+', no spaces."""
    if not value.isascii() or not value.isdigit():
        raise ValidationError(
            "Enter digits only (0-9), without '+', spaces or dashes.", code="digits"
        )
    if len(value) > PREFIX_MAX_LENGTH:
        raise ValidationError(f"At most {PREFIX_MAX_LENGTH} digits.", code="digits_length")


E164_MAX_DIGITS = 15


def validate_e164(value: str) -> None:
    """A whole E.164 number as the engine normalizes it (a ported number, an LRN): 1 to 15
    digits, not starting with 0 (a country code never does)."""
    if not value or len(value) > E164_MAX_DIGITS or value[0] == "0":
        raise ValidationError(
            f"Enter an E.164 number: 1 to {E164_MAX_DIGITS} digits, the first not 0.",
            code="e164",
        )
    validate_digits(value)


def validate_prefix(value: str) -> None:
    """A destination or caller prefix: digits, possibly empty (empty matches every number)."""
    if value:
        validate_digits(value)


_CURRENCY_RE = re.compile(r"[A-Z]{3}")


def validate_currency(value: str) -> None:
    """A rate deck's currency: an ISO 4217 code, three capital letters (EUR, USD)."""
    if not _CURRENCY_RE.fullmatch(value):
        raise ValidationError(
            "Enter an ISO 4217 currency code: three capital letters, e.g. EUR or USD.",
            code="currency",
        )


_DIAL_PREFIX_RE = re.compile(r"^\+?[0-9*#]*$")


def validate_dial_prefix(value: str) -> None:
    """Digits a gateway or normalization rule adds in front of a number (may hold + * #)."""
    if not _DIAL_PREFIX_RE.fullmatch(value) or len(value) > PREFIX_MAX_LENGTH:
        raise ValidationError(
            f"Enter up to {PREFIX_MAX_LENGTH} characters among 0-9, '*' and '#', "
            "optionally starting with '+'.",
            code="dial_prefix",
        )


def normalize_cidr(value: str) -> str:
    """The canonical text of a CIDR ('10.0.0.1' -> '10.0.0.1/32'); raises ValidationError.

    Surrounding spaces are forgiven (a pasted value); no other whitespace is.
    """
    text = value.strip(" ")
    if not text:
        raise ValidationError("Enter an IP network such as 192.0.2.0/24.", code="cidr")
    try:
        network = grammar.parse_network(text, strict=True)
    except ValueError as exc:
        loose = None
        with contextlib.suppress(ValueError):
            loose = grammar.parse_network(text, strict=False)
        if loose is not None:
            raise ValidationError(
                f"'{text}' has host bits set: did you mean {loose}?", code="cidr"
            ) from None
        raise ValidationError(
            f"'{text}' is not an IP network such as 192.0.2.0/24 ({exc}).", code="cidr"
        ) from None
    if grammar.too_wide(network):
        # One rule for every family (see grammar.MIN_PREFIX_V4): /0 was refused alone, while
        # 0.0.0.0/1, ::/1 and ::ffff:0:0/96 (every IPv4 address) were trusted.
        raise ValidationError(
            f"'{text}' would trust too much of the Internet: a trusted network is at most an "
            f"IPv4 /{grammar.MIN_PREFIX_V4} or an IPv6 /{grammar.MIN_PREFIX_V6} (an "
            f"IPv4-mapped ::ffff: network at most /{grammar.MIN_PREFIX_MAPPED}); name the "
            "networks you trust.",
            code="cidr_wide",
        )
    return str(network)


def validate_cidr(value: str) -> None:
    normalize_cidr(value)


def validate_ip(value: str) -> None:
    """An IPv4 or IPv6 address, without a scope id (fe80::1%eth0 means nothing to SIP)."""
    if not grammar.is_address(value):
        raise ValidationError(f"'{value}' is not an IPv4 or IPv6 address.", code="ip")


def is_valid_hostname(value: str) -> bool:
    return grammar.is_hostname(value)


def validate_host(value: str) -> None:
    """An IPv4/IPv6 address or a DNS name (no scheme, no port, no scope id)."""
    if not grammar.is_host(value):
        raise ValidationError(
            f"'{value}' is not an IP address or host name (no scheme, no port: "
            "e.g. sip.carrier.example or 192.0.2.10).",
            code="host",
        )


def validate_fqdn(value: str) -> None:
    """A SIP domain: a DNS name with at least one dot, or an IP address."""
    validate_host(value)
    if not grammar.is_address(value) and "." not in value.strip("."):
        raise ValidationError(
            f"'{value}' is not a fully qualified domain name (e.g. voice.example.com).",
            code="fqdn",
        )


def validate_socket(value: str) -> None:
    """A Kamailio socket as rtjson reads it: proto:address:port (e.g. udp:192.0.2.1:5060)."""
    match = _SOCKET_RE.fullmatch(value)
    if match is None or not 1 <= int(match.group(3)) <= 65535 or not _is_uri_host(match.group(2)):
        raise ValidationError(
            f"'{value}' is not a Kamailio socket such as udp:192.0.2.1:5060.", code="socket"
        )


def parse_sip_uri(value: str) -> re.Match[str] | None:
    match = _SIP_URI_RE.fullmatch(value)
    if match is None:
        return None
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        return None
    if not _is_uri_host(match.group("host")):
        return None
    return match


def _is_uri_host(host: str) -> bool:
    """A host as a URI writes it: a DNS name, an IPv4 address or a bracketed IPv6 one."""
    if host.startswith("[") and host.endswith("]"):
        return grammar.is_address(host[1:-1]) and ":" in host
    return grammar.is_hostname(host) or (grammar.is_address(host) and ":" not in host)


def validate_sip_uri(value: str) -> None:
    if parse_sip_uri(value) is None:
        raise ValidationError(
            f"'{value}' is not a SIP URI such as sip:user@host:5060.", code="sip_uri"
        )


def _sentence(error: Exception) -> str:
    text = str(error)
    return text[:1].upper() + text[1:] + "."


def validate_regex(value: str) -> None:
    """A normalization pattern the engine can run: compiled by the engine's own function
    (RE2, linear time), so that nothing saved here can fail the routing table's build."""
    if _CONTROL_RE.search(value):
        # A number pattern has no use for one, and it would reach whatever shows the rule.
        raise ValidationError(
            "The regular expression may not contain control characters (line breaks, tabs).",
            code="regex",
        )
    try:
        compile_pattern(value)
    except PatternError as exc:
        raise ValidationError(_sentence(exc), code="regex") from None


def validate_replacement(pattern: str, replacement: str) -> None:
    """The replacement only refers to groups the pattern has, and yields a dial string."""
    try:
        _, template = compile_rule(pattern, replacement)
    except PatternError:
        return  # the pattern's own validator reports it
    except ReplacementError as exc:
        raise ValidationError(
            f"The replacement is not valid for this pattern: {exc}.", code="replacement"
        ) from None
    literal = "".join(piece for piece in template if isinstance(piece, str))
    if not _DIAL_PREFIX_RE.fullmatch(literal):
        raise ValidationError(
            "The replacement may only add digits, '*', '#' and a leading '+' around group "
            "references such as \\1.",
            code="replacement",
        )


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value not in _timezones():
        raise ValidationError(
            f"'{value}' is not a known time zone: use an IANA name such as Europe/Paris or UTC.",
            code="timezone",
        )


# Characters no text field holds: NUL (PostgreSQL refuses it in text: the write failed with
# a 500) and the other C0 controls and DEL. Tabs and line breaks stay: multi-line fields
# (extra headers, descriptions) have them; a field's own validator refuses them where they
# do not belong (display names, host names...).
TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def validate_no_control_characters(value: str) -> None:
    """Any text an admin sends (API field, CSV cell): no control character but tab and
    line breaks."""
    found = TEXT_CONTROL_RE.search(value)
    if found is not None:
        raise ValidationError(
            f"Contains the control character U+{ord(found.group()):04X}: remove it "
            "(only tabs and line breaks are allowed).",
            code="control_character",
        )


def validate_weekdays(value: str) -> None:
    """ISO weekdays as digits, Monday=1 ... Sunday=7, e.g. '12345' for Monday to Friday."""
    if not value or any(ch not in "1234567" for ch in value) or len(set(value)) != len(value):
        raise ValidationError(
            "Enter the days as digits 1-7 (Monday=1 ... Sunday=7), each at most once, "
            "e.g. 12345 for Monday to Friday.",
            code="weekdays",
        )


def validate_display_name(value: str) -> None:
    # Quotes and backslashes are fine: every display is written into From/To as a
    # quoted-string, with `"` and `\` as quoted-pairs (routing.engine.rtjson.quote_display),
    # as a caller's own are. A control character has no place in a quoted-string.
    if _CONTROL_RE.search(value):
        raise ValidationError(
            "A display name may not contain control characters (line breaks, tabs...).",
            code="display_name",
        )


def parse_header_lines(value: str) -> list[tuple[str, str]]:
    """Header lines 'Name: value', one per line; raises ValidationError naming the line."""
    headers = []
    for number, raw in enumerate(value.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        name, sep, content = line.partition(":")
        name, content = name.strip(), content.strip()
        if not sep or not _HEADER_NAME_RE.fullmatch(name) or not content:
            raise ValidationError(
                f"Line {number}: '{line}' is not a header line such as 'X-Customer: 42'.",
                code="header",
            )
        if _CONTROL_RE.search(content):
            raise ValidationError(
                f"Line {number}: control characters are not allowed in a header value.",
                code="header",
            )
        if name.lower() in RESERVED_HEADERS:
            raise ValidationError(
                f"Line {number}: {name} is managed by the SIP router and cannot be set here.",
                code="header_reserved",
            )
        headers.append((name, content))
    return headers


def validate_header_lines(value: str) -> None:
    parse_header_lines(value)


def parse_sip_codes(value: str) -> list[int]:
    """'408,500,503' -> [408, 500, 503]; every code a SIP failure class (3xx-6xx)."""
    codes: list[int] = []
    for raw in value.split(","):
        item = raw.strip(" ")
        if not (item.isascii() and item.isdigit()) or not 300 <= int(item) <= 699:
            raise ValidationError(
                f"'{item}' is not a SIP response code between 300 and 699 "
                "(enter codes separated by commas, e.g. 408,500,503).",
                code="sip_codes",
            )
        if int(item) not in codes:
            codes.append(int(item))
    return codes


def validate_sip_codes(value: str) -> None:
    parse_sip_codes(value)


REASON_PHRASE_MAX = 64
# RFC 3261 Reason-Phrase: text on the status line (Kamailio's send_reply writes it as is),
# UTF-8 allowed, no control character (CR or LF would end the line). Kept to one readable
# line: words of printable characters separated by single spaces.
_WORD = r"[^\s\x00-\x1f\x7f-\x9f\u2028\u2029]+"
_REASON_PHRASE_RE = re.compile(rf"{_WORD}(?: {_WORD})*")


def validate_reason_phrase(value: str) -> None:
    """The reason phrase of a SIP refusal c4router sends (a rule that rejects, a number
    list), e.g. 'Temporarily Unavailable' or 'Destination blocked'."""
    if len(value) > REASON_PHRASE_MAX or not _REASON_PHRASE_RE.fullmatch(value):
        raise ValidationError(
            f"Enter a SIP reason phrase: 1 to {REASON_PHRASE_MAX} printable characters, "
            "words separated by single spaces, no control characters (e.g. Destination "
            "blocked).",
            code="reason_phrase",
        )


REFUSAL_CODE_RANGE = (400, 699)  # a SIP final failure: 4xx, 5xx or 6xx


def parse_reply_codes(value: str) -> list[int]:
    """'200,404' -> [200, 404]: final reply codes (200-699), e.g. those of an OPTIONS probe
    that mean the gateway is alive."""
    codes: list[int] = []
    for raw in value.split(","):
        item = raw.strip(" ")
        if not (item.isascii() and item.isdigit()) or not 200 <= int(item) <= 699:
            raise ValidationError(
                f"'{item}' is not a final SIP reply code between 200 and 699 "
                "(enter codes separated by commas, e.g. 200,404).",
                code="reply_codes",
            )
        if int(item) not in codes:
            codes.append(int(item))
    return codes


def validate_reply_codes(value: str) -> None:
    parse_reply_codes(value)


# --- Router instances: what their rendered Kamailio config holds ----------------------------
#
# kamailio_render.validate_context() calls these very functions on every value it writes, so
# that whatever the admin, the API or a command saved renders, and one bad legacy row is
# refused with the same words at render time.

INSTANCE_NAME_MAX = 50
# A file name and Kamailio's log prefix: no leading '-' or '_' (an option, a hidden file).
_INSTANCE_NAME_RE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{INSTANCE_NAME_MAX - 1}}}")
TOKEN_MIN, TOKEN_MAX = 16, 100
# Printable ASCII but space, '"' and '\\': an HTTP header value as is, and a Kamailio string
# literal without escapes.
_TOKEN_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# An http(s) URL in RFC 3986 characters only: what Kamailio's http_async_client sends as is,
# and a Kamailio string literal without escapes (no space, quote, backslash, control or
# non-ASCII character). The host is checked apart (_is_uri_host): a DNS name (one label is
# fine: a container's name), an IPv4 or a bracketed IPv6 address without a scope id.
_URL_RE = re.compile(
    r"(?i:https?)://(?:[A-Za-z0-9\-._~!$&'()*+,;=:%]*@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?"
    r"(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*)?"
)


def validate_instance_name(value: str) -> None:
    """A router instance's name: its config's file name and Kamailio's log prefix."""
    if not _INSTANCE_NAME_RE.fullmatch(value):
        raise ValidationError(
            f"Use up to {INSTANCE_NAME_MAX} letters, digits, '-' and '_', starting with a "
            "letter or a digit (e.g. edge1).",
            code="instance_name",
        )


def validate_advertised_address(value: str) -> None:
    """What Kamailio's `listen ... advertise` takes: an address or a DNS name, without the
    final dot a SIP host may have (Kamailio's config parser refuses it)."""
    validate_host(value)
    if value.endswith("."):
        raise ValidationError(
            f"'{value}': write the host name without its final dot.", code="advertised_address"
        )


def validate_token(value: str) -> None:
    """The secret a router instance sends as X-C4-Token."""
    if not _TOKEN_RE.fullmatch(value):
        raise ValidationError(
            'Use printable ASCII characters only, without spaces, quotes (") or backslashes.',
            code="token",
        )
    if len(value) < TOKEN_MIN:
        raise ValidationError(
            f"Use at least {TOKEN_MIN} characters for the token.", code="token_length"
        )
    if len(value) > TOKEN_MAX:
        raise ValidationError(f"Use at most {TOKEN_MAX} characters.", code="token_length")


def validate_api_url(value: str) -> None:
    """One URL of c4router's routing endpoint: http(s)://host[:port]/path, RFC 3986
    characters only, the host a DNS name, an IPv4 or a bracketed IPv6 address (no scope)."""
    match = _URL_RE.fullmatch(value)
    if (
        match is None
        or not _is_uri_host(match.group("host"))
        or (match.group("port") is not None and not 1 <= int(match.group("port")) <= 65535)
    ):
        raise ValidationError(f"'{value}' is not an http:// or https:// URL.", code="api_url")


def parse_api_urls(value: str) -> list[str]:
    """One URL per line; each http(s)://. Raises ValidationError naming the bad line."""
    urls = []
    for number, raw in enumerate(value.splitlines(), start=1):
        url = raw.strip()
        if not url:
            continue
        try:
            validate_api_url(url)
        except ValidationError as exc:
            raise ValidationError(f"Line {number}: {exc.messages[0]}", code="api_url") from None
        urls.append(url)
    if not urls:
        raise ValidationError("Give at least one API URL.", code="api_url")
    return urls


def validate_api_urls(value: str) -> None:
    parse_api_urls(value)
