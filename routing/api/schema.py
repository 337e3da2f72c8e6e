"""OpenAPI details drf-spectacular cannot guess: the error answers every operation may give."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

ERRORS = {
    "400": "Invalid input: an object mapping each field (or non_field_errors) to messages.",
    "401": "Not authenticated: send 'Authorization: Token <key>' or log in.",
    "403": "Authenticated, but missing the model's permission for this method.",
    "404": "No such object.",
    "409": "Still used by other objects (protected): delete or change those first.",
}


class RoutingAutoSchema(AutoSchema):
    """Documents 400/401/403/404/409 where they can happen, next to the success answer."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        codes = ["401", "403"]
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view():
            codes.append("400")  # bad input, or a bad filter value
        if "{id}" in self.path:
            codes.append("404")
        if self.method == "DELETE":
            codes.append("409")
        for code in codes:
            responses.setdefault(code, {"description": ERRORS[code]})
        return dict(sorted(responses.items()))
