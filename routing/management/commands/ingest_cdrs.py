"""manage.py ingest_cdrs: store the call records Kamailio publishes to RabbitMQ."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.cdr import ingest


class Command(BaseCommand):
    help = (
        "Consume the call records queue (C4ROUTER_CDR_AMQP_URL, C4ROUTER_CDR_QUEUE) and store "
        "them with their rollups; acks after COMMIT, so nothing is lost or doubled."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--setup", action="store_true",
            help="Declare the durable queues and make the partitions, then exit (run it "
                 "before the first Kamailio starts: RabbitMQ drops messages to no queue).",
        )  # fmt: skip
        parser.add_argument(
            "--drain", action="store_true", help="Stop once the queue is empty (tests, bench)."
        )
        parser.add_argument("--batch", type=int, default=1000, help="Records per transaction.")
        parser.add_argument(
            "--max-seconds", type=float, default=None, help="Stop after this long (a bound)."
        )

    def handle(self, *args: object, **options: object) -> None:
        if options["setup"]:
            ingest.setup()
            self.stdout.write("call records: queues declared, partitions made")
            return
        batch = int(options["batch"])  # type: ignore[call-overload]
        if not 1 <= batch <= 10000:
            raise CommandError("--batch: 1 to 10000")
        ingester = ingest.Ingester(batch=batch, log=self.stdout.write)
        ingester.install_signals()
        counts = ingester.run(
            drain=bool(options["drain"]),
            max_seconds=options["max_seconds"],  # type: ignore[arg-type]
        )
        self.stdout.write(
            f"call records: {counts.stored} stored, {counts.duplicates} already stored, "
            f"{counts.rejected} rejected, in {counts.batches} batches"
        )
