"""A route rule and its ordered targets, written in one request, replaced atomically."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from routing.models import RouteRule, RouteTarget, current_routing_version
from tests.api import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> dict[str, Any]:
    alpha, beta = factories.carrier(name="Alpha"), factories.carrier(name="Beta")
    return {
        "alpha": alpha,
        "beta": beta,
        "beta1": factories.gateway(carrier=beta, name="beta-1"),
        "beta2": factories.gateway(carrier=beta, name="beta-2"),
    }


def _targets(rule_id: int) -> list[tuple[int, int | None, int | None, int]]:
    return list(
        RouteTarget.objects.filter(rule_id=rule_id)
        .order_by("order", "id")
        .values_list("order", "carrier_id", "gateway_id", "weight")
    )


def test_create_with_targets_in_list_order(api_client: APIClient, world: dict[str, Any]) -> None:
    response = api_client.post(
        "/api/v1/route-rules/",
        {
            "prefix": "3361",
            "targets": [
                {"carrier": world["alpha"].pk},
                {"gateway": world["beta1"].pk, "weight": 30},
                {"gateway": world["beta2"].pk, "order": 1, "weight": 70},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    rule_id = response.json()["id"]
    assert _targets(rule_id) == [
        (0, world["alpha"].pk, None, 100),
        (1, None, world["beta1"].pk, 30),
        (1, None, world["beta2"].pk, 70),
    ]
    body = api_client.get(f"/api/v1/route-rules/{rule_id}/").json()
    assert [(t["order"], t["carrier"], t["gateway"]) for t in body["targets"]] == [
        (0, world["alpha"].pk, None),
        (1, None, world["beta1"].pk),
        (1, None, world["beta2"].pk),
    ]


def test_put_replaces_the_list(api_client: APIClient, world: dict[str, Any]) -> None:
    rule = factories.route_rule(prefix="33", targets=[world["alpha"], world["beta1"]])
    alpha_target = rule.targets.get(carrier=world["alpha"])
    response = api_client.patch(
        f"/api/v1/route-rules/{rule.pk}/",
        {"targets": [{"gateway": world["beta2"].pk}, {"carrier": world["alpha"].pk, "weight": 5}]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert _targets(rule.pk) == [
        (0, None, world["beta2"].pk, 100),
        (1, world["alpha"].pk, None, 5),
    ]
    # The target that stayed was updated in place: its history says what changed.
    kept = RouteTarget.objects.get(rule=rule, carrier=world["alpha"])
    assert kept.pk == alpha_target.pk
    assert [h.history_type for h in kept.history.order_by("history_date")] == ["+", "~"]
    assert [t["gateway"] for t in response.json()["targets"]] == [world["beta2"].pk, None]


def test_patch_without_targets_keeps_them(api_client: APIClient, world: dict[str, Any]) -> None:
    rule = factories.route_rule(targets=[world["alpha"]])
    before = _targets(rule.pk)
    response = api_client.patch(f"/api/v1/route-rules/{rule.pk}/", {"priority": 7}, format="json")
    assert response.status_code == 200
    assert _targets(rule.pk) == before


def test_an_empty_list_is_refused_for_a_rule_that_routes(
    api_client: APIClient, world: dict[str, Any]
) -> None:
    rule = factories.route_rule(targets=[world["alpha"], world["beta1"]])
    response = api_client.patch(f"/api/v1/route-rules/{rule.pk}/", {"targets": []}, format="json")
    assert response.status_code == 400
    assert "A rule that routes needs at least one target." in response.json()["targets"][0]
    assert len(_targets(rule.pk)) == 2  # nothing half-written


def test_a_rule_becomes_a_block_with_an_empty_list(
    api_client: APIClient, world: dict[str, Any]
) -> None:
    rule = factories.route_rule(targets=[world["alpha"], world["beta1"]])
    block = {"action": "reject", "reject_code": 403, "reject_reason": "Forbidden"}
    response = api_client.patch(f"/api/v1/route-rules/{rule.pk}/", block, format="json")
    assert response.status_code == 400  # the targets are still there
    assert "has no targets" in response.json()["targets"][0]
    response = api_client.patch(
        f"/api/v1/route-rules/{rule.pk}/", {**block, "targets": []}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert _targets(rule.pk) == []
    assert response.json()["action"] == "reject" and response.json()["reject_code"] == 403


def test_a_rule_with_no_targets_is_refused_at_creation(api_client: APIClient) -> None:
    response = api_client.post("/api/v1/route-rules/", {"prefix": "4420"}, format="json")
    assert response.status_code == 400
    assert "needs at least one target" in response.json()["targets"][0]
    response = api_client.post(
        "/api/v1/route-rules/",
        {"prefix": "4420", "action": "reject", "reject_code": 200, "reject_reason": "OK"},
        format="json",
    )
    assert response.status_code == 400
    assert "reject_code" in response.json()


@pytest.mark.parametrize(
    ("targets", "error"),
    [
        (
            lambda w: [{"carrier": w["alpha"].pk, "gateway": w["beta1"].pk}],
            {
                "0": {
                    "non_field_errors": ["Choose exactly one destination: a carrier or a gateway."]
                }
            },
        ),
        (lambda w: [{"weight": 10}], None),
        (
            lambda w: [{"carrier": w["alpha"].pk, "weight": 0}],
            {"0": {"weight": ["Ensure this value is greater than or equal to 1."]}},
        ),
        (
            lambda w: [{"carrier": w["alpha"].pk, "order": 100}],
            {"0": {"order": ["Ensure this value is less than or equal to 99."]}},
        ),
        (
            lambda w: [{"carrier": w["alpha"].pk}, {"carrier": w["alpha"].pk}],
            {"1": {"carrier": ["This carrier is already a target of this rule."]}},
        ),
        (
            lambda w: [{"gateway": 999999}],
            {
                "0": {
                    "gateway": [
                        "Select a valid choice. That choice is not one of the available choices."
                    ]
                }
            },
        ),
    ],
    ids=["both", "neither", "weight", "order", "twice", "unknown"],
)
def test_a_bad_target_writes_nothing(
    api_client: APIClient, world: dict[str, Any], targets: Any, error: Any
) -> None:
    rule = factories.route_rule(prefix="33", targets=[world["beta1"]])
    before, version = _targets(rule.pk), current_routing_version()
    response = api_client.patch(
        f"/api/v1/route-rules/{rule.pk}/",
        {"prefix": "34", "targets": targets(world)},
        format="json",
    )
    assert response.status_code == 400
    if error is not None:
        assert response.json() == {"targets": error}
    else:
        assert "targets" in response.json()
    rule.refresh_from_db()
    assert rule.prefix == "33"
    assert _targets(rule.pk) == before
    assert current_routing_version() == version
    # Nor is a new rule created with bad targets.
    count = RouteRule.objects.count()
    api_client.post("/api/v1/route-rules/", {"targets": targets(world)}, format="json")
    assert RouteRule.objects.count() == count


def test_replacing_targets_is_atomic(
    api_client: APIClient, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure halfway through writing the list leaves the old list and the old rule."""
    from routing.api import services

    rule = factories.route_rule(prefix="33", targets=[world["alpha"]])
    before = _targets(rule.pk)
    real_create = RouteTarget.objects.create
    calls = {"n": 0}

    def failing_create(**kwargs: Any) -> RouteTarget:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real_create(**kwargs)

    monkeypatch.setattr(services.RouteTarget.objects, "create", failing_create)
    api_client.raise_request_exception = True
    with pytest.raises(RuntimeError):
        api_client.put(
            f"/api/v1/route-rules/{rule.pk}/",
            {
                "prefix": "34",
                "targets": [{"gateway": world["beta1"].pk}, {"gateway": world["beta2"].pk}],
            },
            format="json",
        )
    rule.refresh_from_db()
    assert rule.prefix == "33"
    assert _targets(rule.pk) == before
