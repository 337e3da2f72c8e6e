"""What checking X-C4-Token costs per routing query: the endpoint's _token_allowed().

    .venv/bin/python bench/token_bench.py [--instances 10] [--number 200000]

The token is compared as the SHA-256 digest of the header's bytes (routing.engine.table
token_digest): the digest against the configured C4ROUTER_API_TOKEN's with
hmac.compare_digest, then looked up among the router instances' digests. Printed next to
the plain comparison it replaced (compare_digest on the str, then set membership), for the
three cases: an instance's token, the shared token, an unknown one. CPU time of this process
(time.process_time), best of 7 rounds: wall time on a shared machine measures the neighbours.
Prints figures; it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import hmac
import os
import sys
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c4router.settings")
os.environ.setdefault("C4ROUTER_MODE", "dev")
os.environ.setdefault("C4ROUTER_VAR_DIR", str(ROOT / "var" / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=10, help="router instances' tokens")
    parser.add_argument("--number", type=int, default=200_000, help="calls per round")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from routing import endpoint
    from routing.engine.table import Defaults, TableRows, build_table

    tokens = frozenset(
        f"instance-token-{i:04d}-0123456789abcdef0123" for i in range(args.instances)
    )
    table = build_table(TableRows(tokens=tokens), version=1, defaults=Defaults())
    shared = "shared-api-token-0123456789abcdef0123456789"
    settings.C4ROUTER["API_TOKEN"] = shared

    def plain(token: str) -> bool:  # the comparison before issue 11, item 7
        if not token:
            return False
        configured = settings.C4ROUTER["API_TOKEN"]
        if configured and hmac.compare_digest(token, configured):
            return True
        return token in tokens

    def cost(check: object, token: str) -> float:
        rounds = timeit.repeat(
            lambda: check(token),  # type: ignore[operator]
            number=args.number,
            repeat=7,
            timer=time.process_time,
        )
        return min(rounds) / args.number * 1e9

    cases = [
        ("an instance's token", sorted(tokens)[-1]),
        ("the shared token", shared),
        ("an unknown token", "nope-0123456789abcdef0123456789abcdef01234"),
    ]
    print(f"_token_allowed, {args.instances} instances, ns of CPU per call (best of 7 rounds)")
    for label, token in cases:
        before = cost(plain, token)
        after = cost(lambda t: endpoint._token_allowed(t, table), token)
        print(f"  {label:22} plain {before:6.0f}   digests {after:6.0f}   +{after - before:.0f}")


if __name__ == "__main__":
    main()
