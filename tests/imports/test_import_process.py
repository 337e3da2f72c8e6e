"""The admin's and the API's imports run in a child process at low CPU priority, for real.

Issue 11, item 6: a 10,000-rule import in a serving worker pushed the host's routing p99 to
32 ms. These tests start the real child (`python -m routing.import_process`) against the
test database (hence transactional_db: the child sees only committed rows) and check what
the operator sees (the same answers, errors and rows) and where the work ran: another pid,
at nice 19, while this process keeps its own priority.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from routing.import_process import ImportProcessError
from routing.models import Did, NumberListEntry, RouteRule, RoutingVersion
from tests.api import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def child(settings: Any, caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Imports in the child process (the production default); its log lines captured."""
    settings.C4ROUTER = {**settings.C4ROUTER, "IMPORT_CHILD": True, "IMPORT_NICE": 19}
    caplog.set_level(logging.INFO, logger="c4router.imports")
    return caplog


@pytest.fixture
def world() -> dict[str, Any]:
    acme = factories.tenant(name="Acme")
    return {
        "acme": acme,
        "alpha": factories.carrier(name="Alpha Telecom"),
        "pbx": factories.pbx(tenant=acme, name="main"),
    }


@pytest.fixture
def api_client(admin_user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def upload(text: str | bytes, name: str = "routes.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text)


def ran_in(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    """The pid and nice value the import's process reported (c4router.imports' log line)."""
    records = [r for r in caplog.records if r.name == "c4router.imports"]
    assert len(records) == 1, [r.getMessage() for r in records]
    args = records[0].args
    assert isinstance(args, tuple)
    return int(args[3]), int(args[4])  # type: ignore[call-overload]


def test_api_import_runs_in_a_child_process_at_low_priority(
    api_client: APIClient, world: dict[str, Any], admin_user: Any, child: Any
) -> None:
    version = RoutingVersion.objects.get().version
    rows = "".join(f"Acme,33{n:03d},10,carrier:Alpha Telecom\n" for n in range(300))
    response = api_client.post(
        "/api/v1/route-rules/import/", {"file": upload("tenant,prefix,priority,targets\n" + rows)}
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "created": 300,
        "targets_created": 300,
        "deleted": 0,
        "dry_run": False,
    }
    assert RouteRule.objects.filter(tenant=world["acme"]).count() == 300
    assert RoutingVersion.objects.get().version == version + 1  # one bump, as in-process
    record = RouteRule.history.first()
    assert record.history_user == admin_user
    assert record.history_change_reason == "API import of routes.csv"
    pid, nice = ran_in(child)
    assert pid != os.getpid()
    assert nice == 19
    assert os.getpriority(os.PRIO_PROCESS, 0) < 19  # the serving process kept its priority


def test_refused_file_answers_its_errors_and_writes_nothing(
    api_client: APIClient, world: dict[str, Any], child: Any
) -> None:
    version = RoutingVersion.objects.get().version
    text = "prefix,targets\n33,carrier:Alpha Telecom\n34,carrier:Nobody\n3x,\n"
    response = api_client.post("/api/v1/route-rules/import/", {"file": upload(text)})
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "2 errors in the file; nothing was imported."
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(3, "targets"), (4, "prefix")]
    assert "Nobody" in body["errors"][0]["message"]
    assert RouteRule.objects.count() == 0  # line 2 was good: all or nothing
    assert RoutingVersion.objects.get().version == version
    assert ran_in(child)[0] != os.getpid()


def test_binary_file_is_refused_by_the_child(api_client: APIClient, child: Any) -> None:
    response = api_client.post(
        "/api/v1/dids/import/", {"file": upload(b"\x89PNG\r\n\x1a\n\x00\xff", "x.csv")}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "The file is not UTF-8 text."
    assert Did.objects.count() == 0


def test_dry_run_and_dids_and_list_entries_in_the_child(
    api_client: APIClient, world: dict[str, Any], child: Any
) -> None:
    dry = api_client.post(
        "/api/v1/dids/import/",
        {"file": upload("tenant,number,pbx\nAcme,4420000001,main\n"), "dry_run": "true"},
    )
    assert dry.json() == {"created": 1, "targets_created": 0, "deleted": 0, "dry_run": True}
    assert Did.objects.count() == 0
    dids = api_client.post(
        "/api/v1/dids/import/", {"file": upload("tenant,number,pbx\nAcme,4420000001,main\n")}
    )
    assert dids.json()["created"] == 1 and Did.objects.get().number == "4420000001"
    factories.number_list(name="blocked")
    entries = api_client.post(
        "/api/v1/number-list-entries/import/",
        {"file": upload("list,number,match\nblocked,4499,prefix\n")},
    )
    assert entries.status_code == 200, entries.content
    assert NumberListEntry.objects.get().number == "4499"
    pids = {int(r.args[3]) for r in child.records if r.name == "c4router.imports"}  # type: ignore[index]
    assert len(pids) == 3 and os.getpid() not in pids  # one child per import


def test_admin_import_runs_in_the_child_and_shows_the_result(
    admin_client: Any, world: dict[str, Any], child: Any
) -> None:
    url = reverse("admin:routing_routerule_import_csv")
    text = "tenant,prefix,targets\nAcme,44,carrier:Alpha Telecom\n"
    response = admin_client.post(url, {"file": upload(text, "file.csv"), "mode": "add"})
    assert response.status_code == 302
    page = admin_client.get(response["Location"]).content.decode()
    assert "1 route rule was created" in page
    assert RouteRule.objects.get().history.first().history_user.username == "admin"
    refused = admin_client.post(url, {"file": upload("prefix\n4x\n", "bad.csv"), "mode": "add"})
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "1 error in the file; nothing was imported." in page
    assert "<td>2</td><td>prefix</td>" in page and RouteRule.objects.count() == 1
    pids = [int(r.args[3]) for r in child.records if r.name == "c4router.imports"]  # type: ignore[index]
    assert len(pids) == 2 and os.getpid() not in pids


def test_a_child_past_its_time_is_stopped_and_nothing_is_imported(
    api_client: APIClient, world: dict[str, Any], settings: Any, child: Any
) -> None:
    settings.C4ROUTER = {**settings.C4ROUTER, "IMPORT_TIMEOUT_S": 0}
    with pytest.raises(ImportProcessError, match="did not finish within 0 s"):
        api_client.post(
            "/api/v1/route-rules/import/",
            {"file": upload("prefix,targets\n33,carrier:Alpha Telecom\n")},
        )
    assert RouteRule.objects.count() == 0


def test_an_upload_on_disk_is_read_by_the_child_where_it_is(
    api_client: APIClient, world: dict[str, Any], settings: Any, child: Any
) -> None:
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # Django writes every upload to a temporary file
    response = api_client.post(
        "/api/v1/route-rules/import/",
        {"file": upload("prefix,targets\n33,carrier:Alpha Telecom\n34,carrier:Alpha Telecom\n")},
    )
    assert response.status_code == 200, response.content
    assert sorted(RouteRule.objects.values_list("prefix", flat=True)) == ["33", "34"]
    assert ran_in(child)[0] != os.getpid()


def test_limits_import_runs_in_the_child_too(
    api_client: APIClient, world: dict[str, Any], child: Any
) -> None:
    from routing.models import Tenant

    text = "kind,name,max_calls,max_cps\ntenant,Acme,40,4\npbx,Acme/main,,2\n"
    response = api_client.post("/api/v1/capacity-limits/import/", {"file": upload(text)})
    assert response.status_code == 200, response.content
    assert response.json() == {"updated": 2, "unchanged": 0, "dry_run": False}
    pid, nice = ran_in(child)
    assert pid != os.getpid() and nice == 19
    assert Tenant.objects.values_list("max_calls", "max_cps").get() == (40, 4)
    bad = "kind,name,max_calls,max_cps\ntenant,Acme,1,\ncarrier,Nope,1,\n"
    response = api_client.post("/api/v1/capacity-limits/import/", {"file": upload(bad)})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"line": 3, "field": "name", "message": "There is no carrier named 'Nope'."}
    ]
    assert Tenant.objects.values_list("max_calls", flat=True).get() == 40


# --- rate decks: the admin's and the API's imports in the child too ---------------------------


@pytest.fixture
def deck(world: dict[str, Any]) -> Any:
    import datetime
    from decimal import Decimal

    from routing.models import Rate, RateDeck

    deck = RateDeck.objects.create(name="Alpha buy", carrier=world["alpha"], currency="EUR")
    past = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    Rate.objects.create(deck=deck, prefix="33", rate=Decimal("0.01"), effective_from=past)
    Rate.objects.create(deck=deck, prefix="44", rate=Decimal("0.02"), effective_from=past)
    return deck


def test_api_rate_import_runs_in_the_child(
    api_client: APIClient, deck: Any, admin_user: Any, child: Any
) -> None:
    """A deck's preview then its apply through the API, each in a child at nice 19: the
    same answers as in the serving process (tests/api/test_rate_imports.py), dates and
    samples carried back whole."""
    import datetime

    from django.utils import timezone

    from routing.models import Rate

    url = f"/api/v1/rate-decks/{deck.pk}/import/"
    text = "prefix,rate,effective_from\n+33,0.015,\n49,0.03,2031-02-03T04:05:00+00:00\n"
    response = api_client.post(url, {"file": upload(text, "deck.csv"), "preview": "true"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["preview"], body["mode"]) == (True, "full")
    assert body["counts"]["increased"] == 1 and body["counts"]["removed"] == 1
    assert body["samples"]["new"] == [{"prefix": "49", "old": None, "new": "0.03", "line": 3,
                                       "effective_from": "2031-02-03T04:05:00+00:00"}]  # fmt: skip
    assert Rate.objects.count() == 2  # a preview writes nothing
    pid, nice = ran_in(child)
    assert pid != os.getpid() and nice == 19
    child.clear()
    when = (timezone.now() + datetime.timedelta(days=1)).replace(microsecond=0)
    response = api_client.post(
        url, {"file": upload(text, "deck.csv"), "effective_from": when.isoformat()}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["ended"]) == (2, 2)
    assert datetime.datetime.fromisoformat(body["effective_from"]) == when
    assert str(Rate.objects.get(prefix="33", effective_from=when).rate) == "0.015000"
    assert Rate.history.filter(history_type="+").latest("history_date").history_user == admin_user
    assert ran_in(child)[0] != os.getpid()
    child.clear()
    bad = api_client.post(url, {"file": upload("prefix,rate\n33,0,02\n", "deck.csv")})
    assert bad.status_code == 400
    assert [(e["line"], e["field"]) for e in bad.json()["errors"]] == [(2, "file")]
    assert ran_in(child)[0] != os.getpid()


def test_admin_rate_import_previews_and_applies_in_the_child(
    admin_client: Any, deck: Any, child: Any
) -> None:
    from routing.models import Rate

    url = f"/admin/routing/ratedeck/{deck.pk}/import-rates/"
    response = admin_client.post(
        url, {"file": upload("prefix,rate\n33,0.01\n336,0.5\n", "vendor.csv"), "mode": "delta"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Preview of “vendor.csv” (delta) against Alpha buy" in page
    assert '<tr id="preview-new"><td>New</td><td class="count">1</td>' in page
    response = admin_client.post(f"{url}apply/", {"token": response.context["token"]})
    assert response.status_code == 302
    followed = admin_client.get(response["Location"]).content.decode()
    assert "Imported “vendor.csv” (delta) into Alpha buy" in followed
    # A delta: 44 stays, 33 was unchanged, 336 is new.
    assert sorted(Rate.objects.filter(effective_until=None).values_list("prefix", flat=True)) == [
        "33", "336", "44"
    ]  # fmt: skip
    pids = [int(r.args[3]) for r in child.records if r.name == "c4router.imports"]  # type: ignore[index]
    assert len(pids) == 2 and os.getpid() not in pids


def test_ported_numbers_import_runs_in_the_child(
    api_client: APIClient, admin_client: Any, admin_user: Any, child: Any
) -> None:
    """The portability database (millions of lines) through the API and the admin: a
    preview, a delta and a bad file, each answered as in the serving process, each run in a
    child at nice 19."""
    from django.contrib.admin.models import LogEntry

    from routing.models import PortedNumber

    PortedNumber.objects.create(number="12025550100", lrn="13125550000")
    url = "/api/v1/ported-numbers/import/"
    text = "number,lrn\n12025550101,14155550000\n"
    preview = api_client.post(url, {"file": upload(text, "ported.csv"), "dry_run": "true"})
    assert preview.status_code == 200, preview.content
    assert preview.json() == {"rows": 1, "new": 1, "changed": 0, "removed": 1, "unchanged": 0,
                              "dry_run": True, "delta": False}  # fmt: skip
    assert PortedNumber.objects.count() == 1
    delta = api_client.post(url, {"file": upload(text, "ported.csv"), "mode": "delta"})
    assert (delta.json()["new"], delta.json()["removed"]) == (1, 0)
    assert PortedNumber.objects.count() == 2
    assert LogEntry.objects.latest("action_time").user == admin_user
    bad = api_client.post(url, {"file": upload(b"number,lrn\n\xff\xfe\n", "x.csv")})
    assert bad.json()["errors"][0]["message"] == "The file is not UTF-8 text."
    page = admin_client.post(
        "/admin/routing/portednumber/import-csv/",
        {"file": upload("number,lrn\n12025550102,14155550000\n", "db.csv"), "mode": "delta"},
        follow=True,
    ).content.decode()
    assert "Imported “db.csv” (delta): 1 rows: 1 new" in page
    pids = [int(r.args[3]) for r in child.records if r.name == "c4router.imports"]  # type: ignore[index]
    assert len(pids) == 4 and os.getpid() not in pids
