"""What number normalization costs per call, in the engine alone (no server, no database).

    .venv/bin/python bench/normalization_bench.py [--number 200000]

The rules are the bench data set's (bench/dataset.py): a PBX's inbound plan (00 stripped,
then the regex 0(\\d{9}) -> 33\\1) and a carrier's outbound regex ^33(\\d{9})$ -> 0\\1, the
demo's. Each line is the cost of one to_e164() or from_e164() call in microseconds of CPU (the
process's CPU time, best of 5 timeit rounds: on a shared machine, wall time mostly
measures the neighbours), the way the engine calls them for a query (routing/engine/decide.py); the
last lines are a catastrophic pattern, (1+)+2, on a number of ones ending in x (with
Python's re, each one more doubled the time: 3.4 s at 26 ones), and one of the costliest
patterns the validators accept.

Prints figures; it is a benchmark, not a test (nothing is asserted).
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from routing.engine.numbers import (
    CALLEE,
    NumberPlan,
    NumberRule,
    from_e164,
    to_e164,
)


def _rule(
    priority: int, pattern: str | None = None, replacement: str = "", **kw: object
) -> NumberRule:
    return NumberRule(priority=priority, applies_to="both", pattern=pattern,
                      replacement=replacement, **kw)  # type: ignore[arg-type]  # fmt: skip


def _repeat(call: Callable[[], object], number: int, repeat: int) -> list[float]:
    return timeit.Timer(call, timer=time.process_time).repeat(number=number, repeat=repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000, help="calls per timeit round")
    args = parser.parse_args()

    pbx_in = NumberPlan.from_rules(
        [_rule(10, match_prefix="00", strip=2), _rule(20, r"0(\d{9})", r"33\1")]
    )
    carrier_out = NumberPlan.from_rules([_rule(100, r"^33(\d{9})$", r"0\1")])
    evil = NumberPlan.from_rules([_rule(10, r"(1+)+2", "")])
    cases = [
        ("to_e164 national 0612345678 (regex rule)", lambda: to_e164("0612345678", pbx_in, CALLEE)),
        ("to_e164 0033612345678 (prefix rule)", lambda: to_e164("0033612345678", pbx_in, CALLEE)),
        ("to_e164 +33612345678 (E.164: no rule)", lambda: to_e164("+33612345678", pbx_in, CALLEE)),
        ("to_e164 4930901820 (no rule matches)", lambda: to_e164("4930901820", pbx_in, CALLEE)),
        ("from_e164 33612345678 (regex rule)",
         lambda: from_e164("33612345678", carrier_out, CALLEE)),
        ("from_e164 4930901820 (regex, no match)",
         lambda: from_e164("4930901820", carrier_out, CALLEE)),
    ]  # fmt: skip
    print(f"{'case':48} {'us/call':>9}")
    for label, call in cases:
        best = min(_repeat(call, args.number, 5)) / args.number
        print(f"{label:48} {best * 1e6:9.2f}")
    for ones in (16, 20, 22, 31):
        number = "1" * ones + "x"
        best = min(_repeat(lambda n=number: to_e164(n, evil, CALLEE), 20, 3)) / 20
        print(f"{'(1+)+2 on ' + str(ones) + ' ones + x':48} {best * 1e6:9.2f}")
    # One of the costliest patterns the validators accept (185 RE2 steps of 200), on the
    # longest number that reaches a pattern, and on inputs that make RE2 work hardest.
    costly = r"(\d*){0,45}x"
    worst = NumberPlan.from_rules([_rule(10, costly, "")])
    for number in ("1" * 31 + "x", "1" * 32, "1" * 31 + "2"):
        best = min(_repeat(lambda n=number: to_e164(n, worst, CALLEE), 200, 3)) / 200
        label = f"{costly} on 1...{number[-2:]} ({len(number)} chars)"
        print(f"{label:48} {best * 1e6:9.2f}")


if __name__ == "__main__":
    main()
