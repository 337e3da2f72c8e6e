"""routing.cdr.pricing: an answered call's duration billed by a rate's terms."""

from __future__ import annotations

from decimal import Decimal

import pytest

from routing.cdr.pricing import Terms, billed_seconds, charge

D = Decimal


@pytest.mark.parametrize(
    ("duration_ms", "initial", "next_", "billed"),
    [
        (0, 30, 6, 0),  # answered, hung up at once: no second to bill
        (1, 1, 1, 1),  # a started second counts whole
        (30_000, 1, 1, 30),
        (30_001, 1, 1, 31),
        (12_000, 30, 6, 30),  # at least the initial increment
        (30_000, 30, 6, 30),
        (31_000, 30, 6, 36),  # then whole next increments
        (36_000, 30, 6, 36),
        (36_400, 30, 6, 42),
        (61_000, 60, 60, 120),
    ],
)
def test_billed_seconds(duration_ms, initial, next_, billed):
    assert billed_seconds(duration_ms, initial, next_) == billed


def test_the_amount_is_the_fee_plus_the_rate_per_billed_minute_to_six_places():
    # 31 s at 30/6 bills 36 s: 0.05 + 0.0125 x 36 / 60 = 0.05 + 0.0075
    assert charge(Terms(D("0.0125"), D("0.05"), 30, 6), 31_000) == (36, D("0.057500"))
    # 7 s per second at 0.01/min: 0.0011666... rounds half up to 0.001167
    assert charge(Terms(D("0.01")), 7_000) == (7, D("0.001167"))
    # the connect fee alone for an answered call of 0 s
    assert charge(Terms(D("0.5"), D("0.02"), 60, 60), 0) == (0, D("0.020000"))
