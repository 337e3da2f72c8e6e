"""Number portability in the engine: ported numbers as two sorted arrays, LNP rules, and
routing on the routing number (LRN) while the Request-URI keeps the dialled number."""

from __future__ import annotations

import random
from datetime import timedelta

import orjson
import pytest

from routing.engine.lnp import LnpRuleRow, PortedBuilder
from routing.engine.rtjson import answer_bytes
from routing.engine.table import CarrierRow, Patch, patch_table
from routing.explain import describe

from .builders import NOW, base_rows, build_table, gateway_names, route, rule, to_gw

# 1202 goes to Alpha (alpha-1), 1303 to Beta (beta-1).
RULES = (rule(1, "1202", to_gw(1)), rule(2, "1303", to_gw(3)))
DIALLED = "sip:0012025331234@c4router.example"  # PBX hq's plan: 00 + E.164
PORTED = "12025331234"
LRN = "13035440000"


def ported(*rows: tuple[str, ...]):
    builder = PortedBuilder()
    for row in rows:
        builder.add(*row)
    return builder.finish()


def lnp_table(*lnp_rules: LnpRuleRow, numbers=((PORTED, LRN),), **changes: object):
    rows = base_rows(rules=RULES, lnp_rules=lnp_rules, ported=ported(*numbers), **changes)
    return build_table(rows)


GLOBAL_NANP = LnpRuleRow(1, "1")


# --- the arrays -------------------------------------------------------------------------------


def test_a_ported_number_gives_its_lrn_and_others_none():
    found = ported(("12025331234", "13035440000"), ("12025330000", "12025440000"))
    assert found.find("12025331234") == "13035440000"
    assert found.find("12025330000") == "12025440000"
    assert found.find("12025331235") is None
    assert found.find("1202533123") is None  # a shorter number is another number
    assert found.find("") is None


def test_numbers_given_out_of_numeric_order_are_sorted():
    # As text "12..." sorts before "2...", and so does a longer "1..." number.
    found = ported(("4412345", "4400000"), ("123456789012", "123000000000"), ("33", "34"))
    assert found.find("123456789012") == "123000000000"
    assert found.find("33") == "34"
    assert found.find("4412345") == "4400000"


def test_a_million_ported_numbers_cost_16_bytes_each():
    builder = PortedBuilder()
    for n in range(12_025_000_000, 12_026_000_000):
        builder.add(str(n), "13035440000")
    found = builder.finish()
    per_number = found.nbytes() / found.count
    print(f"LNP: {found.count} ported numbers, {per_number:.1f} bytes per number")
    assert found.count == 1_000_000
    assert per_number <= 16.5  # two 64-bit integers and the directory (a quarter of a byte)
    assert found.find("12025500000") == "13035440000"
    assert found.find("12026000000") is None


@pytest.mark.parametrize("bad", [("0123", "1"), ("1", "0123"), ("12a", "1"), ("1" * 16, "1")])
def test_numbers_that_are_not_e164_are_refused_by_the_builder(bad):
    with pytest.raises(ValueError, match=r"not E\.164"):
        PortedBuilder().add(*bad)


def test_a_port_effective_later_takes_effect_at_its_moment_without_a_reload():
    later = NOW + timedelta(hours=1)
    builder = PortedBuilder()
    builder.add(PORTED, LRN, later, NOW)
    builder.add("12025330000", "12025440000", NOW - timedelta(days=1), NOW)
    found = builder.finish()
    assert found.find(PORTED, NOW) is None
    assert found.find(PORTED, later) == LRN
    assert found.find("12025330000", NOW) == "12025440000"


# --- routing on the LRN -----------------------------------------------------------------------


def test_without_an_lnp_rule_the_dialled_number_routes():
    decision = route(lnp_table(), to_uri=DIALLED)
    assert gateway_names(decision) == ["alpha-1"]
    assert decision.ported is None


def test_a_ported_number_routes_on_its_lrn_and_keeps_the_dialled_number():
    decision = route(lnp_table(GLOBAL_NANP), to_uri=DIALLED)
    assert decision.routed
    assert gateway_names(decision) == ["beta-1"]  # 1303...: Beta, not Alpha's 1202
    assert decision.callee == PORTED
    assert decision.ported is not None and decision.ported.lrn == LRN
    (only,) = decision.routes
    assert only.uri == f"sip:{PORTED}@192.0.2.20:5060"  # Beta does not want rn
    assert only.to_user == PORTED
    assert f"on LRN {LRN}" in decision.why


def test_a_number_not_ported_routes_as_dialled_under_a_rule():
    decision = route(lnp_table(GLOBAL_NANP), to_uri="sip:0012025339999@x")
    assert gateway_names(decision) == ["alpha-1"]
    assert decision.ported is None


def test_a_carrier_with_send_rn_gets_npdi_and_rn_in_the_request_uri_user_part():
    carriers = (CarrierRow(1, "Alpha"), CarrierRow(2, "Beta", send_rn=True))
    decision = route(lnp_table(GLOBAL_NANP, carriers=carriers), to_uri=DIALLED)
    (only,) = decision.routes
    # RFC 4694 section 6's form: the dialled number, then npdi and the global rn.
    assert only.uri == f"sip:{PORTED};npdi;rn=+{LRN}@192.0.2.20:5060;user=phone"
    assert only.to_uri == f"sip:{PORTED}@192.0.2.20"  # the To header keeps it plain


def test_send_rn_adds_nothing_to_a_number_that_is_not_ported():
    carriers = (CarrierRow(1, "Alpha", send_rn=True), CarrierRow(2, "Beta"))
    decision = route(lnp_table(GLOBAL_NANP, carriers=carriers), to_uri="sip:0012025339999@x")
    assert decision.routes[0].uri == "sip:12025339999@203.0.113.10:5060"


def test_lnp_rules_apply_by_tenant_and_prefix():
    other_tenant = LnpRuleRow(1, "1", tenant_id=2)  # Globex only: Acme's call is not looked up
    assert gateway_names(route(lnp_table(other_tenant), to_uri=DIALLED)) == ["alpha-1"]
    own = LnpRuleRow(2, "1202", tenant_id=1)
    assert gateway_names(route(lnp_table(own), to_uri=DIALLED)) == ["beta-1"]
    elsewhere = LnpRuleRow(3, "44")
    assert gateway_names(route(lnp_table(elsewhere), to_uri=DIALLED)) == ["alpha-1"]


def test_a_disabled_lnp_rule_looks_nothing_up():
    off = LnpRuleRow(1, "1", enabled=False)
    assert gateway_names(route(lnp_table(off), to_uri=DIALLED)) == ["alpha-1"]


def test_an_lrn_no_rule_matches_is_404_naming_both_numbers():
    decision = route(lnp_table(GLOBAL_NANP, numbers=((PORTED, "19995550000"),)), to_uri=DIALLED)
    assert decision.code == 404
    assert "19995550000 (LRN of 12025331234)" in decision.why


def test_the_answer_carries_the_dialled_and_the_routing_number_for_the_call_records():
    decision = route(lnp_table(GLOBAL_NANP), to_uri=DIALLED)
    document = orjson.loads(answer_bytes(decision))["rtjson"]
    assert document["c4"]["callee"] == PORTED
    assert document["c4"]["lrn"] == LRN
    assert document["routes"][0]["c4"]["to"] == PORTED
    plain = orjson.loads(answer_bytes(route(lnp_table(), to_uri=DIALLED)))["rtjson"]
    assert "lrn" not in plain["c4"]


def test_the_route_tester_says_the_number_is_ported_and_which_rule_asked():
    tbl = lnp_table(LnpRuleRow(7, "1", tenant_id=1))
    lines = describe(route(tbl, to_uri=DIALLED), tbl, NOW)
    assert f"Ported: {PORTED} -> LRN {LRN} (LNP rule #7, tenant Acme, prefix 1)" in lines


def test_a_patch_keeps_the_ported_numbers_and_rereads_the_rules():
    old = lnp_table(GLOBAL_NANP)
    new = patch_table(old, Patch(small=base_rows(lnp_rules=())), version=2)
    assert new.ported is old.ported
    assert gateway_names(route(new, to_uri=DIALLED)) == ["alpha-1"]  # no rule: no lookup
    again = patch_table(old, Patch(small=base_rows(lnp_rules=(GLOBAL_NANP,))), version=3)
    assert gateway_names(route(again, to_uri=DIALLED)) == ["beta-1"]
    assert again.counts["ported_numbers"] == 1


def test_lookups_through_the_directory_agree_with_a_plain_dict():
    rng = random.Random(7)
    # Clustered like a real database: a few dense blocks and numbers spread world-wide.
    numbers = {rng.randrange(12_025_000_000, 12_025_100_000) for _ in range(20_000)}
    numbers |= {rng.randrange(10**9, 10**15) for _ in range(5_000)}
    table = {str(n): str(10**10 + n % 997) for n in numbers}
    found = ported(*table.items())
    assert found.directory is not None
    probes = [*table, *(str(n + 1) for n in numbers), "1", "999999999999999", "12025000000"]
    for probe in probes:
        assert found.find(probe) == table.get(probe), probe


def test_an_overlay_of_edits_wins_over_the_arrays_without_touching_them():
    base = ported((PORTED, LRN), ("12025330000", "12025440000"))
    later = NOW + timedelta(hours=1)
    edited = base.patched(
        {
            PORTED: None,  # no longer ported
            "12025330000": ("19995550000", None),  # another LRN
            "12025339999": ("13035440000", later),  # new, effective in an hour
        }
    )
    assert edited.numbers is base.numbers and edited.lrns is base.lrns
    assert edited.find(PORTED, NOW) is None
    assert edited.find("12025330000", NOW) == "19995550000"
    assert edited.find("12025339999", NOW) is None
    assert edited.find("12025339999", later) == "13035440000"
    assert edited.count == 2  # one removed, one added
    assert base.find(PORTED, NOW) == LRN and not base.overlay  # the old one is untouched
    again = edited.patched({PORTED: (LRN, None)})
    assert again.find(PORTED, NOW) == LRN and again.count == 3
    with pytest.raises(ValueError, match=r"not E\.164"):
        base.patched({"0123": (LRN, None)})


# --- an incoming npdi (RFC 4694): looked up upstream ---------------------------------------


def test_an_incoming_npdi_without_rn_is_not_looked_up_and_keeps_its_npdi():
    # The database says ported (to Beta's 1303), but upstream says: looked up, not ported.
    decision = route(
        lnp_table(GLOBAL_NANP),
        to_uri=DIALLED,
        request_uri="sip:0012025331234;npdi@c4router.example;user=phone",
    )
    assert gateway_names(decision) == ["alpha-1"]  # routed on the dialled number
    assert decision.ported is None and decision.npdi
    assert decision.routes[0].uri == f"sip:{PORTED};npdi@203.0.113.10:5060;user=phone"


def test_an_incoming_rn_is_routed_on_instead_of_the_database():
    # Upstream's LRN (1303..., Beta) for a number our database does not have ported.
    decision = route(
        lnp_table(GLOBAL_NANP, numbers=()),
        to_uri="sip:0012025339999@x",
        request_uri="sip:0012025339999;npdi;rn=+1-303-544-0000@x;user=phone",
    )
    assert gateway_names(decision) == ["beta-1"]
    assert decision.ported is not None and decision.ported.upstream
    assert decision.ported.lrn == LRN
    # Beta does not want rn: it still gets the incoming npdi and rn, once, E.164.
    assert decision.routes[0].uri == f"sip:12025339999;npdi;rn=+{LRN}@192.0.2.20:5060;user=phone"
    document = orjson.loads(answer_bytes(decision))["rtjson"]
    assert document["c4"]["lrn"] == LRN and document["c4"]["callee"] == "12025339999"


def test_a_carrier_with_send_rn_gets_the_incoming_rn_once_not_doubled():
    carriers = (CarrierRow(1, "Alpha"), CarrierRow(2, "Beta", send_rn=True))
    decision = route(
        lnp_table(GLOBAL_NANP, carriers=carriers),  # the database has PORTED -> LRN too
        to_uri=DIALLED,
        request_uri=f"sip:0012025331234;npdi;rn=+{LRN}@c4router.example;user=phone",
    )
    (only,) = decision.routes
    assert only.uri == f"sip:{PORTED};npdi;rn=+{LRN}@192.0.2.20:5060;user=phone"
    assert only.uri.count("npdi") == 1 and only.uri.count("rn=") == 1


def test_an_incoming_rn_without_an_lnp_rule_is_passed_on_but_not_routed_on():
    decision = route(
        lnp_table(numbers=()),
        to_uri=DIALLED,
        request_uri=f"sip:+12025331234;npdi;rn=+{LRN}@x;user=phone",
    )
    assert gateway_names(decision) == ["alpha-1"]  # no rule: the dialled number's route
    assert decision.ported is None
    assert decision.routes[0].uri == f"sip:{PORTED};npdi;rn=+{LRN}@203.0.113.10:5060;user=phone"


def test_a_local_rn_is_normalized_like_the_called_number():
    # PBX hq's plan: 00 + E.164 (a local rn in the PBX's own format; rn-context not read).
    decision = route(
        lnp_table(GLOBAL_NANP, numbers=()),
        to_uri="sip:0012025339999@x",
        request_uri="tel:0012025339999;npdi;rn=0013035440000",
    )
    assert decision.ported is not None and decision.ported.lrn == LRN
    assert gateway_names(decision) == ["beta-1"]


def test_an_rn_no_rule_matches_is_404_naming_both_numbers():
    decision = route(
        lnp_table(GLOBAL_NANP),
        to_uri=DIALLED,
        request_uri="sip:0012025331234;npdi;rn=123@x",  # not 00 + E.164 for PBX hq
    )
    assert decision.code == 404
    assert "no route rule matches 123 (LRN of 12025331234)" in decision.why


def test_the_route_tester_says_npdi_came_in():
    tbl = lnp_table(GLOBAL_NANP)
    decision = route(tbl, to_uri=DIALLED, request_uri=f"sip:{PORTED};npdi@x")
    lines = describe(decision, tbl, NOW)
    assert "Portability: npdi in the Request-URI (looked up upstream): not looked up" in lines
    decision = route(tbl, to_uri=DIALLED, request_uri=f"sip:{PORTED};npdi;rn=+{LRN}@x")
    lines = describe(decision, tbl, NOW)
    assert (
        f"Ported: {PORTED} -> LRN {LRN} (LNP rule #1, global, prefix 1, rn from the "
        "Request-URI: not looked up)"
    ) in lines
