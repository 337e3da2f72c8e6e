"""Routing table reads from the replica; every write goes to the primary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from c4router.db_router import PrimaryReplicaRouter
from routing.models import Tenant

REPO = Path(__file__).resolve().parent.parent
SERVER = "postgres://postgres@127.0.0.1:5432"


def test_router_sends_writes_to_the_primary_and_migrations_only_there():
    router = PrimaryReplicaRouter()
    assert router.db_for_write(Tenant, instance=Tenant(name="x")) == "default"
    assert router.db_for_read(Tenant) is None  # the primary: admins read what they saved
    assert router.allow_migrate("default", "routing") is True
    assert router.allow_migrate("replica", "routing") is False


# What a worker does, run in a separate process configured with both URLs.
SCRIPT = """
import json, django
django.setup()
from routing.loader import build_from_database
from routing.models import Tenant
table = build_from_database()
Tenant(name="written-by-app").save()
from_replica = Tenant.objects.using("replica").get(name="only-on-replica")
from_replica.description = "saved after reading it from the replica"
from_replica.save()
print(json.dumps({"tenants_in_table": sorted(t.name for t in table.tenants.values())}))
"""


def _psql(database: str, sql: str) -> list[tuple]:
    with psycopg.connect(f"{SERVER}/{database}", autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def two_databases():
    """A primary and a 'replica' (a second database with different rows, so a read shows
    which one it came from), both migrated."""
    suffix = uuid.uuid4().hex[:8]
    names = [f"c4router_primary_{suffix}", f"c4router_replica_{suffix}"]
    for name in names:
        _psql("postgres", f'CREATE DATABASE "{name}"')
    env = {**os.environ, "C4ROUTER_MODE": "dev", "DJANGO_SETTINGS_MODULE": "c4router.settings"}
    env.pop("DATABASE_REPLICA_URL", None)
    migrate = [sys.executable, "manage.py", "migrate", "-v0"]
    migrations = [
        subprocess.Popen(migrate, cwd=REPO, env={**env, "DATABASE_URL": f"{SERVER}/{name}"})
        for name in names
    ]
    assert all(p.wait(timeout=120) == 0 for p in migrations)
    # An id the primary will not hand out, so the two rows stay apart when both are saved.
    _psql(
        names[1],
        "INSERT INTO routing_tenant (id, name, enabled, description, created_at, updated_at) "
        "VALUES (1000, 'only-on-replica', true, '', now(), now())",
    )
    yield names
    for name in names:
        _psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_table_reads_the_replica_and_writes_reach_the_primary(two_databases):
    primary, replica = two_databases
    env = {
        **os.environ,
        "C4ROUTER_MODE": "dev",
        "DJANGO_SETTINGS_MODULE": "c4router.settings",
        "DATABASE_URL": f"{SERVER}/{primary}",
        "DATABASE_REPLICA_URL": f"{SERVER}/{replica}",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["tenants_in_table"] == ["only-on-replica"]  # the table came from the replica
    on_primary = {name for (name,) in _psql(primary, "SELECT name FROM routing_tenant")}
    on_replica = {name for (name,) in _psql(replica, "SELECT name FROM routing_tenant")}
    # Both writes went to the primary, even the object read from the replica.
    assert on_primary == {"written-by-app", "only-on-replica"}
    assert on_replica == {"only-on-replica"}
    (description,) = _psql(replica, "SELECT description FROM routing_tenant")[0]
    assert description == ""


def test_replica_url_must_be_postgres():
    env = {**os.environ, "C4ROUTER_MODE": "dev", "DATABASE_REPLICA_URL": "sqlite:///x.db"}
    result = subprocess.run(
        [sys.executable, "-c", "import c4router.settings"], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "DATABASE_REPLICA_URL must be a postgres:// URL" in result.stderr
