"""Audit history of one object, read from django-simple-history's records (a selector).

Each record says who (the user, or null for a command), when, what kind of change, and the
fields that changed with their old and new values. A route rule's history includes its
targets' records, since the API writes a rule and its targets as one thing.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import models

# Bookkeeping fields: always change, say nothing an auditor wants.
IGNORED_FIELDS = frozenset({"id", "created_at", "updated_at"})
HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


def _json(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _repr(record: models.Model, model: type[models.Model], object_id: int) -> str:
    try:
        return str(record.instance)  # type: ignore[attr-defined]
    except ObjectDoesNotExist:  # a related row it names was deleted since
        return f"{model._meta.verbose_name} {object_id}"


def _entries(model: type[models.Model], records: Iterable[Any]) -> list[dict[str, Any]]:
    history_model = model.history.model  # type: ignore[attr-defined]
    fields = [f for f in history_model.tracked_fields if f.name not in IGNORED_FIELDS]
    previous: dict[int, Any] = {}
    entries = []
    for record in records:
        object_id = record.id
        before = previous.get(object_id)
        changes = []
        if record.history_type != "-":
            for field in fields:
                new = getattr(record, field.attname)
                old = getattr(before, field.attname) if before is not None else None
                if before is None and new in (None, ""):
                    continue
                if before is not None and old == new:
                    continue
                changes.append({"field": field.name, "old": _json(old), "new": _json(new)})
        previous[object_id] = record
        user = record.history_user
        entries.append(
            {
                "id": record.history_id,
                "date": record.history_date,
                "type": HISTORY_TYPES.get(record.history_type, record.history_type),
                "user": user.get_username() if user is not None else None,
                "change_reason": record.history_change_reason,
                "object_type": str(model._meta.verbose_name),
                "object_id": object_id,
                "object_repr": _repr(record, model, object_id),
                "changes": changes,
            }
        )
    return entries


def object_history(
    model: type[models.Model],
    pk: int,
    *,
    related: Iterable[tuple[type[models.Model], str]] = (),
) -> list[dict[str, Any]]:
    """The records of object `pk` (and of its `related` children), newest first.

    `related` pairs a child model with the name of its foreign key to the object, e.g.
    (RouteTarget, "rule_id"). Works for a deleted object too: its records outlive it.
    """
    order = ("history_date", "history_id")
    sources = [(model, model.history.filter(id=pk))]  # type: ignore[attr-defined]
    for child, fk in related:
        sources.append((child, child.history.filter(**{fk: pk})))  # type: ignore[attr-defined]
    entries: list[dict[str, Any]] = []
    for source_model, queryset in sources:
        entries += _entries(source_model, queryset.select_related("history_user").order_by(*order))
    entries.sort(key=lambda e: (e["date"], e["object_type"] == model._meta.verbose_name))
    entries.reverse()
    return entries
