"""Database rows -> compiled routing table, and the per-process holder that swaps it.

The only module that knows both the ORM and the engine. Each worker process keeps one
Table, read by every request without a lock or a query; a daemon thread polls the routing
data version (one tiny query every RELOAD_INTERVAL_MS), rebuilds the table off the request
path when the version moved, and swaps the reference (an atomic assignment in Python). When
only the health version moved (a gateway down or up), the same table is swapped in with the
new health rows: a few milliseconds, whatever the table's size. If
the database is unreachable, the last good table keeps serving and the thread says so in
the log until the database answers again.
"""

from __future__ import annotations

import ctypes
import dataclasses
import datetime as dt
import gc
import json
import logging
import os
import sys
import threading
import time
from array import array
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.models import Q

from routing import deck_cache, metrics, validators
from routing.answer_gate import gate_rows, rule_ok
from routing.engine.lists import ListEntries, ListEntriesBuilder, NumberListRow
from routing.engine.lnp import LnpRuleRow, PortedBuilder, PortedNumbers
from routing.engine.numbers import NumberPlan, NumberRule, RuleError
from routing.engine.rates import OVERLAY_MAX, DeckRates, DeckRow, RateRow
from routing.engine.table import (
    PLAIN_MAX_ID,
    PLAIN_PRIORITY,
    CarrierRow,
    Defaults,
    DidRow,
    DomainRow,
    GatewayRow,
    HealthRow,
    LeftOut,
    Patch,
    PbxRow,
    RuleIndexBuilder,
    RuleRow,
    SourceRow,
    Table,
    TableRows,
    TargetRow,
    TenantRow,
    Window,
    build_table,
    patch_table,
    with_health,
)
from routing.models import (
    Carrier,
    Did,
    Domain,
    DownPolicy,
    ExchangeRate,
    Gateway,
    GatewayHealth,
    HealthPolicy,
    HealthState,
    IpSource,
    LnpRule,
    NormalizationRule,
    NumberList,
    NumberListEntry,
    Pbx,
    PortedNumber,
    Rate,
    RateDeck,
    RouterInstance,
    RouteRule,
    RouteTarget,
    Tenant,
    changes_between,
    current_routing_version,
    current_versions,
)
from routing.models.rates import base_currency
from routing.models.version import PORTED_OVERLAY_MAX_ROWS, ChangeKind

logger = logging.getLogger("c4router.loader")


def routing_db_alias() -> str:
    return getattr(settings, "ROUTING_DB_ALIAS", "default")


def defaults_from_settings() -> Defaults:
    conf = settings.C4ROUTER
    return Defaults(
        fr_timer=conf["FR_TIMER"], fr_inv_timer=conf["FR_INV_TIMER"], max_routes=conf["MAX_ROUTES"]
    )


@contextmanager
def _snapshot(using: str) -> Iterator[None]:
    """One consistent view of the database for a whole read.

    A change committed halfway through reading 100,000s of rows must not give a table that
    mixes old and new rows under the old version. Inside a caller's transaction (tests),
    the caller's snapshot.
    """
    connection = connections[using]
    outermost = not connection.in_atomic_block
    with transaction.atomic(using=using):
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def _build_all(using: str, version: int, *, cache: bool = True) -> Table:
    """The whole table from every row (inside the caller's snapshot). The rules stream
    straight into the index, the plain ones without ever being a RuleRow: a million rules
    are never all in memory as rows."""
    rules = RuleIndexBuilder()
    _read_rules(using, into=rules)
    small = _read_small(
        using, lambda ids: read_deck_rates(using, ids, version if cache else None, every=True)
    )
    rows = dataclasses.replace(
        small,
        dids=tuple(_read_dids(using)),
        list_entries=_read_list_entries(using, [row.id for row in small.number_lists]),
        ported=_read_ported(using),
    )
    return build_table(rows, version=version, defaults=defaults_from_settings(), rules=rules)


def _plans(
    using: str,
) -> tuple[dict[tuple[str, int, str], NumberPlan], tuple[LeftOut, ...]]:
    """Each carrier's and PBX's normalization rules, per direction (a small table: the
    model's own as_engine_rule(), which its example check uses too), and the rules the
    engine cannot run, left out.

    The validators refuse such a rule (they compile with the engine's own function), but
    one can come from before an upgrade, a fixture or SQL: it must cost the routing of the
    numbers it was meant for, not the whole table.
    """
    grouped: dict[tuple[str, int, str], list[NumberRule]] = {}
    left_out: list[LeftOut] = []
    rules = NormalizationRule.objects.using(using).filter(enabled=True).order_by("priority", "id")
    for rule in rules:
        owner = (
            ("carrier", rule.carrier_id) if rule.carrier_id is not None else ("pbx", rule.pbx_id)
        )
        try:
            engine_rule = rule.as_engine_rule()
        except RuleError as exc:
            left_out.append(LeftOut("normalization_rule", rule.pk, exc.reason))
            continue
        grouped.setdefault((*owner, rule.direction), []).append(engine_rule)
    return {key: NumberPlan.from_rules(items) for key, items in grouped.items()}, tuple(left_out)


def _headers(text: str) -> tuple[tuple[str, str], ...]:
    """Parsed header lines. Text that does not parse (a row written around the validators)
    comes as one nameless line, which the answer gate refuses: its row is kept out of the
    answers, instead of failing the whole table."""
    if not text:
        return ()
    try:
        return tuple(validators.parse_header_lines(text))
    except ValidationError:
        return (("", text),)


# A deck's compiled rates by deck id, for the decks given (the rates reader of _read_small).
RatesReader = Callable[[Collection[int]], dict[int, DeckRates]]


def _read_small(using: str, rates: RatesReader | None = None) -> TableRows:
    """Every table but the big ones (rules, DIDs, ported numbers, list entries, rates):
    thousands of rows at most, read whole at every change. The decks' rates come from
    `rates` (default: every deck read whole; a patch keeps the decks that did not
    change)."""
    plans, left_out = _plans(using)
    empty = NumberPlan()

    tenants = tuple(
        TenantRow(*values)
        for values in Tenant.objects.using(using).values_list(
            "id", "name", "enabled", "max_calls", "max_cps", "min_margin_percent",
            "no_profit_code", "no_profit_reason", "pricing", "markup", "pricing_currency",
        )
    )  # fmt: skip
    pbx_fields = ("id", "tenant_id", "name", "host", "port", "transport", "socket", "enabled",
                  "fr_timer", "fr_inv_timer")  # fmt: skip
    pbxs = tuple(
        PbxRow(
            *values[:-2],
            inbound=plans.get(("pbx", values[0], "in"), empty),
            outbound=plans.get(("pbx", values[0], "out"), empty),
            max_calls=values[-2],
            max_cps=values[-1],
        )
        for values in Pbx.objects.using(using).values_list(*pbx_fields, "max_calls", "max_cps")
    )
    carriers = tuple(
        CarrierRow(
            id=i,
            name=n,
            enabled=e,
            from_domain=fd,
            send_pai=pai,
            send_rn=rn,
            extra_headers=_headers(extra),
            inbound=plans.get(("carrier", i, "in"), empty),
            outbound=plans.get(("carrier", i, "out"), empty),
            max_calls=calls,
            max_cps=cps,
        )
        for i, n, e, fd, pai, rn, extra, calls, cps in Carrier.objects.using(using).values_list(
            "id",
            "name",
            "enabled",
            "from_domain",
            "send_pai",
            "send_rn",
            "extra_headers",
            "max_calls",
            "max_cps",
        )
    )
    gw_fields = ("id", "carrier_id", "name", "host", "port", "transport", "socket", "enabled",
                 "weight", "fr_timer", "fr_inv_timer", "strip", "prefix", "max_calls",
                 "max_cps")  # fmt: skip
    gateways = tuple(
        GatewayRow(*values) for values in Gateway.objects.using(using).values_list(*gw_fields)
    )
    sources = tuple(
        SourceRow(*values)
        for values in IpSource.objects.using(using).values_list(
            "cidr", "carrier_id", "pbx_id", "enabled", "id", "max_calls", "max_cps"
        )
    )
    domains = tuple(
        DomainRow(*values)
        for values in Domain.objects.using(using).values_list(
            "name", "tenant_id", "pbx_id", "enabled"
        )
    )
    health = tuple(_read_health(using))
    tokens = frozenset(
        RouterInstance.objects.using(using).filter(enabled=True).values_list("token", flat=True)
    )
    number_lists = tuple(
        NumberListRow(*values)
        for values in NumberList.objects.using(using)
        .filter(enabled=True)
        .values_list("id", "name", "mode", "side", "code", "reason", "tenant_id", "carrier_id")
    )
    lnp_rules = tuple(
        LnpRuleRow(*values)
        for values in LnpRule.objects.using(using)
        .filter(enabled=True)
        .values_list("id", "prefix", "tenant_id", "enabled")
    )
    return gate_rows(
        TableRows(
            tenants=tenants,
            pbxs=pbxs,
            carriers=carriers,
            gateways=gateways,
            sources=sources,
            domains=domains,
            tokens=tokens,
            left_out=left_out,
            number_lists=number_lists,
            health=health,
            rate_decks=_read_rate_decks(using, rates),
            lnp_rules=lnp_rules,
            exchange_rates=_read_exchange_rates(using),
            base_currency=base_currency(),
        )
    )


def _read_exchange_rates(using: str) -> tuple[tuple[str, Fraction], ...]:
    """Each currency's exchange rate to the base (exact: a Fraction of the stored Decimal).
    A row for the base currency (the setting changed after it was written) is ignored: the
    table has the base at 1."""
    return tuple(
        (currency, Fraction(rate))
        for currency, rate in ExchangeRate.objects.using(using).values_list("currency", "rate")
    )


def _read_rate_decks(using: str, rates: RatesReader | None = None) -> tuple[DeckRow, ...]:
    """Every rate deck, with its compiled rates (`rates`: see _read_small)."""
    decks = list(
        RateDeck.objects.using(using).values_list("id", "name", "currency", "carrier_id",
                                                  "tenant_id")
    )  # fmt: skip
    reader = rates or (lambda ids: read_deck_rates(using, ids, None))
    compiled = reader([deck[0] for deck in decks])
    return tuple(
        DeckRow(deck_id, name, currency, carrier_id, tenant_id, compiled=compiled[deck_id])
        for deck_id, name, currency, carrier_id, tenant_id in decks
    )


_RATE_FIELDS = ("rate", "effective_from", "effective_until", "connect_fee", "initial_increment",
                "next_increment")  # fmt: skip
# The keys and palette of one deck, computed by PostgreSQL: a million rates come back as
# one byte string (each rate's key and its index in the palette, big-endian 64-bit each,
# in the keys' order: one sort) and the palette's few thousand rows, instead of a million
# rows through Python. The palette's order (ORDER BY _TERMS_ORDER) numbers its rows in
# both statements. The sort of a million rows wants more than the default work_mem (4 MB:
# it would spill to disk).
_TERMS_ORDER = (
    "rate, effective_from, effective_until NULLS FIRST, connect_fee, initial_increment, "
    "next_increment"
)
_TERMS_SQL = (
    "SELECT DISTINCT rate, effective_from, effective_until, connect_fee, initial_increment, "
    "next_increment FROM {table} WHERE deck_id = %s ORDER BY {order}"
)
# Each rate's palette index is its dense rank in the palette's order (no join).
_ARRAYS_SQL = (
    "SELECT string_agg(int8send(key) || int8send(n), '' ORDER BY key, effective_from) "
    "FILTER (WHERE key IS NOT NULL) FROM (SELECT CASE WHEN length(prefix) > 17 THEN NULL "
    "WHEN prefix = '' THEN 0 ELSE rpad(prefix, 17, '0')::bigint * 32 + length(prefix) END "
    "AS key, effective_from, dense_rank() OVER (ORDER BY {order}) - 1 AS n FROM {table} "
    "WHERE deck_id = %s) AS ranked"
)


def read_deck_rates(
    using: str, deck_ids: Collection[int], version: int | None, *, every: bool = False
) -> dict[int, DeckRates]:
    """The compiled rates of these decks, each read whole; from the host's deck cache
    (routing.deck_cache) when one is set and `version` (the routing version read) given.
    `every`: these are all the database's decks (a full build): the cache's files of the
    others are swept (deck_cache.sweep)."""
    directory = settings.C4ROUTER.get("DECK_CACHE_DIR", "")
    connection = connections[using]
    if (
        not directory
        or version is None
        or connection.vendor != "postgresql"
        or not (deck_ids or every)
    ):
        return {deck_id: _read_deck(using, deck_id) for deck_id in deck_ids}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT concat_ws('|', inet_server_addr(), inet_server_port(), current_database(), "
            "(SELECT oid FROM pg_database WHERE datname = current_database()))"
        )
        (identity,) = cursor.fetchone()
    found = {
        deck_id: deck_cache.cached(
            directory, identity, deck_id, version, lambda d=deck_id: _read_deck(using, d)
        )
        for deck_id in deck_ids
    }
    if every:
        deck_cache.sweep(directory, identity, set(deck_ids))
    return found


def _read_deck(using: str, deck_id: int) -> DeckRates:
    connection = connections[using]
    table = Rate._meta.db_table
    if connection.vendor != "postgresql":  # SQLite: row by row (small decks)
        rows = Rate.objects.using(using).filter(deck_id=deck_id).order_by()
        return DeckRates.from_rows(
            RateRow(prefix, *values)
            for prefix, *values in rows.values_list("prefix", *_RATE_FIELDS).iterator(5000)
        )
    with connection.cursor() as cursor:
        if connection.in_atomic_block:  # (SET LOCAL: the read's transaction only)
            cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(_TERMS_SQL.format(table=table, order=_TERMS_ORDER), [deck_id])
        palette = cursor.fetchall()
        cursor.execute(_ARRAYS_SQL.format(table=table, order=_TERMS_ORDER), [deck_id])
        (pairs_bytes,) = cursor.fetchone()
        cursor.execute(
            f"SELECT prefix, {', '.join(_RATE_FIELDS)} FROM {table} "  # noqa: S608
            "WHERE deck_id = %s AND length(prefix) > 17",
            [deck_id],
        )
        long = [RateRow(*row) for row in cursor.fetchall()]
    pairs = array("q")
    if pairs_bytes is not None:
        pairs.frombytes(bytes(pairs_bytes))
        if sys.byteorder == "little":  # the database sends them big-endian
            pairs.byteswap()
    del pairs_bytes
    keys = pairs[0::2]
    small_terms = array("H" if len(palette) <= 65536 else "I", pairs[1::2])
    del pairs
    overlay: dict[str, list[RateRow]] = {}
    for row in long:
        overlay.setdefault(row.prefix, []).append(row)
    return DeckRates(
        keys,
        small_terms,
        [tuple(row) for row in palette],  # type: ignore[misc]
        {prefix: tuple(rows) for prefix, rows in overlay.items()},
    )


def _read_prefix_rates(
    using: str, deck_id: int, prefixes: Collection[str]
) -> dict[str, tuple[RateRow, ...]]:
    """The rates of these prefixes of a deck now (a prefix with none: an empty tuple)."""
    found: dict[str, list[RateRow]] = {prefix: [] for prefix in prefixes}
    rows = Rate.objects.using(using).filter(deck_id=deck_id, prefix__in=list(prefixes))
    for prefix, *values in rows.values_list("prefix", *_RATE_FIELDS):
        found[prefix].append(RateRow(prefix, *values))
    return {prefix: tuple(rows) for prefix, rows in found.items()}


def _patched_rates(
    using: str,
    current: Table,
    changes: list[tuple[str, int | None, int | None, str | None]],
    version: int,
) -> tuple[RatesReader, list[int]]:
    """The rates reader of a patch: a deck the change log does not name keeps its arrays;
    the prefixes it names are re-read into the deck's overlay; a deck named whole (an
    import), new, or whose overlay would pass OVERLAY_MAX prefixes is re-read whole.
    Also: [prefixes, whole decks] re-read, counted as the reader runs."""
    old = {deck.id: deck.rates for deck in current.carrier_decks.values()}
    old.update((deck.id, deck.rates) for deck in current.tenant_decks.values())
    whole: set[int] = set()
    prefixes: dict[int, set[str]] = {}
    for kind, deck_id, _, prefix in changes:
        if kind != ChangeKind.RATE or deck_id is None:
            continue
        if prefix is None:
            whole.add(deck_id)
        else:
            prefixes.setdefault(deck_id, set()).add(prefix)
    counts = [0, 0]

    def reader(deck_ids: Collection[int]) -> dict[int, DeckRates]:
        compiled = {}
        for deck_id in deck_ids:
            rates = old.get(deck_id)
            touched = prefixes.get(deck_id)
            if (
                touched
                and rates is not None
                and deck_id not in whole
                and len(rates.overlay.keys() | touched) <= OVERLAY_MAX
            ):
                compiled[deck_id] = rates.with_overlay(_read_prefix_rates(using, deck_id, touched))
                counts[0] += len(touched)
                continue
            if rates is None or deck_id in whole or touched:
                compiled[deck_id] = read_deck_rates(using, [deck_id], version)[deck_id]
                counts[1] += 1
            else:
                compiled[deck_id] = rates
        return compiled

    return reader, counts


def _read_health(using: str) -> Iterator[HealthRow]:
    """The gateways that are down (their policy probes them) or demoted (their policy
    demotes): a few rows, healthy gateways have none. A state whose policy no longer probes
    (or no longer demotes) is stale and ignored."""
    rows = (
        GatewayHealth.objects.using(using)
        .filter(Q(state=HealthState.DOWN) | Q(skip_probability__gt=0))
        .values_list(
            "gateway_id", "state", "since", "reason", "skip_probability", "window_attempts",
            "window_failures", "gateway__health_policy_id", "gateway__carrier__health_policy_id",
        )
    )  # fmt: skip
    rows = list(rows)
    if not rows:
        return
    policies = {
        p.id: p
        for p in HealthPolicy.objects.using(using).only("id", "probing", "down_policy", "demote")
    }
    for (gateway_id, state, since, reason, stored, attempts, failures,
         own, carriers) in rows:  # fmt: skip
        policy = policies.get(own or carriers)  # type: ignore[arg-type]
        if policy is None:
            continue
        down = state == HealthState.DOWN and policy.probing
        probability = stored if policy.demote else 0.0
        if not down and not probability:
            continue
        yield HealthRow(
            gateway_id=gateway_id,
            down_since=since if down else None,
            reason=reason,
            down_last=policy.down_policy == DownPolicy.LAST,
            skip_probability=probability,
            failure_share=failures / attempts if attempts else 0.0,
            window_attempts=attempts,
        )


# The two big tables are read with one SQL statement each, through the raw cursor: at
# 1,000,000 rules the ORM's per-row work would be most of the build. A rule's targets come
# aggregated into one text cell ("order:weight:carrier:gateway,..."), with the number the
# database gives that distinct list (1, 2, ...; NULL: no targets). Each list is parsed
# once, at the first rule bearing its number, into that slot of the table's TargetLists:
# rules with the same targets share one tuple, and no dict of a million cells is kept to
# find them (it was 40 MB of a 1M-prefix worker's memory).
_RULE_COLUMNS = (
    "r.id, r.name, r.tenant_id, r.prefix, r.caller_prefix, r.priority, r.weekdays, "
    "r.start_time, r.end_time, r.timezone, r.caller_id, r.from_display, r.extra_headers, "
    # The mode NULL for "priority" (most rules of a big table): no string made per row.
    "r.reject_code, r.reject_reason, NULLIF(r.mode, 'priority'), r.band_percent"
)
_TARGET_CELL = {
    "postgresql": "string_agg(concat_ws(':', t.\"order\", t.weight, coalesce(t.carrier_id, 0), "
    "coalesce(t.gateway_id, 0)), ',' ORDER BY t.\"order\", t.id)",
    "sqlite": "group_concat(t.\"order\" || ':' || t.weight || ':' || coalesce(t.carrier_id, 0) "
    "|| ':' || coalesce(t.gateway_id, 0), ',')",
}


def _id_filter(
    vendor: str, column: str, ids: Collection[int] | Collection[str] | None
) -> tuple[str, list[Any]]:
    if ids is None:
        return "", []
    if vendor == "postgresql":
        return f" AND {column} = ANY(%s)", [list(ids)]
    # SQLite: one JSON parameter, whatever the count (it allows 32,766 parameters at most).
    return f" AND {column} IN (SELECT value FROM json_each(%s))", [json.dumps(list(ids))]  # noqa: S608


_make_target = TargetRow._make


def _parse_targets(cell: str | None, seen: dict[str, TargetRow]) -> tuple[TargetRow, ...]:
    """A rule's targets from their aggregated cell; each distinct target made once (`seen`)."""
    if not cell:
        return ()
    targets = []
    for item in cell.split(","):
        target = seen.get(item)
        if target is None:
            order, weight, carrier_id, gateway_id = item.split(":")
            target = seen[item] = _make_target(
                (int(order), int(weight), int(carrier_id) or None, int(gateway_id) or None)
            )
        targets.append(target)
    targets.sort(key=_by_order)  # stable: the id order within an order
    return tuple(targets)


def _by_order(target: TargetRow) -> int:
    return target.order


def _stream(connection: Any, sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows in batches through a server-side cursor (PostgreSQL): a million rows are never
    all in memory at once, which would leave the worker's memory at that peak for good."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(20_000):
            yield from batch


def _read_rules(
    using: str, ids: Collection[int] | None = None, into: RuleIndexBuilder | None = None
) -> list[RuleRow]:
    """The enabled rules (all, or those of `ids`) with their targets: returned as RuleRows,
    or added to `into` (the plain ones as ints, see table.is_plain)."""
    connection = connections[using]
    vendor = connection.vendor
    rule_filter, rule_params = _id_filter(vendor, "r.id", ids)
    target_filter, target_params = _id_filter(vendor, "t.rule_id", ids)
    # Table names from the models, values as parameters.
    sql = (
        f"WITH agg AS (SELECT t.rule_id, {_TARGET_CELL[vendor]} AS targets "  # noqa: S608
        f"FROM {RouteTarget._meta.db_table} t WHERE TRUE{target_filter} GROUP BY t.rule_id), "
        "lists AS (SELECT targets, row_number() OVER () AS slot "
        "FROM (SELECT DISTINCT targets FROM agg) d) "
        f"SELECT {_RULE_COLUMNS}, agg.targets, coalesce(lists.slot, 0) "
        f"FROM {RouteRule._meta.db_table} r "
        "LEFT JOIN agg ON agg.rule_id = r.id LEFT JOIN lists ON lists.targets = agg.targets "
        f"WHERE r.enabled{rule_filter}"
    )
    # The lists by the database's number: the table's own slots when building a whole
    # table (slot 0 is the empty list), else this read's. (Numbers that only disabled rules
    # bear stay None: never read.)
    lists = into.targets.lists if into is not None else [()]
    seen: dict[str, TargetRow] = {}
    zones: dict[str, ZoneInfo] = {}
    rules = []
    add_plain = into.add_plain if into is not None else None
    for (
        rule_id, name, tenant_id, prefix, caller_prefix, priority, weekdays,
        start_cell, end_cell, tz, caller_id, from_display, extra, reject_code, reject_reason,
        mode, band, cell, slot,
    ) in _stream(connection, sql, target_params + rule_params):  # fmt: skip
        if slot >= len(lists) or lists[slot] is None:
            if slot >= len(lists):
                lists.extend([None] * (slot + 1 - len(lists)))  # type: ignore[list-item]
            lists[slot] = _parse_targets(cell, seen)
        # table.is_plain(), on the columns: no RuleRow for most of a big table's rules.
        if (
            add_plain is not None
            and priority == PLAIN_PRIORITY
            and not (name or caller_prefix or weekdays or caller_id or from_display or extra)
            and start_cell is None
            and reject_code is None
            and mode is None  # priority
            and rule_id <= PLAIN_MAX_ID
        ):
            add_plain(rule_id, tenant_id, prefix, slot)
            continue
        targets = lists[slot]
        window = None
        if weekdays or start_cell is not None:
            start, end = start_cell, end_cell
            if isinstance(start, str):  # SQLite gives times as text
                start, end = dt.time.fromisoformat(start), dt.time.fromisoformat(end)
            zone = zones.get(tz) or zones.setdefault(tz, ZoneInfo(tz))
            window = Window(frozenset(int(day) for day in weekdays), start, end, zone)
        rule = RuleRow(
            id=rule_id,
            prefix=prefix,
            targets=targets,
            tenant_id=tenant_id,
            caller_prefix=caller_prefix,
            priority=priority,
            window=window,
            name=name,
            caller_id=caller_id,
            from_display=from_display,
            extra_headers=_headers(extra) if extra else (),
            reject_code=reject_code or 0,
            reject_reason=reject_reason,
            mode=mode or "priority",
            band_percent=band if band is None else Decimal(str(band)),
        )
        if not rule_ok(rule):  # left out of answers, and reported (routing.answer_gate)
            continue
        if into is not None:
            into.add_row(rule)
        else:
            rules.append(rule)
    return rules


def _read_dids(using: str, ids: Collection[int] | None = None) -> list[DidRow]:
    """The enabled DIDs (all, or those of `ids`)."""
    connection = connections[using]
    did_filter, params = _id_filter(connection.vendor, "id", ids)
    table = Did._meta.db_table
    sql = (
        f"SELECT id, tenant_id, pbx_id, number, match, range_end FROM {table} "  # noqa: S608
        f"WHERE enabled{did_filter}"
    )
    return [DidRow(*row) for row in _stream(connection, sql, params)]


def _read_ported(using: str) -> PortedNumbers:
    """The ported numbers, compiled (routing.engine.lnp), read in numeric order (by length,
    then text: E.164 digits never start with 0), so the builder need not sort them."""
    connection = connections[using]
    table = PortedNumber._meta.db_table
    sql = f"SELECT number, lrn, effective_from FROM {table} ORDER BY length(number), number"  # noqa: S608
    builder = PortedBuilder()
    now = datetime.now(UTC)
    for number, lrn, effective_from in _stream(connection, sql, []):
        builder.add(number, lrn, effective_from, now)
    return builder.finish()


def _read_ported_rows(
    using: str, numbers: Collection[str]
) -> dict[str, tuple[str, datetime | None] | None]:
    """These numbers' rows now (None: no longer ported), for the overlay."""
    connection = connections[using]
    number_filter, params = _id_filter(connection.vendor, "number", numbers)
    table = PortedNumber._meta.db_table
    sql = f"SELECT number, lrn, effective_from FROM {table} WHERE TRUE{number_filter}"  # noqa: S608
    rows: dict[str, tuple[str, datetime | None] | None] = dict.fromkeys(numbers)
    for number, lrn, effective_from in _stream(connection, sql, params):
        rows[number] = (lrn, effective_from)
    return rows


def _read_list_entries(using: str, list_ids: Collection[int]) -> dict[int, ListEntries]:
    """The compiled entries of these lists, read ordered by number (the unique index's
    order): each kind and length fills its sorted array by appending, no sort."""
    if not list_ids:
        return {}
    connection = connections[using]
    list_filter, params = _id_filter(connection.vendor, "number_list_id", list_ids)
    table = NumberListEntry._meta.db_table
    sql = (
        f"SELECT number_list_id, match, number, range_end FROM {table} "  # noqa: S608
        f"WHERE TRUE{list_filter} ORDER BY number_list_id, number"
    )
    builders = {list_id: ListEntriesBuilder() for list_id in list_ids}
    for list_id, match, number, range_end in _stream(connection, sql, params):
        builders[list_id].add(match, number, range_end)
    return {list_id: builder.finish() for list_id, builder in builders.items()}


class TableBuildError(Exception):
    """The database answered, but no table could be made of what it holds (the cause is
    chained). Not an outage: /readyz says "table build failing", and the holder retries
    with backoff rather than at every poll."""

    def __init__(self, version: int, message: str) -> None:
        super().__init__(message)
        self.version = version


def _first_line(exc: BaseException, *, named: bool = True) -> str:
    """The first line of an error's text, after its type's name (named)."""
    text = str(exc).strip()
    if not text:
        return repr(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if named else text.splitlines()[0]


def update_from_database(
    current: Table | None, using: str | None = None, *, cache: bool = True
) -> Table | None:
    """A new table if the routing data changed since `current` (None if not).

    Patched from the change log when only some rules and DIDs changed (milliseconds,
    whatever the table's size), else built whole. One snapshot for all of it.
    """
    using = using or routing_db_alias()
    started = time.perf_counter()
    with _snapshot(using):
        version, health_version = current_versions(using)
        if current is not None and version == current.version:
            if health_version == current.health_version:
                return None
            # Only carrier health moved: its few rows, into the same table.
            table = with_health(current, tuple(_read_health(using)), health_version)
            logger.info(
                "routing table v%s: health v%s applied in %.3fs (%d gateways down or demoted)",
                version, health_version, time.perf_counter() - started, len(table.health),
            )  # fmt: skip
            return table
        try:
            table, how = _update(using, current, version, cache=cache)
        except (OperationalError, InterfaceError):
            raise  # the connection failed halfway: the database, not the data
        except Exception as exc:
            raise TableBuildError(version, _first_line(exc)) from exc
        table = dataclasses.replace(table, health_version=health_version)
    logger.info(
        "routing table v%s %s in %.3fs: %s",
        version,
        how,
        time.perf_counter() - started,
        ", ".join(f"{count} {name}" for name, count in table.counts.items()),
    )
    return table


def _update(
    using: str, current: Table | None, version: int, *, cache: bool = True
) -> tuple[Table, str]:
    """The table at `version`, patched from `current` or built whole, and how."""
    changes = None if current is None else changes_between(using, current.version, version)
    ported_moved: set[str] = set()
    if changes is not None:
        ported_moved = {key for kind, _, _, key in changes if kind == ChangeKind.PORTED and key}
    if (
        current is None
        or changes is None
        or current.target_lists.needs_rebuild
        or len(current.ported.overlay) + len(ported_moved) > PORTED_OVERLAY_MAX_ROWS
    ):
        table = _build_all(using, version, cache=cache)
        how = "built"
    else:
        rules_moved = tuple(
            (object_id, (tenant_id, key) if key is not None else None)
            for kind, object_id, tenant_id, key in changes
            if kind == ChangeKind.RULE
        )
        dids_moved = tuple(
            (object_id, key) for kind, object_id, _, key in changes if kind == ChangeKind.DID
        )
        rates, reread = _patched_rates(using, current, changes, version)
        small = _read_small(using, rates)
        lists_changed = frozenset(
            object_id
            for kind, object_id, _, _ in changes
            if kind == ChangeKind.LIST and object_id is not None
        )
        enabled = {row.id for row in small.number_lists}
        patch = Patch(
            small=small,
            rules_moved=rules_moved,
            rules=tuple(_read_rules(using, {i for i, _ in rules_moved})) if rules_moved else (),
            dids_moved=dids_moved,
            dids=tuple(_read_dids(using, {i for i, _ in dids_moved})) if dids_moved else (),
            lists_changed=lists_changed,
            list_entries=_read_list_entries(using, sorted(lists_changed & enabled)),
        )
        if ported_moved:
            ported = current.ported.patched(_read_ported_rows(using, ported_moved))
            patch = dataclasses.replace(patch, small=dataclasses.replace(small, ported=ported))
        table = patch_table(current, patch, version=version)
        how = (
            f"patched ({len(rules_moved)} rule, {len(dids_moved)} DID and "
            f"{len(lists_changed)} number list changes; {reread[0]} rate prefixes and "
            f"{reread[1]} decks re-read"
            + (f"; {len(ported_moved)} ported number changes)" if ported_moved else ")")
        )
    return table, how


def build_from_database(using: str | None = None) -> Table:
    """The whole table, built from every row."""
    table = update_from_database(None, using)
    assert table is not None
    return table


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim; a no-op
    elsewhere). A build frees tens of MB of database read buffers and big temporary
    dicts, which would otherwise stay in the worker's RSS: 10 MB at 1M prefixes."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


# What a failed attempt failed on: the database did not answer (a cheap check, retried
# soon), or it answered but no table could be built from its rows (a whole build each time).
DATABASE = "database"
BUILD = "build"
# A failed attempt is retried after the poll interval, then twice as long each time, up to
# these: a build that keeps failing must not cost a whole table build 4 times a second (at
# 1M prefixes, a build is 6 s of CPU), nor one per routing request.
BUILD_RETRY_MAX_SECONDS = 30.0
DATABASE_RETRY_MAX_SECONDS = 5.0
FAILURE_LOG_EVERY_SECONDS = 60.0


@dataclass
class HolderStatus:
    """What the holder knows about its table's freshness (for /readyz and /metrics)."""

    last_check_ok_at: float | None = None  # the database last answered (time.time())
    last_error: str = ""
    error_kind: str = ""  # DATABASE or BUILD while attempts fail, else ""
    consecutive_failures: int = 0
    reload_failures: int = 0
    build_failures: int = 0
    failed_version: int | None = None  # the data version whose build failed
    retry_at: float = 0.0  # time.monotonic() before which no new attempt starts
    last_logged_at: float = float("-inf")
    last_build_seconds: float = 0.0
    builds: int = 0


class TableHolder:
    """One routing table per process, swapped whole when the data changes.

    At most one build runs at a time in a process (self._lock): the poll thread and the
    requests that find no table only ever try to take it, and a failed attempt is retried
    with exponential backoff (try_refresh), never once per request.
    """

    def __init__(self) -> None:
        self.table: Table | None = None
        self.status = HolderStatus()
        self._lock = threading.Lock()  # held while a table is read and built
        self._thread_lock = threading.Lock()  # starting the poll thread: never behind a build
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = threading.Event()

    # -- request path: no I/O, no lock ------------------------------------------------------
    def get(self) -> Table | None:
        return self.table

    # -- loading ---------------------------------------------------------------------------------
    def refresh(self, *, force: bool = False) -> bool:
        """Patch or rebuild if the version moved (force: rebuild); True when a new table
        was swapped in. Waits for a build in flight.

        Raises on database errors (TableBuildError when the database answered but the
        table could not be built): the caller decides how loudly to say so.
        """
        with self._lock:
            return self._refresh_locked(force=force)

    def _refresh_locked(self, *, force: bool) -> bool:
        started = time.perf_counter()
        try:
            # Forced: data may have been written around the version bump: no shared deck
            # file of this version is trusted.
            table = update_from_database(None if force else self.table, cache=not force)
        except TableBuildError:
            self.status.last_check_ok_at = time.time()  # the database did answer
            raise
        self.status.last_check_ok_at = time.time()
        if table is None:
            return False
        self.status.last_build_seconds = time.perf_counter() - started
        self.status.builds += 1
        metrics.record_table(table, self.status.last_build_seconds)
        self.table = table  # the swap: readers see the old or the new table, whole
        # The table is millions of long-lived objects: keep them out of the cyclic
        # garbage collector's scans, which would otherwise walk them all every few
        # thousand requests. (Old tables are freed by reference counting.)
        gc.freeze()
        release_free_memory()
        return True

    def try_refresh(self, *, check_version: bool = False) -> None:
        """Patch or rebuild if the version moved, unless a build is already running or a
        failed attempt is backing off; failures are noted (log, /readyz, /metrics), never
        raised.

        check_version (the poll thread): while a failed build backs off, the version is
        still read (one tiny query, as every poll does), and a new version, such as an
        admin's fix, is tried at once.
        """
        status = self.status
        interval = settings.C4ROUTER["RELOAD_INTERVAL_MS"] / 1000
        # Half an interval early is on time: the poll thread's waits are not exact.
        if time.monotonic() < status.retry_at - interval / 2 and not (
            check_version and self._failed_version_moved()
        ):
            return
        if not self._lock.acquire(blocking=False):
            return  # a build is in flight: one at a time, whoever asks
        try:
            self._refresh_locked(force=False)
        except TableBuildError as exc:
            self._note_failure(BUILD, str(exc), exc)
        except Exception as exc:
            self._note_failure(DATABASE, _first_line(exc, named=False), exc)
            # Drop the broken connection: the next attempt opens a fresh one.
            connections[routing_db_alias()].close()
        else:
            if status.consecutive_failures:
                logger.warning(
                    "routing table: %s after %d failed attempts; serving v%s",
                    "database reachable again" if status.error_kind == DATABASE else "built again",
                    status.consecutive_failures,
                    self.table.version if self.table else "?",
                )
            status.consecutive_failures = 0
            status.last_error = status.error_kind = ""
            status.failed_version = None
            status.retry_at = 0.0
        finally:
            self._lock.release()

    def _failed_version_moved(self) -> bool:
        if self.status.error_kind != BUILD:
            return False
        try:
            return current_routing_version(routing_db_alias()) != self.status.failed_version
        except Exception:
            return False  # the next attempt, when due, says what is wrong

    def ensure_loaded(self) -> Table | None:
        """The table, building it now if this process has none yet (start-up, first
        request); a request never waits for, nor starts, a second build."""
        if self.table is None:
            self.try_refresh()
        self.start_polling()
        return self.table

    # -- the poller ------------------------------------------------------------------------------
    def start_polling(self) -> None:
        if not settings.C4ROUTER.get("RELOAD_THREAD", True):
            return
        pid = os.getpid()
        if self._thread is not None and self._thread.is_alive() and self._pid == pid:
            return
        with self._thread_lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == pid:
                return
            self._pid = pid
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._poll_forever, name="c4router-table-reload", daemon=True
            )
            self._thread.start()

    def stop_polling(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _poll_forever(self) -> None:
        interval = settings.C4ROUTER["RELOAD_INTERVAL_MS"] / 1000
        while not self._stop.wait(interval):
            # The routing path's counts reach /metrics even when no query comes to flush
            # them (an idle worker), within a poll interval.
            metrics.TALLY.flush(wait=False)
            self.try_refresh(check_version=True)

    def _note_failure(self, kind: str, message: str, exc: BaseException) -> None:
        status = self.status
        metrics.RELOAD_FAILURES.inc()
        if kind == BUILD:
            metrics.BUILD_FAILURES.inc()
            status.build_failures += 1
            status.failed_version = getattr(exc, "version", None)
        else:
            metrics.DATABASE_ERRORS.inc()
        status.consecutive_failures += 1
        status.reload_failures += 1
        status.last_error = message
        status.error_kind = kind
        interval = settings.C4ROUTER["RELOAD_INTERVAL_MS"] / 1000
        cap = BUILD_RETRY_MAX_SECONDS if kind == BUILD else DATABASE_RETRY_MAX_SECONDS
        delay = min(interval * 2 ** min(status.consecutive_failures - 1, 20), cap)
        now = time.monotonic()
        status.retry_at = now + delay
        # Say it at once, then about every minute, not at every attempt.
        if status.consecutive_failures > 1 and now - status.last_logged_at < (
            FAILURE_LOG_EVERY_SECONDS
        ):
            return
        status.last_logged_at = now
        table = self.table
        if kind == BUILD:
            serving = f"still serving v{table.version}" if table else "no table yet"
            logger.error(
                "routing table: table build failing (%s); %s; next try in %.1fs",
                message, serving, delay,
                exc_info=exc if status.consecutive_failures == 1 else None,
            )  # fmt: skip
        elif table is None:
            logger.error("routing table: database unreachable and no table yet: %s", message)
        else:
            age = (datetime.now(UTC) - table.built_at).total_seconds()
            logger.error(
                "routing table: database unreachable (%s); still serving v%s built %.0fs ago",
                message,
                table.version,
                age,
            )


holder = TableHolder()
