"""What a rule's reject action costs per call, in the engine alone (no server, no database).

    .venv/bin/python bench/reject_bench.py [--number 100000] [--reference COMMIT]

A rule routes or rejects (issue 12, item 5): decide() reads one more field of the chosen
rule. Measured on one table and one outbound query (a PBX's call to a French mobile, a
rule with a carrier of two gateways), each line the CPU time of one decide() call in
microseconds (the process's CPU time, best of 3 interleaved runs of 5 timeit rounds: on a
shared machine, wall time mostly measures the neighbours):

- reference: routing/engine/decide.py as it is at `--reference` (default: where this
  branch left main, `git merge-base HEAD main`), loaded beside this tree's by git show, on
  the same table and query: the cost before the check;
- this tree: the same call with the reject check;
- a rule that rejects: the answer of a blocking rule (no gateways ordered, no routes built).

Prints figures; it is a benchmark, not a test (nothing is asserted).
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
import timeit
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from routing.engine import decide as this_tree  # noqa: E402
from routing.engine.query import parse_query  # noqa: E402
from routing.engine.table import (  # noqa: E402
    CarrierRow,
    GatewayRow,
    PbxRow,
    RuleRow,
    SourceRow,
    TableRows,
    TargetRow,
    TenantRow,
    build_table,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def reference_decide(branch: str):  # type: ignore[no-untyped-def]
    """decide() from `branch`'s routing/engine/decide.py, or None when git cannot say."""
    try:
        source = subprocess.run(
            ["git", "show", f"{branch}:routing/engine/decide.py"],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(tempfile.mkdtemp()) / "decide_reference.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("decide_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["decide_reference"] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module.decide


def table():  # type: ignore[no-untyped-def]
    rules = [RuleRow(id=1, prefix="336", targets=(TargetRow(0, carrier_id=1),))]
    rules += [RuleRow(id=2, prefix="3389", targets=(), reject_code=403, reject_reason="Forbidden")]
    rules += [
        RuleRow(id=10 + n, prefix=f"4{n:03d}", targets=(TargetRow(0, carrier_id=1),))
        for n in range(1000)
    ]
    return build_table(
        TableRows(
            tenants=(TenantRow(1, "Acme"),),
            pbxs=(PbxRow(1, 1, "hq", "10.10.0.10"),),
            carriers=(CarrierRow(1, "Alpha"),),
            gateways=(
                GatewayRow(1, 1, "alpha-1", "203.0.113.10"),
                GatewayRow(2, 1, "alpha-2", "203.0.113.11"),
            ),
            sources=(SourceRow("10.10.0.0/24", pbx_id=1),),
            domains=(),
            dids=(),
            rules=tuple(rules),
        )
    )


def query(to_user: str):  # type: ignore[no-untyped-def]
    return parse_query(
        orjson.dumps(
            {
                "event": "sip-routing",
                "source_ip": "10.10.0.10",
                "source_port": 5060,
                "call_id": "bench",
                "from_name": "",
                "from_uri": "sip:33123456789@10.10.0.10",
                "to_name": "",
                "to_uri": f"sip:{to_user}@x",
            }
        )
    )


def per_call_us(call, number: int) -> float:  # type: ignore[no-untyped-def]
    rounds = timeit.Timer(call, timer=time.process_time).repeat(number=number, repeat=5)
    return min(rounds) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000, help="calls per timeit round")
    parser.add_argument("--reference", help="commit of the reference decide.py")
    args = parser.parse_args()
    if args.reference is None:
        args.reference = subprocess.run(
            ["git", "merge-base", "HEAD", "main"],
            cwd=ROOT, capture_output=True, text=True, check=False, timeout=30,
        ).stdout.strip()[:10] or "main"  # fmt: skip
    tbl, rng = table(), random.Random(1)
    routed, blocked = query("33612345678"), query("33899123456")
    assert this_tree.decide(routed, tbl, NOW, rng).code == 200
    assert this_tree.decide(blocked, tbl, NOW, rng).code == 403
    reference = reference_decide(args.reference)
    calls = {"this tree: routed call": lambda: this_tree.decide(routed, tbl, NOW, rng)}
    if reference is not None:
        assert reference(routed, tbl, NOW, rng).code == 200
        calls[f"reference ({args.reference}): routed call"] = lambda: reference(
            routed, tbl, NOW, rng
        )
    calls["this tree: a rule that rejects (403)"] = lambda: this_tree.decide(blocked, tbl, NOW, rng)
    # Interleaved, three times, the best kept: the machine's drift hits both alike.
    best: dict[str, float] = {}
    for _ in range(3):
        for label, call in calls.items():
            micros = per_call_us(call, args.number)
            best[label] = min(best.get(label, micros), micros)
    lines = sorted(best.items())
    for label, micros in lines:
        print(f"{label:<45} {micros:7.2f} us CPU per decide()")


if __name__ == "__main__":
    main()
