"""A Decision as the rtjson document Kamailio reads (see shared/KAMAILIO.md)."""

from __future__ import annotations

import orjson

from routing.engine.decide import Decision, Route


def route_document(route: Route) -> dict[str, object]:
    return {
        "uri": route.uri,
        "dst_uri": route.dst_uri,
        "path": "",
        "socket": route.socket,
        "headers": {
            # rtjson 5.6 carries display/uri over from "from" to "to" when a key is missing:
            # both keys, always, in both objects.
            "from": {"display": route.from_display, "uri": route.from_uri},
            "to": {"display": route.to_display, "uri": route.to_uri},
            "extra": route.extra_headers,
        },
        "branch_flags": 0,
        "fr_timer": route.fr_timer,
        "fr_inv_timer": route.fr_inv_timer,
    }


def answer_document(decision: Decision) -> dict[str, object]:
    if decision.routed:
        return {
            "rtjson": {
                "success": True,
                "version": "1.0",
                "routing": "serial",
                "routes": [route_document(route) for route in decision.routes],
            }
        }
    return {"rtjson": {"success": False, "code": decision.code, "reason": decision.reason}}


def answer_bytes(decision: Decision) -> bytes:
    return orjson.dumps(answer_document(decision))
