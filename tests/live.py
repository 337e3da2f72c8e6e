"""Real c4router servers for tests: uvicorn or gunicorn+uvicorn workers on 127.0.0.1.

Used by the reload tests, the Kamailio end-to-end suite and the fault tests: a subprocess
serving c4router.asgi against the test database (data committed by `transactional_db`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.db import connection

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url_of_test_db(user: str | None = None) -> str:
    """The URL of the database the running test uses (pytest-django's test_<name>)."""
    conf = connection.settings_dict
    who = user or conf["USER"] or "postgres"
    host = conf["HOST"] or "127.0.0.1"
    port = conf["PORT"] or "5432"
    return f"postgres://{who}@{host}:{port}/{conf['NAME']}"


class C4RouterServer:
    """c4router.asgi in a subprocess; its log goes to a file the test can read."""

    def __init__(
        self,
        log_dir: Path,
        *,
        port: int | None = None,
        database_url: str | None = None,
        server: str = "uvicorn",
        workers: int = 1,
        env: dict[str, str] | None = None,
        config: Path | None = None,
    ) -> None:
        """config: a gunicorn config file (c4router/gunicorn_conf.py) for server="gunicorn";
        the bind address and the number of workers given here still win over it."""
        self.port = port or free_port()
        self.database_url = database_url or database_url_of_test_db()
        self.server = server
        self.workers = workers
        self.extra_env = env or {}
        self.config = config
        self.log_path = log_dir / f"c4router-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        app = "c4router.asgi:application"
        # X-Forwarded-For believed only from C4ROUTER_TRUSTED_PROXIES, as in production
        # (gunicorn_conf.py) and bin/quickstart: gunicorn's and uvicorn's own defaults trust
        # 127.0.0.1, where every test client is.
        trusted = self.extra_env.get("C4ROUTER_TRUSTED_PROXIES", "")
        if self.server == "gunicorn":
            return [
                sys.executable, "-m", "gunicorn", app, "-k", "uvicorn_worker.UvicornWorker",
                "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                "--graceful-timeout", "5",
                # the config file says it; the command line would override it
                *(["--config", str(self.config)] if self.config
                  else [f"--forwarded-allow-ips={trusted}"]),
            ]  # fmt: skip
        return [
            sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(self.port),
            "--no-access-log", "--workers", str(self.workers),
            *(["--forwarded-allow-ips", trusted] if trusted else ["--no-proxy-headers"]),
        ]  # fmt: skip

    def start(self) -> C4RouterServer:
        env = {
            **os.environ,
            "C4ROUTER_MODE": "dev",
            "DEBUG": "0",
            "DATABASE_URL": self.database_url,
            "DJANGO_SETTINGS_MODULE": "c4router.settings",
            "C4ROUTER_RELOAD_INTERVAL_MS": "200",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command(), cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"c4router exited at start:\n{self.log_text()[-3000:]}")
            try:
                # A query without a token: 403 once the routing table is loaded (400 with
                # C4ROUTER_API_TOKEN_REQUIRED=0: the empty query itself), 503 before.
                response = httpx.post(
                    f"{self.url}/kamailio/rtjson", content=b"{}", timeout=1.0,
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
                if response.status_code in (400, 403):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"c4router not ready in {timeout}s:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._log.close()
        self.process = None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the server's process group at once (a crash, not a shutdown); stop() still
        cleans up afterwards."""
        assert self.process is not None
        os.killpg(self.process.pid, sig)
        self.process.wait(timeout=10)

    def __enter__(self) -> C4RouterServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
