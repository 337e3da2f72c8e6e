"""The Dockerfiles, read as Docker reads them: no Docker engine needed.

What must hold for the production image (Dockerfile) and the lab images (docker/*/): the
stages, the user the final stage runs as, its HEALTHCHECK and CMD, and that every file a
COPY names exists and is not left out of the build context by a .dockerignore.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
KAMAILIO_DOCKERFILE = REPO / "docker" / "kamailio" / "Dockerfile"
SIPP_DOCKERFILE = REPO / "docker" / "sipp" / "Dockerfile"
# Each Dockerfile and the build context compose.yaml gives it.
IMAGES = {DOCKERFILE: REPO, KAMAILIO_DOCKERFILE: REPO, SIPP_DOCKERFILE: SIPP_DOCKERFILE.parent}


# --- a small Dockerfile reader -------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str  # the rest of the logical line, continuations joined
    line: int

    def exec_form(self) -> list[str] | None:
        """["a", "b"] of CMD/ENTRYPOINT/RUN in exec form (None in shell form)."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = re.sub(r"^(--\S+\s+)*CMD\s+", "", text)
        text = text.strip()
        return json.loads(text) if text.startswith("[") else None

    def flags(self) -> dict[str, str]:
        return dict(re.findall(r"--([a-z-]+)=(\S+)", self.args.split(" [", 1)[0]))


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for item in shlex.split(instruction.args):
                name, _, value = item.partition("=")
                values[name] = value
        return values


def logical_lines(path: Path) -> list[tuple[int, str]]:
    """(first line number, text) per instruction: comments dropped, continuations joined."""
    lines: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if not current:
            start = number
        if stripped.endswith("\\"):
            current.append(stripped[:-1].strip())
            continue
        current.append(stripped)
        lines.append((start, " ".join(part for part in current if part)))
        current = []
    assert not current, f"{path}: the last instruction ends with a continuation"
    return lines


def parse_dockerfile(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    for number, text in logical_lines(path):
        keyword, _, args = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert match, f"{path}:{number}: cannot read FROM {args}"
            stages.append(Stage(base=match.group(1), name=match.group(2)))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, args.strip(), number))
        else:
            assert keyword == "ARG", f"{path}:{number}: only ARG may come before FROM"
    return stages


def copy_sources(instruction: Instruction) -> list[str]:
    """The sources of a COPY/ADD (its last word is the destination)."""
    words = instruction.exec_form() or shlex.split(instruction.args)
    words = [word for word in words if not word.startswith("--")]
    return words[:-1]


# --- .dockerignore, as Docker applies it ---------------------------------------------------


def ignore_patterns(dockerfile: Path, context: Path) -> list[str]:
    """The patterns for this build: <Dockerfile>.dockerignore beside the Dockerfile wins
    over the context's .dockerignore (BuildKit)."""
    path = dockerfile.with_name(dockerfile.name + ".dockerignore")
    if not path.is_file():
        path = context / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _matches(pattern: str, path: str) -> bool:
    """Docker's matching: the pattern against the path or any of its parent directories;
    ** spans directories."""
    regex = re.escape(pattern.strip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
    regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    parts = path.strip("/").split("/")
    return any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1))


def excluded(path: str, patterns: list[str]) -> bool:
    result = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _matches(pattern.lstrip("!"), path):
            result = not negated
    return result


def test_the_dockerignore_reader():
    patterns = ["tests", "**/__pycache__", "*", "!bin/install-kamailio", "!docker/kamailio"]
    assert excluded("tests/test_x.py", patterns[:2])
    assert excluded("routing/__pycache__/a.pyc", patterns[:2])
    assert not excluded("routing/models.py", patterns[:2])
    assert not excluded("bin/install-kamailio", patterns)
    assert not excluded("docker/kamailio/run-kamailio", patterns)
    assert excluded("bin/quickstart", patterns)


# --- every image ----------------------------------------------------------------------------


@pytest.fixture(params=sorted(IMAGES), ids=lambda p: str(p.relative_to(REPO)))
def image(request: pytest.FixtureRequest) -> tuple[Path, Path, list[Stage]]:
    path: Path = request.param
    assert path.is_file(), f"{path} is missing"
    return path, IMAGES[path], parse_dockerfile(path)


def test_every_copied_file_is_in_the_build_context(image):
    path, context, stages = image
    names = {stage.name for stage in stages if stage.name}
    patterns = ignore_patterns(path, context)
    for stage in stages:
        for instruction in stage.all("COPY") + stage.all("ADD"):
            source_stage = instruction.flags().get("from")
            if source_stage:
                assert source_stage in names, f"{path}:{instruction.line}: no stage {source_stage}"
                continue
            for source in copy_sources(instruction):
                assert (context / source).exists(), f"{path}:{instruction.line}: no {source}"
                assert not excluded(source, patterns), (
                    f"{path}:{instruction.line}: {source} is left out by .dockerignore"
                )


def test_no_secret_or_env_file_goes_into_an_image(image):
    path, context, stages = image
    for stage in stages:
        assert not {"SECRET_KEY", "DATABASE_URL", "C4ROUTER_API_TOKEN"} & set(stage.env())
        for instruction in stage.all("COPY") + stage.all("ADD"):
            assert not any(".env" in source for source in copy_sources(instruction))
    if context == REPO:
        patterns = ignore_patterns(path, context)
        for name in (".env", "docker/lab/c4router.env", "var/dev-secret-key", ".git/config"):
            assert excluded(name, patterns), f"{name} would be in the build context"


# --- the production image -------------------------------------------------------------------


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE)


def test_multi_stage_with_a_slim_runtime(stages):
    assert len(stages) >= 2
    build, runtime = stages[0], stages[-1]
    assert build.name and runtime.name
    assert "slim" in runtime.base or runtime.base.startswith("${")
    # The runtime gets the dependencies from the build stage, not from pip.
    copied = [i.flags().get("from") for i in runtime.all("COPY")]
    assert build.name in copied
    assert not any("pip install" in i.args for i in runtime.all("RUN"))


def test_python_image_argument_is_slim():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.\d+-slim", text, re.M)


def test_runs_as_a_numeric_non_root_user(stages):
    user = stages[-1].last("USER")
    assert user is not None, "the final stage must set USER"
    uid = user.args.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user.args}: a numeric uid other than 0"


def test_production_settings_only_from_the_environment(stages):
    env = stages[-1].env()
    assert env["C4ROUTER_MODE"] == "production"
    assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/")
    # The metrics directory exists and belongs to the service user (created before USER).
    runs = " ".join(i.args for i in stages[-1].all("RUN"))
    assert "$PROMETHEUS_MULTIPROC_DIR" in runs and "chown" in runs
    # The workers share the compiled rate decks (routing/deck_cache.py) in a directory of the
    # service's own writable one (the loader creates it 0700).
    assert env["C4ROUTER_DECK_CACHE_DIR"].startswith(env["C4ROUTER_VAR_DIR"] + "/")


def test_static_files_collected_at_build_time(stages):
    runs = [i.args for i in stages[-1].all("RUN")]
    assert any("manage.py collectstatic" in run for run in runs)


def test_healthcheck_asks_healthz_with_urllib(stages):
    healthcheck = stages[-1].last("HEALTHCHECK")
    assert healthcheck is not None
    command = healthcheck.exec_form()
    assert command is not None and command[0] == "python"
    assert "urllib.request" in command[-1] and "/healthz" in command[-1]


def test_cmd_is_gunicorn_with_uvicorn_workers_and_our_config(stages):
    cmd = stages[-1].last("CMD")
    assert cmd is not None
    command = cmd.exec_form()
    assert command is not None, "CMD in exec form: gunicorn must be PID 1 and get the signals"
    assert command[0] == "gunicorn"
    assert "uvicorn_worker.UvicornWorker" in command
    assert "uvicorn.workers.UvicornWorker" not in command  # deprecated
    assert command[command.index("--config") + 1] == "c4router/gunicorn_conf.py"
    assert (REPO / "c4router" / "gunicorn_conf.py").is_file()
    assert command[-1] == "c4router.asgi:application"


def test_every_python_package_of_the_project_is_in_the_image(stages):
    """A new app directory must not be forgotten by the COPY lines."""
    copied = {
        source.strip("/").split("/")[0]
        for i in stages[-1].all("COPY")
        if not i.flags().get("from")
        for source in copy_sources(i)
    }
    packages = {
        p.parent.name for p in REPO.glob("*/__init__.py") if p.parent.name not in {"tests", "bench"}
    }
    assert packages <= copied
    assert {"manage.py", "templates", "kamailio_cfg"} <= copied


def healthcheck_command() -> list[str]:
    """The production image's HEALTHCHECK command (tests/test_gunicorn_live.py runs it)."""
    healthcheck = parse_dockerfile(DOCKERFILE)[-1].last("HEALTHCHECK")
    assert healthcheck is not None
    command = healthcheck.exec_form()
    assert command is not None
    return command


def cmd_command() -> list[str]:
    cmd = parse_dockerfile(DOCKERFILE)[-1].last("CMD")
    assert cmd is not None
    command = cmd.exec_form()
    assert command is not None
    return command


# --- the Kamailio image ----------------------------------------------------------------------


def test_kamailio_image_builds_the_module_as_bin_install_kamailio_does():
    stages = parse_dockerfile(KAMAILIO_DOCKERFILE)
    assert all("bookworm" in s.base or s.base.startswith("${") or s.base in
               {x.name for x in stages} for s in stages)  # fmt: skip
    assert re.search(r"^ARG DEBIAN_IMAGE=debian:bookworm", KAMAILIO_DOCKERFILE.read_text(), re.M)
    build = next(s for s in stages if s.name == "build")
    runs = " ".join(i.args for i in build.all("RUN"))
    assert "install-kamailio" in runs
    runtime = stages[-1]
    assert runtime.base == "base", "the runtime has the same Kamailio packages as the build"
    copied = [i for i in runtime.all("COPY") if i.flags().get("from") == "build"]
    assert copied and "http_async_client.so" in copied[0].args
    assert "build-essential" not in " ".join(i.args for i in runtime.all("RUN"))
    assert runtime.last("HEALTHCHECK") is not None
    assert runtime.last("CMD") is not None


def test_check_deploy_is_clean_with_the_image_and_the_example_environment(stages, tmp_path):
    """What an operator gets from the image plus docker/c4router.env.example filled in."""
    example = {}
    for line in (REPO / "docker" / "c4router.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            example[name] = value
    example["SECRET_KEY"] = secrets.token_urlsafe(50)
    image_env = {k: v for k, v in stages[-1].env().items() if k != "PATH"}
    # The image's directories do not exist here: the same settings, with local ones.
    image_env["C4ROUTER_VAR_DIR"] = str(tmp_path)
    image_env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH"}
    env = {**{k: v for k, v in os.environ.items() if k in keep}, **image_env, **example}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_build_step_collects_static_files_with_the_image_environment(stages, tmp_path):
    """The RUN that collects the static files, as the build runs it (its first command; the
    image's directories relocated here): production settings load without a database, and
    the metrics directory of the server gets no file from it."""
    run = next(i.args for i in stages[-1].all("RUN") if "collectstatic" in i.args)
    collect = run.split("&&")[0]
    image_env = stages[-1].env()
    env = {k: v for k, v in image_env.items() if k != "PATH"}
    env.update(
        PATH=os.environ["PATH"],
        HOME=os.environ.get("HOME", "/"),
        C4ROUTER_VAR_DIR=str(tmp_path / "var"),
        STATIC_ROOT=str(tmp_path / "static"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),  # absent, as in the build
    )
    python = str(Path(sys.executable).parent)
    result = subprocess.run(
        ["sh", "-c", collect], cwd=REPO, env={**env, "PATH": f"{python}:{env['PATH']}"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "static" / "admin" / "css" / "base.css").is_file()
    assert (tmp_path / "static" / "staticfiles.json").is_file()  # the manifest WhiteNoise uses
    assert not (tmp_path / "metrics").exists()
