"""The admin's "Recent actions" (django.contrib.admin's LogEntry) for changes made outside
the admin's forms: CSV imports (admin and API) and the API's writes. The admin writes its
own entries; these say the same thing for the other ways in, so an operator's index lists
every change.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models

__all__ = ["ADDITION", "CHANGE", "DELETION", "log_action"]


def log_action(
    user: Any,
    model: type[models.Model],
    flag: int,
    message: str,
    obj: models.Model | None = None,
    repr_: str | None = None,
) -> None:
    """One "Recent actions" entry by `user` (nothing for an anonymous one: a LogEntry needs a
    user). `obj` links the entry to the object; an import names what it did in `repr_`."""
    if user is None or not getattr(user, "is_authenticated", False):
        return
    LogEntry.objects.create(
        user_id=user.pk,
        content_type=ContentType.objects.get_for_model(model),
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else None,
        object_repr=(repr_ if repr_ is not None else str(obj))[:200],
        action_flag=flag,
        change_message=message,
    )


def log_import(user: Any, model: type[models.Model], filename: str, result: Any, via: str) -> None:
    """A CSV import's entry (routing.imports.ImportResult): nothing for a check-only run."""
    if result.dry_run:
        return
    plural = model._meta.verbose_name_plural if result.created != 1 else model._meta.verbose_name
    done = f"{result.created} {plural} created"
    if result.deleted:
        done += f", {result.deleted} deleted"
    log_action(
        user,
        model,
        CHANGE if result.deleted else ADDITION,
        f"{via} CSV import of {filename}: {done}.",
        repr_=f"CSV import of {filename} ({done})",
    )
