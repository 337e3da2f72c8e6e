"""Issue 11, items 2 and 4: no normalization pattern an admin types can stop routing.

2. A pattern the form accepted but the engine could not compile ((?i)0(\\d+): the engine
   wrapped it, Python refuses a global flag inside) failed every table build: workers
   stopped applying changes, a restarted one answered 503, /readyz blamed the database and
   each routing request started another full build.
4. A backtracking pattern ((1+)+2) cost seconds of a worker's event loop per query.

Rows "written without the validators" stand for what the form refuses but a database can
still hold: rows saved before an upgrade, a fixture (loaddata does not validate) or SQL.
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from routing import validators
from routing.engine.numbers import CALLEE, EMPTY_PLAN, NumberRule, to_e164
from routing.engine.table import Table
from routing.loader import build_from_database, holder
from routing.models import NormalizationRule, Pbx
from tests.live import C4RouterServer, database_url_of_test_db
from tests.routing.conftest import TOKEN, make_routing_data, saved
from tests.routing.test_reload import client, first_gateway, swap_france_targets

ALPHA, BETA = "sip:203.0.113.10:5060", "sip:192.0.2.20:5080"
UNCOMPILABLE = r"0(\d+"  # no regex engine compiles it


def query(to_user: str) -> bytes:
    """An outbound call from Acme's PBX (tests/routing/conftest.py) to `to_user`."""
    return orjson.dumps(
        {"event": "sip-routing", "source_ip": "10.10.0.10", "source_port": 5060,
         "call_id": "f02@test", "from_uri": "sip:0123456789@10.10.0.10",
         "to_uri": f"sip:{to_user}@x", "to_tag": "<null>"}
    )  # fmt: skip


def post(django_client, body: bytes):  # type: ignore[no-untyped-def]
    return django_client.post(
        "/kamailio/rtjson", data=body, content_type="application/json", HTTP_X_C4_TOKEN=TOKEN
    )


def unvalidated_rule(pbx: Pbx, pattern: str) -> NormalizationRule:
    """A PBX inbound regex rule written without the validators, tried before the national
    rule (priority 5 < 100); the save signal bumps the routing version as any save does."""
    return NormalizationRule.objects.create(
        pbx=pbx, direction="in", kind="regex", pattern=pattern, replacement=r"33\1", priority=5
    )


@pytest.fixture
def own_table() -> Iterator[None]:
    """The process-wide table and status, put back after the test."""
    table, status = holder.table, holder.status
    holder.status = type(status)()
    yield
    holder.table, holder.status = table, status


def sample(page: str, name: str) -> float | None:
    """One sample (name with its labels) of a Prometheus text page; None if absent."""
    for line in page.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


# --- item 2: what the form accepts, the engine runs; what it cannot run is left out -------------


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?i)0(\d+)",  # the finding: a leading global flag, inside the engine's wrapping
        r"(?s)0(\d+)",
        r"0(\d+)\Z",
        r"0(\d{,9})",
        r"0(\d+)|(?i)1(\d+)",
        r"(\d)\1",
        r"(?=0)0(\d+)",
        r"(?>0)(\d+)",
        UNCOMPILABLE,
    ],
)
def test_f02_what_validation_accepts_the_engine_compiles(pattern: str) -> None:
    try:
        validators.validate_regex(pattern)
        validators.validate_replacement(pattern, r"33\1")
    except ValidationError:
        return  # refused when saved: fine
    NumberRule(priority=1, applies_to="both", pattern=pattern, replacement=r"33\1")


@pytest.mark.django_db
def test_f02_a_leading_flag_pattern_saves_and_routes(client, own_table) -> None:  # type: ignore[no-untyped-def]
    data = make_routing_data()
    saved(
        NormalizationRule(pbx=data.pbx, direction="in", kind="regex", pattern=r"(?i)0(\d+)",
                          replacement=r"33\1", priority=5, example_input="0612345678",
                          example_output="33612345678")
    )  # fmt: skip
    holder.refresh(force=True)
    response = post(client, query("0612345678"))
    assert response.status_code == 200
    routes = response.json()["rtjson"]["routes"]
    assert routes[0]["uri"] == "sip:33612345678@203.0.113.10:5060"


@pytest.mark.django_db
def test_f02_a_rule_the_engine_cannot_run_is_left_out_and_the_table_builds(
    client, own_table
) -> None:  # type: ignore[no-untyped-def]
    data = make_routing_data()
    bad = unvalidated_rule(data.pbx, UNCOMPILABLE)
    table: Table = build_from_database()
    ((kind, row_id, reason),) = [(row.kind, row.id, row.reason) for row in table.left_out]
    assert (kind, row_id) == ("normalization_rule", bad.pk)
    assert reason.startswith("pattern: the regular expression does not compile")
    # Every other rule applies: the PBX's national rule still normalizes the number.
    holder.refresh(force=True)
    response = post(client, query("0612345678"))
    assert response.status_code == 200
    assert response.json()["rtjson"]["routes"][0]["uri"] == "sip:33612345678@203.0.113.10:5060"


@pytest.mark.django_db
def test_f02_a_left_out_rule_is_shown_in_readyz_and_metrics(client, own_table) -> None:  # type: ignore[no-untyped-def]
    data = make_routing_data()
    bad = unvalidated_rule(data.pbx, UNCOMPILABLE)
    holder.refresh(force=True)
    document = client.get("/readyz").json()
    assert document["status"] == "ok"  # the rest of the table routes
    (left_out,) = document["table"]["left_out"]
    assert (left_out["kind"], left_out["id"]) == ("normalization_rule", bad.pk)
    assert left_out["reason"].startswith("pattern: the regular expression does not compile")
    metric = 'c4router_table_left_out_rows{kind="normalization_rule"}'
    assert sample(client.get("/metrics").content.decode(), metric) == 1.0

    bad.pattern = r"0(\d+)"  # fixed
    bad.save()
    holder.refresh()
    assert client.get("/readyz").json()["table"]["left_out"] == []
    assert sample(client.get("/metrics").content.decode(), metric) == 0.0


@pytest.mark.django_db
def test_f02_a_left_out_rule_is_shown_in_the_admin(admin_client) -> None:  # type: ignore[no-untyped-def]
    data = make_routing_data()
    bad = unvalidated_rule(data.pbx, UNCOMPILABLE)
    page = admin_client.get(reverse("admin:routing_normalizationrule_changelist"))
    text = page.content.decode()
    assert f"Normalization rule #{bad.pk}" in text
    assert "is left out of the routing table: pattern: the regular expression does not" in text
    assert text.count("LEFT OUT: pattern:") == 1  # the bad row's column; the others: in use
    change = admin_client.get(reverse("admin:routing_normalizationrule_change", args=[bad.pk]))
    assert "LEFT OUT: pattern: the regular expression does not compile" in change.content.decode()


@pytest.mark.django_db(transaction=True)
def test_f02_a_bad_row_stops_neither_changes_nor_a_restarted_worker(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = make_routing_data()
    with C4RouterServer(tmp_path) as server, client(server) as http:
        assert first_gateway(http) == ALPHA
        bad = unvalidated_rule(data.pbx, UNCOMPILABLE)
        swap_france_targets(data)  # a change after the bad row: it must still go live
        deadline = time.monotonic() + 10
        while first_gateway(http) != BETA:
            assert time.monotonic() < deadline, server.log_text()[-2000:]
            time.sleep(0.05)
        document = http.get("/readyz").json()
        assert [row["id"] for row in document["table"]["left_out"]] == [bad.pk]
    # A worker started with the bad row in the database routes (it answered 503).
    with C4RouterServer(tmp_path) as restarted, client(restarted) as http:
        assert first_gateway(http) == BETA


class TablelessServer(C4RouterServer):
    """A server that may have no routing table: started once /healthz answers."""

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"c4router exited at start:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"c4router not up in {timeout}s:\n{self.log_text()[-3000:]}")


@pytest.fixture
def role_without_normalization_rules() -> Iterator[str]:
    """A login role that reads every table but the normalization rules: the database
    answers, and every table build fails (permission denied), whatever the data."""
    role = f"c4router_nonorm_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN')
        cursor.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
        table = NormalizationRule._meta.db_table
        cursor.execute(f'REVOKE SELECT ON {table} FROM "{role}"')  # noqa: S608
    yield role
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role]
        )
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE "{role}"')


def readyz_once_failing(http: httpx.Client, server: C4RouterServer) -> tuple[int, dict]:  # type: ignore[type-arg]
    """/readyz once the server has noted a failed build (bounded wait)."""
    deadline = time.monotonic() + 10
    while True:
        response = http.get("/readyz")
        if "table build failing" in response.text:
            return response.status_code, response.json()
        assert time.monotonic() < deadline, f"{response.text}\n{server.log_text()[-2000:]}"
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_f02_readyz_tells_a_failing_build_from_an_unreachable_database(
    tmp_path, role_without_normalization_rules
) -> None:  # type: ignore[no-untyped-def]
    make_routing_data()
    url = database_url_of_test_db(user=role_without_normalization_rules)
    with TablelessServer(tmp_path, database_url=url) as server, client(server) as http:
        status, document = readyz_once_failing(http, server)
        assert status == 503  # no table yet
        assert document["database"] == "reachable"
        assert document["reason"].startswith("table build failing: ")
        assert "permission denied" in document["reason"]
        assert "database_error" not in document


@pytest.mark.django_db(transaction=True)
def test_f02_one_build_at_a_time_with_backoff_never_one_per_request(
    tmp_path, role_without_normalization_rules
) -> None:  # type: ignore[no-untyped-def]
    make_routing_data()
    url = database_url_of_test_db(user=role_without_normalization_rules)
    with TablelessServer(tmp_path, database_url=url) as server, client(server) as http:
        deadline = time.monotonic() + 10
        while not sample(http.get("/metrics").text, "c4router_table_reload_failures_total"):
            assert time.monotonic() < deadline, server.log_text()[-2000:]  # the start-up build
            time.sleep(0.1)
        # 40 calls, 8 at a time: each finds no table. Without backoff, each started a
        # build of its own (and the poll thread one every 0.2 s on top).
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(
                pool.map(lambda _: http.post("/kamailio/rtjson", content=query("0612345678")),
                         range(40))
            )  # fmt: skip
        assert [response.status_code for response in codes] == [503] * 40
        page = http.get("/metrics").text
        attempts = sample(page, "c4router_table_reload_failures_total")
        builds_failed = sample(page, "c4router_table_build_failures_total")
        # The start-up build, then retries after 0.2, 0.4, 0.8, 1.6 s...: a handful over
        # the few seconds of this test, whatever the number of calls.
        assert attempts is not None and attempts <= 10, (attempts, server.log_text()[-2000:])
        assert builds_failed == attempts
        assert server.log_text().count("table build failing") == 1  # said once, not per call

        # The cause goes away: the next retry builds the table, and calls are routed.
        with connection.cursor() as cursor:
            table = NormalizationRule._meta.db_table
            cursor.execute(f'GRANT SELECT ON {table} TO "{role_without_normalization_rules}"')
        deadline = time.monotonic() + 40  # at most the backoff reached meanwhile
        while http.post("/kamailio/rtjson", content=query("0612345678")).status_code != 200:
            assert time.monotonic() < deadline, server.log_text()[-2000:]
            time.sleep(0.2)
        assert first_gateway(http) == ALPHA
        assert http.get("/readyz").json()["status"] == "ok"


# --- item 4: no pattern makes a query expensive ---------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "named"),
    [
        (r"(\d)\1", "backreferences"),
        (r"(?P<d>\d)(?P=d)", "backreferences"),
        (r"(?=0)0(\d+)", "lookahead"),
        (r"(?<!0)(\d+)", "lookbehind"),
        (r"(?>0)(\d+)", "atomic groups"),
        (r"0(\d++)", "possessive quantifiers"),
        (r"(\d?){200}\d{200}", "too complex"),
    ],
)
def test_f04_patterns_that_need_backtracking_are_refused_with_a_clear_message(
    pattern: str, named: str
) -> None:
    with pytest.raises(ValidationError) as error:
        validators.validate_regex(pattern)
    (message,) = error.value.messages
    assert named in message.lower()
    assert "RE2" in message or "a number has at most 32 characters" in message


@pytest.mark.django_db(transaction=True)
def test_f04_a_catastrophic_pattern_costs_a_linear_match(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = make_routing_data()
    # Accepted: RE2 runs it in linear time. (With Python's re, 26 ones and an x took 3.4 s
    # on the event loop, doubling with each further one.)
    saved(NormalizationRule(pbx=data.pbx, direction="in", kind="regex", pattern=r"(1+)+2",
                            replacement=r"\1", priority=5))  # fmt: skip
    with C4RouterServer(tmp_path) as server:
        headers = {"Content-Type": "application/json", "X-C4-Token": TOKEN}
        # The timeout is a hang guard, not a measure: the answer takes microseconds.
        with httpx.Client(base_url=server.url, headers=headers, timeout=10.0) as http:
            response = http.post("/kamailio/rtjson", content=query("1" * 31 + "x"))
            assert response.status_code == 200
            answer = response.json()["rtjson"]
            assert (answer["success"], answer["code"]) == (False, 484)  # not a number
            assert http.get("/healthz").status_code == 200
            assert first_gateway(http) == ALPHA  # and the next call is routed as ever


@pytest.mark.django_db
def test_f04_a_number_longer_than_any_number_is_refused_before_any_pattern(
    client, own_table
) -> None:  # type: ignore[no-untyped-def]
    make_routing_data()
    holder.refresh(force=True)
    # 0 + 40 digits: the PBX's national rule would make it 33 + 40 digits, France's prefix.
    response = post(client, query("0" + "6" * 40))
    assert response.status_code == 200
    answer = response.json()["rtjson"]
    assert (answer["success"], answer["code"]) == (False, 484)
    assert to_e164("1" * 33, EMPTY_PLAN, CALLEE) is None
    assert to_e164("+" + "1" * 33, EMPTY_PLAN, CALLEE) is None
    assert to_e164("1" * 32, EMPTY_PLAN, CALLEE) == "1" * 32
