"""The routing data version and its change log: bumped by every change, polled by workers.

Every change to routing data bumps the version, in the writer's transaction. Changes to
the two big tables (route rules with their targets, and DIDs) also say which rows they
touched, in RoutingChange, so that a worker can patch its table (a few dictionary entries)
instead of rebuilding it from 100,000s of rows. A writer that does not say what it changed
(a bulk import, a script) logs "everything", and the workers rebuild.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

# How many versions of changes are kept: a worker further behind than this rebuilds.
CHANGE_LOG_VERSIONS = 10_000
# Past this many changed rows, the workers rebuild instead of patching. Measured at
# 1,000,000 prefixes (bench data): a 100,000-rule import patches in 1.0 s and leaves a
# worker at 331 MB; a rebuild takes 6 s and leaves it near 425 MB (two tables for a moment).
PATCH_MAX_ROWS = 100_000
# Ported numbers changed since a worker's last whole build that it keeps in an overlay over
# its arrays (routing.engine.lnp), about 200 bytes each; past this, it rebuilds the arrays
# (14-23 s at 10 million numbers), folding the overlay in. A delta import of more numbers
# than this logs "everything" at once.
PORTED_OVERLAY_MAX_ROWS = 10_000


class RoutingVersion(models.Model):
    """A single row whose number grows with every change to routing data."""

    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(default=timezone.now)
    # Every change with a version >= log_start is in RoutingChange (older ones were pruned).
    log_start = models.BigIntegerField(default=1)
    # Carrier health's own counter: a gateway going down or up (or its demotion moving)
    # bumps this one, and the workers only read the health rows again (bump_health_version).
    health_version = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id=1), name="routing_routingversion_singleton"
            )
        ]

    def __str__(self) -> str:
        return f"routing data v{self.version}"


class ChangeKind(models.TextChoices):
    RULE = "rule", "route rule"
    DID = "did", "DID"
    LIST = "list", "number list"
    PORTED = "port", "ported number"
    RATE = "rate", "rate"
    ALL = "all", "everything"


class RoutingChange(models.Model):
    """One row of a big table touched by a version, with where it was before the change."""

    version = models.BigIntegerField()
    kind = models.CharField(max_length=4, choices=ChangeKind.choices)
    object_id = models.BigIntegerField(null=True)
    # Where the worker may hold the row's previous state: (tenant id, prefix) for a rule,
    # the number for a DID. Empty for a row that is new. For a rate: object_id is its
    # deck, old_key the prefix whose rates changed (empty: the whole deck).
    old_tenant_id = models.BigIntegerField(null=True)
    old_key = models.CharField(max_length=20, null=True)

    class Meta:
        indexes = [
            # The workers' poll: the changes after the version their table has.
            models.Index(fields=["version"], name="routing_change_version")
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.kind} {self.object_id}"


@dataclass
class Changes:
    """What a version changed in the big tables: (object id, old tenant id, old key) rows."""

    rules: list[tuple[int, int | None, str | None]] = field(default_factory=list)
    dids: list[tuple[int, None, str | None]] = field(default_factory=list)
    # Number lists whose entries or settings changed: (list id, None, None); the workers
    # re-read those lists' entries.
    lists: list[tuple[int, None, None]] = field(default_factory=list)
    # Ported numbers saved or deleted: (None, None, number); the workers re-read those
    # numbers into an overlay over their arrays (routing.engine.lnp), no rebuild.
    ported: list[tuple[None, None, str]] = field(default_factory=list)
    # Rates: (deck id, None, prefix) for the rates of one prefix of a deck (the workers
    # re-read that prefix's rates), (deck id, None, None) for a whole deck (an import:
    # the workers re-read that deck, and nothing else).
    rates: list[tuple[int, None, str | None]] = field(default_factory=list)


def bump_routing_version(using: str = "default", *, changed: Changes | None = None) -> int:
    """Mark routing data as changed, inside the caller's transaction; the new version.

    The UPDATE commits (or rolls back) with the change itself, so a worker never sees a new
    version before the data it describes; its row lock orders concurrent writers. `changed`
    says what changed in the route rules and DIDs (Changes() for nothing there); None means
    "could be anything": every worker rebuilds its table.

    Outside a transaction (a model saved in autocommit, its post_save signal bumping), the
    new version and its change log still commit together: a worker that saw the version
    before its log rows would patch nothing and keep a stale table.
    """
    now = timezone.now()
    with transaction.atomic(using=using, savepoint=False):
        updated = (
            RoutingVersion.objects.using(using)
            .filter(pk=1)
            .update(version=F("version") + 1, changed_at=now)
        )
        if not updated:
            RoutingVersion.objects.using(using).get_or_create(pk=1, defaults={"version": 0})
            RoutingVersion.objects.using(using).filter(pk=1).update(version=F("version") + 1)
        version = RoutingVersion.objects.using(using).values_list("version", flat=True).get(pk=1)
        record_changes(version, changed, using)
        if version % 1000 == 0:
            _prune(using, version)
    return version


def record_changes(version: int, changed: Changes | None, using: str = "default") -> None:
    """Log what `version` changed in the route rules and DIDs, inside the caller's
    transaction (which bumped it). None, or more rows than a worker patches
    (PATCH_MAX_ROWS), logs "everything": the workers rebuild. A bulk import bumps first,
    for the lock, and says what it changed here at the end."""
    if changed is not None and (
        len(changed.rules)
        + len(changed.dids)
        + len(changed.lists)
        + len(changed.ported)
        + len(changed.rates)
        > PATCH_MAX_ROWS
    ):
        changed = None
    if changed is None:
        rows: Iterator[RoutingChange] = iter([RoutingChange(version=version, kind=ChangeKind.ALL)])
    else:
        rows = (
            RoutingChange(version=version, kind=kind, object_id=object_id,
                          old_tenant_id=tenant_id, old_key=key)
            for kind, items in ((ChangeKind.RULE, changed.rules), (ChangeKind.DID, changed.dids),
                                (ChangeKind.LIST, changed.lists),
                                (ChangeKind.PORTED, changed.ported),
                                (ChangeKind.RATE, changed.rates))
            for object_id, tenant_id, key in items
        )  # fmt: skip
    # A batch of instances at a time: 100,000 of them at once cost an import 50 MB.
    while batch := list(itertools.islice(rows, 5000)):
        RoutingChange.objects.using(using).bulk_create(batch)


def _prune(using: str, version: int) -> None:
    keep_from = version - CHANGE_LOG_VERSIONS + 1
    if keep_from > 1:
        RoutingChange.objects.using(using).filter(version__lt=keep_from).delete()
        RoutingVersion.objects.using(using).filter(pk=1, log_start__lt=keep_from).update(
            log_start=keep_from
        )


def bump_health_version(using: str = "default") -> None:
    """Mark carrier health as changed, inside the caller's transaction (which wrote the
    GatewayHealth rows): the workers' next poll swaps in the new health, nothing else."""
    updated = (
        RoutingVersion.objects.using(using)
        .filter(pk=1)
        .update(health_version=F("health_version") + 1)
    )
    if not updated:
        RoutingVersion.objects.using(using).get_or_create(pk=1, defaults={"version": 0})
        RoutingVersion.objects.using(using).filter(pk=1).update(
            health_version=F("health_version") + 1
        )


def current_versions(using: str = "default") -> tuple[int, int]:
    """(routing data version, health version), in one query."""
    row = (
        RoutingVersion.objects.using(using)
        .filter(pk=1)
        .values_list("version", "health_version")
        .first()
    )
    return (row[0] or 0, row[1] or 0) if row else (0, 0)


def current_routing_version(using: str = "default") -> int:
    row = RoutingVersion.objects.using(using).filter(pk=1).values_list("version", flat=True).first()
    return row or 0


def changes_between(
    using: str, after: int, upto: int
) -> list[tuple[str, int | None, int | None, str | None]] | None:
    """The logged changes of versions after..upto, or None when the log does not reach back
    that far or a version changed "everything" (the caller rebuilds)."""
    log_start = (
        RoutingVersion.objects.using(using).filter(pk=1).values_list("log_start", flat=True).first()
    )
    if after + 1 < (log_start or 1):
        return None
    rows = list(
        RoutingChange.objects.using(using)
        .filter(version__gt=after, version__lte=upto)
        .values_list("kind", "object_id", "old_tenant_id", "old_key")[: PATCH_MAX_ROWS + 1]
    )
    if len(rows) > PATCH_MAX_ROWS or any(kind == ChangeKind.ALL for kind, *_ in rows):
        return None
    return rows
