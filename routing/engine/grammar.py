"""What an address, a network and a host may look like wherever c4router reads or writes one.

Pure predicates, no Django: the engine parses the query's source_ip with them, and
routing.validators (the admin, the API, the CSV imports, the Kamailio renderer and the
loader's gate) wraps them in messages for people. One grammar, so that nothing accepted at
one door is refused, or worse, passed on, at another.

Python's ipaddress accepts an IPv6 scope (zone) id after '%' and takes anything there,
spaces, CR and LF included: 'fe80::1%x\\r\\nX-Injected: yes' is a valid IPv6Address whose
str() carries the two lines into whatever header or config it is written to. SIP has no use
for scoped addresses (a zone id means nothing beyond the host that wrote it, and RFC 3261
has no syntax for it), so they are refused everywhere, as is any character an address never
has.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Every character of a textual IPv4 or IPv6 address (RFC 4291 2.2, dotted IPv4 tail included).
_ADDRESS_RE = re.compile(r"[0-9A-Fa-f:.]{2,45}")
NETWORK_RE = re.compile(r"[0-9A-Fa-f:.]{2,45}(?:/[0-9]{1,3})?")
_HOST_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
HOSTNAME_MAX = 253

# The widest network a trusted IP source may be. A source names the peers of one carrier or
# one PBX, so it is sized in the smallest blocks routed on the Internet (an IPv4 /24, an
# IPv6 /48): at most 2**16 of them, i.e. an IPv4 /8 (the largest block ever assigned to one
# organisation) or an IPv6 /32 (a whole provider's allocation). Wider is a typo or a wish to
# trust everyone, which /0 was refused for, and /1 is not much better. An IPv6 network that
# reaches into the IPv4-mapped range (::ffff:0:0/96, how a dual-stack socket shows IPv4
# peers) trusts IPv4 addresses, so it is measured as the IPv4 network it covers: /104 or
# longer (::ffff:0:0/96 is 0.0.0.0/0, and ::/80 contains it).
MIN_PREFIX_V4 = 8
MIN_PREFIX_V6 = 32
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
MIN_PREFIX_MAPPED = 96 + MIN_PREFIX_V4


def parse_address(text: str) -> IPAddress:
    """An IPv4 or IPv6 address without a scope id; ValueError otherwise."""
    if not _ADDRESS_RE.fullmatch(text):
        raise ValueError("not an IPv4 or IPv6 address")
    return ipaddress.ip_address(text)  # the characters above cannot make a scope id


def is_address(text: str) -> bool:
    try:
        parse_address(text)
    except ValueError:
        return False
    return True


def parse_network(text: str, *, strict: bool = True) -> IPNetwork:
    """An IPv4 or IPv6 network ('192.0.2.0/24', or an address: that host alone), without a
    scope id; ValueError otherwise (strict: also when host bits are set)."""
    if not NETWORK_RE.fullmatch(text):
        raise ValueError("not an IPv4 or IPv6 network")
    return ipaddress.ip_network(text, strict=strict)


def too_wide(network: IPNetwork) -> bool:
    """Wider than a trusted source may be (see MIN_PREFIX_V4 above)."""
    if network.version == 4:
        return network.prefixlen < MIN_PREFIX_V4
    if network.prefixlen < MIN_PREFIX_V6:
        return True
    return network.overlaps(_MAPPED) and network.prefixlen < MIN_PREFIX_MAPPED


def is_hostname(text: str) -> bool:
    """A DNS name: ASCII labels of letters, digits and inner hyphens, an optional final dot;
    not all-numeric (that would be a mistyped IPv4 address)."""
    if not text or len(text) > HOSTNAME_MAX:
        return False
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    if all(label.isdigit() for label in labels):
        return False
    return all(_HOST_LABEL_RE.fullmatch(label) for label in labels)


def is_host(text: str) -> bool:
    """An IPv4 or IPv6 address (unbracketed, no scope id) or a DNS name."""
    return is_address(text) or is_hostname(text)
