"""Call records: what happened to each call and to each attempt of it, and their 5-minute sums.

Kamailio writes them (kamailio_cfg/kamailio.cfg, "call records"), `manage.py ingest_cdrs`
stores them (routing/cdr/); nobody edits them. Ids of tenants, PBXs, carriers, gateways and
rules are plain integers, not foreign keys: a record keeps saying which carrier carried a
call after the carrier is deleted, and storing millions of rows a day checks no reference.
"""

from __future__ import annotations

from django.db import models

# Money in the records: 6 decimal places like the rate decks, room for a long call at the
# highest rate a deck takes (999,999.999999 per minute).
MONEY_DIGITS = 18
MONEY_PLACES = 6
# Sums of money in the rollups.
SUM_DIGITS = 24


class CdrKind(models.TextChoices):
    CALL = "call", "call"
    ATTEMPT = "attempt", "attempt"


class Hangup(models.TextChoices):
    NONE = "", "-"
    CALLER = "caller", "caller"
    CALLEE = "callee", "callee"
    TIMEOUT = "timeout", "timeout"


class CallDirection(models.TextChoices):
    NONE = "", "-"
    INBOUND = "in", "inbound"
    OUTBOUND = "out", "outbound"


class CallRecord(models.Model):
    """One call, or one attempt of a call (a route tried), as Kamailio recorded it.

    On PostgreSQL the table is partitioned by day of start_time (migration 0005; partitions
    made ahead and dropped after C4ROUTER_CDR_RETENTION_DAYS by routing.cdr.partitions);
    its primary key is (id, start_time) there. On SQLite it is a plain table.
    """

    kind = models.CharField(max_length=7, choices=CdrKind.choices)
    call_id = models.CharField(max_length=255, help_text="SIP Call-ID of the call.")
    attempt = models.PositiveSmallIntegerField(
        default=0, help_text="Which route of the answer (1, 2, ...); 0 for a call record."
    )
    start_time = models.DateTimeField(help_text="When the call's INVITE arrived.")
    end_time = models.DateTimeField(
        null=True, blank=True, help_text="Attempt: its final reply. Call: its end."
    )
    direction = models.CharField(max_length=3, choices=CallDirection.choices, blank=True)
    tenant_id = models.IntegerField(null=True, blank=True)
    pbx_id = models.IntegerField("PBX id", null=True, blank=True)
    source_carrier_id = models.IntegerField(
        null=True, blank=True, help_text="The carrier an inbound call came from."
    )
    rule_id = models.IntegerField(null=True, blank=True)
    carrier_id = models.IntegerField(
        null=True, blank=True, help_text="The carrier of the attempt (call: its last attempt)."
    )
    gateway_id = models.IntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Call: how many routes were tried."
    )
    source_ip = models.CharField("source IP address", max_length=45, blank=True)
    caller_in = models.CharField(max_length=64, blank=True, help_text="From user as received.")
    callee_in = models.CharField(max_length=64, blank=True, help_text="R-URI user as received.")
    caller = models.CharField(max_length=32, blank=True, help_text="Calling number, E.164.")
    callee = models.CharField(max_length=32, blank=True, help_text="Called number, E.164.")
    caller_out = models.CharField(max_length=64, blank=True, help_text="From user as sent.")
    callee_out = models.CharField(max_length=64, blank=True, help_text="R-URI user as sent.")
    sip_code = models.PositiveSmallIntegerField("SIP code", help_text="Final SIP code.")
    sip_reason = models.CharField("SIP reason", max_length=128, blank=True)
    q850_cause = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="From a Reason: Q.850 header of the final reply."
    )
    pdd_ms = models.IntegerField(
        "post-dial delay (ms)",
        null=True,
        blank=True,
        help_text="Post-dial delay: INVITE to the first 18x (ms).",
    )
    answer_ms = models.IntegerField(
        "time to answer (ms)", null=True, blank=True, help_text="INVITE to 200 OK (ms)."
    )
    duration_ms = models.BigIntegerField(
        "duration (ms)", null=True, blank=True, help_text="Answer to end (ms)."
    )
    hangup = models.CharField(max_length=7, choices=Hangup.choices, blank=True)
    # Portability: callee stays the dialled number; a ported one was routed on its LRN.
    lrn = models.CharField(
        "LRN",
        max_length=32,
        blank=True,
        help_text="The routing number a ported called number was routed on (LNP), E.164.",
    )
    # Least-cost routing: the rates of the route (call: its last attempt), from the answer,
    # and what an answered call costs and brings (routing/cdr/pricing.py).
    currency = models.CharField(max_length=3, blank=True, help_text="Of the rates and amounts.")
    rate = models.DecimalField(
        "rate (per minute)",
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        null=True,
        blank=True,
        help_text="The carrier's rate for the number (least-cost rules only).",
    )
    sell_rate = models.DecimalField(
        "customer rate (per minute)",
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        null=True,
        blank=True,
        help_text="The customer's rate for the number (a sell deck or a pricing policy).",
    )
    billed_seconds = models.IntegerField(
        null=True,
        blank=True,
        help_text="Answered call: the seconds the carrier bills (its increments applied).",
    )
    cost = models.DecimalField(
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        null=True,
        blank=True,
        help_text="Answered call: connect fee + rate x billed minutes.",
    )
    revenue = models.DecimalField(
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        null=True,
        blank=True,
        help_text="Answered call: the same with the customer's rate, fee and increments.",
    )
    margin = models.DecimalField(
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        null=True,
        blank=True,
        help_text="Answered call: revenue - cost.",
    )

    class Meta:
        db_table = "routing_callrecord"
        ordering = ("-start_time",)
        constraints = [
            # The idempotency key: a record delivered twice is stored once (routing.cdr.ingest
            # inserts ON CONFLICT DO NOTHING). start_time is in it because a unique index of a
            # partitioned table must hold the partition key.
            models.UniqueConstraint(
                fields=["call_id", "kind", "attempt", "start_time"],
                name="routing_callrecord_key",
            ),
        ]
        indexes = [
            # The admin list and the API: newest first within a time range.
            models.Index(fields=["start_time"], name="routing_cdr_start"),
            # Their filters, each with the time range.
            models.Index(fields=["carrier_id", "start_time"], name="routing_cdr_carrier"),
            models.Index(fields=["gateway_id", "start_time"], name="routing_cdr_gateway"),
            models.Index(fields=["tenant_id", "start_time"], name="routing_cdr_tenant"),
            models.Index(fields=["sip_code", "start_time"], name="routing_cdr_code"),
            # Number prefix (callee startswith); varchar_pattern_ops on PostgreSQL (0005).
            models.Index(fields=["callee"], name="routing_cdr_callee"),
        ]

    def __str__(self) -> str:
        what = "call" if self.kind == CdrKind.CALL else f"attempt {self.attempt}"
        return f"{what} {self.call_id} {self.sip_code}"


# Post-dial delay histogram of the rollups: upper bounds in ms (the last bucket: above).
PDD_BOUNDS_MS = (100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 8000)
PDD_BUCKETS = len(PDD_BOUNDS_MS) + 1
BUCKET_SECONDS = 300


class RollupCounters(models.Model):
    """The key and counters of a rollup row (see TrafficRollup)."""

    bucket = models.DateTimeField(help_text="Start of the 5 minutes.")
    direction = models.CharField(max_length=3, choices=CallDirection.choices, blank=True)
    tenant_id = models.IntegerField(default=0)
    carrier_id = models.IntegerField(default=0)
    gateway_id = models.IntegerField(default=0)
    rule_id = models.IntegerField(default=0)
    attempts = models.IntegerField(default=0)
    answered = models.IntegerField(default=0, help_text="Attempts answered (2xx).")
    failed_4xx = models.IntegerField(default=0)
    failed_5xx = models.IntegerField(default=0)
    failed_6xx = models.IntegerField(default=0)
    ner_ok = models.IntegerField(
        default=0, help_text="Attempts answered or refused by the user (NER's numerator)."
    )
    pdd_count = models.IntegerField(default=0)
    pdd_sum_ms = models.BigIntegerField("post-dial delay sum (ms)", default=0)
    calls = models.IntegerField(default=0)
    calls_answered = models.IntegerField(default=0)
    duration_sum_ms = models.BigIntegerField("duration sum (ms)", default=0)
    # Attempts whose PDD fell in each bucket of PDD_BOUNDS_MS (pdd_11: above 8 s).
    pdd_0 = models.IntegerField(default=0)
    pdd_1 = models.IntegerField(default=0)
    pdd_2 = models.IntegerField(default=0)
    pdd_3 = models.IntegerField(default=0)
    pdd_4 = models.IntegerField(default=0)
    pdd_5 = models.IntegerField(default=0)
    pdd_6 = models.IntegerField(default=0)
    pdd_7 = models.IntegerField(default=0)
    pdd_8 = models.IntegerField(default=0)
    pdd_9 = models.IntegerField(default=0)
    pdd_10 = models.IntegerField(default=0)
    pdd_11 = models.IntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} carrier {self.carrier_id}: {self.attempts} attempts"


class TrafficRollup(RollupCounters):
    """Sums over 5 minutes of calls for one direction, tenant, carrier, gateway and rule.

    Kept up to date by the ingester in the transaction that stores the records (only the
    records it really inserted are added). 0 stands for "none" in the key columns (an
    inbound call has no rule; its carrier is the one it came from). Attempt figures count
    attempts by the bucket of their call's start; call figures count calls by the last
    attempt's carrier and gateway (the one that answered, for an answered call).
    """

    class Meta:
        db_table = "routing_trafficrollup"
        constraints = [
            # The upsert's conflict target (routing.cdr.rollups.apply).
            models.UniqueConstraint(
                fields=["bucket", "direction", "tenant_id", "carrier_id", "gateway_id", "rule_id"],
                name="routing_trafficrollup_key",
            ),
        ]
        indexes = [
            # Per carrier and per tenant over a range (dashboard, /metrics).
            models.Index(fields=["carrier_id", "bucket"], name="routing_rollup_carrier"),
            models.Index(fields=["tenant_id", "bucket"], name="routing_rollup_tenant"),
        ]


class TrafficRollupHour(RollupCounters):
    """The same sums per hour (bucket: the hour's start), kept alongside the 5-minute ones:
    a day is 24 rows per key instead of 288, for the dashboard's day-long views."""

    class Meta:
        db_table = "routing_trafficrolluphour"
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "direction", "tenant_id", "carrier_id", "gateway_id", "rule_id"],
                name="routing_trafficrolluphour_key",
            ),
        ]
        indexes = [
            models.Index(fields=["carrier_id", "bucket"], name="routing_rolluphour_carrier"),
            models.Index(fields=["tenant_id", "bucket"], name="routing_rolluphour_tenant"),
        ]


class MoneyCounters(models.Model):
    """The key and sums of a money rollup row (see TrafficMoneyRollup)."""

    bucket = models.DateTimeField()
    direction = models.CharField(max_length=3, choices=CallDirection.choices, blank=True)
    tenant_id = models.IntegerField(default=0)
    carrier_id = models.IntegerField(default=0)
    gateway_id = models.IntegerField(default=0)
    rule_id = models.IntegerField(default=0)
    currency = models.CharField(max_length=3)
    priced = models.IntegerField(default=0, help_text="Answered calls with a cost.")
    billed_seconds = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=SUM_DIGITS, decimal_places=MONEY_PLACES, default=0)
    sold = models.IntegerField(default=0, help_text="Priced calls with a revenue too.")
    revenue = models.DecimalField(max_digits=SUM_DIGITS, decimal_places=MONEY_PLACES, default=0)
    sold_cost = models.DecimalField(
        max_digits=SUM_DIGITS,
        decimal_places=MONEY_PLACES,
        default=0,
        help_text="The cost of the calls with a revenue (the margin's base).",
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return (
            f"{self.bucket:%Y-%m-%d %H:%M} carrier {self.carrier_id}: {self.cost} {self.currency}"
        )


class TrafficMoneyRollup(MoneyCounters):
    """Cost and revenue of the answered least-cost calls over 5 minutes, per currency, with
    the keys of TrafficRollup (calls by the carrier of their last attempt, the one that
    answered). Kept by the ingester like the other rollups."""

    class Meta:
        db_table = "routing_trafficmoneyrollup"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "bucket", "direction", "tenant_id", "carrier_id", "gateway_id", "rule_id",
                    "currency",
                ],
                name="routing_trafficmoneyrollup_key",
            ),
        ]  # fmt: skip
        indexes = [
            # Money over a range (the Traffic pages: all, per carrier, per tenant).
            models.Index(fields=["bucket", "carrier_id"], name="routing_moneyrollup_bucket"),
        ]


class TrafficMoneyRollupHour(MoneyCounters):
    """The same per hour."""

    class Meta:
        db_table = "routing_trafficmoneyrolluphour"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "bucket", "direction", "tenant_id", "carrier_id", "gateway_id", "rule_id",
                    "currency",
                ],
                name="routing_trafficmoneyrolluphour_key",
            ),
        ]  # fmt: skip
        indexes = [
            models.Index(fields=["bucket", "carrier_id"], name="routing_moneyrolluphour_bucket"),
        ]


class CodeCounters(models.Model):
    """Attempts per final SIP code, with the keys of TrafficRollup."""

    bucket = models.DateTimeField()
    direction = models.CharField(max_length=3, choices=CallDirection.choices, blank=True)
    tenant_id = models.IntegerField(default=0)
    carrier_id = models.IntegerField(default=0)
    gateway_id = models.IntegerField(default=0)
    rule_id = models.IntegerField(default=0)
    sip_code = models.PositiveSmallIntegerField("SIP code")
    count = models.IntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} code {self.sip_code}: {self.count}"


class TrafficCodeRollup(CodeCounters):
    """Attempts per final SIP code over 5 minutes."""

    class Meta:
        db_table = "routing_trafficcoderollup"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "bucket", "direction", "tenant_id", "carrier_id", "gateway_id", "rule_id",
                    "sip_code",
                ],
                name="routing_trafficcoderollup_key",
            ),
        ]  # fmt: skip
        indexes = [
            # Top failure codes over a range, per carrier.
            models.Index(fields=["bucket", "carrier_id"], name="routing_coderollup_bucket"),
        ]


class TrafficCodeRollupHour(CodeCounters):
    """Attempts per final SIP code per hour."""

    class Meta:
        db_table = "routing_trafficcoderolluphour"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "bucket", "direction", "tenant_id", "carrier_id", "gateway_id", "rule_id",
                    "sip_code",
                ],
                name="routing_trafficcoderolluphour_key",
            ),
        ]  # fmt: skip
        indexes = [
            models.Index(fields=["bucket", "carrier_id"], name="routing_coderolluphour_bucket"),
        ]
