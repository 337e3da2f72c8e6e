"""Number lists on PostgreSQL: models, the loader (built and patched), the route tester."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from routing.engine.lists import PREFIX
from routing.loader import build_from_database, update_from_database
from routing.models import (
    NumberList,
    NumberListEntry,
    RoutingChange,
)

from .conftest import saved
from .test_route_tester import run_route

pytestmark = pytest.mark.django_db


def block_list(**fields: object) -> NumberList:
    return saved(NumberList(name=fields.pop("name", "Fraud"), **fields))


def entry(number_list: NumberList, number: str, **fields: object) -> NumberListEntry:
    return saved(NumberListEntry(number_list=number_list, number=number, **fields))


def call(table, to: str = "sip:0612345678@x", frm: str = "sip:0123456789@10.10.0.10"):  # type: ignore[no-untyped-def]
    from routing.explain import explain_call

    return explain_call("10.10.0.10", frm, to, table=table).decision


def test_the_loader_builds_the_lists_with_the_side_defaults(routing_data):
    called = block_list()
    entry(called, "336", match="prefix", comment="French mobiles, for the test")
    caller = block_list(name="Abusers", side="caller")
    entry(caller, "33199999999")
    table = build_from_database()
    assert table.counts["number_lists"] == 2 and table.counts["list_entries"] == 2
    decision = call(table)
    assert (decision.code, decision.reason) == (403, "Destination blocked")
    assert decision.listed is not None and decision.listed.entry == (PREFIX, "336*")
    decision = call(table, to="sip:0123456789@x", frm="sip:0199999999@10.10.0.10")
    assert (decision.code, decision.reason) == (403, "Source blocked")


def test_an_entry_change_patches_only_its_list(routing_data, caplog):
    fraud = block_list()
    entry(fraud, "33612345678")
    other = block_list(name="Other")
    entry(other, "44")
    table = build_from_database()
    assert call(table).code == 403
    kept = table.list_entries[other.pk]

    fraud.entries.get().delete()
    with caplog.at_level(logging.INFO, logger="c4router.loader"):
        patched = update_from_database(table)
    assert patched is not None
    assert "patched" in caplog.text and "1 number list changes" in caplog.text
    assert call(patched).routed
    assert patched.list_entries[other.pk] is kept  # the untouched list is not re-read

    entry(fraud, "3361", match="prefix")
    again = update_from_database(patched)
    assert again is not None and call(again).code == 403


def test_disabling_and_deleting_a_list_let_calls_through(routing_data):
    fraud = block_list(code=603, reason="Declined by policy")
    entry(fraud, "33612345678")
    table = build_from_database()
    assert (call(table).code, call(table).reason) == (603, "Declined by policy")
    fraud.enabled = False
    fraud.save()
    table = update_from_database(table)
    assert table is not None and call(table).routed and not table.list_entries
    fraud.enabled = True
    fraud.save()
    table = update_from_database(table)
    assert table is not None and call(table).code == 603
    fraud.delete()
    assert not NumberListEntry.objects.exists()
    table = update_from_database(table)
    assert table is not None and call(table).routed


def test_deleting_a_list_keeps_its_entries_history(routing_data):
    fraud = block_list()
    entry(fraud, "33612345678", comment="seen in fraud report 12")
    fraud.delete()
    history = NumberListEntry.history.filter(number="33612345678").order_by("history_date")
    assert [h.history_type for h in history] == ["+", "-"]
    assert history.last().comment == "seen in fraud report 12"


def test_a_carrier_list_skips_the_carrier(routing_data):
    alpha_refuses = block_list(name="Alpha refuses", carrier=routing_data.alpha)
    entry(alpha_refuses, "33612345678")
    decision = call(build_from_database())
    assert decision.routed
    assert [route.target for route in decision.routes] == ["gateway Beta/beta-1"]
    assert any("Alpha refuses" in line for line in decision.skipped)


def test_a_bad_reason_in_the_database_answers_the_default(routing_data):
    fraud = block_list()
    entry(fraud, "33612345678")
    NumberList.objects.filter(pk=fraud.pk).update(reason="Bad\r\nX-Injected: 1", code=486)
    decision = call(build_from_database())
    assert (decision.code, decision.reason) == (486, "Destination blocked")


def test_route_command_names_the_list_and_the_entry(routing_data, capsys):
    fraud = block_list()
    entry(fraud, "3361", match="prefix", comment="fraud wave, ticket 42")
    out = run_route(capsys, "--source-ip", "10.10.0.10", "--to", "sip:0612345678@x")
    assert f"Number list: list 'Fraud' (block, called number) #{fraud.pk}" in out
    assert "entry 3361* (prefix)" in out and "'fraud wave, ticket 42'" in out
    assert "Answer: 403 Destination blocked" in out


def test_route_command_names_an_allow_list_that_refused(routing_data, capsys):
    only = block_list(name="Only UK", mode="allow")
    entry(only, "44", match="prefix")
    out = run_route(capsys, "--source-ip", "10.10.0.10", "--to", "sip:0612345678@x")
    assert "the called number 33612345678 is on no entry" in out


# --- the models -------------------------------------------------------------------------------


def test_a_list_is_attached_to_a_tenant_or_a_carrier_not_both(routing_data):
    both = NumberList(name="Both", tenant=routing_data.tenant, carrier=routing_data.alpha)
    with pytest.raises(ValidationError, match="not both"):
        both.full_clean()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"code": 399}, "code", "greater than or equal to 400"),
        ({"code": 700}, "code", "less than or equal to 699"),
        ({"reason": "Blocked\r\nX: 1"}, "reason", "printable characters"),
        ({"reason": " padded"}, "reason", "words separated by single spaces"),
        ({"mode": "maybe"}, "mode", "not a valid choice"),
    ],
)
def test_list_settings_are_validated(routing_data, fields, field, message):
    with pytest.raises(ValidationError) as caught:
        NumberList(name="Bad", **fields).full_clean()
    assert message in " ".join(caught.value.message_dict[field])


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"number": "+336"}, "number", "Enter digits only"),
        ({"match": "range", "range_end": ""}, "range_end", "A range needs its last number."),
        ({"match": "range", "range_end": "1"}, "range_end", "as many digits as the first"),
        ({"match": "range", "range_end": "33600000000"}, "range_end", "below the first"),
        ({"range_end": "33612345679"}, "range_end", "Only a range has a last number."),
    ],
)
def test_entries_are_validated(routing_data, fields, field, message):
    fraud = block_list()
    values = {"number": "33612345678", **fields}
    with pytest.raises(ValidationError) as caught:
        NumberListEntry(number_list=fraud, **values).full_clean()
    assert message in " ".join(caught.value.message_dict[field])


def test_a_list_change_is_logged_for_the_workers(routing_data):
    fraud = block_list()
    entry(fraud, "33612345678")
    kinds = list(RoutingChange.objects.order_by("-id").values_list("kind", "object_id")[:2])
    assert kinds == [("list", fraud.pk), ("list", fraud.pk)]


def test_check_routing_data_still_runs(routing_data, capsys):
    block_list()
    call_command("check_routing_data")


def test_the_endpoint_answers_the_lists_code_and_counts_it_as_listed(client, routing_data):
    from routing.loader import holder

    from .test_endpoint import outbound, post
    from .test_health import _sample

    fraud = block_list(code=603, reason="Number barred")
    entry(fraud, "33612345678")
    previous = holder.table
    holder.refresh(force=True)
    try:
        before = client.get("/metrics").content.decode()
        response = post(client, outbound())
        after = client.get("/metrics").content.decode()
    finally:
        holder.table = previous
    assert response.status_code == 200
    answer = response.json()["rtjson"]
    assert (answer["success"], answer["code"], answer["reason"]) == (False, 603, "Number barred")
    name = 'c4router_routing_requests_total{outcome="listed"}'
    assert _sample(after, name) == _sample(before, name) + 1


def test_the_demo_list_refuses_a_premium_rate_call_as_the_readme_says(db, capsys):
    from routing.demo import seed_demo

    seed_demo()
    out = run_route(capsys, "--source-ip", "10.10.0.10", "--to", "sip:0899123456@x")
    assert "Number list: list 'Fraud destinations' (block, called number) #" in out
    assert "entry 3389* (prefix), entry #" in out
    assert "'French premium-rate numbers (08 9x)'" in out
    assert "Answer: 403 Destination blocked" in out
    routed = run_route(capsys, "--source-ip", "10.10.0.10", "--to", "sip:0612345678@x")
    assert "Answer: 200 OK" in routed
