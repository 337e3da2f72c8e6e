"""Render the Kamailio configuration of a c4router edge from a plain dict.

Pure Python: no Django models and no Django settings needed. The template
(``kamailio_cfg/kamailio.cfg``) is rendered with a standalone
``django.template.Engine`` so that this module can be called from a Django
management command, from a view, or from a test without ``DJANGO_SETTINGS_MODULE``.

The context keys (the contract with the Django side) are listed in
``CONTEXT_KEYS``. Every key is required and validated: a missing key, a wrong
type or a value that could break out of a Kamailio string literal raises
``KamailioConfigError`` instead of silently rendering an empty or unsafe value.
Unknown extra keys are ignored.

The values a router instance holds are checked by the very validators its model fields
use (routing.validators): what the admin, the API or a command could save renders, and a
row written around them (raw SQL, QuerySet.update, a row older than a validator) is
refused here with the same words.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError

from routing import validators
from routing.engine import grammar

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = REPO_ROOT / "kamailio_cfg"
TEMPLATE_NAME = "kamailio.cfg"

# name -> human description (also used in error messages)
CONTEXT_KEYS: dict[str, str] = {
    "name": "instance name, e.g. 'edge1'",
    "listen_ip": "IP address to listen on, e.g. '127.0.0.1'",
    "listen_port": "SIP port, e.g. 5060",
    "transport": "'udp' or 'tcp'",
    "advertised_address": "'' or an IP/host to advertise",
    "api_urls": "non-empty list of full URLs of POST /kamailio/rtjson",
    "api_timeout_ms": "HTTP timeout of each API query, in ms",
    "api_token": "shared secret sent as X-C4-Token ('' = not sent)",
    "http_workers": "number of http_async_client workers",
    "children": "number of Kamailio SIP worker children",
    "fr_timer_ms": "default tm fr_timer, in ms",
    "fr_inv_timer_ms": "default tm fr_inv_timer, in ms",
    "failover_codes": "list of SIP codes that make Kamailio try the next route",
    "http_async_client_module": "absolute path of http_async_client.so, or 'http_async_client.so'",
    "module_path": "Kamailio mpath (absolute directory)",
    "log_level": "Kamailio debug= level (-5..3)",
    "call_records": "bool: write call records (acc + dialog -> RabbitMQ)",
    "cdr_amqp_url": "amqp:// URL of the RabbitMQ the records go to",
    "cdr_queue": "name of the durable RabbitMQ queue of the records",
    "max_call_seconds": "a call longer than this is ended (dialog timeout), in s",
    "capacity": "bool: enforce the capacity limits of c4router's answers (Redis)",
    "capacity_redis_host": "IP address of the Redis that holds the capacity counters",
    "capacity_redis_port": "its TCP port",
    "capacity_redis_db": "its numbered database of the counters (0 by default)",
    "capacity_code": "SIP code of a call refused by a limit, e.g. 503",
    "capacity_reason": "its reason phrase, e.g. 'Capacity Exceeded'",
    "capacity_retry_after": "Retry-After seconds sent with it and with an overload 503 (0: none)",
    "overload_api_queries": "at most this many calls wait for c4router's answer (0: no bound)",
    "api_breaker_failures": "failures of an API URL that open its circuit breaker",
    "api_breaker_seconds": "how long an open API URL is skipped, in s",
    "probes": "list of the gateways to probe: dicts of id, host, port, transport, interval, "
    "down_after, up_after, alive_codes",
}

# The capacity keys with the limits off (settings.C4ROUTER_CAPACITY's defaults), for a
# context built by hand (tests, bench) that has nothing to do with them.
CAPACITY_OFF: dict[str, Any] = {
    "capacity": False,
    "capacity_redis_host": "127.0.0.1",
    "capacity_redis_port": 6379,
    "capacity_redis_db": 0,
    "capacity_code": 503,
    "capacity_reason": "Capacity Exceeded",
    "capacity_retry_after": 5,
}
# No bound on the calls waiting for c4router (the config's "overload" section left out).
OVERLOAD_OFF: dict[str, Any] = {"overload_api_queries": 0}

CAPACITY_SCRIPT = TEMPLATE_DIR / "capacity.lua"
# A limit's place outlives the longest call by this much (s): the dialog's timeout ends
# the call first, so an expired place is always a call Kamailio forgot (restart, lost BYE).
CAPACITY_TTL_MARGIN_S = 60
# Overload: a new call is refused (503 Overloaded) while less than this share of Kamailio's
# shared memory is free: what the calls already admitted still need (their replies, BYEs,
# failovers) is left to them. kamailio.cfg, "overload".
OVERLOAD_SHM_FREE_PERCENT = 20

PROBE_KEYS = ("id", "host", "port", "transport", "interval", "down_after", "up_after",
              "alive_codes")  # fmt: skip
# A probing edge says each gateway's state again every this many probes (see the config).
PROBE_REASSERT = 30

# How often Kamailio hands its queued records to RabbitMQ (ms), and at most how many per
# round: 20 ms x 2,000 = 100,000 records/s, far above what the SIP workers produce.
CDR_INTERVAL_MS = 20
CDR_BATCH = 2000


class KamailioConfigError(ValueError):
    """The context given to render_kamailio_config() is incomplete or invalid."""


class _InvalidVariable(str):
    """string_if_invalid for the Engine: any unknown ``{{ var }}`` in the template
    raises instead of rendering as an empty string (a silent hole in a SIP proxy
    config is worse than a crash at render time)."""

    def __contains__(self, item: object) -> bool:  # Django checks '"%s" in s'
        return True

    def __mod__(self, var: object) -> str:
        raise KamailioConfigError(f"template {TEMPLATE_NAME} uses unknown variable {var!r}")

    def __str__(self) -> str:
        raise KamailioConfigError(f"template {TEMPLATE_NAME} uses an unknown variable")

    def __bool__(self) -> bool:
        return True


# Characters allowed inside a double-quoted Kamailio string literal that we write
# verbatim: printable ASCII without '"' and '\' (no escaping games, no CR/LF). For the
# module paths, which come from the settings or the command line, not from a model.
_SAFE_LITERAL = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]*")
_SO_NAME = re.compile(r"[A-Za-z0-9_.-]+\.so")
_AMQP_URL = re.compile(r"amqps?://[\x21\x23-\x5b\x5d-\x7e]+")
_QUEUE = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


def kamailio_string(value: str) -> str:
    """`value` as the inside of a double-quoted Kamailio string literal: a backslash and a
    double quote escaped (the config's lexer reads them back); a value already checked to
    hold no control character (a line break would end the statement)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _err(key: str, msg: str) -> KamailioConfigError:
    return KamailioConfigError(f"kamailio context key {key!r} ({CONTEXT_KEYS[key]}): {msg}")


def _int(ctx: dict, key: str, lo: int, hi: int) -> int:
    v = ctx[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(key, f"must be an int, got {v!r}")
    if not lo <= v <= hi:
        raise _err(key, f"must be in {lo}..{hi}, got {v}")
    return v


def _str(ctx: dict, key: str) -> str:
    v = ctx[key]
    if not isinstance(v, str):
        raise _err(key, f"must be a str, got {v!r}")
    return v


def _check(key: str, validator: Callable[[str], None], value: str) -> None:
    """One value through its model field's validator."""
    try:
        validator(value)
    except ValidationError as exc:
        raise _err(key, "; ".join(exc.messages)) from None


def _host_for_listen(value: str) -> str:
    """IPv6 addresses are bracketed in Kamailio's listen= and advertise."""
    return f"[{value}]" if grammar.is_address(value) and ":" in value else value


def validate_context(context: dict[str, Any]) -> dict[str, Any]:
    """Check every contract key and return the dict the template is rendered with
    (the given values plus derived ones). Raises KamailioConfigError."""
    if not isinstance(context, dict):
        raise KamailioConfigError(f"kamailio context must be a dict, got {type(context).__name__}")
    missing = [k for k in CONTEXT_KEYS if k not in context]
    if missing:
        raise KamailioConfigError(
            "kamailio context is missing key(s): "
            + ", ".join(f"{k} ({CONTEXT_KEYS[k]})" for k in missing)
        )
    ctx = dict(context)

    name = _str(ctx, "name")
    _check("name", validators.validate_instance_name, name)

    listen_ip = _str(ctx, "listen_ip")
    _check("listen_ip", validators.validate_ip, listen_ip)
    _int(ctx, "listen_port", 1, 65535)

    transport = _str(ctx, "transport")
    if transport not in ("udp", "tcp"):
        raise _err("transport", f"must be 'udp' or 'tcp', got {transport!r}")

    adv = _str(ctx, "advertised_address")
    if adv:
        _check("advertised_address", validators.validate_advertised_address, adv)

    urls = ctx["api_urls"]
    if isinstance(urls, str) or not isinstance(urls, (list, tuple)) or not urls:
        raise _err("api_urls", f"must be a non-empty list of URLs, got {urls!r}")
    for u in urls:
        if not isinstance(u, str):
            raise _err("api_urls", f"each URL must be a str, got {u!r}")
        _check("api_urls", validators.validate_api_url, u)

    _int(ctx, "api_timeout_ms", 1, 600_000)
    token = _str(ctx, "api_token")
    if token:
        _check("api_token", validators.validate_token, token)
    _int(ctx, "http_workers", 1, 256)
    _int(ctx, "children", 1, 1024)
    _int(ctx, "fr_timer_ms", 1, 3_600_000)
    _int(ctx, "fr_inv_timer_ms", 1, 3_600_000)

    codes = ctx["failover_codes"]
    if isinstance(codes, str) or not isinstance(codes, (list, tuple)):
        raise _err("failover_codes", f"must be a list of ints, got {codes!r}")
    for c in codes:
        if isinstance(c, bool) or not isinstance(c, int) or not 300 <= c <= 699:
            raise _err("failover_codes", f"each code must be an int in 300..699, got {c!r}")

    mod = _str(ctx, "http_async_client_module")
    if (
        not (mod.startswith("/") or _SO_NAME.fullmatch(mod))
        or not mod.endswith(".so")
        or not _SAFE_LITERAL.fullmatch(mod)
    ):
        raise _err(
            "http_async_client_module",
            f"must be an absolute path to a .so or a bare 'name.so', got {mod!r}",
        )
    mpath = _str(ctx, "module_path")
    if not mpath.startswith("/") or not _SAFE_LITERAL.fullmatch(mpath):
        raise _err("module_path", f"must be an absolute path without spaces/quotes, got {mpath!r}")

    _int(ctx, "log_level", -5, 3)

    if not isinstance(ctx["call_records"], bool):
        raise _err("call_records", f"must be a bool, got {ctx['call_records']!r}")
    amqp = _str(ctx, "cdr_amqp_url")
    if not _AMQP_URL.fullmatch(amqp):
        raise _err("cdr_amqp_url", f"must be amqp(s):// without spaces/quotes, got {amqp!r}")
    queue = _str(ctx, "cdr_queue")
    if not _QUEUE.fullmatch(queue):
        raise _err("cdr_queue", f"must match {_QUEUE.pattern}, got {queue!r}")
    _int(ctx, "max_call_seconds", 60, 604_800)
    if not isinstance(ctx["capacity"], bool):
        raise _err("capacity", f"must be a bool, got {ctx['capacity']!r}")
    _check("capacity_redis_host", validators.validate_ip, _str(ctx, "capacity_redis_host"))
    _int(ctx, "capacity_redis_port", 1, 65535)
    _int(ctx, "capacity_redis_db", 0, 1023)
    _int(ctx, "capacity_code", 400, 699)
    # The reason phrase grammar every refusal c4router sends shares, then quoted for the
    # config's string literal (the template assigns it to a $var: never read as a format).
    _check("capacity_reason", validators.validate_reason_phrase, _str(ctx, "capacity_reason"))
    ctx["capacity_reason_literal"] = kamailio_string(ctx["capacity_reason"])
    _int(ctx, "capacity_retry_after", 0, 86_400)
    _int(ctx, "overload_api_queries", 0, 1_000_000)
    ctx["capacity_ttl"] = ctx["max_call_seconds"] + CAPACITY_TTL_MARGIN_S
    ctx["overload_shm_free_percent"] = OVERLOAD_SHM_FREE_PERCENT
    ctx["capacity_lua"] = capacity_script(ctx["capacity_ttl"])
    # Redis names scripts by their SHA-1 (EVALSHA): an identifier, not a security measure.
    ctx["capacity_sha"] = hashlib.sha1(
        ctx["capacity_lua"].encode(), usedforsecurity=False
    ).hexdigest()
    _int(ctx, "api_breaker_failures", 1, 1000)
    _int(ctx, "api_breaker_seconds", 1, 86_400)
    probes = _probes(ctx)
    health_urls = [u.rsplit("/", 1)[0] + "/health" for u in urls if u.endswith("/rtjson")]
    if probes and not health_urls:
        raise _err(
            "probes",
            "gateways to probe, but no API URL ends with /rtjson: their state could not be "
            "reported to /kamailio/health",
        )
    groups: dict[int, list[dict[str, Any]]] = {}
    for probe in probes:
        groups.setdefault(probe["interval"], []).append(probe)
    ctx["probes"] = probes
    ctx["probe_groups"] = [(str(i), items) for i, items in sorted(groups.items())]
    ctx["probe_reassert"] = PROBE_REASSERT
    ctx["health_url_cases"] = [(str(i), u) for i, u in enumerate(health_urls)]
    ctx["health_url_count"] = len(health_urls)
    ctx["api_last_idx"] = len(urls) - 1
    ctx["cdr_interval_ms"] = CDR_INTERVAL_MS
    ctx["cdr_batch"] = CDR_BATCH

    # Derived values (template-internal, not part of the contract).
    ctx["api_urls"] = list(urls)
    ctx["api_url_cases"] = [(str(i), u) for i, u in enumerate(urls)]
    ctx["failover_codes"] = [str(c) for c in codes]
    # How long the suspended transaction may wait for one API query (see the config).
    ctx["api_wait_ms"] = ctx["api_timeout_ms"] + 1000
    ctx["failover_codes_regex"] = "|".join(str(c) for c in sorted(set(codes)))
    ctx["listen_host"] = _host_for_listen(listen_ip)
    ctx["advertised_host"] = _host_for_listen(adv) if adv else ""
    # Hand the template strings only: Django localizes ints when rendering them,
    # which needs configured settings and, with USE_THOUSAND_SEPARATOR, would turn
    # 30000 into "30,000" inside the Kamailio config.
    for k, v in ctx.items():
        if isinstance(v, int) and not isinstance(v, bool):
            ctx[k] = str(v)
    return ctx


def capacity_script(ttl_seconds: int) -> str:
    """kamailio_cfg/capacity.lua on one line, for a Kamailio string literal: comments
    dropped, the TTL filled in. Redis keeps it by its SHA-1 (EVALSHA)."""
    lines = []
    for line in CAPACITY_SCRIPT.read_text().splitlines():
        code = line.split("--", 1)[0].strip()
        if code:
            lines.append(code)
    text = " ".join(lines).replace("TTL_SECONDS", str(ttl_seconds))
    if any(char in text for char in '"\\$'):
        raise KamailioConfigError(f"{CAPACITY_SCRIPT.name} must not hold a quote, \\ or $")
    return text


def _probes(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The gateways to probe, each value through its model field's validator; the template
    gets the SIP URI and the alive condition built here."""
    probes = ctx["probes"]
    if isinstance(probes, str) or not isinstance(probes, (list, tuple)):
        raise _err("probes", f"must be a list of dicts, got {probes!r}")
    out = []
    seen: set[int] = set()
    for probe in probes:
        if not isinstance(probe, dict) or sorted(probe) != sorted(PROBE_KEYS):
            raise _err("probes", f"each probe must be a dict of {', '.join(PROBE_KEYS)}")
        gid = probe["id"]
        for key, lo, hi in (("id", 1, 2**31 - 1), ("port", 1, 65535), ("interval", 1, 3600),
                            ("down_after", 1, 100), ("up_after", 1, 100)):  # fmt: skip
            value = probe[key]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise _err("probes", f"gateway {gid!r}: {key} must be an int in {lo}..{hi}")
        if gid in seen:
            raise _err("probes", f"gateway {gid} is listed twice")
        seen.add(gid)
        host = probe["host"]
        if not isinstance(host, str):
            raise _err("probes", f"gateway {gid}: host must be a str")
        _check("probes", validators.validate_host, host)
        transport = probe["transport"]
        if transport not in ("udp", "tcp", "tls"):
            raise _err("probes", f"gateway {gid}: transport must be udp, tcp or tls")
        codes = probe["alive_codes"]
        if (
            isinstance(codes, str)
            or not isinstance(codes, (list, tuple))
            or not codes
            or any(isinstance(c, bool) or not isinstance(c, int) or not 200 <= c <= 699
                   for c in codes)
        ):  # fmt: skip
            raise _err("probes", f"gateway {gid}: alive_codes must be codes in 200..699")
        uri_host = f"[{host}]" if grammar.is_address(host) and ":" in host else host
        uri = f"sip:{uri_host}:{probe['port']}"
        if transport != "udp":
            uri += f";transport={transport}"
        out.append({
            **{k: str(v) for k, v in probe.items() if k != "alive_codes"},
            "uri": uri,
            "alive_condition": " || ".join(f"$var(c4_code) == {int(c)}" for c in codes),
            "interval": probe["interval"],
        })  # fmt: skip
    return out


def _engine():
    # Imported here: only rendering needs the template engine.
    from django.template import Engine

    return Engine(
        dirs=[str(TEMPLATE_DIR)],
        autoescape=False,
        string_if_invalid=_InvalidVariable("INVALID"),
        debug=False,
    )


def render_kamailio_config(context: dict[str, Any]) -> str:
    """Return the text of kamailio.cfg for ``context`` (see CONTEXT_KEYS)."""
    from django.template import Context

    ctx = validate_context(context)
    template = _engine().get_template(TEMPLATE_NAME)
    return template.render(Context(ctx, autoescape=False, use_l10n=False, use_tz=False))


def write_kamailio_config(context: dict[str, Any], path: str | Path) -> Path:
    """Render and write atomically to ``path``; returns the path."""
    path = Path(path)
    text = render_kamailio_config(context)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
