"""Kamailio configs of the router instances: row -> template context -> file on disk.

The template and its contract live in routing/kamailio_render.py, which knows nothing of
Django models. This service is the Django side: it maps a RouterInstance row to that
contract, writes one ``<name>.cfg`` per instance atomically, and can have the real
``kamailio -c`` check what it wrote before the file replaces the previous one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from routing.kamailio_render import KamailioConfigError, render_kamailio_config
from routing.models import Gateway, RouterInstance
from routing.validators import escape_controls

# debug=2 (L_INFO): one log line per step of a call (API query, answer, relay, failover),
# which is what an operator reads to understand a routing decision on the wire.
DEFAULT_LOG_LEVEL = 2
INSTALL_COMMAND = "sudo bin/install-kamailio"
# A new config holds the instance's token: readable by its owner and group (kamailio), not
# by everyone. An existing file keeps its own mode.
NEW_FILE_MODE = 0o640
CHECK_TIMEOUT_S = 60
_KAMAILIO_DIRS = ("/usr/sbin", "/usr/local/sbin")
HTTP_ASYNC_CLIENT = "http_async_client.so"
# Where the README (and the Kamailio image) installs the module built by bin/install-kamailio,
# readable by Debian's kamailio user.
INSTALLED_HTTP_ASYNC_CLIENT = Path("/usr/local/lib/kamailio") / HTTP_ASYNC_CLIENT


class KamailioRenderError(Exception):
    """A config could not be rendered, written or checked; the message says which and why."""


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    output: str


@dataclass(frozen=True)
class RenderResult:
    """The configs written, and the instances left out with why (one line each)."""

    written: list[Path]
    skipped: list[str]


def instance_context(
    instance: RouterInstance,
    *,
    module_path: str | None = None,
    http_async_client_module: str | None = None,
    log_level: int = DEFAULT_LOG_LEVEL,
    gateway_probes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The template context (routing.kamailio_render.CONTEXT_KEYS) for one instance.

    gateway_probes defaults to probes(): the gateways the health policies probe.
    module_path defaults to the KAMAILIO_MODULE_PATH setting, http_async_client_module to
    default_http_async_client().
    """
    try:
        api_urls = instance.api_url_list
        failover_codes = instance.failover_code_list
    except ValidationError as exc:  # a row written around the admin's validation
        raise KamailioRenderError(
            escape_controls(f"instance {instance.name}: {'; '.join(exc.messages)}")
        ) from None
    module_path = module_path or settings.KAMAILIO_MODULE_PATH
    cdr = settings.C4ROUTER_CDR
    capacity = settings.C4ROUTER_CAPACITY
    return {
        "name": instance.name,
        "listen_ip": instance.listen_ip,
        "listen_port": instance.listen_port,
        "transport": instance.transport,
        "advertised_address": instance.advertised_address,
        "api_urls": api_urls,
        "api_timeout_ms": instance.api_timeout_ms,
        "api_token": instance.token,
        "http_workers": instance.http_workers,
        "children": instance.children,
        "fr_timer_ms": instance.fr_timer,
        "fr_inv_timer_ms": instance.fr_inv_timer,
        "failover_codes": failover_codes,
        "http_async_client_module": http_async_client_module
        or default_http_async_client(module_path),
        "module_path": module_path,
        "log_level": log_level,
        "call_records": cdr["ENABLED"],
        "cdr_amqp_url": cdr["AMQP_URL"],
        "cdr_queue": cdr["QUEUE"],
        "max_call_seconds": cdr["MAX_CALL_SECONDS"],
        "capacity": capacity["ENABLED"],
        "capacity_redis_host": capacity["REDIS_HOST"],
        "capacity_redis_port": capacity["REDIS_PORT"],
        "capacity_redis_db": capacity["REDIS_DB"],
        "capacity_code": capacity["CODE"],
        "capacity_reason": capacity["REASON"],
        "capacity_retry_after": capacity["RETRY_AFTER"],
        "overload_api_queries": settings.C4ROUTER_OVERLOAD_API_QUERIES,
        "api_breaker_failures": instance.api_breaker_failures,
        "api_breaker_seconds": instance.api_breaker_seconds,
        "probes": probes() if gateway_probes is None else gateway_probes,
    }


def probes() -> list[dict[str, Any]]:
    """The enabled gateways of enabled carriers whose health policy (their own, else their
    carrier's) probes, with that policy's values: every edge probes them all."""
    rows = (
        Gateway.objects.filter(enabled=True, carrier__enabled=True)
        .select_related("health_policy", "carrier__health_policy")
        .order_by("id")
    )
    out = []
    for gateway in rows:
        policy = gateway.effective_health_policy()
        if policy is None or not policy.probing:
            continue
        try:
            alive = policy.alive_code_list
        except ValidationError as exc:  # a row written around the admin's validation
            raise KamailioRenderError(
                escape_controls(f"health policy {policy.name}: {'; '.join(exc.messages)}")
            ) from None
        out.append({
            "id": gateway.id, "host": gateway.host, "port": gateway.port,
            "transport": gateway.transport, "interval": policy.probe_interval,
            "down_after": policy.down_after, "up_after": policy.up_after, "alive_codes": alive,
        })  # fmt: skip
    return out


def install_cache_module() -> Path | None:
    """The module `bin/install-kamailio` built for the installed Kamailio, where its
    --print-module-path says: ${C4ROUTER_CACHE:-$HOME/.cache/c4router}/kamailio-<Debian
    version of kamailio>/http_async_client.so. None when Kamailio is not installed."""
    home = os.environ.get("HOME") or "/root"
    cache = Path(os.environ.get("C4ROUTER_CACHE") or f"{home}/.cache/c4router")
    try:
        version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "kamailio"],  # noqa: S607 - dpkg's own tool
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        version = ""
    if version and "/" not in version:
        return cache / f"kamailio-{version}" / HTTP_ASYNC_CLIENT
    return None


def find_http_async_client(module_path: str) -> str:
    """Where http_async_client.so is on this host, for a config to load: by name from the
    module directory when a package put it there; else where the README installs it
    (/usr/local/lib/kamailio/); else where `bin/install-kamailio` built it. Nothing found:
    the bare name, which `kamailio -c` refuses with a hint saying how to get it."""
    if (Path(module_path) / HTTP_ASYNC_CLIENT).is_file():
        return HTTP_ASYNC_CLIENT
    for candidate in (INSTALLED_HTTP_ASYNC_CLIENT, install_cache_module()):
        if candidate is not None and candidate.is_file():
            return str(candidate)
    return HTTP_ASYNC_CLIENT


def default_http_async_client(module_path: str | None = None) -> str:
    """The KAMAILIO_HTTP_ASYNC_CLIENT setting when it is set, else what this host has
    (find_http_async_client): after `sudo bin/install-kamailio` nothing needs setting."""
    configured = settings.KAMAILIO_HTTP_ASYNC_CLIENT
    return configured or find_http_async_client(module_path or settings.KAMAILIO_MODULE_PATH)


def render_instance(instance: RouterInstance, **context_options: Any) -> str:
    """The text of one instance's kamailio.cfg."""
    try:
        return render_kamailio_config(instance_context(instance, **context_options))
    except KamailioConfigError as exc:
        # The message may quote the bad value: one line, whatever it holds.
        raise KamailioRenderError(escape_controls(f"instance {instance.name}: {exc}")) from None


def select_instances(names: Sequence[str] | None) -> list[RouterInstance]:
    """The named instances (all must exist, enabled or not), or every enabled one."""
    if names is None:
        instances = list(RouterInstance.objects.filter(enabled=True).order_by("name"))
        if not instances:
            raise KamailioRenderError(
                "no enabled router instance to render: create one in the admin "
                "(Routing > Router instances) or the API (/api/v1/router-instances/)"
            )
        return instances
    wanted = list(dict.fromkeys(names))
    found = {i.name: i for i in RouterInstance.objects.filter(name__in=wanted)}
    unknown = [name for name in wanted if name not in found]
    if unknown:
        known = ", ".join(RouterInstance.objects.order_by("name").values_list("name", flat=True))
        raise KamailioRenderError(
            f"unknown router instance(s): {', '.join(unknown)} (known: {known or 'none'})"
        )
    return [found[name] for name in wanted]


def find_kamailio() -> str | None:
    """The kamailio binary: PATH, then where Debian and source installs put it."""
    found = shutil.which("kamailio")
    if found:
        return found
    for directory in _KAMAILIO_DIRS:
        candidate = Path(directory, "kamailio")
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def check_config(path: Path, kamailio: str) -> CheckResult:
    """`kamailio -c -f PATH`: syntax, module loading and module parameters (mod_init, which
    opens sockets and starts workers, only runs at a real start)."""
    try:
        proc = subprocess.run(  # noqa: S603 - our own binary and file, no shell
            [kamailio, "-c", "-f", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=CHECK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return CheckResult(False, f"kamailio -c did not finish within {CHECK_TIMEOUT_S}s")
    except OSError as exc:
        return CheckResult(False, f"cannot run {kamailio}: {exc}")
    return CheckResult(proc.returncode == 0, proc.stdout)


def _write_temp(target: Path, text: str) -> Path:
    """The text in a new file beside target (same filesystem: os.replace is atomic)."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        mode = target.stat().st_mode & 0o777 if target.exists() else NEW_FILE_MODE
        tmp.chmod(mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _check_errors(output: str, limit: int = 12) -> str:
    """What an operator needs from `kamailio -c`: its first errors (the later ones are
    usually consequences, e.g. every modparam of a module that failed to load)."""
    lines = output.strip().splitlines()
    errors = [line.strip() for line in lines if "ERROR" in line or "CRITICAL" in line]
    if not errors:
        return "\n".join(lines[-limit:])
    shown = errors[:limit]
    if len(errors) > limit:
        shown.append(f"... and {len(errors) - limit} more error lines")
    if "No module matching <http_async_client>" in output:
        shown.append(
            "hint: Debian does not package http_async_client; give the module "
            f"`{INSTALL_COMMAND}` built (it prints its path) with --http-async-client PATH "
            "or the KAMAILIO_HTTP_ASYNC_CLIENT setting"
        )
    return "\n".join(shown)


def render_instances(
    names: Sequence[str] | None,
    output_dir: Path,
    *,
    force: bool,
    check: bool,
    module_path: str | None = None,
    http_async_client_module: str | None = None,
) -> RenderResult:
    """Write ``<name>.cfg`` in output_dir for the named instances (None: every enabled one).

    An instance whose own values cannot be rendered (a row written around the validators)
    is left out and reported, and the others are written: one bad row must not keep every
    edge on its old config. Among those that render, all or nothing: every config is
    written (and, with check, accepted by `kamailio -c`) to a temporary file before any of
    them replaces its target, and nothing is left behind on an error. An existing file is
    only replaced with force.
    """
    kamailio = None
    if check:
        kamailio = find_kamailio()
        if kamailio is None:
            raise KamailioRenderError(
                "checking the config needs Kamailio, which is not installed (no kamailio in "
                f"PATH, {' or '.join(_KAMAILIO_DIRS)}): install it with `{INSTALL_COMMAND}`, "
                "or render without --check"
            )
    options = {"module_path": module_path, "http_async_client_module": http_async_client_module}
    instances: list[RouterInstance] = []
    texts: list[str] = []
    skipped: list[str] = []
    for instance in select_instances(names):
        try:
            texts.append(render_instance(instance, **options))
        except KamailioRenderError as exc:
            skipped.append(str(exc))
        else:
            instances.append(instance)
    if not instances:
        raise KamailioRenderError("\n".join(skipped))

    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise KamailioRenderError(f"{output_dir} is not a directory")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KamailioRenderError(f"cannot create {output_dir}: {exc.strerror or exc}") from None
    targets = [output_dir / f"{instance.name}.cfg" for instance in instances]
    if not force:
        existing = [str(target) for target in targets if target.exists()]
        if existing:
            raise KamailioRenderError(
                f"refusing to overwrite {', '.join(existing)}: use --force to replace it"
            )

    temps: list[Path] = []
    target = targets[0]
    try:
        for target, text in zip(targets, texts, strict=True):
            temps.append(_write_temp(target, text))
        if kamailio is not None:
            for instance, tmp, target in zip(instances, temps, targets, strict=True):
                result = check_config(tmp, kamailio)
                if not result.ok:
                    # Its messages name the temporary file: show the file it would become.
                    errors = _check_errors(result.output).replace(str(tmp), str(target))
                    raise KamailioRenderError(
                        f"kamailio -c rejected the config of instance {instance.name}, "
                        f"nothing was written:\n{errors}"
                    )
        for tmp, target in zip(temps, targets, strict=True):
            os.replace(tmp, target)
    except OSError as exc:
        # Name the config being written, not the temporary file the error may be about.
        raise KamailioRenderError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return RenderResult(written=targets, skipped=skipped)
