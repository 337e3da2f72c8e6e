"""One message from Kamailio -> one call record row (a dict of CallRecord's columns).

The gate between what Kamailio wrote and the database: every field is checked or cut to
its column (numbers are numbers, times are times near now, strings lose control characters
and fit), and a message that cannot be a record raises RecordError with the reason (the
ingester sets it aside in the rejected queue, nothing is lost). Two shapes arrive
(kamailio_cfg/kamailio.cfg, "call records"):

- an attempt, from acc (acc_json): its core fields (`time` of the attempt's final reply,
  `callid`, `sip_code`, `sip_reason`, tags) and our extras (`attempt`, `t0` the call's
  INVITE, `tb` the attempt's INVITE sent, `t18x` its first 18x, `reason_hdr`, `src`,
  `caller_in`, `callee_in`, `j_call` and `j_route`: the ids c4router's answer gave);
- a call, from acc's dialog CDR: `start_time`, `end_time`, `duration` and dialog variables
  (`callid`, `t0`, `attempts`, `code`, `reason`, `reason_hdr`, `t18x`, `tans` the answer,
  `bye` who hung up, `j_call`, `j_route` the last attempt's ids).

From the answer's ids also: `lrn` (j_call: the routing number of a ported called number)
and a least-cost route's rates (j_route: `rate`, `currency`, `fee`, `inc`, `sell`, `sfee`,
`sinc`), kept on both kinds; an answered call is priced from them (pricing.py).

Times come as Unix seconds ("1795697058.569076" or a number); an unset value as "".
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson

from routing.cdr.pricing import Terms, charge
from routing.models.cdr import CdrKind, Hangup

# Codes a user, not the network, answered with: they count as "effective" in the NER
# (ITU-T E.425: user busy, no answer, rejection, caller gave up).
USER_CODES = frozenset({480, 486, 487, 600, 603})

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_Q850 = re.compile(r"\bQ\.850\b[^,]*?;\s*cause\s*=\s*(\d{1,3})", re.IGNORECASE)
# How far from now a record's start may be: older ones are past any retention, newer ones
# come from a broken clock.
MAX_AGE = timedelta(days=3660)
MAX_AHEAD = timedelta(days=1)

COLUMNS = (
    "kind", "call_id", "attempt", "start_time", "end_time", "direction", "tenant_id", "pbx_id",
    "source_carrier_id", "rule_id", "carrier_id", "gateway_id", "attempts", "source_ip",
    "caller_in", "callee_in", "caller", "callee", "caller_out", "callee_out", "sip_code",
    "sip_reason", "q850_cause", "pdd_ms", "answer_ms", "duration_ms", "hangup", "lrn",
    "currency", "rate", "sell_rate", "billed_seconds", "cost", "revenue", "margin",
)  # fmt: skip
# A rate in the answer: a non-negative decimal string (str() of a Decimal: a computed one,
# e.g. a pricing policy's cost + 20%, may have more places or an exponent: "0E-7"), stored
# rounded half up to the records' 6 places.
_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,24})?(?:[eE][-+]?[0-9]{1,2})?")
_PLACES = Decimal("0.000001")
_RATE_MAX = Decimal(10) ** 12
_CURRENCY = re.compile(r"[A-Z]{3}")
_INCREMENTS = re.compile(r"([0-9]{1,5})/([0-9]{1,5})")


# The columns of a record with no portability and no price (what a row built by other code
# than parse_message, e.g. the demo's, starts from).
UNPRICED: dict[str, Any] = {
    "lrn": "", "currency": "", "rate": None, "sell_rate": None, "billed_seconds": None,
    "cost": None, "revenue": None, "margin": None,
}  # fmt: skip


class RecordError(ValueError):
    """A message that is not a call record: the message says what is wrong."""


def parse_message(body: bytes, now: datetime | None = None) -> dict[str, Any]:
    """The CallRecord columns of one message (see the module docstring)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RecordError("not a JSON object")
    now = now or datetime.now(UTC)
    if "duration" in data and "start_time" in data:
        row = _call(data)
    elif "sip_code" in data and "callid" in data:
        row = _attempt(data)
    else:
        raise RecordError("neither an attempt (sip_code, callid) nor a call (start_time, duration)")
    start = row["start_time"]
    if not now - MAX_AGE <= start <= now + MAX_AHEAD:
        raise RecordError(f"t0: {start.isoformat()} is too far from now")
    return row


def _attempt(data: dict[str, Any]) -> dict[str, Any]:
    call, route = _object(data, "j_call"), _object(data, "j_route")
    start = _time(data, "t0", required=True)
    sent = _time(data, "tb")
    end = _time(data, "time")
    code = _int(data, "sip_code", 100, 699, required=True)
    row = _common(data, call, route, start)
    row.update(
        kind=CdrKind.ATTEMPT,
        attempt=_int(data, "attempt", 1, 1000, required=True),
        end_time=end,
        attempts=0,
        sip_code=code,
        sip_reason=_text(data.get("sip_reason"), 128),
        pdd_ms=_ms(sent, _time(data, "t18x")),
        answer_ms=_ms(sent, end) if 200 <= code < 300 else None,
        duration_ms=None,
        hangup=Hangup.NONE,
    )
    return row


def _call(data: dict[str, Any]) -> dict[str, Any]:
    call, route = _object(data, "j_call"), _object(data, "j_route")
    start = _time(data, "t0") or _time(data, "start_time", required=True)
    answered = _time(data, "tans")
    end = _time(data, "end_time")
    code = _int(data, "code", 100, 699) or (200 if answered else 0)
    hangup = _text(data.get("bye"), 7)
    if hangup not in (Hangup.CALLER, Hangup.CALLEE):
        # Answered and ended without a BYE through us: the dialog's timeout ended it.
        hangup = Hangup.TIMEOUT if answered else Hangup.NONE
    row = _common(data, call, route, start)
    row.update(
        kind=CdrKind.CALL,
        attempt=0,
        end_time=end if answered else None,
        attempts=_int(data, "attempts", 0, 1000) or 0,
        sip_code=code,
        sip_reason=_text(data.get("reason"), 128),
        pdd_ms=_ms(start, _time(data, "t18x")),
        answer_ms=_ms(start, answered),
        duration_ms=_ms(answered, end) if answered else None,
        hangup=hangup,
    )
    if answered and row["duration_ms"] is not None:
        _price(row, route)
    return row


def _price(row: dict[str, Any], route: dict[str, Any]) -> None:
    """An answered call's billed seconds, cost, revenue and margin (routing/cdr/pricing.py),
    from the terms of its last route (none: a rule in priority mode, nothing priced)."""
    cost_terms = _terms(route, "")
    if cost_terms is None:
        return
    duration = row["duration_ms"]
    row["billed_seconds"], cost = charge(cost_terms, duration)
    row["cost"] = cost
    sell_terms = _terms(route, "s")
    if sell_terms is not None:
        _billed, revenue = charge(sell_terms, duration)
        row["revenue"], row["margin"] = revenue, revenue - cost


def _common(
    data: dict[str, Any], call: dict[str, Any], route: dict[str, Any], start: datetime
) -> dict[str, Any]:
    call_id = _text(data.get("callid"), 255)
    if not call_id:
        raise RecordError("callid: required")
    direction = call.get("dir")
    return {
        "call_id": call_id,
        "start_time": start,
        "direction": direction if direction in ("in", "out") else "",
        "tenant_id": _id(call, "tenant"),
        "pbx_id": _id(route, "pbx") or _id(call, "pbx"),
        "source_carrier_id": _id(call, "carrier"),
        "rule_id": _id(route, "rule") or _id(call, "rule"),
        "carrier_id": _id(route, "carrier"),
        "gateway_id": _id(route, "gateway"),
        "source_ip": _ip(data.get("src")),
        "caller_in": _text(data.get("caller_in"), 64),
        "callee_in": _text(data.get("callee_in"), 64),
        "caller": _digits(call.get("caller")),
        "callee": _digits(call.get("callee")),
        "caller_out": _text(route.get("from"), 64),
        "callee_out": _text(route.get("to"), 64),
        "q850_cause": _q850(data.get("reason_hdr")),
        **UNPRICED,
        "lrn": _digits(call.get("lrn")),
        "currency": _currency(route.get("currency")),
        "rate": _decimal(route, "rate"),
        "sell_rate": _decimal(route, "sell"),
    }


def _decimal(obj: dict[str, Any], key: str) -> Decimal | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        number = Decimal(value)
        if number < _RATE_MAX:  # (and quantize() stays within the context's precision)
            return number.quantize(_PLACES, rounding=ROUND_HALF_UP)
    raise RecordError(f"{key}: not a rate ({str(value)[:40]!r})")


def _currency(value: object) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise RecordError(f"currency: not an ISO 4217 code ({str(value)[:40]!r})")
    return value


def _terms(route: dict[str, Any], side: str) -> Terms | None:
    """A side's rate, fee and increments ("" the carrier's, "s" the customer's); the
    answer leaves out a fee of 0 and increments of 1/1."""
    rate = _decimal(route, "rate" if not side else "sell")
    if rate is None:
        return None
    fee = _decimal(route, side + "fee") or Decimal(0)
    increments = route.get(side + "inc")
    if increments is None:
        return Terms(rate, fee)
    found = _INCREMENTS.fullmatch(increments) if isinstance(increments, str) else None
    initial, next_ = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    if not (initial >= 1 and next_ >= 1):
        raise RecordError(f"{side}inc: not initial/next seconds ({str(increments)[:40]!r})")
    return Terms(rate, fee, initial, next_)


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    """A j_* extra: the JSON object c4router answered, or {} when Kamailio had none."""
    value = data.get(key)
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"{key}: not a JSON object")
    return value


def _time(data: dict[str, Any], key: str, *, required: bool = False) -> datetime | None:
    value = data.get(key)
    if value in (None, ""):
        if required:
            raise RecordError(f"{key}: required")
        return None
    try:
        seconds = float(value)
        if not 0 < seconds < 1e11:
            raise ValueError
        return datetime.fromtimestamp(seconds, UTC)
    except (TypeError, ValueError, OverflowError):
        raise RecordError(f"{key}: not a Unix time ({str(value)[:40]!r})") from None


def _int(data: dict[str, Any], key: str, lo: int, hi: int, *, required: bool = False) -> int | None:
    value = data.get(key)
    if value in (None, ""):
        if required:
            raise RecordError(f"{key}: required")
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RecordError(f"{key}: not an integer ({str(value)[:40]!r})") from None
    if not lo <= number <= hi:
        raise RecordError(f"{key}: {number} not in {lo}..{hi}")
    return number


def _id(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise RecordError(f"{key}: not an id ({str(value)[:40]!r})")
    return value


def _ms(since: datetime | None, until: datetime | None) -> int | None:
    if since is None or until is None:
        return None
    milliseconds = round((until - since).total_seconds() * 1000)
    return max(0, min(milliseconds, 2**31 - 1))


def _text(value: object, limit: int) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return _CONTROL.sub("", text)[:limit]


def _digits(value: object) -> str:
    return value if isinstance(value, str) and value.isdigit() and len(value) <= 32 else ""


def _ip(value: object) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return ""


def _q850(value: object) -> int | None:
    """The cause of a `Reason: Q.850;cause=16;text="..."` header (RFC 3326), if any."""
    if not isinstance(value, str) or not value:
        return None
    found = _Q850.search(value)
    if found is None:
        return None
    cause = int(found.group(1))
    return cause if 0 < cause < 128 else None
