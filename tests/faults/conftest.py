"""Shared pieces of the fault suite: a private PostgreSQL, routing data entered through the
REST API, a Kamailio edge rendered by `manage.py render_kamailio_config`, and SIPp load.

Everything here starts real processes on 127.0.0.1 and stops them in the fixture that
started them, also when the test fails: the private PostgreSQL (pg_ctl, its own data
directory and port, never the shared server on 5432), c4router servers (tests/live.py),
Kamailio and SIPp (tests/e2e/harness.py, imported as the e2e suite imports it).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

_E2E = Path(__file__).resolve().parents[1] / "e2e"
if str(_E2E) not in sys.path:
    sys.path.insert(0, str(_E2E))

import harness as h  # noqa: E402

from tests.live import REPO, C4RouterServer  # noqa: E402

TOKEN = "faults-edge1-token-0123456789abcdef"
ADMIN = ("ops", "ops-Pass-12345")
TEMPLATE = "c4router_template"  # migrated once per session, copied for each test
FRANCE = "33612345678"  # dialled by the SIPp caller: the France rule (prefix 33)


def require(what: str, ok: bool) -> None:
    """Skip without a tool, or fail under C4ROUTER_REQUIRE_E2E=1 (CI must not skip)."""
    if ok:
        return
    message = f"fault test needs {what}"
    if h.e2e_required():
        pytest.fail(message + " (C4ROUTER_REQUIRE_E2E=1: failing instead of skipping)")
    pytest.skip(message)


# ------------------------------------------------------------------ a private PostgreSQL


def postgres_bindir() -> Path | None:
    """Debian's PostgreSQL binaries (/usr/lib/postgresql/<version>/bin), newest first;
    C4ROUTER_PG_BINDIR overrides."""
    override = os.environ.get("C4ROUTER_PG_BINDIR")
    candidates = [Path(override)] if override else []
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


class PrivatePostgres:
    """A PostgreSQL cluster of our own: data directory in a temporary directory, 127.0.0.1
    on a free port, trust authentication, fsync off (a test cluster, thrown away). Run as
    the `postgres` system user when we are root (initdb refuses root), else as ourselves.
    Only ever driven with `pg_ctl -D <our directory>`: the shared server is never touched.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="c4router-faults-pg-"))
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = h.free_port()

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, timeout: float = 60) -> str:
        command = [str(self.bindir / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        proc = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
            check=False, cwd=self.root,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
                f"\n{self.log_text()[-2000:]}"
            )
        return proc.stdout

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--no-sync", "--locale=C",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off"
        )
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-w", "-t", "30", "-l", str(self.log_path),
            "-o", options,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "30")

    def running(self) -> bool:
        command = [str(self.bindir / "pg_ctl"), "status", "-D", str(self.data)]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode == 0

    def create_database(self, name: str, template: str = "template1") -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except (FileNotFoundError, PermissionError):
            return ""

    def destroy(self) -> None:
        """Stop it whatever its state (immediate: nothing to keep) and remove its files."""
        try:
            if self.data.exists() and self.running():
                self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            self._kill_postmaster()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        """pg_ctl could not stop it: SIGKILL our postmaster (the pid in our data directory,
        checked to be a postgres process serving that directory), its children follow."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"postgres" in cmdline and str(self.data).encode() in cmdline:
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    """One private cluster for the suite, with a template database migrated by
    `manage.py migrate` and holding the admin's superuser; stopped and removed at the end."""
    bindir = postgres_bindir()
    require("PostgreSQL's server binaries (/usr/lib/postgresql/*/bin)", bindir is not None)
    assert bindir is not None
    pg = PrivatePostgres(bindir)
    try:
        pg.init()
        pg.start()
        pg.create_database(TEMPLATE)
        manage("migrate", "--noinput", database_url=pg.url(TEMPLATE))
        create_admin(pg.url(TEMPLATE))
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
def database_url(private_postgres) -> Iterator[str]:
    """A fresh database for the test, copied from the migrated template (instant); dropped
    afterwards, the cluster started again first if the test left it stopped."""
    pg = private_postgres
    name = f"c4router_{uuid.uuid4().hex[:12]}"
    pg.create_database(name, template=TEMPLATE)
    yield pg.url(name)
    if not pg.running():
        pg.start()
    pg.drop_database(name)


# ------------------------------------------------------------------ manage.py, as an operator


def manage(*args: str, database_url: str, timeout: float = 120, **env: str) -> str:
    """`manage.py ARGS` in a subprocess with production settings on DATABASE_URL."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "c4router.settings",
        "C4ROUTER_MODE": "dev",
        "DEBUG": "0",
        "DATABASE_URL": database_url,
        **env,
    }
    proc = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=environment, capture_output=True,
        text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, f"manage.py {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def create_admin(database_url: str) -> None:
    """The operator's first superuser, as the README's quick start makes it."""
    manage(
        "createsuperuser", "--noinput", "--username", ADMIN[0], "--email", "ops@example.com",
        database_url=database_url, DJANGO_SUPERUSER_PASSWORD=ADMIN[1],
    )  # fmt: skip


def admin_api(server: C4RouterServer) -> httpx.Client:
    """An httpx client on the server's REST API with the admin's token (POST auth/token)."""
    response = httpx.post(
        f"{server.url}/api/v1/auth/token/",
        data={"username": ADMIN[0], "password": ADMIN[1]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return httpx.Client(
        base_url=f"{server.url}/api/v1",
        headers={"Authorization": f"Token {response.json()['token']}"},
        timeout=10,
    )


# ------------------------------------------------------------------ routing data


@dataclass
class World:
    """What the admin entered: Acme's PBX calls from 127.0.0.1; the France rule sends calls
    to Alpha's gateway, then Beta's (two SIPp carriers); one Kamailio edge."""

    instance: dict
    france: dict
    alpha1: dict
    beta1: dict

    @property
    def alpha_port(self) -> int:
        return int(self.alpha1["port"])

    @property
    def beta_port(self) -> int:
        return int(self.beta1["port"])

    @property
    def edge_port(self) -> int:
        return int(self.instance["listen_port"])


def _post(api: httpx.Client, path: str, **data: object) -> dict:
    response = api.post(f"/{path}/", json=data)
    assert response.status_code == 201, f"POST {path}: {response.status_code} {response.text}"
    return response.json()


def make_world(api: httpx.Client, api_urls: list[str], *, api_timeout_ms: int = 1000) -> World:
    """The routing data, entered through the REST API of a running server."""
    tenant = _post(api, "tenants", name="Acme")
    pbx = _post(api, "pbxs", tenant=tenant["id"], name="hq", host="127.0.0.1")
    _post(api, "ip-sources", cidr="127.0.0.1/32", pbx=pbx["id"], description="the SIPp caller")
    alpha = _post(api, "carriers", name="Alpha")
    beta = _post(api, "carriers", name="Beta")
    alpha1 = _post(
        api, "gateways", carrier=alpha["id"], name="alpha-1", host="127.0.0.1", port=h.free_port()
    )
    beta1 = _post(
        api, "gateways", carrier=beta["id"], name="beta-1", host="127.0.0.1", port=h.free_port()
    )
    france = _post(
        api, "route-rules", name="France", prefix="33",
        targets=[{"gateway": alpha1["id"]}, {"gateway": beta1["id"]}],
    )  # fmt: skip
    instance = _post(
        api, "router-instances", name="edge1", listen_ip="127.0.0.1",
        listen_port=h.free_port(), api_urls="\n".join(api_urls), api_timeout_ms=api_timeout_ms,
        http_workers=2, children=4, fr_timer=2000, fr_inv_timer=30000,
        failover_codes="408,500,502,503,504", token=TOKEN,
    )  # fmt: skip
    return World(instance, france, alpha1, beta1)


def routing_query(call_id: str = "faults-probe", number: str = FRANCE) -> dict:
    """The query Kamailio sends for a call from the SIPp caller."""
    return {
        "event": "sip-routing", "source_ip": "127.0.0.1", "source_port": 5060,
        "call_id": call_id, "from_uri": "sip:alice@127.0.0.1", "to_uri":
        f"sip:{number}@127.0.0.1", "to_tag": "<null>",
    }  # fmt: skip


def first_hop(server: C4RouterServer) -> str | None:
    """The first route's dst_uri for a call from the SIPp caller; None while the server
    refuses (e.g. a 403 until its reload thread has seen the instance's token)."""
    response = httpx.post(
        f"{server.url}/kamailio/rtjson", json=routing_query(), timeout=2.0,
        headers={"X-C4-Token": TOKEN},
    )  # fmt: skip
    if response.status_code != 200:
        return None
    return response.json()["rtjson"]["routes"][0]["dst_uri"]


def readyz(server: C4RouterServer) -> tuple[int, dict]:
    response = httpx.get(f"{server.url}/readyz", timeout=2.0)
    return response.status_code, response.json()


def routed_count(server: C4RouterServer) -> float:
    """c4router_routing_requests_total{outcome="routed"} of a one-process server."""
    text = httpx.get(f"{server.url}/metrics", timeout=2.0).text
    found = re.search(r'^c4router_routing_requests_total\{outcome="routed"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


# ------------------------------------------------------------------ Kamailio and SIPp


@pytest.fixture
def start_edge(tmp_path) -> Iterator:
    """Render an instance's config with `manage.py render_kamailio_config` (as an operator
    does, against the database the servers use) and run it; stopped afterwards."""
    h.skip_or_fail_without_requirements()
    started: list[h.KamailioProcess] = []

    def start(world: World, database_url: str) -> h.KamailioProcess:
        req = h.requirements()
        etc = tmp_path / "etc"
        name = world.instance["name"]
        manage(
            "render_kamailio_config", "--instance", name, "--output-dir", str(etc), "--force",
            "--http-async-client", str(req.http_async_client), "--module-path",
            str(req.module_dir), database_url=database_url,
        )  # fmt: skip
        edge = h.KamailioProcess(
            (etc / f"{name}.cfg").read_text(), world.edge_port, tmp_path / f"kamailio-{name}"
        )
        started.append(edge)
        return edge.start()

    yield start
    for edge in started:
        edge.stop()


@pytest.fixture
def carriers(tmp_path) -> Iterator:
    """SIPp carriers (uas.xml) on the gateways' ports; stopped afterwards."""
    started: list[h.SippUAS] = []

    def start(port: int, tag: str, calls: int = 1, timeout_s: float = 40) -> h.SippUAS:
        uas = h.SippUAS("uas.xml", workdir=tmp_path, port=port, calls=calls,
                        timeout_s=timeout_s, tag=tag)  # fmt: skip
        started.append(uas)
        return uas.start()

    yield start
    for uas in started:
        uas.stop()


def sipp_counts(result: h.SippResult) -> dict[str, int]:
    """Created / successful / failed calls from SIPp's final statistics screen."""
    counts = {}
    for key, label in (
        ("created", "Outgoing calls created"),
        ("successful", "Successful call"),
        ("failed", "Failed call"),
    ):
        found = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", result.stdout)
        counts[key] = int(found[-1]) if found else -1
    return counts


class CallLoad:
    """A SIPp caller placing `calls` calls at `rate` calls/s through the edge, in the
    background while the test injects its fault. Bounded: -m, -timeout, `timeout`; its own
    process group, stopped by the `call_load` fixture if the test does not wait for it."""

    def __init__(self, edge: h.KamailioProcess, workdir: Path, rate: int, calls: int) -> None:
        self.edge, self.workdir, self.rate, self.calls = edge, workdir, rate, calls
        self.timeout_s = calls / rate + 30
        self.port = h.free_port()
        self.message_file = workdir / f"load-{self.port}.messages.log"
        self.error_file = workdir / f"load-{self.port}.errors.log"
        self.stdout_file = workdir / f"load-{self.port}.stdout.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> CallLoad:
        command = h._sipp_cmd(
            h._scenario_path("uac.xml"), remote=f"{h.LOCALHOST}:{self.edge.port}",
            port=self.port, media_port=h.free_port_block(4), calls=self.calls,
            timeout_s=self.timeout_s, recv_timeout_ms=10000, service=FRANCE, duration_ms=200,
            message_file=self.message_file, error_file=self.error_file,
            extra=["-r", str(self.rate), "-rp", "1000", "-l", str(self.rate * 5)],
        )  # fmt: skip
        command = ["timeout", "-k", "5", str(int(self.timeout_s) + 10), *command]
        with self.stdout_file.open("wb") as out:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.workdir, start_new_session=True,
            )  # fmt: skip
        self.started_at = time.monotonic()
        return self

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def sleep_until(self, seconds: float) -> None:
        """Sleep until `seconds` after the start of the calls."""
        time.sleep(max(0.0, seconds - self.elapsed()))

    def wait(self) -> h.SippResult:
        """Wait for the last call (SIPp's own bounds, then ours) and read what SIPp saw."""
        assert self.proc is not None
        try:
            returncode: int | None = self.proc.wait(timeout=self.timeout_s + 20)
        except subprocess.TimeoutExpired:
            self.stop()
            returncode = None
        return h.SippResult(
            returncode, h.parse_sipp_messages(self.message_file),
            self.stdout_file.read_text(errors="replace")[-5000:], self.elapsed(),
            self.message_file, h._read(self.error_file),
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None:
            h._terminate(self.proc)


@pytest.fixture
def call_load(tmp_path) -> Iterator:
    """start(edge, rate, calls) -> a running CallLoad; any still running is stopped."""
    started: list[CallLoad] = []

    def start(edge: h.KamailioProcess, rate: int, calls: int) -> CallLoad:
        load = CallLoad(edge, tmp_path, rate, calls)
        started.append(load)
        return load.start()

    yield start
    for load in started:
        load.stop()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll predicate() until it returns something true (returned), at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)
