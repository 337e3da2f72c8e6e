"""The configuration API's pagination: limit/offset, bounded, a 400 for a malformed value.

DRF's LimitOffsetPagination takes any limit (`?limit=1000000` serialised 50,000 rules with
their targets in one answer: 28 MB, 15 s, +320 MB in the worker for good) and passes numbers
beyond 64 bits to the database (`?limit=9223372036854775808`: "bigint out of range", a 500),
and it silently ignores a limit it cannot read. Here a page holds at most MAX_LIMIT rows, and
a limit or offset that is not a whole number in its range is refused with a 400 naming the
parameter, as a malformed filter is. Everything at once is what the CSV exports are for: they
stream, whatever the table's size.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, pagination
from rest_framework.request import Request

MAX_LIMIT = 1000
# Past the last row a page is empty, so any offset works up to here; beyond it is nonsense
# (and beyond 2**63 the database refuses it).
MAX_OFFSET = 2**31 - 1


def _whole_number(request: Request, name: str, minimum: int, maximum: int, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    # ASCII digits only: int() would also take "1_000", "+5", " 7", other scripts' digits or
    # a 5,000-digit string.
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 20 else None
    if value is None or not minimum <= value <= maximum:
        raise exceptions.ValidationError(
            {name: [f"Enter a whole number between {minimum} and {maximum:,}."]}
        )
    return value


class BoundedLimitOffsetPagination(pagination.LimitOffsetPagination):
    """Limit/offset pages of at most MAX_LIMIT rows; a bad limit or offset is a 400."""

    max_limit = MAX_LIMIT
    limit_query_description = (
        f"Number of results to return per page (1-{MAX_LIMIT}; default: the page size). "
        "For everything at once, use the CSV export where there is one."
    )
    offset_query_description = (
        f"The initial index from which to return the results (0-{MAX_OFFSET:,})."
    )

    def get_limit(self, request: Request) -> int | None:
        default = self.default_limit
        if default is None:  # pragma: no cover - PAGE_SIZE is set
            return None
        return _whole_number(request, self.limit_query_param, 1, MAX_LIMIT, default)

    def get_offset(self, request: Request) -> int:
        return _whole_number(request, self.offset_query_param, 0, MAX_OFFSET, 0)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": MAX_LIMIT},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
