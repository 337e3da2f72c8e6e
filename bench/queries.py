"""The pool of routing queries wrk sends: real calls built from the bench database.

Each body is what Kamailio's RELAY_API route posts (jansson_set, "<null>" for an empty
to-tag). The mix, seeded so that every run sends the same pool:
- 55% outbound: a PBX source address (a host or inside its /28) calling a number that
  starts with a rule's prefix (sometimes one of its tenant's own prefixes), written as
  +E.164, 00+E.164 or plain digits (the PBX's normalization rules apply);
- 27% inbound: a carrier's source address calling a DID (exact, inside a range, under a
  prefix), as +E.164, national 0... or plain digits;
- 3% inbound to a tenant's SIP domain (no DID: the domain's PBX);
- 9% misses: outbound to a number no prefix covers (404), inbound to an unknown DID (404);
- 6% unknown sources (TEST-NET addresses: 403).
"""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path
from typing import Any

from bench.dataset import DB_PREFIX, server_url

MIX = (("outbound", 55), ("inbound", 27), ("domain", 3), ("miss", 9), ("unknown", 6))


def _sample(conn: Any, sql: str, limit: int) -> list[tuple[Any, ...]]:
    # md5(id) order: a fixed pseudo-random sample, the same at every run.
    return conn.execute(f"{sql} ORDER BY md5(id::text) LIMIT {int(limit)}").fetchall()


def build_pool(db: str, count: int, seed: int = 7) -> tuple[list[bytes], dict[str, int]]:
    import psycopg

    assert db.startswith(DB_PREFIX)
    rng = random.Random(seed)
    with psycopg.connect(server_url(db)) as conn:
        global_prefixes = [
            r[0]
            for r in _sample(
                conn,
                "SELECT prefix FROM routing_routerule WHERE tenant_id IS NULL AND "
                "prefix NOT LIKE '9999%%' AND caller_prefix = ''",
                20_000,
            )
        ]
        tenant_prefixes: dict[int, list[str]] = {}
        for tenant_id, prefix in conn.execute(
            "SELECT tenant_id, prefix FROM routing_routerule WHERE tenant_id IS NOT NULL"
        ):
            tenant_prefixes.setdefault(tenant_id, []).append(prefix)
        pbx_sources = conn.execute(
            "SELECT s.cidr, p.tenant_id, p.host FROM routing_ipsource s "
            "JOIN routing_pbx p ON p.id = s.pbx_id WHERE p.host <> '127.0.0.1' ORDER BY s.id"
        ).fetchall()
        carrier_sources = [
            r[0]
            for r in conn.execute(
                "SELECT cidr FROM routing_ipsource WHERE carrier_id IS NOT NULL ORDER BY id"
            )
        ]
        domains = [r[0] for r in conn.execute("SELECT name FROM routing_domain ORDER BY id")]
        domain_of = dict(
            conn.execute("SELECT tenant_id, name FROM routing_domain ORDER BY id").fetchall()
        )
        dids = {
            match: _sample(
                conn,
                f"SELECT number, range_end FROM routing_did WHERE match = '{match}'",  # noqa: S608
                limit,
            )
            for match, limit in (("exact", 5000), ("range", 1000), ("prefix", 1000))
        }

    def host_in(cidr: str) -> str:
        network = ipaddress.ip_network(cidr)
        if network.num_addresses == 1:
            return str(network.network_address)
        return str(network.network_address + rng.randrange(1, network.num_addresses - 1))

    def body(source: str, caller: str, caller_host: str, callee: str, callee_host: str) -> bytes:
        call = rng.getrandbits(64)
        return json.dumps(
            {
                "event": "sip-routing",
                "source_ip": source,
                "source_port": 5060,
                "auth": 0,
                "call_id": f"{call:016x}@{source}",
                "from_name": rng.choice(("", "Reception", "Alice Martin", "Support")),
                "from_uri": f"sip:{caller}@{caller_host}",
                "from_tag": f"{call >> 32:08x}",
                "to_name": "",
                "to_uri": f"sip:{callee}@{callee_host}",
                "to_tag": "<null>",
            },
            separators=(",", ":"),
        ).encode()

    def e164_written(number: str, national: bool, international: str) -> str:
        roll = rng.random()
        if national and number.startswith("33") and roll < 0.35:
            return "0" + number[2:]
        if roll < 0.65:
            return "+" + number
        return international + number if international else number

    def random_e164() -> str:
        return rng.choice(("33", "44", "49", "1")) + "".join(rng.choices("0123456789", k=9))

    bodies: list[bytes] = []
    counts = {kind: 0 for kind, _ in MIX}
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    for _ in range(count):
        kind = rng.choices(kinds, weights)[0]
        counts[kind] += 1
        if kind == "outbound" or (kind == "miss" and rng.random() < 0.5):
            cidr, tenant_id, pbx_host = rng.choice(pbx_sources)
            own = tenant_prefixes.get(tenant_id)
            if kind == "miss":
                number = "80" + "".join(rng.choices("0123456789", k=9))
            else:
                prefix = rng.choice(own) if own and rng.random() < 0.15 else None
                prefix = prefix or rng.choice(global_prefixes)
                number = prefix + "".join(rng.choices("0123456789", k=max(2, 11 - len(prefix))))
            caller = rng.choice(("0" + random_e164()[2:], "+" + random_e164(), "201"))
            callee = e164_written(number, national=False, international="00")
            bodies.append(body(host_in(cidr), caller, pbx_host, callee, domain_of[tenant_id]))
        elif kind in ("inbound", "miss"):
            source = host_in(rng.choice(carrier_sources))
            if kind == "miss":
                number = "3398" + "".join(rng.choices("0123456789", k=7))
            else:
                match = rng.choices(("exact", "range", "prefix"), (80, 12, 8))[0]
                number, range_end = rng.choice(dids[match])
                if match == "range":
                    number = str(rng.randint(int(number), int(range_end)))
                elif match == "prefix":
                    number += "".join(rng.choices("0123456789", k=11 - len(number)))
            callee = e164_written(number, national=True, international="")
            bodies.append(body(source, "+" + random_e164(), source, callee, source))
        elif kind == "domain":
            source = host_in(rng.choice(carrier_sources))
            user = rng.choice(("alice", "bob", "reception", "sales"))
            bodies.append(body(source, "+" + random_e164(), source, user, rng.choice(domains)))
        else:  # unknown source
            source = f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randint(1, 254)}"
            bodies.append(body(source, "+" + random_e164(), source, random_e164(), source))
    return bodies, counts


def write_pool(path: Path, bodies: list[bytes]) -> None:
    path.write_bytes(b"\n".join(bodies) + b"\n")


def read_pool(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line]


MARK = b"~"  # a digit drawn at random for each request (bench/rtjson.lua)


def fill_marks(body: bytes, rng: random.Random) -> bytes:
    """A pool body with each MARK replaced by a random digit, as bench/rtjson.lua sends it."""
    if MARK not in body:
        return body
    parts = body.split(MARK)
    digits = rng.choices(b"0123456789", k=len(parts) - 1)
    out = bytearray(parts[0])
    for digit, part in zip(digits, parts[1:], strict=True):
        out.append(digit)
        out += part
    return bytes(out)
