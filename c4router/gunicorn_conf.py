"""Gunicorn settings for c4router: `gunicorn --config c4router/gunicorn_conf.py`.

The production container runs exactly this (see the Dockerfile); everything comes from the
environment, read with the same strict helpers as the Django settings:

    PORT                    port to listen on, on every address (default 8000)
    WEB_CONCURRENCY         worker processes (default 2); each holds its own routing table
    C4ROUTER_ACCESS_LOG     on: one line per HTTP request on stdout (default off: at 500
                            calls/s it is noise; c4router logs refused calls itself)
    PROMETHEUS_MULTIPROC_DIR  where the workers write their metrics for /metrics to sum
                            (default: a private temporary directory, removed at exit)
    C4ROUTER_TRUSTED_PROXIES  networks of the proxies whose X-Forwarded-For (and -Proto) is
                            believed (default none: the client is the peer of the connection)

Gunicorn's own GUNICORN_CMD_ARGS and command-line options still win over this file
(GUNICORN_CMD_ARGS="--timeout 60"; the tests bind 127.0.0.1:<port> on the command line).

Metrics: with several workers, /metrics must sum what every worker counted, not show the
numbers of whichever worker answers. prometheus_client's multiprocess mode does it: each
worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR. The directory must be
emptied before the workers start (stale files of a previous run would be summed in), and a
dead worker's files are marked so that its "live" gauges disappear: the hooks below.
prometheus_client is imported inside the hooks, never at the top: the directory has to be
in the environment before the first import, which fixes the metric storage of the process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from c4router.env import env_bool, env_int, env_networks

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

wsgi_app = "c4router.asgi:application"
worker_class = "uvicorn_worker.UvicornWorker"
bind = [f"0.0.0.0:{env_int('PORT', 8000, minimum=1, maximum=65535)}"]
workers = env_int("WEB_CONCURRENCY", 2, minimum=1, maximum=64)
# Requests are short (the routing endpoint answers in well under a millisecond); a worker
# that misses its heartbeat this long is stuck and gets replaced.
timeout = 30
# On SIGTERM (docker stop, a rolling restart) workers finish what they serve: routing answers
# take microseconds, so a few seconds is plenty, and it stays under Docker's default 10 s
# before SIGKILL.
graceful_timeout = 8
# Kamailio's http_async_client and load balancers reuse connections: keep idle ones open
# longer than gunicorn's 2 s default, so that a quiet minute does not mean new TCP handshakes.
keepalive = 20
accesslog = "-" if env_bool("C4ROUTER_ACCESS_LOG", False) else None
# The heartbeat file on tmpfs, not on the container's overlay filesystem (gunicorn's advice
# for containers: fchmod on a disk-backed file can block a worker).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# No runtime control socket ($HOME/.gunicorn/gunicorn.ctl since gunicorn 25): nothing here
# uses it, and two servers on one host would fight over the same path.
control_socket_disable = True
# Who may say who the client is. The routing endpoint's and /metrics' allow-lists, and the
# admin's login throttling, go by the client address; uvicorn rewrites it from
# X-Forwarded-For for the proxies listed here. gunicorn's default lists 127.0.0.1 (and its
# FORWARDED_ALLOW_IPS variable), so anything on the host, or a local proxy passing the header
# through, could claim any address: none unless the operator names the proxies.
forwarded_allow_ips = ",".join(str(net) for net in env_networks("C4ROUTER_TRUSTED_PROXIES"))

# Set by on_starting when it had to create the metrics directory itself.
_created_multiproc_dir: str | None = None


def multiproc_dir() -> Path:
    """The metrics directory of this server; a private temporary one when not configured."""
    global _created_multiproc_dir  # noqa: PLW0603 - one server per process
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        return Path(configured)
    _created_multiproc_dir = tempfile.mkdtemp(prefix="c4router-metrics-")
    os.environ[MULTIPROC_ENV] = _created_multiproc_dir  # inherited by the workers
    return Path(_created_multiproc_dir)


def on_starting(server: Any) -> None:
    """In the master, before any worker: an empty metrics directory.

    Only prometheus_client's own files (*.db) are removed, so that a directory set by
    mistake to something shared (/tmp) loses nothing else.
    """
    directory = multiproc_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """In the master, after a worker exited (crash, timeout, restart, stop)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, os.environ[MULTIPROC_ENV])


def on_exit(server: Any) -> None:
    if _created_multiproc_dir:
        shutil.rmtree(_created_multiproc_dir, ignore_errors=True)
