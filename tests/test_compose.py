"""compose.yaml, the lab, checked without Docker: every service, file, variable, command,
address and port it names must exist in the project and agree with each other.

Docker cannot run where the suite runs, so this is what keeps the lab working: it reads
compose.yaml as Compose would, runs the management commands' own argument parsers on the
command lines, renders the lab's Kamailio config from them, and routes the lab's test call
through the lab data.
"""

from __future__ import annotations

import ast
import contextlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.core.management import call_command, get_commands, load_command_class

from tests.test_dockerfile import cmd_command, parse_dockerfile

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "compose.yaml"
C4ROUTER_DOCKERFILE = REPO / "Dockerfile"
KAMAILIO_DOCKERFILE = REPO / "docker" / "kamailio" / "Dockerfile"
LAB_DATA = REPO / "docker" / "lab" / "lab-data.json"
ENV_EXAMPLE = REPO / "docker" / "c4router.env.example"
# Variables of the official postgres image that the lab sets.
POSTGRES_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


# --- reading compose.yaml -------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def env_files(service: dict[str, Any]) -> list[Path]:
    files = service.get("env_file", [])
    files = [files] if isinstance(files, str | dict) else files
    return [REPO / (f["path"] if isinstance(f, dict) else f) for f in files]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """What the container gets: its env files, then `environment` (which wins)."""
    values: dict[str, str] = {}
    for path in env_files(service):
        values.update(read_env_file(path))
    declared = service.get("environment", {})
    if isinstance(declared, list):
        declared = dict(item.partition("=")[::2] for item in declared)
    values.update({k: str(v) for k, v in declared.items()})
    return values


def dockerfile_of(service: dict[str, Any]) -> Path | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        build = {"context": build}
    return (REPO / build["context"] / build.get("dockerfile", "Dockerfile")).resolve()


def runs_c4router(service: dict[str, Any]) -> bool:
    return dockerfile_of(service) == C4ROUTER_DOCKERFILE


def command_words(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(w) for w in command]


def manage_commands(service: dict[str, Any]) -> list[list[str]]:
    """[name, arg...] of each `python manage.py name arg...` the service runs (directly or
    in an `sh -c "a && b"`)."""
    words = command_words(service)
    if words[:2] == ["sh", "-c"]:
        lines = [shlex.split(part) for part in words[2].split("&&")]
    else:
        lines = [words]
    found = []
    for line in lines:
        if "manage.py" in line:
            found.append(line[line.index("manage.py") + 1 :])
    return found


def manage_command(service: dict[str, Any], name: str) -> list[str]:
    matching = [c[1:] for c in manage_commands(service) if c[0] == name]
    assert len(matching) == 1, f"expected one `manage.py {name}`"
    return matching[0]


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def options(args: list[str], name: str) -> list[str]:
    return [args[i + 1] for i, word in enumerate(args) if word == name]


def fixed_address(service: dict[str, Any]) -> str:
    return service["networks"]["lab"]["ipv4_address"]


def published(service: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    """(host address, host port, container port, protocol) of each published port."""
    result = []
    for entry in service.get("ports", []):
        spec, _, protocol = str(entry).partition("/")
        host_ip, host_port, container_port = spec.rsplit(":", 2)
        result.append((host_ip, int(host_port), int(container_port), protocol or "tcp"))
    return result


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source in the project, path in the container) of each bind mount."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def one_shot(compose: dict[str, Any], name: str) -> bool:
    """Run to completion, not kept running: others wait for it to complete, or it only runs
    on demand (a profile)."""
    service = compose["services"][name]
    if service.get("profiles"):
        return True
    return any(
        isinstance(other.get("depends_on"), dict)
        and other["depends_on"].get(name, {}).get("condition") == "service_completed_successfully"
        for other in compose["services"].values()
    )


# --- what the code reads from the environment ---------------------------------------------

_ENV_HELPERS = {"env_str", "env_bool", "env_int", "env_list", "env_networks"}


def _constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }


def _is_os_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def variables_read(path: Path) -> set[str]:
    """Names read by env_*("NAME"), os.environ.get/[...]/setdefault and os.getenv; a name
    may be a module-level constant (PASSWORD_ENV = "...")."""
    tree = ast.parse(path.read_text())
    constants = _constants(tree)

    def name_of(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return constants.get(node.id)
        return None

    found = set()
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            helper = isinstance(func, ast.Name) and func.id in _ENV_HELPERS
            environ = isinstance(func, ast.Attribute) and (
                (func.attr in {"get", "setdefault"} and _is_os_environ(func.value))
                or (func.attr == "getenv" and isinstance(func.value, ast.Name))
            )
            if helper or environ:
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            key = node.slice
        name = name_of(key) if key is not None else None
        if name:
            found.add(name)
    return found


def c4router_variables() -> set[str]:
    files = [*REPO.glob("c4router/*.py"), REPO / "manage.py"]
    files += [p for p in REPO.glob("routing/**/*.py") if "migrations" not in p.parts]
    names: set[str] = set()
    for path in files:
        names |= variables_read(path)
    return names


def script_variables(directory: Path) -> set[str]:
    names = set()
    for path in directory.iterdir():
        if path.is_file():
            names |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", path.read_text()))
    return names


def test_the_variable_scanner_finds_what_settings_and_gunicorn_read():
    names = c4router_variables()
    # settings.py (env helpers), gunicorn_conf.py, asgi.py, metrics.py, ensure_admin.py
    assert {"SECRET_KEY", "DATABASE_URL", "C4ROUTER_API_ALLOWED_NETS", "LOG_FORMAT"} <= names
    assert {"PORT", "WEB_CONCURRENCY", "C4ROUTER_ACCESS_LOG"} <= names
    assert {"C4ROUTER_LEAN_ASGI", "PROMETHEUS_MULTIPROC_DIR", "C4ROUTER_ADMIN_PASSWORD"} <= names
    assert "SECRET_KEYS" not in names


# --- services, files, images --------------------------------------------------------------------


def test_the_lab_has_its_services(services):
    assert {"postgres", "migrate", "c4router", "render", "kamailio", "carrier", "caller"} <= set(
        services
    )
    assert services["caller"]["profiles"] == ["test"]


def test_every_build_context_and_dockerfile_exists(services):
    for name, service in services.items():
        dockerfile = dockerfile_of(service)
        if dockerfile is None:
            assert "image" in service, f"{name}: neither build nor image"
            continue
        assert dockerfile.parent.is_dir() and dockerfile.is_file(), f"{name}: {dockerfile}"


def test_services_sharing_an_image_build_it_the_same_way(services):
    builds: dict[str, Path | None] = {}
    for name, service in services.items():
        image = service.get("image")
        if image and "build" in service:
            assert builds.setdefault(image, dockerfile_of(service)) == dockerfile_of(service), name


def test_every_mounted_file_or_directory_exists(compose, services):
    for name, service in services.items():
        for source, _ in bind_mounts(service):
            assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in compose.get("volumes", {}), f"{name}: undeclared volume {source}"
        for path in env_files(service):
            assert path.is_file(), f"{name}: env file {path} is missing"


def test_every_variable_set_for_c4router_is_read_by_c4router(services):
    known = c4router_variables()
    checked = 0
    for name, service in services.items():
        if runs_c4router(service):
            unknown = set(environment(service)) - known
            assert not unknown, f"{name} sets {sorted(unknown)}, which c4router never reads"
            checked += 1
    assert checked == 3  # migrate, c4router, render


def test_every_variable_of_the_example_env_file_is_read_by_c4router():
    names = set(read_env_file(ENV_EXAMPLE))
    names |= set(re.findall(r"^#([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))
    assert names - c4router_variables() == set()
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"} <= names


def test_the_other_services_set_only_what_their_image_reads(services):
    kamailio_reads = script_variables(KAMAILIO_DOCKERFILE.parent)
    for name, service in services.items():
        variables = set(environment(service))
        if dockerfile_of(service) == KAMAILIO_DOCKERFILE:
            assert variables <= kamailio_reads, name
        elif str(service.get("image", "")).startswith("postgres:"):
            assert variables == POSTGRES_VARIABLES, name
        elif not runs_c4router(service):
            assert not variables, name


def test_lab_secrets_are_marked_lab_only(services):
    env = environment(services["c4router"])
    assert "lab-only" in env["SECRET_KEY"]
    assert "lab-only" in env["C4ROUTER_API_TOKEN"]
    assert "lab-only" in environment(services["postgres"])["POSTGRES_PASSWORD"]
    for path in {p for s in services.values() for p in env_files(s)}:
        assert "LAB ONLY" in path.read_text(), path


def test_the_database_url_matches_the_postgres_service(services):
    url = urlsplit(environment(services["c4router"])["DATABASE_URL"])
    postgres = environment(services["postgres"])
    assert url.hostname == "postgres"
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_settings_accept_the_lab_environment():
    """c4router in production mode starts with the lab's env file (no database needed)."""
    env = {**os.environ, **read_env_file(REPO / "docker" / "lab" / "c4router.env")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


# --- commands ------------------------------------------------------------------------------------


def test_every_management_command_exists_and_accepts_its_arguments(services):
    commands = get_commands()
    seen = set()
    for name, service in services.items():
        for command, *args in manage_commands(service):
            assert command in commands, f"{name}: no management command {command}"
            parser = load_command_class(commands[command], command).create_parser(
                "manage.py", command
            )
            parser.parse_args(args)  # CommandError on an unknown or malformed option
            seen.add(command)
    assert {"migrate", "seed_demo", "loaddata", "ensure_admin"} <= seen
    assert {"ensure_router_instance", "render_kamailio_config"} <= seen


def test_the_migrate_service_loads_the_lab_data_it_mounts(services):
    migrate = services["migrate"]
    fixture = manage_command(migrate, "loaddata")[0]
    mounts = dict((target, source) for source, target in bind_mounts(migrate))
    directory, _, filename = fixture.rpartition("/")
    assert (REPO / mounts[directory] / filename).resolve() == LAB_DATA


def test_every_sipp_scenario_exists(services):
    named = 0
    for name, service in services.items():
        words = command_words(service)
        if "-sf" not in words:
            continue
        scenario = option(words, "-sf")
        mounts = {target: source for source, target in bind_mounts(service)}
        directory, _, filename = scenario.rpartition("/")
        assert directory in mounts, f"{name}: {scenario} is not in a mounted directory"
        assert (REPO / mounts[directory] / filename).is_file(), f"{name}: no {scenario}"
        named += 1
    assert named == 2  # the carrier and the caller


# --- dependencies and health ---------------------------------------------------------------------


def test_depends_on_names_existing_services_with_sound_conditions(compose, services):
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for other, spec in depends.items() if isinstance(depends, dict) else []:
            assert other in services, f"{name} depends on unknown service {other}"
            condition = spec.get("condition")
            if condition == "service_healthy":
                assert "healthcheck" in services[other], f"{other} has no healthcheck"
            elif condition == "service_completed_successfully":
                assert one_shot(compose, other)
                assert services[other].get("restart", "no") == "no", f"{other} would restart"
            else:
                assert condition == "service_started", f"{name} -> {other}: {condition}"


def test_long_running_services_have_a_healthcheck(compose, services):
    long_running = [name for name in services if not one_shot(compose, name)]
    assert set(long_running) == {"postgres", "c4router", "kamailio", "carrier"}
    for name in long_running:
        healthcheck = services[name].get("healthcheck")
        assert healthcheck and not healthcheck.get("disable"), f"{name}: no healthcheck"
        assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}
        assert services[name].get("restart") == "unless-stopped", name


def test_healthcheck_commands_exist_in_their_images(services):
    kamailio = services["kamailio"]["healthcheck"]["test"][1]
    assert (KAMAILIO_DOCKERFILE.parent / kamailio).is_file()
    carrier = services["carrier"]
    sipp_dir = dockerfile_of(carrier).parent  # type: ignore[union-attr]
    assert (sipp_dir / carrier["healthcheck"]["test"][1]).is_file()
    # c4router: /readyz on the port gunicorn binds (PORT, 8000 by default).
    probe = services["c4router"]["healthcheck"]["test"][-1]
    port = environment(services["c4router"]).get("PORT", "8000")
    assert f"http://127.0.0.1:{port}/readyz" in probe


# --- addresses and ports -----------------------------------------------------------------------


def test_fixed_addresses_are_in_the_lab_network_apart_from_the_dynamic_ones(compose, services):
    (ipam,) = compose["networks"]["lab"]["ipam"]["config"]
    subnet = ipaddress.ip_network(ipam["subnet"])
    dynamic = ipaddress.ip_network(ipam["ip_range"])
    addresses = [fixed_address(s) for s in services.values() if "ipv4_address" in str(s)]
    assert len(addresses) == len(set(addresses)) == 4
    for address in map(ipaddress.ip_address, addresses):
        assert address in subnet and address not in dynamic
        assert address != ipaddress.ip_address(ipam["gateway"])


def test_only_the_loopback_is_published(services):
    for name, service in services.items():
        for host_ip, *_ in published(service):
            assert host_ip == "127.0.0.1", f"{name} publishes on {host_ip}"


def test_the_router_instance_matches_the_kamailio_and_c4router_services(services):
    args = manage_command(services["render"], "ensure_router_instance")
    kamailio, c4router = services["kamailio"], services["c4router"]
    assert option(args, "--listen-ip") == fixed_address(kamailio)
    sip = [(port, protocol) for _, _, port, protocol in published(kamailio)]
    assert (int(option(args, "--listen-port")), option(args, "--transport")) in sip
    (api_url,) = options(args, "--api-url")
    url = urlsplit(api_url)
    assert url.hostname == fixed_address(c4router)
    assert url.port == int(environment(c4router).get("PORT", "8000"))
    assert url.path == "/kamailio/rtjson"
    assert url.port in [container for _, _, container, _ in published(c4router)]
    # Kamailio's address may ask for routes.
    nets = environment(c4router)["C4ROUTER_API_ALLOWED_NETS"].split(",")
    assert any(ipaddress.ip_address(url.hostname or "") in ipaddress.ip_network(n) for n in nets)
    assert any(
        ipaddress.ip_address(fixed_address(kamailio)) in ipaddress.ip_network(n) for n in nets
    )


def test_the_rendered_config_goes_where_kamailio_reads_it(services):
    render, kamailio = services["render"], services["kamailio"]
    args = manage_command(render, "render_kamailio_config")
    (instance,) = options(args, "--instance")
    assert instance == manage_command(render, "ensure_router_instance")[0]
    output_dir = option(args, "--output-dir")
    config = environment(kamailio)["KAMAILIO_CFG"]
    assert config == f"{output_dir}/{instance}.cfg"
    volume_of = {target: source for source, target, *_ in
                 (str(v).split(":") for v in render["volumes"] + kamailio["volumes"])}  # fmt: skip
    assert volume_of[output_dir] == volume_of[os.path.dirname(config)]
    assert str(kamailio["volumes"][0]).endswith(":ro")


def test_the_module_paths_are_where_the_kamailio_image_has_them(services):
    args = manage_command(services["render"], "render_kamailio_config")
    runtime = parse_dockerfile(KAMAILIO_DOCKERFILE)[-1]
    copied = [i.args.split()[-1] for i in runtime.all("COPY") if "--from=build" in i.args]
    assert option(args, "--http-async-client") in copied
    module_check = " ".join(i.args for i in runtime.all("RUN"))
    assert f'mpath="{option(args, "--module-path")}"' in module_check


def test_the_sipp_services_use_their_addresses(services):
    kamailio = services["kamailio"]
    sip_port = next(port for _, _, port, protocol in published(kamailio) if protocol == "udp")
    for name in ("carrier", "caller"):
        words = command_words(services[name])
        assert option(words, "-i") == fixed_address(services[name])
    caller = command_words(services["caller"])
    assert caller[0] == f"{fixed_address(kamailio)}:{sip_port}"  # the call goes to Kamailio
    carrier_port = int(option(command_words(services["carrier"]), "-p"))
    assert carrier_port == int(services["carrier"]["healthcheck"]["test"][2])


def test_the_lab_data_matches_the_addresses(services):
    rows = {(row["model"], row["pk"]): row["fields"] for row in json.loads(LAB_DATA.read_text())}
    sources = [f for (model, _), f in rows.items() if model == "routing.ipsource"]
    gateways = [f for (model, _), f in rows.items() if model == "routing.gateway"]
    caller = ipaddress.ip_address(fixed_address(services["caller"]))
    assert any(caller in ipaddress.ip_network(s["cidr"]) for s in sources)
    carrier = services["carrier"]
    carrier_port = int(option(command_words(carrier), "-p"))
    assert [(g["host"], g["port"]) for g in gateways] == [(fixed_address(carrier), carrier_port)]


def load_lab_data() -> None:
    """What `manage.py loaddata` does with the lab data, without its last step: loaddata
    moves the tables' id sequences past the fixture's ids (9001), and a sequence does not
    roll back with the test's transaction, so every later test would get ids above 9001."""
    from django.core import serializers

    for obj in serializers.deserialize("json", LAB_DATA.read_text()):
        obj.save()


# --- the lab, run through c4router --------------------------------------------------------------


@pytest.mark.django_db
def test_the_lab_renders_a_config_with_the_published_addresses(services, tmp_path):
    """The render service's two commands, as they are written, on the test database."""
    render = services["render"]
    ensure = manage_command(render, "ensure_router_instance")
    call_command("ensure_router_instance", *ensure, stdout=StringIO())
    args = manage_command(render, "render_kamailio_config")
    args[args.index("--output-dir") + 1] = str(tmp_path)
    call_command("render_kamailio_config", *args, stdout=StringIO())

    (config,) = tmp_path.iterdir()
    text = config.read_text()
    kamailio = services["kamailio"]
    (_, _, sip_port, protocol), *_ = published(kamailio)
    assert f"listen={protocol}:{fixed_address(kamailio)}:{sip_port}\n" in text
    c4router = services["c4router"]
    port = environment(c4router).get("PORT", "8000")
    assert f'"http://{fixed_address(c4router)}:{port}/kamailio/rtjson"' in text
    assert 'loadmodule "/usr/local/lib/kamailio/http_async_client.so"' in text


@pytest.mark.django_db
def test_the_lab_call_is_routed_to_the_carrier(services):
    """seed_demo and the lab data, as the migrate service loads them (the e2e test below
    runs loaddata itself); then the query Kamailio sends for the caller's INVITE: routed
    to the carrier service."""
    migrate = services["migrate"]
    call_command("seed_demo", stdout=StringIO())
    load_lab_data()
    caller = command_words(services["caller"])
    out = StringIO()
    call_command(
        "route", "--json", "--source-ip", fixed_address(services["caller"]),
        "--from", f"sip:alice@{fixed_address(services['caller'])}:5060",
        "--to", f"sip:{option(caller, '-s')}@{caller[0]}", stdout=out,
    )  # fmt: skip
    answer = json.loads(out.getvalue())["rtjson"]
    carrier = services["carrier"]
    carrier_port = option(command_words(carrier), "-p")
    assert answer["success"] is True
    assert [r["dst_uri"] for r in answer["routes"]] == [
        f"sip:{fixed_address(carrier)}:{carrier_port}"
    ]
    assert "loaddata" in [c[0] for c in manage_commands(migrate)]


@pytest.mark.django_db
def test_the_lab_data_obeys_the_models_validation():
    """loaddata skips full_clean: the admin would accept every lab row as it is."""
    from django.apps import apps

    call_command("seed_demo", stdout=StringIO())
    load_lab_data()
    for row in json.loads(LAB_DATA.read_text()):
        model = apps.get_model(row["model"])
        model._default_manager.get(pk=row["pk"]).full_clean()


# --- the lab without Docker: every service's own command, in a private network namespace ---------
#
# Docker aside, this is the lab: a new network namespace (unshare -n) whose loopback holds the
# lab's fixed addresses, and in it the migrate and render commands, the image's CMD
# (gunicorn), run-kamailio, the SIPp carrier and caller, as compose.yaml and the Dockerfiles
# write them, and the services' health checks. PostgreSQL is the test server's, reached
# through a Unix socket relayed to it from outside the namespace. Needs root (namespaces,
# Kamailio's -u), Kamailio with http_async_client and SIPp (bin/install-kamailio).


def _relay(listener: socket.socket, target: tuple[str, int]) -> None:
    """Unix socket -> TCP, one pair of threads per connection, until the listener closes."""

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        server = socket.create_connection(target)
        for a, b in ((client, server), (server, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


def _lab_environment(service: dict[str, Any], workdir: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(environment(service))
    if runs_c4router(service):
        # The image's ENV (its directories are the test's), then the lab database.
        image_env = parse_dockerfile(C4ROUTER_DOCKERFILE)[-1].env()
        env.update({k: v for k, v in image_env.items() if k != "PATH"})
        env["C4ROUTER_VAR_DIR"] = str(workdir / "var")
        env["STATIC_ROOT"] = str(workdir / "static")
        env["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / "metrics")
        env["DATABASE_URL"] = database_url
    return env


def _localize(words: list[str], workdir: Path, module: str) -> list[str]:
    """Container paths -> the test's (the mounts and the image's module path)."""
    replacements = {
        "/lab/": f"{LAB_DATA.parent}/",
        "/scenarios/": f"{REPO}/tests/e2e/sipp/",
        "/etc/kamailio/c4router": str(workdir / "etc"),
        "/usr/local/lib/kamailio/http_async_client.so": module,
    }
    out = []
    for word in words:
        local = word
        for old, new in replacements.items():
            local = local.replace(old, new)
        out.append(local)
    return out


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL, check=False,
                          **{"timeout": 120, **kwargs})  # fmt: skip


def run_lab(workdir: Path, database_url: str, module: str) -> dict[str, Any]:
    """Inside the namespace (python -m tests.test_compose): start the lab, place the call,
    stop everything; returns what happened."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    _run(["ip", "link", "set", "lo", "up"])
    for service in services.values():
        if "ipv4_address" in str(service.get("networks")):
            _run(["ip", "addr", "add", f"{fixed_address(service)}/24", "dev", "lo"])
    for directory in ("var", "static", "metrics", "etc", "run"):
        (workdir / directory).mkdir()
    shutil.chown(workdir / "run", "kamailio", "kamailio")
    result: dict[str, Any] = {}
    processes: list[subprocess.Popen[bytes]] = []

    def env(name: str) -> dict[str, str]:
        values = _lab_environment(services[name], workdir, database_url)
        if "KAMAILIO_CFG" in values:
            values["KAMAILIO_CFG"] = _localize([values["KAMAILIO_CFG"]], workdir, module)[0]
        return values

    def command(name: str) -> list[str]:
        return _localize(command_words(services[name]), workdir, module)

    def one_shot(name: str, words: list[str], cwd: Path = REPO) -> None:
        done = _run(words, cwd=cwd, env=env(name))
        (workdir / f"{name}.log").write_bytes(done.stdout + done.stderr)
        result[name] = done.returncode

    def start(name: str, words: list[str], cwd: Path = REPO) -> None:
        log = (workdir / f"{name}.log").open("wb")
        io = {"stdout": log, "stderr": subprocess.STDOUT, "stdin": subprocess.DEVNULL}
        processes.append(subprocess.Popen(words, cwd=cwd, env=env(name), **io))

    def healthy(name: str, probe: list[str]) -> bool:
        for _ in range(100):
            if _run(probe, cwd=REPO, env=env(name)).returncode == 0:
                return True
            time.sleep(0.3)
        return False

    images = {"kamailio": KAMAILIO_DOCKERFILE.parent, "carrier": REPO / "docker" / "sipp"}

    def healthcheck(name: str) -> list[str]:
        probe = [str(word) for word in services[name]["healthcheck"]["test"][1:]]
        if name in images:  # a script the image installs in /usr/local/bin
            probe[0] = str(images[name] / probe[0])
        return probe

    try:
        one_shot("migrate", command("migrate"))
        one_shot("render", command("render"))
        start("c4router", cmd_command())
        result["c4router_healthy"] = healthy("c4router", healthcheck("c4router"))
        run_kamailio = str(KAMAILIO_DOCKERFILE.parent / "run-kamailio")
        start("kamailio", [run_kamailio, "-Y", str(workdir / "run")])
        result["kamailio_healthy"] = healthy("kamailio", healthcheck("kamailio"))
        start("carrier", ["sipp", *command("carrier")], cwd=workdir)
        result["carrier_healthy"] = healthy("carrier", healthcheck("carrier"))
        one_shot("caller", ["sipp", *command("caller")], cwd=workdir)
        port = env("c4router").get("PORT", "8000")
        # Each worker adds its counts to /metrics within a poll interval (RoutingTally):
        # the worker answering the scrape may not be the one that routed the call.
        deadline = time.monotonic() + 5
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
                result["metrics"] = page.read().decode()
            if 'outcome="routed"} 1.0' in result["metrics"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    return result


@pytest.mark.e2e
def test_the_lab_places_a_call_without_docker(tmp_path, settings):
    from tests.e2e import harness

    harness.skip_or_fail_without_requirements()
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("the lab without Docker needs root, unshare and ip (a network namespace)")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no network namespace here: {probe.stderr.decode().strip()}")

    import psycopg

    conf = settings.DATABASES["default"]
    server = (conf["HOST"] or "127.0.0.1", int(conf["PORT"] or 5432))
    user = conf["USER"] or "postgres"
    name = f"c4router_lab_{os.getpid()}"
    admin = dict(host=server[0], port=server[1], user=user, password=conf["PASSWORD"] or None)
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    sockets = tmp_path / "pg"
    sockets.mkdir()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sockets / ".s.PGSQL.5432"))
    listener.listen(16)
    threading.Thread(target=_relay, args=(listener, server), daemon=True).start()
    password = f":{conf['PASSWORD']}" if conf["PASSWORD"] else ""
    database_url = f"postgres://{user}{password}@/{name}?host={sockets}&port=5432"
    workdir = tmp_path / "lab"
    workdir.mkdir()
    module = harness.requirements().http_async_client or ""
    try:
        done = subprocess.run(
            ["unshare", "-n", sys.executable, "-m", "tests.test_compose", str(workdir),
             database_url, module],
            cwd=REPO, capture_output=True, text=True, timeout=240, start_new_session=True,
            check=False,
        )  # fmt: skip
    finally:
        listener.close()
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    logs = {p.name: p.read_text(errors="replace")[-3000:] for p in workdir.glob("*.log")}
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["migrate"] == 0, logs.get("migrate.log")
    assert "Admin login: http://localhost:8000/admin/  user: admin" in logs["migrate.log"]
    assert result["render"] == 0, logs.get("render.log")
    assert result["c4router_healthy"], logs.get("c4router.log")
    assert result["kamailio_healthy"], logs.get("kamailio.log")
    assert result["carrier_healthy"], logs.get("carrier.log")
    assert result["caller"] == 0, logs.get("caller.log")
    assert "relaying to sip:4930901820@10.99.0.30:5060" in logs["kamailio.log"]
    assert 'c4router_routing_requests_total{outcome="routed"} 1.0' in result["metrics"]


if __name__ == "__main__":  # the namespace side of test_the_lab_places_a_call_without_docker
    print(json.dumps(run_lab(Path(sys.argv[1]), sys.argv[2], sys.argv[3])))
