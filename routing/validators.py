"""Validators for what an admin types, shared by the models, the API and the CSV imports.

Each one raises ValidationError with a message that names the problem and, where it helps,
what to type instead. The models attach them to fields, so the admin form, the DRF
serializers (ModelSerializer copies model validators) and the importers (full_clean) all
refuse the same bad input with the same words.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import zoneinfo
from functools import lru_cache

from django.core.exceptions import ValidationError

PREFIX_MAX_LENGTH = 20
# RFC 3261 token characters: what a header name may contain.
_HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_HOST_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_SOCKET_RE = re.compile(r"^(udp|tcp|tls|sctp):(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):([0-9]{1,5})$")
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


def validate_digits(value: str) -> None:
    """A number or prefix in E.164 digits: 0-9 only, no '+', no spaces."""
    if not value.isascii() or not value.isdigit():
        raise ValidationError(
            "Enter digits only (0-9), without '+', spaces or dashes.", code="digits"
        )
    if len(value) > PREFIX_MAX_LENGTH:
        raise ValidationError(f"At most {PREFIX_MAX_LENGTH} digits.", code="digits_length")


def validate_prefix(value: str) -> None:
    """A destination or caller prefix: digits, possibly empty (empty matches every number)."""
    if value:
        validate_digits(value)


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
    """The canonical text of a CIDR ('10.0.0.1' -> '10.0.0.1/32'); raises ValidationError."""
    text = value.strip()
    if not text:
        raise ValidationError("Enter an IP network such as 192.0.2.0/24.", code="cidr")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        loose = None
        with contextlib.suppress(ValueError):
            loose = ipaddress.ip_network(text, strict=False)
        if loose is not None:
            raise ValidationError(
                f"'{text}' has host bits set: did you mean {loose}?", code="cidr"
            ) from None
        raise ValidationError(
            f"'{text}' is not an IP network such as 192.0.2.0/24 ({exc}).", code="cidr"
        ) from None
    if network.prefixlen == 0:
        raise ValidationError(
            f"'{text}' would trust every address on the Internet: name the networks you trust.",
            code="cidr_any",
        )
    return str(network)


def validate_cidr(value: str) -> None:
    normalize_cidr(value)


def validate_ip(value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValidationError(f"'{value}' is not an IPv4 or IPv6 address.", code="ip") from None


def is_valid_hostname(value: str) -> bool:
    if len(value) > 253 or not value:
        return False
    labels = value.rstrip(".").split(".")
    if all(label.isdigit() for label in labels):
        return False  # looks like a broken IPv4 address, not a name
    return all(_HOST_LABEL_RE.match(label) for label in labels)


def validate_host(value: str) -> None:
    """An IPv4/IPv6 address or a DNS name (no scheme, no port)."""
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    if not is_valid_hostname(value):
        raise ValidationError(
            f"'{value}' is not an IP address or host name (no scheme, no port: "
            "e.g. sip.carrier.example or 192.0.2.10).",
            code="host",
        )


def validate_fqdn(value: str) -> None:
    """A SIP domain: a DNS name with at least one dot, or an IP address."""
    validate_host(value)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if "." not in value.strip("."):
            raise ValidationError(
                f"'{value}' is not a fully qualified domain name (e.g. voice.example.com).",
                code="fqdn",
            ) from None


def validate_socket(value: str) -> None:
    """A Kamailio socket as rtjson reads it: proto:address:port (e.g. udp:192.0.2.1:5060)."""
    match = _SOCKET_RE.match(value)
    if match is None or not 1 <= int(match.group(3)) <= 65535:
        raise ValidationError(
            f"'{value}' is not a Kamailio socket such as udp:192.0.2.1:5060.", code="socket"
        )


def parse_sip_uri(value: str) -> re.Match[str] | None:
    match = _SIP_URI_RE.match(value)
    if match is None:
        return None
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        return None
    host = match.group("host")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    elif not (is_valid_hostname(host) or _is_ipv4(host)):
        return None
    return match


def _is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def validate_sip_uri(value: str) -> None:
    if parse_sip_uri(value) is None:
        raise ValidationError(
            f"'{value}' is not a SIP URI such as sip:user@host:5060.", code="sip_uri"
        )


def validate_regex(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(
            f"The regular expression does not compile: {exc}.", code="regex"
        ) from None


def validate_replacement(pattern: str, replacement: str) -> None:
    """The replacement only refers to groups the pattern has, and yields a dial string."""
    try:
        compiled = re.compile(pattern)
    except re.error:
        return  # the pattern's own validator reports it
    try:
        # sub() compiles the template before scanning, even on an empty string: unknown
        # groups and bad escapes raise here.
        compiled.sub(replacement, "")
    except (re.error, IndexError) as exc:
        raise ValidationError(
            f"The replacement is not valid for this pattern: {exc}.", code="replacement"
        ) from None
    literal = re.sub(r"\\(\d+|g<[^>]*>)", "", replacement)
    if not _DIAL_PREFIX_RE.fullmatch(literal.replace("\\\\", "")):
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
    if _CONTROL_RE.search(value) or '"' in value or "\\" in value:
        raise ValidationError(
            "A display name may not contain control characters, quotes or backslashes.",
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
        if not sep or not _HEADER_NAME_RE.match(name) or not content:
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
        item = raw.strip()
        if not item.isdigit() or not 300 <= int(item) <= 699:
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
