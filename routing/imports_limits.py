"""CSV import and export of capacity limits (README "Capacity limits"): all or nothing.

One file for every object that has limits, one line per object (header line required, all
four columns):

    kind,name,max_calls,max_cps

- kind: tenant, pbx, ip_source, carrier or gateway.
- name: the object as operators name it elsewhere:
      tenant      the tenant's name                    Acme
      pbx         TENANT/PBX                           Acme/main-pbx
      carrier     the carrier's name                   Alpha Telecom
      gateway     CARRIER/GATEWAY (as in route targets) Alpha Telecom/alpha-1
      ip_source   the network, in CIDR notation        192.0.2.0/24
  In TENANT/PBX and CARRIER/GATEWAY, a backslash escapes a '/' (or ';', '@', '\\') that is
  part of a name, as in a route rule's targets ("A\\/B/gw" is the gateway "gw" of the
  carrier "A/B"). An IP source is named by its network alone: a network belongs to exactly
  one owner (the network is unique), so the owner the admin shows beside it
  ("192.0.2.0/24 (Alpha Telecom)") adds nothing and is not written; a bare address is the
  host ("192.0.2.1" is 192.0.2.1/32).
- max_calls, max_cps: at most this many concurrent calls / new calls per second; empty: no
  limit; 0: no calls at all. The model fields' own validators (0..1,000,000 and 0..100,000).

Import: updates the limits of existing objects only; it never creates or deletes one. An
unknown object is an error naming its line (with "did you mean" when a name is close). Objects
not in the file keep their limits: to remove a limit, keep the line with an empty cell. One
object twice in the file is an error. With a user (the admin, the API), each kind in the file
needs that user's change permission on that kind (a line of another kind is an error naming
it). The same gates as the other imports (routing.imports._records: line numbers, control
characters, the formula quote; the upload size limit in the admin and the API), one
transaction, one routing version bump (first: its row lock orders concurrent writers; every
worker re-reads its table, as an admin save of one of these objects makes it do), a history
record per object changed (user, date, change reason) and, for a user, an entry per kind in the
admin's Recent actions. Unchanged lines write nothing.

Export: every object of the five kinds with its limits (or, `limited_only`, only those with at
least one limit), in this format and order: export, edit, import gives back the same limits.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from routing import validators
from routing.admin_log import CHANGE, log_action
from routing.imports import (
    BATCH_SIZE,
    ImportResult,
    Progress,
    _batched,
    _Cleaner,
    _csv_text,
    _Errors,
    _history_user,
    _no_progress,
    _reason,
    _records,
    _split,
    _unescape,
    escape_name,
)
from routing.models import Carrier, Changes, Gateway, IpSource, Pbx, Tenant, bump_routing_version
from routing.models.version import record_changes

LIMIT_COLUMNS = ("kind", "name", "max_calls", "max_cps")
UPDATE = "update"
LIMIT_FIELDS = ("max_calls", "max_cps")

# The kinds, in the export's order.
KINDS: dict[str, type[models.Model]] = {
    "tenant": Tenant,
    "pbx": Pbx,
    "ip_source": IpSource,
    "carrier": Carrier,
    "gateway": Gateway,
}


def objects_count(count: int) -> str:
    """ "1 object", "2 objects": how the import's messages count what they changed."""
    return "1 object" if count == 1 else f"{count} objects"


def change_permission(kind: str) -> str:
    return f"routing.change_{KINDS[kind]._meta.model_name}"


def view_permission(kind: str) -> str:
    return f"routing.view_{KINDS[kind]._meta.model_name}"


def _closest(name: str, known: Iterable[str]) -> str:
    """ ": did you mean 'X' or 'Y'?" for the names close to `name` (case-insensitively), or
    "." when none is."""
    folded: dict[str, str] = {}
    for item in known:
        folded.setdefault(item.casefold(), item)
    close = [folded[f] for f in difflib.get_close_matches(name.casefold(), folded, n=3)]
    return f": did you mean {' or '.join(repr(c) for c in close)}?" if close else "."


@dataclass
class _Objects:
    """Every object with limits, by its name in the file (loaded once per import)."""

    by_kind: dict[str, dict[Any, models.Model]]

    @classmethod
    def load(cls) -> _Objects:
        tenants = {t.name: t for t in Tenant.objects.all()}
        carriers = {c.name: c for c in Carrier.objects.all()}
        pbxs = {(p.tenant.name, p.name): p for p in Pbx.objects.select_related("tenant")}
        gateways = {(g.carrier.name, g.name): g for g in Gateway.objects.select_related("carrier")}
        sources = {s.cidr: s for s in IpSource.objects.all()}
        return cls(
            {
                "tenant": tenants,
                "pbx": pbxs,
                "ip_source": sources,
                "carrier": carriers,
                "gateway": gateways,
            }
        )

    def find(self, kind: str, text: str) -> models.Model:
        """The object `text` names; raises ValidationError saying why there is none."""
        objects = self.by_kind[kind]
        if kind in ("tenant", "carrier"):
            name = text  # a whole cell: nothing to escape
            found = objects.get(name)
            if found is None:
                hint = _closest(name, objects)
                raise ValidationError(f"There is no {kind} named '{name}'{hint}")
            return found
        if kind == "ip_source":
            cidr = validators.normalize_cidr(text)  # its own message when not a network
            found = objects.get(cidr)
            if found is None:
                raise ValidationError(f"There is no IP source with the network {cidr}.")
            return found
        owner_kind = "tenant" if kind == "pbx" else "carrier"
        parts = _split(text, "/")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            example = "TENANT/PBX" if kind == "pbx" else "CARRIER/GATEWAY"
            raise ValidationError(
                f"Name the {'PBX' if kind == 'pbx' else 'gateway'} as {example} "
                "(a '/' inside a name is written '\\/')."
            )
        owner, name = (_unescape(p) for p in parts)
        found = objects.get((owner, name))
        if found is not None:
            return found
        owners = self.by_kind[owner_kind]
        if owner not in owners:
            raise ValidationError(
                f"There is no {owner_kind} named '{owner}'{_closest(owner, owners)}"
            )
        siblings = [n for (o, n) in objects if o == owner]
        noun = "PBX" if kind == "pbx" else "gateway"
        raise ValidationError(
            f"{owner_kind.capitalize()} '{owner}' has no {noun} named '{name}'"
            f"{_closest(name, siblings)}"
        )


def import_limits(
    file: Iterable[str],
    *,
    mode: str = UPDATE,
    dry_run: bool = False,
    user: Any = None,
    change_reason: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Set the capacity limits of existing objects from a CSV text stream (the format: this
    module's docstring). Returns the counts (`updated`, `unchanged`); raises ImportFailed
    (nothing written) when any line is bad. `mode` is "update" (the only one: the import
    signature routing.import_process calls)."""
    if mode != UPDATE:
        raise ValueError(f"mode must be {UPDATE!r}")
    wrap = progress or _no_progress
    now = timezone.now()
    reason = _reason(change_reason, "CSV import of capacity limits")
    errors = _Errors()
    result = ImportResult(dry_run=dry_run)
    allowed: dict[str, bool] = {}
    with transaction.atomic():
        version = bump_routing_version(changed=Changes())  # the lock; changes logged at the end
        objects = _Objects.load()
        clean = _Cleaner(Tenant)  # the same two abstract fields on all five models
        seen: dict[tuple[str, int], int] = {}
        changed: dict[str, list[models.Model]] = {kind: [] for kind in KINDS}
        for line, row in wrap(_records(file, LIMIT_COLUMNS, LIMIT_COLUMNS, errors), unit="row"):
            kind = row["kind"].lower()
            if kind not in KINDS:
                errors.add(line, "kind", f"Unknown kind '{row['kind']}': use {', '.join(KINDS)}.")
                continue
            if user is not None:
                if kind not in allowed:
                    allowed[kind] = user.has_perm(change_permission(kind))
                if not allowed[kind]:
                    plural = KINDS[kind]._meta.verbose_name_plural
                    errors.add(
                        line,
                        "kind",
                        f"You may not change the limits of {plural}: that needs the "
                        f"permission to change {plural}.",
                    )
                    continue
            values: dict[str, Any] = {}
            for name in LIMIT_FIELDS:
                try:
                    values[name] = clean(name, row[name])
                except ValidationError as exc:
                    errors.add_validation(line, exc, name)
            if not row["name"]:
                errors.add(line, "name", "This field is required.")
                continue
            try:
                obj = objects.find(kind, row["name"])
            except ValidationError as exc:
                errors.add_validation(line, exc, "name")
                continue
            key = (kind, obj.pk)
            if key in seen:
                errors.add(line, "name", f"Line {seen[key]} already sets this {kind}'s limits.")
                continue
            seen[key] = line
            if len(values) != len(LIMIT_FIELDS) or errors:
                continue  # nothing will be written: only the checks go on
            if all(getattr(obj, name) == values[name] for name in LIMIT_FIELDS):
                result.unchanged += 1
                continue
            for name, value in values.items():
                setattr(obj, name, value)
            obj.updated_at = now  # type: ignore[attr-defined]
            changed[kind].append(obj)
        errors.raise_if_any()
        history_user = _history_user(user)
        for kind, items in changed.items():
            for batch in _batched(items, BATCH_SIZE):
                bulk_update_with_history(
                    batch,
                    KINDS[kind],
                    [*LIMIT_FIELDS, "updated_at"],
                    default_user=history_user,
                    default_change_reason=reason,
                    default_date=now,
                )
            result.updated += len(items)
            if items and not dry_run:
                # The index's Recent actions, as for the other imports (routing.admin_log).
                meta = KINDS[kind]._meta
                noun = meta.verbose_name if len(items) == 1 else meta.verbose_name_plural
                done = f"limits of {len(items)} {noun} changed"
                log_action(
                    history_user, KINDS[kind], CHANGE, f"{reason}: {done}.",
                    repr_=f"CSV import of capacity limits ({done})",
                )  # fmt: skip
        # Limits live in the workers' table (routing.loader): any change, every worker
        # re-reads it, as an admin save of one of these objects makes it do.
        record_changes(version, None if result.updated else Changes())
        if dry_run:
            transaction.set_rollback(True)
    return result


# --- Export ---------------------------------------------------------------------------------


def _name_of(kind: str, obj: Any) -> str:
    if kind == "ip_source":
        return str(obj.cidr)
    if kind == "pbx":
        return f"{escape_name(obj.tenant.name)}/{escape_name(obj.name)}"
    if kind == "gateway":
        return f"{escape_name(obj.carrier.name)}/{escape_name(obj.name)}"
    return str(obj.name)


_EXPORT_ORDER: dict[str, tuple[str, ...]] = {
    "tenant": ("name",),
    "pbx": ("tenant__name", "name"),
    "ip_source": ("cidr",),
    "carrier": ("name",),
    "gateway": ("carrier__name", "name"),
}
_RELATED = {"pbx": ("tenant",), "gateway": ("carrier",)}


def limit_rows(
    *, limited_only: bool = False, kinds: Iterable[str] | None = None
) -> Iterator[list[list[str]]]:
    """The rows of the export (no header), a batch at a time: every object of `kinds` (all
    five by default), or only those with a limit."""
    wanted = set(KINDS if kinds is None else kinds)
    for kind, model in KINDS.items():
        if kind not in wanted:
            continue
        queryset = model._default_manager.select_related(*_RELATED.get(kind, ()))
        if limited_only:
            queryset = queryset.filter(
                models.Q(max_calls__isnull=False) | models.Q(max_cps__isnull=False)
            )
        rows = queryset.order_by(*_EXPORT_ORDER[kind], "pk").iterator(chunk_size=BATCH_SIZE)
        for batch in _batched(rows, BATCH_SIZE):
            yield [
                [
                    kind,
                    _name_of(kind, obj),
                    "" if obj.max_calls is None else str(obj.max_calls),  # type: ignore[attr-defined]
                    "" if obj.max_cps is None else str(obj.max_cps),  # type: ignore[attr-defined]
                ]
                for obj in batch
            ]


def export_limit_chunks(
    *, limited_only: bool = False, kinds: Iterable[str] | None = None
) -> Iterator[str]:
    """The export as CSV text, a batch of rows at a time (the API's and the admin's
    downloads stream these), every cell through the exports' formula gate."""
    yield _csv_text([LIMIT_COLUMNS])
    for batch in limit_rows(limited_only=limited_only, kinds=kinds):
        yield _csv_text(batch)


def export_limits(out: Any, *, limited_only: bool = False) -> int:
    """Write the export to a text file; the number of objects written (the command)."""
    out.write(_csv_text([LIMIT_COLUMNS]))
    count = 0
    for batch in limit_rows(limited_only=limited_only):
        out.write(_csv_text(batch))
        count += len(batch)
    return count
