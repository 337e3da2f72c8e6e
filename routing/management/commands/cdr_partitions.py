"""manage.py cdr_partitions: make the call records' day partitions ahead, apply retention."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from routing.cdr import partitions


class Command(BaseCommand):
    help = (
        "Make the call records' partitions from yesterday to --ahead days ahead and drop the "
        "days older than C4ROUTER_CDR_RETENTION_DAYS (the ingester also does it every hour)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ahead", type=int, default=2, help="Days ahead (default 2).")

    def handle(self, *args: object, **options: object) -> None:
        done = partitions.maintain(ahead_days=int(options["ahead"]))  # type: ignore[call-overload]
        self.stdout.write(
            f"call records: {len(done.made)} partitions made, {len(done.dropped)} dropped"
            + (f" ({', '.join(map(str, done.dropped))})" if done.dropped else "")
            + f", {done.rows_deleted} rollup/record rows deleted"
        )
