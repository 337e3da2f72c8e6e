"""c4router/gunicorn_conf.py: the settings it gives gunicorn and what its hooks do."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from gunicorn.config import Config

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "c4router" / "gunicorn_conf.py"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def load_conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """The file as gunicorn reads it: a fresh module, executed with this environment."""
    for name in ("PORT", "WEB_CONCURRENCY", "C4ROUTER_ACCESS_LOG"):
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


def test_settings_from_the_environment(monkeypatch):
    module = load_conf(monkeypatch, PORT="9100", WEB_CONCURRENCY="6", C4ROUTER_ACCESS_LOG="on")
    config = gunicorn_settings(module)
    assert config.bind == ["0.0.0.0:9100"]
    assert config.workers == 6
    assert config.accesslog == "-"


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORT", "http"), ("PORT", "70000"), ("WEB_CONCURRENCY", "0"), ("C4ROUTER_ACCESS_LOG", "x")],
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
