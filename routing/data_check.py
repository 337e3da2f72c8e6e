"""Rows the validators refuse today: rows saved before a rule existed, or written around it.

Nothing here writes. Each problem is one line naming the row and the field, with the
validator's message (control characters escaped: the value may hold CR/LF), for an operator
to fix in the admin. The routing table and the Kamailio renderer already keep such rows out
of answers and configs (routing.answer_gate, routing.kamailio); this says which they are.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.db import models

from routing.did_overlaps import EXACT, DidIndex, error_field, message
from routing.models import (
    Carrier,
    Did,
    Domain,
    Gateway,
    IpSource,
    NormalizationRule,
    Pbx,
    RouterInstance,
    RouteRule,
    Tenant,
)
from routing.validators import escape_controls

# Checked whole, row by row (clean_fields() and clean()): the models whose rows are few, and
# route rules, whose clean() makes no query.
_MODELS: tuple[type[models.Model], ...] = (
    Tenant,
    Domain,
    Pbx,
    Carrier,
    Gateway,
    IpSource,
    NormalizationRule,
    RouterInstance,
    RouteRule,
)
CHUNK = 2000


def _label(obj: models.Model) -> str:
    return f"{obj._meta.verbose_name} #{obj.pk} ({obj})"


def _row_problems(obj: models.Model) -> Iterator[str]:
    try:
        obj.clean_fields()
        obj.clean()
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            for text in messages:
                yield escape_controls(f"{_label(obj)}: {field}: {text}")


def _did_problems() -> Iterator[str]:
    """Did.clean() without one query per row: the overlap rule over every DID at once. Two
    exact numbers never overlap (the same number twice is the unique constraint's), so only
    ranges and prefixes are indexed, and the numbers stream past them."""
    wide = list(Did.objects.exclude(match=EXACT).select_related("tenant", "pbx").order_by("pk"))
    index = DidIndex(did.span() for did in wide)
    reported: set[frozenset[object]] = set()
    rows = Did.objects.select_related("tenant", "pbx").order_by("pk")
    for did in itertools.chain(wide, rows.filter(match=EXACT).iterator(chunk_size=CHUNK)):
        own = did.own_errors()
        for field, text in own.items():
            yield escape_controls(f"{_label(did)}: {field}: {text}")
        if own:
            continue
        span = did.span()
        for other in index.conflicts(span):
            pair = frozenset((span.key, other.key))
            if pair not in reported:  # each pair once, on the first row met
                reported.add(pair)
                same = other.tenant_id == span.tenant_id
                yield escape_controls(f"{_label(did)}: {error_field(span)}: {message(other, same)}")
            break


def routing_data_problems() -> Iterator[str]:
    """One line per refused value of every routing row, model by model."""
    for model in _MODELS:
        # The rows' labels name their tenant or carrier: read with them, not one query each.
        related = [field.name for field in model._meta.fields if field.is_relation]
        rows = model._default_manager.select_related(*related).order_by("pk")
        for obj in rows.iterator(chunk_size=CHUNK):
            yield from _row_problems(obj)
    yield from _did_problems()
