"""The strict environment readers of c4router/env.py: good values, and bad ones named."""

from __future__ import annotations

import ipaddress

import pytest
from django.core.exceptions import ImproperlyConfigured

from c4router.env import (
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_str,
)


def test_env_str_reads_the_value_or_the_default() -> None:
    assert env_str("NAME", "fallback", environ={"NAME": " value "}) == " value "
    assert env_str("NAME", "fallback", environ={}) == "fallback"
    assert env_str("NAME", environ={}) == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("", False),
    ],
)
def test_env_bool_accepts_the_usual_spellings(raw: str, expected: bool) -> None:
    assert env_bool("DEBUG", default=not expected, environ={"DEBUG": raw}) is expected


def test_env_bool_default_when_unset() -> None:
    assert env_bool("DEBUG", default=True, environ={}) is True
    assert env_bool("DEBUG", environ={}) is False


@pytest.mark.parametrize("raw", ["2", "enabled", "tru", "y e s"])
def test_env_bool_refuses_anything_else_naming_the_variable(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^DEBUG=.* is not a boolean"):
        env_bool("DEBUG", environ={"DEBUG": raw})


def test_env_int_reads_base_10_and_defaults_when_unset_or_blank() -> None:
    assert env_int("N", 5, environ={"N": " 42 "}) == 42
    assert env_int("N", 5, environ={"N": "-3"}) == -3
    assert env_int("N", 5, environ={"N": "010"}) == 10
    assert env_int("N", 5, environ={}) == 5
    assert env_int("N", 5, environ={"N": "  "}) == 5


@pytest.mark.parametrize("raw", ["4.5", "ten", "0x10", "1e3"])
def test_env_int_refuses_non_integers(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^N=.* is not an integer\.$"):
        env_int("N", 5, environ={"N": raw})


def test_env_int_enforces_the_bounds_inclusively() -> None:
    assert env_int("N", 0, minimum=1, maximum=10, environ={"N": "1"}) == 1
    assert env_int("N", 0, minimum=1, maximum=10, environ={"N": "10"}) == 10
    with pytest.raises(ImproperlyConfigured, match=r"^N=0 is below the minimum 1\.$"):
        env_int("N", 5, minimum=1, environ={"N": "0"})
    with pytest.raises(ImproperlyConfigured, match=r"^N=11 is above the maximum 10\.$"):
        env_int("N", 5, maximum=10, environ={"N": "11"})


def test_env_int_checks_the_default_too() -> None:
    # A default outside the bounds is a programming error: refused the same way.
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env_int("N", 0, minimum=1, environ={})


def test_env_list_splits_on_commas_and_trims() -> None:
    assert env_list("HOSTS", environ={"HOSTS": "a.example, b.example ,c"}) == [
        "a.example",
        "b.example",
        "c",
    ]
    assert env_list("HOSTS", "x,y", environ={}) == ["x", "y"]
    assert env_list("HOSTS", environ={"HOSTS": "  "}) == []
    assert env_list("HOSTS", environ={}) == []


@pytest.mark.parametrize("raw", ["a,,b", "a,", ",a", "a, ,b"])
def test_env_list_refuses_empty_items(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^HOSTS=.* has an empty item"):
        env_list("HOSTS", environ={"HOSTS": raw})


def test_env_networks_parses_cidrs_and_bare_addresses() -> None:
    nets = env_networks("NETS", environ={"NETS": "127.0.0.0/8, ::1, 192.0.2.7"})
    assert nets == [
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("192.0.2.7/32"),
    ]
    assert env_networks("NETS", "10.0.0.0/8", environ={}) == [ipaddress.ip_network("10.0.0.0/8")]


@pytest.mark.parametrize("raw", ["10.0.0.1/8", "300.0.0.0/8", "localhost", "10.0.0.0/33"])
def test_env_networks_refuses_bad_networks_naming_the_variable_and_item(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^NETS: .* is not a valid network"):
        env_networks("NETS", environ={"NETS": f"127.0.0.0/8,{raw}"})


def test_database_from_url_postgres_with_everything() -> None:
    db = database_from_url(
        "postgres://router:p%40ss@db.example:6432/c4%20router?sslmode=require&connect_timeout=5"
    )
    assert db == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "c4 router",
        "USER": "router",
        "PASSWORD": "p@ss",
        "HOST": "db.example",
        "PORT": "6432",
        "OPTIONS": {"sslmode": "require", "connect_timeout": "5"},
    }


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "pgsql", "POSTGRES"])
def test_database_from_url_postgres_minimal(scheme: str) -> None:
    db = database_from_url(f"{scheme}://127.0.0.1/c4router")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "c4router",
        "",
        "",
        "127.0.0.1",
        "",
    )
    assert db["OPTIONS"] == {}


def test_database_from_url_postgres_without_database_name() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^DATABASE_URL=.* names no database"):
        database_from_url("postgres://postgres@127.0.0.1:5432/")


def test_database_from_url_postgres_with_a_bad_port() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^DATABASE_URL=.* has an invalid port"):
        database_from_url("postgres://127.0.0.1:99999/c4router")


def test_database_from_url_names_the_variable_it_reads() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^REPLICA_URL="):
        database_from_url("postgres://127.0.0.1/", name="REPLICA_URL")


def test_database_from_url_sqlite_relative_and_absolute() -> None:
    assert database_from_url("sqlite:///var/db.sqlite3") == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "var/db.sqlite3",
    }
    assert database_from_url("sqlite:////srv/c4router/db.sqlite3")["NAME"] == (
        "/srv/c4router/db.sqlite3"
    )


def test_database_from_url_sqlite_without_a_file() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^DATABASE_URL=.* names no file"):
        database_from_url("sqlite:///")


@pytest.mark.parametrize(
    "url", ["mysql://root@localhost/c4router", "redis://localhost/0", "c4router", ""]
)
def test_database_from_url_refuses_other_schemes(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^DATABASE_URL=.* unsupported scheme"):
        database_from_url(url)
