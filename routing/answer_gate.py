"""The last gate before the answer: rows the routing table must not carry to Kamailio.

The admin, the API and the imports validate every value with routing.validators; a row can
still reach the database around them (QuerySet.update, raw SQL, a row older than a
validator). Whatever the table holds goes into rtjson answers, which Kamailio writes into
SIP headers as they are (KAMAILIO.md: nothing validates headers.extra), so the loader runs
the same field validators again on every value that reaches an answer, once per table build
or patch (the small tables are a few thousand rows: milliseconds; nothing is added per
call), and keeps what fails them out of the answers:

- a gateway or PBX with a bad host, socket or prefix stays in the table disabled (calls
  skip it, DIDs and domains still find it and answer 480), its strings emptied;
- a carrier with a bad From domain or extra header: disabled the same way (its gateways
  are skipped, its traffic refused 403);
- an IP source whose network does not parse (a scope id): left out (403 for its traffic);
- a route rule with a bad caller ID, display name, extra header, or reject code or reason:
  left out (the next best rule routes, or 404);
- a tenant whose "no profitable route" code is not 400-699 or whose reason is not a reason
  phrase: least-cost rules refuse its calls with the defaults (503 No profitable route);
- a number list whose refusal code is not 400-699 or whose reason is not a reason phrase
  (validators.validate_reason_phrase): it still refuses, with the default 403 and reason of
  its side, so that a blocked number stays blocked.

Each is logged once per process at WARNING, naming the row, the field and the validator's
message, control characters escaped (the value may hold CR/LF); `manage.py
check_routing_data` lists them all.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable

from django.core.exceptions import ValidationError

from routing import validators
from routing.engine import grammar
from routing.engine.lists import NumberListRow
from routing.engine.table import (
    CarrierRow,
    GatewayRow,
    PbxRow,
    RuleRow,
    SourceRow,
    TableRows,
    TenantRow,
)
from routing.models.lists import DEFAULT_CODE, DEFAULT_REASONS
from routing.models.rules import REJECT_CODE_RANGE
from routing.models.tenants import NO_PROFIT_CODE, NO_PROFIT_REASON

logger = logging.getLogger("c4router.loader")

_TRANSPORTS = frozenset({"udp", "tcp", "tls"})
_REPORTED_MAX = 10_000
_reported: set[str] = set()


def _report(what: str, problems: list[str]) -> None:
    line = validators.escape_controls(f"{what} left out of routing answers: {'; '.join(problems)}")
    if line in _reported:
        return
    if len(_reported) >= _REPORTED_MAX:
        _reported.clear()
    _reported.add(line)
    logger.warning("routing table: %s", line)


# Every verdict, by validator and value: a patch re-reads the small tables at every change,
# and their values rarely change, so the validators run once per distinct value and a
# rebuild of thousands of rows costs dict lookups (bounded: a flood of new values starts it
# over).
_VERDICTS_MAX = 50_000
_verdicts: dict[tuple[Callable[[str], None], str], str | None] = {}


def _verdict(validator: Callable[[str], None], value: str) -> str | None:
    try:
        validator(value)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None


def _problems(checks: Iterable[tuple[str, Callable[[str], None], str]]) -> list[str]:
    """'field: message' for each (field, validator, value) the validator refuses."""
    found = []
    for field, validator, value in checks:
        key = (validator, value)
        if key in _verdicts:
            problem = _verdicts[key]
        else:
            problem = _verdict(validator, value)
            if len(_verdicts) >= _VERDICTS_MAX:
                _verdicts.clear()
            _verdicts[key] = problem
        if problem is not None:
            found.append(f"{field}: {problem}")
    return found


def headers_text(headers: tuple[tuple[str, str], ...]) -> str:
    return "\n".join(f"{name}: {value}" for name, value in headers)


def _validate_header_text(text: str) -> None:
    """Header lines already parsed, joined back by headers_text(): they must parse back to
    the same text (a name or value with a line break or a control character would not)."""
    if headers_text(tuple(validators.parse_header_lines(text))) != text:
        raise ValidationError("not header lines such as 'X-Customer: 42'", code="header")


def _endpoint_problems(row: PbxRow | GatewayRow) -> list[str]:
    checks: list[tuple[str, Callable[[str], None], str]] = [
        ("host", validators.validate_host, row.host)
    ]
    if row.socket:
        checks.append(("socket", validators.validate_socket, row.socket))
    if isinstance(row, GatewayRow) and row.prefix:
        checks.append(("prefix", validators.validate_dial_prefix, row.prefix))
    problems = _problems(checks)
    if row.transport not in _TRANSPORTS:
        problems.append("transport: not udp, tcp or tls")
    if not 1 <= row.port <= 65535:
        problems.append("port: not 1-65535")
    return problems


def _gate_endpoint(row: PbxRow | GatewayRow) -> PbxRow | GatewayRow:
    problems = _endpoint_problems(row)
    if not problems:
        return row
    _report(f"{'gateway' if isinstance(row, GatewayRow) else 'PBX'} #{row.id}", problems)
    emptied = {"host": "", "socket": "", "enabled": False}
    if isinstance(row, GatewayRow):
        emptied["prefix"] = ""
    return dataclasses.replace(row, **emptied)  # type: ignore[arg-type]


def _gate_carrier(row: CarrierRow) -> CarrierRow:
    checks: list[tuple[str, Callable[[str], None], str]] = []
    if row.from_domain:
        checks.append(("from_domain", validators.validate_host, row.from_domain))
    if row.extra_headers:
        checks.append(("extra_headers", _validate_header_text, headers_text(row.extra_headers)))
    problems = _problems(checks)
    if not problems:
        return row
    _report(f"carrier #{row.id}", problems)
    return dataclasses.replace(row, enabled=False, from_domain="", extra_headers=())


def _source_ok(row: SourceRow) -> bool:
    # The characters only: the table parses the network itself, and a character no network
    # has (a scope id's '%', a line break) is what must not pass.
    if grammar.NETWORK_RE.fullmatch(row.cidr):
        return True
    owner = f"carrier #{row.carrier_id}" if row.carrier_id is not None else f"PBX #{row.pbx_id}"
    _report(f"an IP source of {owner}", ["cidr: not an IP network (a scope id?)"])
    return False


def _gate_list(row: NumberListRow) -> NumberListRow:
    """A list's code and reason as the answer carries them: its own, else its side's
    default (an empty reason: the operator's choice; a bad value: reported)."""
    default = DEFAULT_REASONS.get(row.side, "Blocked")  # type: ignore[call-overload]
    problems = _problems(
        [("reason", validators.validate_reason_phrase, row.reason)] if row.reason else []
    )
    low, high = validators.REFUSAL_CODE_RANGE
    code_ok = isinstance(row.code, int) and low <= row.code <= high
    if not code_ok:
        problems.append(f"code: {row.code} is not a SIP failure code {low}-{high}")
    if problems:
        _report(f"number list #{row.id} (answers with its side's default instead)", problems)
    reason = (
        row.reason if row.reason and not any(p.startswith("reason") for p in problems) else default
    )
    code = row.code if code_ok else DEFAULT_CODE
    if (code, reason) == (row.code, row.reason):
        return row
    return dataclasses.replace(row, code=code, reason=reason)


def _gate_tenant(row: TenantRow) -> TenantRow:
    """A tenant's "no profitable route" answer: its own, else the defaults."""
    problems = _problems([("no_profit_reason", validators.validate_reason_phrase,
                           row.no_profit_reason)])  # fmt: skip
    low, high = validators.REFUSAL_CODE_RANGE
    if not (isinstance(row.no_profit_code, int) and low <= row.no_profit_code <= high):
        problems.append(f"no_profit_code: {row.no_profit_code} is not a SIP failure code")
    if not problems:
        return row
    _report(f"tenant #{row.id} (no profitable route: the defaults instead)", problems)
    return dataclasses.replace(
        row, no_profit_code=NO_PROFIT_CODE, no_profit_reason=NO_PROFIT_REASON
    )


def gate_rows(rows: TableRows) -> TableRows:
    """The small tables with every value an answer carries checked (see the module doc)."""
    return dataclasses.replace(
        rows,
        tenants=tuple(_gate_tenant(row) for row in rows.tenants),
        pbxs=tuple(_gate_endpoint(row) for row in rows.pbxs),  # type: ignore[misc]
        gateways=tuple(_gate_endpoint(row) for row in rows.gateways),  # type: ignore[misc]
        carriers=tuple(_gate_carrier(row) for row in rows.carriers),
        sources=tuple(row for row in rows.sources if _source_ok(row)),
        number_lists=tuple(_gate_list(row) for row in rows.number_lists),
    )


def _validate_reject_code(text: str) -> None:
    low, high = REJECT_CODE_RANGE
    if not low <= int(text) <= high:
        raise ValidationError(f"Not a SIP failure code ({low}-{high}).", code="reject_code")


def rule_ok(rule: RuleRow) -> bool:
    """Whether a route rule's own strings may reach an answer (a plain rule has none)."""
    if not (rule.caller_id or rule.from_display or rule.extra_headers or rule.reject_code):
        return True  # most rules of a big table: nothing to check, nothing spent
    checks: list[tuple[str, Callable[[str], None], str]] = []
    if rule.reject_code:
        checks.append(("reject_code", _validate_reject_code, str(rule.reject_code)))
        checks.append(("reject_reason", validators.validate_reason_phrase, rule.reject_reason))
    if rule.caller_id:
        checks.append(("caller_id", validators.validate_digits, rule.caller_id))
    if rule.from_display:
        checks.append(("from_display", validators.validate_display_name, rule.from_display))
    if rule.extra_headers:
        checks.append(("extra_headers", _validate_header_text, headers_text(rule.extra_headers)))
    problems = _problems(checks)
    if problems:
        _report(f"route rule #{rule.id}", problems)
    return not problems
