"""Processes the bench starts: servers, wrk, SIPp, Kamailio; each in its own process group.

Everything started goes through spawn(), which remembers the process group; stop_all()
(called in a finally, at exit and on SIGTERM) ends those groups, and only those: SIGTERM,
then SIGKILL after a grace period.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

REPO = Path(__file__).resolve().parent.parent
_groups: dict[int, subprocess.Popen[bytes]] = {}


def spawn(cmd: list[str], *, log: Path | None = None, **kwargs: Any) -> subprocess.Popen[bytes]:
    out: IO[bytes] | int = subprocess.DEVNULL
    if log is not None:
        out = log.open("ab")
    process = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=kwargs.pop("stdout", out),
        stderr=kwargs.pop("stderr", subprocess.STDOUT),
        start_new_session=True,
        cwd=kwargs.pop("cwd", REPO),
        **kwargs,
    )
    _groups[process.pid] = process
    return process


def register(process: subprocess.Popen[Any]) -> None:
    """A process started elsewhere (in its own session) that stop_all() must end too."""
    _groups[process.pid] = process


def stop(process: subprocess.Popen[Any] | None, grace: float = 8.0) -> None:
    if process is None:
        return
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    # Whatever is left in the group (a worker that outlived its master).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    _groups.pop(process.pid, None)


def stop_all() -> None:
    for process in list(_groups.values()):
        stop(process, grace=5.0)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def install_cleanup() -> None:
    atexit.register(stop_all)
    # Ctrl-C raises KeyboardInterrupt even when started in the background by a shell (which
    # makes its background jobs ignore SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------------
# /proc


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, split after its closing ')'
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def group_pids(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid:
                found.append(int(entry.name))
    return found


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ------------------------------------------------------------------------------------------
# Servers


@dataclass(frozen=True)
class ServerConfig:
    label: str
    server: str  # "gunicorn" or "uvicorn"
    workers: int


CONFIGS = (
    ServerConfig("gunicorn -w 2", "gunicorn", 2),
    ServerConfig("uvicorn -w 1", "uvicorn", 1),
    ServerConfig("uvicorn -w 2", "uvicorn", 2),
)
GUNICORN_CONF = REPO / "c4router" / "gunicorn_conf.py"
APPS = {"c4router": "c4router.asgi:application", "raw": "bench.raw_asgi:application"}


def production_env(database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """c4router's production settings: a generated SECRET_KEY, ALLOWED_HOSTS=127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_SETTINGS_MODULE")}
    env.update(
        C4ROUTER_MODE="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="c4router.settings",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


@dataclass
class Server:
    app: str  # "c4router" or "raw"
    config: ServerConfig
    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_after: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        name = self.config.label.replace(" ", "").replace("-", "")
        return self.log_dir / f"{self.app}-{name}-{self.port}.log"

    def command(self) -> list[str]:
        app = APPS[self.app]
        if self.config.server == "gunicorn":
            # As production runs it (the Dockerfile's command): c4router/gunicorn_conf.py,
            # uvicorn_worker, metrics in multiprocess mode; the ceiling gets the same.
            return [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(GUNICORN_CONF),
                app,
                "-w",
                str(self.config.workers),
                "--bind",
                f"127.0.0.1:{self.port}",
            ]
        return [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.config.workers),
            "--no-access-log",
            "--no-proxy-headers",  # as bin/quickstart runs it (gunicorn_conf.py: no proxy)
        ]

    def start(self, timeout: float = 60.0) -> Server:
        self.launch()
        self.wait_ready(timeout)
        return self

    def launch(self) -> None:
        self.started_at = time.monotonic()
        self.process = spawn(self.command(), log=self.log_path, env=self.env)

    def wait_ready(self, timeout: float) -> None:
        """Ready when every worker answers: c4router says 403 to a query without a token once
        its table is loaded (503 before); the raw app says 200."""
        deadline = time.monotonic() + timeout
        want = 403 if self.app == "c4router" else 200
        good = 0
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.app} exited at start:\n{self.log_tail()}")
            try:
                # A new connection each time: with several workers, each may get one.
                response = httpx.post(
                    f"{self.url}/kamailio/rtjson",
                    content=b"{}",
                    timeout=2.0,
                    headers={"Content-Type": "application/json"},
                )
                good = good + 1 if response.status_code == want else 0
                if (
                    good >= 4 * self.config.workers
                    and len(self.worker_pids()) >= self.config.workers
                ):
                    self.ready_after = time.monotonic() - self.started_at
                    return
            except httpx.TransportError:
                good = 0
            time.sleep(0.05 if good else 0.2)
        raise RuntimeError(f"{self.app} not ready in {timeout:.0f}s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        if self.config.server == "uvicorn" and self.config.workers == 1:
            return [self.process.pid]
        return [pid for pid in children(self.process.pid) if "resource_tracker" not in cmdline(pid)]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server's processes: master and workers."""
        return cpu_seconds(group_pids(self.process.pid)) if self.process else 0.0

    def memory(self) -> list[dict[str, float]]:
        return [memory_mb(pid) for pid in self.worker_pids()]

    def build_times(self) -> list[float]:
        """Every full build the workers logged ('routing table vN built in X s'), in order."""
        return [seconds for kind, seconds in self.table_updates() if kind == "built"]

    def table_updates(self) -> list[tuple[str, float]]:
        """Every table change the workers logged: ('built', s) for a full build, ('patched',
        s) for an in-place update ('routing table vN patched (...) in X s')."""
        found = re.findall(
            r"routing table v\d+ (built|patched)[^\n]*? in ([0-9.]+)s", self.log_text()
        )
        return [(kind, float(seconds)) for kind, seconds in found]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        stop(self.process)
        self.process = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------------------------
# wrk


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # non-2xx/3xx answers + socket errors
    non2xx: int
    socket_errors: int
    # CPU time the server's processes used during the run, per request (0: not measured)
    server_cpu_us: float = 0.0
    timeouts: int = 0  # of socket_errors: no answer within wrk's 2 s

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def wrk_command(
    url: str, pool: Path, token: str, connections: int, seconds: float, pause_ms: int = 0
) -> list[str]:
    """pause_ms: each connection waits this long before each request (a steady rate)."""
    threads = min(2, connections)
    return [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--latency",
        "-s",
        str(REPO / "bench" / "rtjson.lua"),
        url,
        "--",
        str(pool),
        token,
        *([str(pause_ms)] if pause_ms else []),
    ]


def parse_wrk(output: str) -> WrkResult:
    match = re.search(r"^BENCH_JSON (\{.*\})$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk gave no result:\n{output[-2000:]}")
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    sockets = data["connect"] + data["read"] + data["write"] + data["timeout"]
    return WrkResult(
        requests=data["requests"],
        seconds=seconds,
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=data["p50"] / 1000,
        p90_ms=data["p90"] / 1000,
        p99_ms=data["p99"] / 1000,
        max_ms=data["max"] / 1000,
        errors=data["status"] + sockets,
        non2xx=data["status"],
        socket_errors=sockets,
        timeouts=data["timeout"],
    )


def run_wrk(url: str, pool: Path, token: str, connections: int, seconds: float) -> WrkResult:
    process = spawn(
        wrk_command(url, pool, token, connections, seconds),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        out, _ = process.communicate(timeout=seconds + 20)
    finally:
        stop(process)
    return parse_wrk(out.decode(errors="replace"))


def start_wrk(
    url: str, pool: Path, token: str, connections: int, seconds: float, pause_ms: int = 0
) -> subprocess.Popen[bytes]:
    return spawn(
        wrk_command(url, pool, token, connections, seconds, pause_ms),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def finish_wrk(process: subprocess.Popen[bytes], timeout: float) -> WrkResult:
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        stop(process)
    return parse_wrk(out.decode(errors="replace"))


def interrupt_wrk(process: subprocess.Popen[bytes], timeout: float = 15.0) -> WrkResult:
    """Stop a wrk started with start_wrk() now (SIGINT: it still reports) and parse it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGINT)
    return finish_wrk(process, timeout)
