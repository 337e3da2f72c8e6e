"""c4router/gunicorn_conf.py: the settings it gives gunicorn, what its hooks do, and a real
gunicorn started with it (two workers, /metrics summing both)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path
from types import ModuleType, SimpleNamespace

import httpx
import orjson
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from gunicorn.config import Config
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.live import C4RouterServer
from tests.test_dockerfile import healthcheck_command

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "c4router" / "gunicorn_conf.py"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def load_conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """The file as gunicorn reads it: a fresh module, executed with this environment."""
    for name in ("PORT", "WEB_CONCURRENCY", "C4ROUTER_ACCESS_LOG", "C4ROUTER_TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test", CONF)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gunicorn_settings(module: ModuleType) -> Config:
    """What gunicorn makes of the module: it keeps the names it knows, validated."""
    config = Config()
    for name, value in vars(module).items():
        if name in config.settings:
            config.set(name, value)
    return config


def test_defaults(monkeypatch):
    config = gunicorn_settings(load_conf(monkeypatch))
    assert config.bind == ["0.0.0.0:8000"]
    assert config.workers == 2
    assert config.worker_class_str == "uvicorn_worker.UvicornWorker"
    assert config.wsgi_app == "c4router.asgi:application"
    assert config.accesslog is None  # off: noise at 500 calls/s
    assert 0 < config.graceful_timeout < 10  # Docker's stop sends SIGKILL after 10 s
    assert config.control_socket_disable is True
    assert config.forwarded_allow_ips == []  # X-Forwarded-For from nobody (gunicorn: 127.0.0.1)


def test_settings_from_the_environment(monkeypatch):
    module = load_conf(monkeypatch, PORT="9100", WEB_CONCURRENCY="6", C4ROUTER_ACCESS_LOG="on")
    config = gunicorn_settings(module)
    assert config.bind == ["0.0.0.0:9100"]
    assert config.workers == 6
    assert config.accesslog == "-"
    trusting = load_conf(monkeypatch, C4ROUTER_TRUSTED_PROXIES="10.0.0.0/29, 2001:db8::1")
    assert gunicorn_settings(trusting).forwarded_allow_ips == ["10.0.0.0/29", "2001:db8::1/128"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "70000"),
        ("WEB_CONCURRENCY", "0"),
        ("C4ROUTER_ACCESS_LOG", "x"),
        ("C4ROUTER_TRUSTED_PROXIES", "proxy.example"),
    ],
)
def test_a_bad_value_stops_gunicorn_naming_the_variable(monkeypatch, name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        load_conf(monkeypatch, **{name: value})


def test_on_starting_empties_the_metrics_directory(monkeypatch, tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_4242.db").write_bytes(b"stale samples of a previous run")
    (metrics / "histogram_4243.db").write_bytes(b"stale")
    module = load_conf(monkeypatch, **{MULTIPROC_ENV: str(metrics)})

    module.on_starting(SimpleNamespace())

    assert list(metrics.iterdir()) == []


def test_on_starting_removes_only_prometheus_files(monkeypatch, tmp_path):
    """A directory set by mistake to a shared one (/tmp) loses nothing but *.db files."""
    (tmp_path / "counter_4242.db").write_bytes(b"stale")
    (tmp_path / "notes.txt").write_text("someone else's")
    module = load_conf(monkeypatch, **{MULTIPROC_ENV: str(tmp_path)})

    module.on_starting(SimpleNamespace())

    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_on_starting_creates_a_missing_directory(monkeypatch, tmp_path):
    metrics = tmp_path / "run" / "metrics"
    module = load_conf(monkeypatch, **{MULTIPROC_ENV: str(metrics)})
    module.on_starting(SimpleNamespace())
    assert metrics.is_dir()


def test_without_a_directory_the_workers_get_a_private_one_removed_at_exit(monkeypatch):
    # Empty counts as unset; monkeypatch puts the environment back after the hook set it.
    module = load_conf(monkeypatch, **{MULTIPROC_ENV: ""})

    module.on_starting(SimpleNamespace())
    directory = Path(os.environ[MULTIPROC_ENV])  # what the forked workers inherit
    assert directory.is_dir()
    module.on_exit(SimpleNamespace())

    assert not directory.exists()


def test_child_exit_marks_the_worker_dead(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(
        "prometheus_client.multiprocess.mark_process_dead",
        lambda pid, path=None: calls.append((pid, path)),
    )
    module = load_conf(monkeypatch, **{MULTIPROC_ENV: str(tmp_path)})

    module.child_exit(SimpleNamespace(), SimpleNamespace(pid=31337))

    assert calls == [(31337, str(tmp_path))]


def test_child_exit_removes_the_live_gauges_of_the_dead_worker(monkeypatch, tmp_path):
    """The real prometheus_client: a dead worker's "live" gauge file goes, counters stay
    (a counter must never go down when a worker is replaced)."""
    (tmp_path / "gauge_livesum_31337.db").write_bytes(b"")
    (tmp_path / "counter_31337.db").write_bytes(b"")
    module = load_conf(monkeypatch, **{MULTIPROC_ENV: str(tmp_path)})

    module.child_exit(SimpleNamespace(), SimpleNamespace(pid=31337))

    assert [p.name for p in tmp_path.iterdir()] == ["counter_31337.db"]


# --- a real gunicorn with this file -------------------------------------------------------------

TOKEN = "gunicorn-conf-test-token-0123456789"
QUERY = orjson.dumps(
    {"event": "sip-routing", "source_ip": "10.10.0.10", "source_port": 5060,
     "call_id": "metrics@test", "from_uri": "sip:0123456789@10.10.0.10",
     "to_uri": "sip:0612345678@x", "to_tag": "<null>"}
)  # fmt: skip
ROUTED = ("c4router_routing_requests_total", {"outcome": "routed"})


def per_worker_routed(metrics: Path) -> dict[int, float]:
    """Routed queries counted by each worker, read from its own file in the directory."""
    counts = {}
    for path in metrics.glob("counter_*.db"):
        with tempfile.TemporaryDirectory() as alone:
            shutil.copy(path, alone)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=alone)
            counts[int(path.stem.split("_")[1])] = registry.get_sample_value(*ROUTED) or 0.0
    return counts


def scrape(http: httpx.Client) -> dict[str, float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == ROUTED[0] and sample.labels == ROUTED[1]:
                values["routed"] = sample.value
            elif sample.name == "c4router_routing_seconds_count":
                values["timed"] = sample.value
    return values


def stale_counter(metrics: Path) -> None:
    """A previous run's file, as prometheus_client wrote it: 1000 routed queries."""
    metrics.mkdir()
    code = (
        "from prometheus_client import Counter\n"
        "Counter('c4router_routing_requests', '', ['outcome']).labels('routed').inc(1000)\n"
    )
    env = {**os.environ, MULTIPROC_ENV: str(metrics)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
    assert list(metrics.glob("counter_*.db"))


@pytest.mark.django_db(transaction=True)
def test_metrics_sum_what_every_worker_counted(tmp_path):
    call_command("seed_demo", stdout=StringIO())  # 10.10.0.10 is Acme's PBX: routed
    metrics = tmp_path / "metrics"
    stale_counter(metrics)
    env = {MULTIPROC_ENV: str(metrics), "C4ROUTER_API_TOKEN": TOKEN}
    headers = {"Content-Type": "application/json", "X-C4-Token": TOKEN}
    with C4RouterServer(tmp_path, server="gunicorn", workers=2, config=CONF, env=env) as server:
        sent = 0
        # A fresh connection per query, so that both workers answer some (the kernel hands
        # connections to whichever worker accepts first); bounded.
        while len([n for n in per_worker_routed(metrics).values() if n]) < 2:
            assert sent < 2000, f"one worker answered everything: {per_worker_routed(metrics)}"
            for _ in range(20):
                response = httpx.post(f"{server.url}/kamailio/rtjson", content=QUERY,
                                      headers=headers, timeout=5)  # fmt: skip
                assert response.status_code == 200
                sent += 1
        with httpx.Client(base_url=server.url, timeout=5) as http:
            # The stale 1000 are gone (on_starting), the two workers' counts are summed
            # (each worker adds its own within a poll interval: routing.metrics.RoutingTally).
            deadline = time.monotonic() + 5
            while (values := scrape(http)) != {"routed": sent, "timed": sent}:
                assert time.monotonic() < deadline, f"{values} after {sent} routed queries"
                time.sleep(0.1)
            assert sum(per_worker_routed(metrics).values()) == sent

            # A worker dies: gunicorn replaces it, child_exit marks it dead, and what it
            # counted stays in the sum (a counter never goes down).
            victim = next(pid for pid, n in per_worker_routed(metrics).items() if n)
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while len(per_worker_routed(metrics)) < 3:
                assert time.monotonic() < deadline, "no new worker after the kill"
                time.sleep(0.2)
            server.wait_ready()
            assert scrape(http)["routed"] == sent

            # The production image's HEALTHCHECK, as Docker runs it, against this server.
            probe = subprocess.run(
                healthcheck_command(), env={**os.environ, "PORT": str(server.port)},
                capture_output=True, timeout=30, check=False,
            )  # fmt: skip
            assert probe.returncode == 0, probe.stderr
    assert "Booting worker" in server.log_text()
