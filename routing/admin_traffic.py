"""The admin's Traffic pages: the whole traffic, one carrier's, one tenant's.

Each page also has the range's money (the answered least-cost calls: cost, revenue, margin
per currency; per carrier and per customer on the whole traffic's page, per customer on a
carrier's, per carrier on a customer's), from the money rollups.

Staff only (admin_view) and read-only, for users who may view call records. Every figure
comes from the 5-minute and hourly rollups (routing/cdr/rollups.py), never from a scan of
the records: a page over a day of 10 million attempts answers in well under a second
(bench/run's records section). The figures go to the page as one JSON document
(json_script); routing/static/routing/traffic.js draws them with plotly.js, which the
`plotly` package from PyPI ships (c4router/staticfiles.py serves that one file).

Each page also shows its capacity limits now (README "Capacity limits"): the rows that have
one (the database), their calls in progress and refusals from the counters Kamailio keeps in
Redis, read as /metrics reads them (routing.capacity.counters), whatever the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.db.models import Model, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from routing import capacity
from routing.cdr import rollups
from routing.cdr.rollups import Money, Stats
from routing.models import Carrier, Gateway, IpSource, Pbx, Tenant

PERMISSION = "routing.view_callrecord"


@dataclass(frozen=True)
class Range:
    """A range the selector offers: its length and the step of its charts."""

    key: str
    label: str
    seconds: int
    step: int


RANGES = {
    r.key: r
    for r in (
        Range("1h", "last hour", 3600, 300),
        Range("6h", "last 6 hours", 6 * 3600, 300),
        # Hourly steps from a day on: the hourly sums answer them (rollups.parts()); a day
        # in 15-minute steps would add up 288 five-minute rows per key (bench/run: records).
        Range("24h", "last 24 hours", 24 * 3600, 3600),
        Range("7d", "last 7 days", 7 * 24 * 3600, 3600),
    )
}
DEFAULT_RANGE = "24h"
TOP = 10
# Limits listed on a page (the busiest first): the whole traffic may have thousands.
CAPACITY_ROWS = 50


@dataclass(frozen=True)
class LimitKind:
    """A kind of row that may have capacity limits: its letter in Kamailio's keys (see
    routing.engine.table.limit_item), its label, its model, the fields of its name."""

    letter: str
    label: str
    model: type[Model]
    name_fields: tuple[str, ...]


LIMIT_KINDS = (
    LimitKind("t", "tenant", Tenant, ("name",)),
    LimitKind("p", "PBX", Pbx, ("tenant__name", "name")),
    LimitKind("s", "IP source", IpSource, ("cidr",)),
    LimitKind("c", "carrier", Carrier, ("name",)),
    LimitKind("g", "gateway", Gateway, ("carrier__name", "name")),
)


class RangeForm(forms.Form):
    range = forms.ChoiceField(choices=[(r.key, r.label) for r in RANGES.values()], required=False)
    end = forms.DateTimeField(
        required=False,
        help_text="The end of the range (ISO 8601, UTC unless it says otherwise); empty: now.",
    )

    def clean_end(self) -> datetime | None:
        end = self.cleaned_data["end"]
        if end is not None and not (2000 <= end.year <= 2999):
            raise forms.ValidationError("The end must be between the years 2000 and 2999.")
        return end


def _ceil(moment: datetime, seconds: int) -> datetime:
    stamp = moment.timestamp()
    whole = int(stamp) - int(stamp) % seconds
    if whole < stamp:
        whole += seconds
    return datetime.fromtimestamp(whole, UTC)


def _window(form: RangeForm) -> tuple[Range, datetime, datetime, bool]:
    """The range chosen, its [start, end) (end on a step boundary, after the last record
    it shows), and whether the end is now."""
    chosen = RANGES[form.cleaned_data.get("range") or DEFAULT_RANGE]
    given = form.cleaned_data.get("end")
    end = _ceil(given or timezone.now(), chosen.step)
    return chosen, end - timedelta(seconds=chosen.seconds), end, given is None


def _ratio(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value * 100, digits)


def _round(value: float | None, digits: int = 1) -> float | None:
    if value is None:
        return None
    return round(value) if digits == 0 else round(value, digits)


def _figures(stats: Stats) -> dict[str, Any]:
    """What a table row or a summary shows of a group of buckets."""
    return {
        "attempts": stats.attempts,
        "answered": stats.answered,
        "calls": stats.calls,
        "calls_answered": stats.calls_answered,
        "asr": _ratio(stats.asr),
        "ner": _ratio(stats.ner),
        "acd": _round(stats.acd_seconds),
        "pdd_p50": _round(stats.pdd_p50_ms, 0),
        "pdd_p95": _round(stats.pdd_p95_ms, 0),
        "failed": sum(stats.failed.values()),
    }


def _series(start: datetime, end: datetime, step: int, **filters: object) -> dict[str, Any]:
    """The charts' time series: calls and attempts per second, the attempts' outcomes per
    step, ASR and PDD p50 per step (null where a step had no attempt), and the money per
    step and currency. The step holding now is divided by the seconds of it that have
    passed, not by the whole step."""
    rows = rollups.series(start, end, step, **filters)
    now = timezone.now()
    out: dict[str, list[Any]] = {
        "t": [], "calls_per_s": [], "attempts_per_s": [], "answered": [], "failed_4xx": [],
        "failed_5xx": [], "failed_6xx": [], "other": [], "asr": [], "pdd_p50": [],
    }  # fmt: skip
    for moment, stats in rows:
        failed = stats.failed
        seconds = min(step, max(1.0, (now - moment).total_seconds()))
        out["t"].append(moment.isoformat())
        out["calls_per_s"].append(round(stats.calls / seconds, 6))
        out["attempts_per_s"].append(round(stats.attempts / seconds, 6))
        out["answered"].append(stats.answered)
        for cls in ("4xx", "5xx", "6xx"):
            out[f"failed_{cls}"].append(failed[cls])
        out["other"].append(stats.attempts - stats.answered - sum(failed.values()))
        out["asr"].append(_ratio(stats.asr))
        out["pdd_p50"].append(_round(stats.pdd_p50_ms, 0))
    return {"step": step, **out, "money": _money_series(start, end, step, **filters)}


def _money_series(
    start: datetime, end: datetime, step: int, **filters: object
) -> dict[str, dict[str, list[float | None]]]:
    """The money chart's series per currency: cost, revenue and margin per step (revenue
    and margin null in a step without a call with a customer rate); {} when no call of the
    range was priced."""
    out = {}
    for currency, steps in rollups.money_series(start, end, step, **filters).items():
        line: dict[str, list[float | None]] = {"cost": [], "revenue": [], "margin": []}
        for _moment, money in steps:
            margin = money.margin
            line["cost"].append(float(money.cost.quantize(AMOUNT, ROUND_HALF_UP)))
            line["revenue"].append(
                float(money.revenue.quantize(AMOUNT, ROUND_HALF_UP)) if money.sold else None
            )
            line["margin"].append(
                float(margin.quantize(AMOUNT, ROUND_HALF_UP)) if margin is not None else None
            )
        out[currency] = line
    return out


def _records_link(start: datetime, end: datetime, **params: object) -> str:
    """The call records list of the range (and of a carrier, tenant or SIP code)."""
    query = {
        "start_time__gte": start.isoformat(),
        "start_time__lt": end.isoformat(),
        **{name: str(value) for name, value in params.items()},
    }
    return reverse("admin:routing_callrecord_changelist") + "?" + urlencode(query)


def _codes(start: datetime, end: datetime, **filters: object) -> list[dict[str, Any]]:
    link_filters = {"carrier": filters["carrier_id"]} if "carrier_id" in filters else {}
    if "tenant_id" in filters:
        link_filters["tenant"] = filters["tenant_id"]
    return [
        {
            "code": code,
            "attempts": count,
            "records": _records_link(start, end, code=code, kind__exact="attempt", **link_filters),
        }
        for code, count in rollups.top_codes(start, end, TOP, **filters)
    ]


AMOUNT = Decimal("0.0001")


def _money_row(name: str, page: str, money: Money) -> dict[str, Any]:
    """One line of a money table: amounts to 4 places (the records and the CSV keep 6)."""
    margin = money.margin
    return {
        "name": name,
        "page": page,
        "currency": money.currency,
        "priced": money.priced,
        "billed_minutes": round(money.billed_seconds / 60, 1),
        "cost": money.cost.quantize(AMOUNT, ROUND_HALF_UP),
        "revenue": money.revenue.quantize(AMOUNT, ROUND_HALF_UP) if money.sold else None,
        "margin": margin.quantize(AMOUNT, ROUND_HALF_UP) if margin is not None else None,
        "margin_percent": money.margin_percent,
    }


def _money_tables(
    start: datetime, end: datetime, query: str, by: tuple[str, ...], **filters: object
) -> list[dict[str, Any]]:
    """The Money module: the range's total per currency, then per carrier and/or per
    customer (`by`), each line one currency; [] when no call of the range was priced."""
    total = rollups.money_totals(start, end, **filters)
    if not total:
        return []
    tables = [{"id": "money-total", "title": "Total", "rows": [
        _money_row("all", "", money) for money in total
    ]}]  # fmt: skip
    for dimension in by:
        if dimension == "carrier_id":
            names, title, view, none = (
                _names(Carrier),
                "Per carrier",
                "traffic-carrier",
                "(no carrier)",
            )
        else:
            names, title, view, none = (
                _names(Tenant),
                "Per customer",
                "traffic-tenant",
                "(no tenant)",
            )
        grouped = rollups.money_by(dimension, start, end, **filters)
        rows = [
            _money_row(
                names.get(pk) or (f"#{pk}" if pk else none),  # type: ignore[call-overload]
                reverse(view, args=[pk]) + query if pk else "",
                money,
            )
            for pk, moneys in sorted(grouped.items(), key=lambda item: -item[1][0].cost)
            for money in moneys
        ]
        tables.append(
            {"id": f"money-{dimension.removesuffix('_id')}", "title": title, "rows": rows}
        )
    return tables


def _names(model: type[Carrier] | type[Tenant]) -> dict[int, str]:
    return dict(model.objects.values_list("pk", "name"))


def _carrier_rows(
    names: dict[int, str], hour: dict[int | str, Stats], day: dict[int | str, Stats], query: str
) -> list[dict[str, Any]]:
    """One row per carrier seen in the last day: its last hour and last day side by side."""
    rows = []
    for pk in sorted(day, key=lambda key: (-day[key].attempts, str(key))):
        rows.append(
            {
                "id": pk,
                "name": names.get(pk) or ("(no carrier)" if not pk else f"#{pk}"),  # type: ignore[call-overload]
                "page": reverse("traffic-carrier", args=[pk]) + query if pk else "",
                "hour": _figures(hour[pk]) if pk in hour else None,
                "day": _figures(day[pk]),
            }
        )
    return rows


def _limits_of(filters: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with a limit among those `filters` selects (kind letter -> filter; a kind
    absent: none of it), in the order of LIMIT_KINDS."""
    limited = Q(max_calls__isnull=False) | Q(max_cps__isnull=False)
    rows = []
    for kind in LIMIT_KINDS:
        if kind.letter not in filters:
            continue
        query = kind.model.objects.filter(limited, **filters[kind.letter])  # type: ignore[attr-defined]
        for pk, max_calls, max_cps, *names in query.order_by("pk").values_list(
            "pk", "max_calls", "max_cps", *kind.name_fields
        ):
            rows.append(
                {
                    "key": f"{kind.letter}{pk}",
                    "kind": kind.label,
                    "name": " / ".join(str(n) for n in names),
                    "admin": reverse(
                        f"admin:routing_{kind.model._meta.model_name}_change", args=[pk]
                    ),
                    "max_calls": max_calls,
                    "max_cps": max_cps,
                    # From Redis (None: not read).
                    "in_progress": None,
                    "refused_calls": None,
                    "refused_cps": None,
                    "full_percent": None,
                }
            )
    return rows


def _capacity(filters: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The page's limits now: each row with a limit, its calls in progress and refusals
    (from Redis, for all the Kamailio nodes); None when no row of the page has a limit."""
    rows = _limits_of(filters)
    if not rows:
        return None
    out: dict[str, Any] = {"enforced": settings.C4ROUTER_CAPACITY["ENABLED"], "error": ""}
    if out["enforced"]:
        import redis

        try:
            figures = capacity.counters([row["key"] for row in rows])
        except redis.RedisError as exc:
            out["error"] = f"Redis did not answer ({exc.__class__.__name__}): no counters shown."
        else:
            for row in rows:
                row.update(figures[row["key"]])
                row["refused"] = row["refused_calls"] + row["refused_cps"]
                if row["max_calls"]:
                    row["full_percent"] = round(100 * row["in_progress"] / row["max_calls"])

            def busiest(row: dict[str, Any]) -> tuple[Any, ...]:
                return (-(row["full_percent"] or 0), -row["in_progress"], -row["refused"])

            rows.sort(key=busiest)  # stable: LIMIT_KINDS' order among equals
    out["rows"] = rows[:CAPACITY_ROWS]
    out["more"] = max(0, len(rows) - CAPACITY_ROWS)
    return out


def _page(
    request: HttpRequest,
    title: str,
    scope: str,
    build: Any,
    limits: dict[str, dict[str, Any]],
    **extra: Any,
) -> HttpResponse:
    form = RangeForm(request.GET)
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": title,
        "scope": scope,
        "form": form,
        "capacity": _capacity(limits),
        **extra,
    }
    if not form.is_valid():
        context["ranges"] = _selector(request, None)
        return TemplateResponse(request, "admin/routing/traffic.html", context, status=400)
    chosen, start, end, live = _window(form)
    context.update(
        ranges=_selector(request, chosen.key),
        range=chosen,
        start=start,
        end=end,
        live=live,
        query="?" + urlencode({"range": chosen.key, **({} if live else {"end": end.isoformat()})}),
    )
    context.update(build(chosen, start, end, context["query"]))
    return TemplateResponse(request, "admin/routing/traffic.html", context)


def _selector(request: HttpRequest, current: str | None) -> list[dict[str, Any]]:
    end = request.GET.get("end")
    return [
        {
            "key": r.key,
            "label": r.label,
            "current": r.key == current,
            "href": "?" + urlencode({"range": r.key, **({"end": end} if end else {})}),
        }
        for r in RANGES.values()
    ]


@permission_required(PERMISSION, raise_exception=True)
def traffic(request: HttpRequest) -> HttpResponse:
    """All the traffic: calls per second, outcomes, carriers' ASR/ACD over the last hour
    and day, top failure codes, top customers."""

    def build(chosen: Range, start: datetime, end: datetime, query: str) -> dict[str, Any]:
        summary = rollups.totals(start, end)
        if not (summary.attempts or summary.calls):
            return {"empty": True}
        carriers = dict(Carrier.objects.values_list("pk", "name"))
        tenants = dict(Tenant.objects.values_list("pk", "name"))
        hour = rollups.carrier_stats(end - timedelta(hours=1), end)
        day = rollups.carrier_stats(end - timedelta(days=1), end)
        carrier_rows = _carrier_rows(carriers, hour, day, query)  # type: ignore[arg-type]
        customers = [
            {
                "id": pk,
                "name": tenants.get(pk) or (f"#{pk}" if pk else "(no tenant)"),
                "page": reverse("traffic-tenant", args=[pk]) + query if pk else "",
                **_figures(stats),
            }
            for pk, stats in rollups.top_tenants(start, end, TOP)
        ]
        codes = _codes(start, end)
        data = {
            "series": _series(start, end, chosen.step),
            "carriers": [
                {"name": row["name"], "hour": row["hour"], "day": row["day"]}
                for row in carrier_rows
            ],
            "codes": [{"code": c["code"], "attempts": c["attempts"]} for c in codes],
            "customers": [{"name": c["name"], "calls": c["calls"]} for c in customers],
        }
        return {
            "summary": _figures(summary),
            "carrier_rows": carrier_rows,
            "codes": codes,
            "customers": customers,
            "chart_data": data,
            "records": _records_link(start, end),
            "money_tables": _money_tables(start, end, query, ("carrier_id", "tenant_id")),
        }

    everything: dict[str, dict[str, Any]] = {kind.letter: {} for kind in LIMIT_KINDS}
    return _page(request, "Traffic", "all", build, everything)


@permission_required(PERMISSION, raise_exception=True)
def carrier_traffic(request: HttpRequest, pk: int) -> HttpResponse:
    """One carrier: its attempts per second, outcomes, ASR and PDD over time, its gateways,
    its failure codes."""
    carrier = get_object_or_404(Carrier, pk=pk)

    def build(chosen: Range, start: datetime, end: datetime, query: str) -> dict[str, Any]:
        summary = rollups.totals(start, end, carrier_id=pk)
        if not (summary.attempts or summary.calls):
            return {"empty": True}
        gateways = dict(Gateway.objects.filter(carrier_id=pk).values_list("pk", "name"))
        by_gateway = rollups.stats_by("gateway_id", start, end, carrier_id=pk)
        parts = [
            {
                # Gateway 0: the calls this carrier brought in (their routes go to a PBX).
                "name": gateways.get(gw) or (f"#{gw}" if gw else "(calls from this carrier)"),  # type: ignore[call-overload]
                **_figures(stats),
            }
            for gw, stats in by_gateway.items()
        ]
        codes = _codes(start, end, carrier_id=pk)
        return {
            "summary": _figures(summary),
            "parts": parts,
            "parts_title": "Gateways",
            "codes": codes,
            "chart_data": {
                "series": _series(start, end, chosen.step, carrier_id=pk),
                "codes": [{"code": c["code"], "attempts": c["attempts"]} for c in codes],
                "parts": [{"name": p["name"], "attempts": p["attempts"]} for p in parts],
            },
            "records": _records_link(start, end, carrier=pk),
            "money_tables": _money_tables(start, end, query, ("tenant_id",), carrier_id=pk),
        }

    return _page(
        request,
        f"Traffic of carrier {carrier.name}",
        "carrier",
        build,
        # The carrier's own limits, its gateways' and its IP sources'.
        {"c": {"pk": pk}, "g": {"carrier_id": pk}, "s": {"carrier_id": pk}},
        subject=carrier,
        subject_admin=reverse("admin:routing_carrier_change", args=[pk]),
    )


@permission_required(PERMISSION, raise_exception=True)
def tenant_traffic(request: HttpRequest, pk: int) -> HttpResponse:
    """One tenant (customer): its calls per second, outcomes, ASR over time, the carriers
    its calls went to, its failure codes."""
    tenant = get_object_or_404(Tenant, pk=pk)

    def build(chosen: Range, start: datetime, end: datetime, query: str) -> dict[str, Any]:
        summary = rollups.totals(start, end, tenant_id=pk)
        if not (summary.attempts or summary.calls):
            return {"empty": True}
        carriers = dict(Carrier.objects.values_list("pk", "name"))
        by_carrier = rollups.stats_by("carrier_id", start, end, tenant_id=pk)
        parts = [
            {
                "name": carriers.get(c) or ("(no carrier)" if not c else f"#{c}"),  # type: ignore[call-overload]
                "page": reverse("traffic-carrier", args=[c]) + query if c else "",
                **_figures(stats),
            }
            for c, stats in by_carrier.items()
        ]
        codes = _codes(start, end, tenant_id=pk)
        return {
            "summary": _figures(summary),
            "parts": parts,
            "parts_title": "Carriers",
            "codes": codes,
            "chart_data": {
                "series": _series(start, end, chosen.step, tenant_id=pk),
                "codes": [{"code": c["code"], "attempts": c["attempts"]} for c in codes],
                "parts": [{"name": p["name"], "attempts": p["attempts"]} for p in parts],
            },
            "records": _records_link(start, end, tenant=pk),
            "money_tables": _money_tables(start, end, query, ("carrier_id",), tenant_id=pk),
        }

    return _page(
        request,
        f"Traffic of customer {tenant.name}",
        "tenant",
        build,
        # The tenant's own limits, its PBXs' and their IP sources'.
        {"t": {"pk": pk}, "p": {"tenant_id": pk}, "s": {"pbx__tenant_id": pk}},
        subject=tenant,
        subject_admin=reverse("admin:routing_tenant_change", args=[pk]),
    )
