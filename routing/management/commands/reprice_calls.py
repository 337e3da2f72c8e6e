"""manage.py reprice_calls --since ISO [--until ISO] [--carrier ...] [--tenant ...] [--preview]:
the answered least-cost calls of a range priced again with the decks as they are now
(routing/cdr/reprice.py), previewed or applied all or nothing."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models
from django.utils import timezone

from routing.cdr.reprice import RepriceError, RepriceResult, check_range, reprice
from routing.imports_rates import parse_moment
from routing.management.commands.import_dids import named_user
from routing.models import Carrier, Tenant


def find_ids(model: type[models.Model], names: list[str], option: str) -> list[int]:
    """The ids of these carriers or tenants (by name, or id), or a CommandError naming the
    one that is not there."""
    ids = []
    for name in names:
        found = model.objects.filter(name=name).first()  # type: ignore[attr-defined]
        if found is None and name.isdigit():
            found = model.objects.filter(pk=int(name)).first()  # type: ignore[attr-defined]
        if found is None:
            raise CommandError(f"{option}: there is no {model._meta.verbose_name} named {name!r}.")
        ids.append(found.pk)
    return ids


def _moment(option: str, text: str) -> datetime:
    value = parse_moment(text)
    if value is None:
        raise CommandError(
            f"{option}: {text!r} is not an ISO 8601 date-time (e.g. 2026-11-20T00:00+00:00) "
            "or date (2026-11-20)."
        )
    return value


class Command(BaseCommand):
    help = (
        "Price the answered least-cost calls of a range again with the rate decks as they are "
        "now (after a rate correction): each call's carrier deck, and its customer's sell deck "
        "or pricing policy, at the call's start, for the number routing priced (the LRN of a "
        "ported number). Updates the records' rate, billed seconds, cost, revenue and margin "
        "and the money rollups by the difference, all or nothing. Records whose deck has no "
        "rate then, or is in another currency, are left as they are and counted. --preview "
        "counts and samples, and writes nothing. Dates: ISO 8601 date or date-time, without "
        "an offset in the server's time zone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="Calls started at or after this.")
        parser.add_argument("--until", help="Calls started before this (default: now).")
        parser.add_argument(
            "--carrier", action="append", default=[], help="Only this carrier's calls (name or "
            "id; repeat for several).",
        )  # fmt: skip
        parser.add_argument(
            "--tenant", action="append", default=[], help="Only this tenant's calls (name or "
            "id; repeat for several).",
        )  # fmt: skip
        parser.add_argument(
            "--preview", action="store_true", help="Count and sample; write nothing."
        )
        parser.add_argument("--user", help="Username the admin's Recent actions name.")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        since = _moment("--since", options["since"])
        until = _moment("--until", options["until"]) if options["until"] else now
        try:
            check_range(since, until, now, settings.C4ROUTER_CDR["RETENTION_DAYS"])
        except RepriceError as exc:
            raise CommandError(str(exc)) from None
        carriers = find_ids(Carrier, options["carrier"], "--carrier")
        tenants = find_ids(Tenant, options["tenant"], "--tenant")
        user = named_user(options["user"])
        started = time.perf_counter()
        result = reprice(
            since, until, carriers=carriers, tenants=tenants, preview=options["preview"], user=user
        )
        self.stdout.write("\n".join(describe(result)))
        self.stdout.write(f"Took {time.perf_counter() - started:.1f} s.")


def describe(result: RepriceResult) -> list[str]:
    """What was (or would be) re-priced, for people: counts, sums, samples."""
    verb = "Preview of the re-pricing of" if result.preview else "Re-priced"
    lines = [
        f"{verb} the calls from {result.since.isoformat()} until "
        f"{result.until.isoformat()}: {result.summary}."
    ]
    if result.revenue_kept:
        lines.append(
            f"Revenue kept as recorded on {result.revenue_kept} records (a fixed markup in "
            "another currency than the carrier's deck, or a tenant with neither a sell deck "
            "nor a pricing policy now): their margin follows the new cost."
        )
    for currency in sorted(result.before):
        (cost, revenue, margin), after = result.before[currency], result.after[currency]
        lines.append(
            f"{currency}: cost {cost} -> {after[0]}, revenue {revenue} -> {after[1]}, "
            f"margin {margin} -> {after[2]}"
        )
    if result.samples:
        lines.append(f"Changed ({result.changed}):")
        for change in result.samples:
            lines.append(
                f"  {change.call_id} {change.number}: rate {change.old_rate} -> "
                f"{change.new_rate}, cost {change.old_cost} -> {change.new_cost} "
                f"{change.currency}"
            )
    if result.missing:
        lines.append(f"Left as they are, no rate ({result.no_rate}):")
        lines.extend(f"  {text}" for text in result.missing)
    if result.other:
        lines.append(f"Left as they are, another currency ({result.other_currency}):")
        lines.extend(f"  {text}" for text in result.other)
    if result.preview:
        lines.append("Preview only: nothing was written.")
    return lines
