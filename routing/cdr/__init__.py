"""Call records: what happened to each call after c4router routed it.

The loop back from the calls (README, "Call records"):

    Kamailio (acc + dialog, kamailio_cfg/kamailio.cfg "call records")
      -> RabbitMQ, durable queue C4ROUTER_CDR_QUEUE
      -> ingest.py (`manage.py ingest_cdrs`): records.py checks each message (and prices an
         answered least-cost call with pricing.py), store.py
         inserts them at most once and adds them to rollups.py's 5-minute sums, one
         transaction, acked after COMMIT
      -> the admin and /api/v1/cdrs/ (the records), dashboards and /metrics (the sums).

partitions.py keeps the table's day partitions and the retention; demo.py makes a day of
synthetic records for the demo data (`manage.py seed_demo --traffic`).
"""
