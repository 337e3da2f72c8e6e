"""A new user's first minutes: `bin/quickstart` in a fresh copy of the checkout, then what
it prints and every `manage.py` command of the README, as written.

The copy holds the files git would clone (tracked, plus new ones not ignored) and links the
suite's .venv; every command runs with an environment built from scratch, as in a new
shell: none of the suite's DATABASE_URL, C4ROUTER_MODE or C4ROUTER_VAR_DIR.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e import harness
from tests.live import free_port

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
LOGIN_RE = re.compile(
    r"Admin login: (?P<url>\S+)  user: (?P<user>\S+)  password: (?P<password>\S+)"
)
TOKEN_RE = re.compile(r"Kamailio's token \(router instance edge1, sent as X-C4-Token\): (\S+)")


# --- the README's commands ---------------------------------------------------------------------


def readme_commands() -> list[str]:
    """Every shell command of the README's code blocks that runs manage.py, continuation
    lines joined and trailing comments dropped."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#\s.*$", "", line).strip()
            if "manage.py" in command:
                commands.append(re.sub(r"\s+", " ", command))
    return commands


def runnable(command: str) -> bool:
    """The quick start's commands: in the checkout, with the checkout's .venv."""
    return command.startswith(".venv/bin/python manage.py ")


# README commands that are not for a checkout after the quick start, and why.
ELSEWHERE = {
    ".venv/bin/python manage.py check --deploy": "the production start, on a host with "
    "the exported settings and db.example (tests/test_settings.py runs check --deploy)",
    ".venv/bin/python manage.py migrate": "the production start, on db.example",
    "docker run": "the production image; Docker does not run here (tests/test_dockerfile.py)",
    # A trailing $: that command exactly, not every command it begins.
    ".venv/bin/python manage.py ingest_cdrs$": "a service: it runs until stopped "
    "(tests/cdr/test_ingest.py runs it with --drain against RabbitMQ)",
}


def elsewhere(command: str) -> bool:
    return any(
        command == prefix[:-1] if prefix.endswith("$") else command.startswith(prefix)
        for prefix in ELSEWHERE
    )


def variants(command: str) -> list[str]:
    """A command as written: without its [optional parts], and with all of them."""
    if "[" not in command:
        return [command]
    bare = re.sub(r"\s*\[[^\]]*\]", "", command)
    full = re.sub(r"\[([^\]|]*)\]", r"\1", command)
    return [bare, re.sub(r"\s+", " ", full)]


README_RUNS = [
    v for c in readme_commands() if runnable(c) and not elsewhere(c) for v in variants(c)
]


def test_every_readme_manage_py_command_is_run_here_or_said_why_not() -> None:
    commands = readme_commands()
    assert any(" route " in c for c in commands)
    assert any("ensure_admin --reset" in c for c in commands)
    for command in commands:
        assert runnable(command) or elsewhere(command), (
            f"README command neither run by this test nor listed in ELSEWHERE: {command}"
        )


# --- the quick start, in a fresh copy -------------------------------------------------------------


@dataclass
class QuickStart:
    root: Path
    port: int
    env: dict[str, str]
    output: str

    def run(self, command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command], cwd=self.root, env=self.env, capture_output=True,
            text=True, timeout=timeout, check=False,
        )  # fmt: skip


def fresh_copy(dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, check=True, timeout=60,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    (dest / ".venv").symlink_to(REPO / ".venv")
    return dest


def new_shell_env(port: int) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PIP_INDEX_URL", "PIP_CONFIG_FILE"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.setdefault("LANG", "C.UTF-8")
    env["PORT"] = str(port)
    return env


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> QuickStart:
    root = fresh_copy(tmp_path_factory.mktemp("clone") / "c4router")
    port = free_port()
    env = new_shell_env(port)
    started = QuickStart(root, port, env, "")
    result = started.run("bin/quickstart --no-serve", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    started.output = result.stdout
    env.pop("PORT")  # later commands are typed in a new shell, without it
    return started


def test_quick_start_prints_the_login_the_token_and_two_one_line_curl_commands(
    quickstart: QuickStart,
) -> None:
    lines = quickstart.output.splitlines()
    login = LOGIN_RE.search(quickstart.output)
    assert login is not None, quickstart.output
    assert login["url"] == f"http://127.0.0.1:{quickstart.port}/admin/"
    assert TOKEN_RE.search(quickstart.output), quickstart.output
    curls = [line for line in lines if line.startswith("curl ")]
    assert len(curls) == 2
    assert all(f"http://127.0.0.1:{quickstart.port}/kamailio/rtjson" in c for c in curls)


def test_quick_start_fills_the_traffic_pages_with_a_labelled_demo_day(
    quickstart: QuickStart,
) -> None:
    counted = quickstart.run(
        '.venv/bin/python manage.py shell -c "from routing.models import CallRecord; '
        "records = CallRecord.objects; print(records.count(), "
        "records.exclude(call_id__startswith='demo-').count())\""
    )
    assert counted.returncode == 0, counted.stderr
    total, unlabelled = map(int, counted.stdout.splitlines()[-1].split())
    assert total > 1000
    assert unlabelled == 0


def test_quick_start_writes_a_git_ignored_local_env(quickstart: QuickStart) -> None:
    local_env = quickstart.root / "var" / "local.env"
    settings = dict(
        line.split("=", 1)
        for line in local_env.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert settings == {
        "C4ROUTER_MODE": "dev",
        "C4ROUTER_URL": f"http://127.0.0.1:{quickstart.port}/",
    }
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "var/local.env"], cwd=REPO, timeout=30, check=False
    )
    assert ignored.returncode == 0, "var/local.env would be committed"


@pytest.mark.parametrize("command", README_RUNS)
def test_readme_command_works_as_written_after_the_quick_start(
    quickstart: QuickStart, command: str, tmp_path: Path
) -> None:
    if "render_kamailio_config" in command:
        # A Kamailio host's command: needs Kamailio (kamailio -c) and writes /etc/kamailio.
        harness.skip_or_fail_without_requirements()
        command = command.replace("/etc/kamailio/c4router", str(tmp_path / "kamailio"))

    result = quickstart.run(command)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    if " route " in command:
        assert "Rule: rule #" in result.stdout or '"success": true' in result.stdout
        assert '"uri": "sip:33612345678@192.0.2.40:5060"' in result.stdout
    if "ensure_admin --reset" in command:
        login = LOGIN_RE.search(result.stdout)
        assert login is not None, result.stdout
        # The quick start's port (PORT is not set in this shell), not a default 8000.
        assert login["url"] == f"http://127.0.0.1:{quickstart.port}/admin/"
    if "demo_calls" in command:
        assert result.stdout.count("\ncurl ") == 2
    if "render_kamailio_config" in command:
        assert "(accepted by kamailio -c)" in result.stdout


def test_the_printed_curl_commands_work_on_the_served_quick_start(quickstart: QuickStart) -> None:
    # The quick start again, serving this time: the demo is in place, the password kept.
    log = (quickstart.root / "var" / "serve.log").open("w")
    env = {**quickstart.env, "PORT": str(quickstart.port)}
    server = subprocess.Popen(
        ["bin/quickstart"], cwd=quickstart.root, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{quickstart.port}"
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (quickstart.root / "var" / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the quick start did not serve within 180 s"
            time.sleep(0.3)
        output = (quickstart.root / "var" / "serve.log").read_text()
        assert "Demo data already in place: nothing to write." in output
        assert "password: unchanged" in output
        curls = [line for line in output.splitlines() if line.startswith("curl ")]
        assert len(curls) == 2

        routed, refused = (json.loads(quickstart.run(c, timeout=30).stdout) for c in curls)

        assert routed["rtjson"]["success"] is True
        assert [r["dst_uri"] for r in routed["rtjson"]["routes"]] == [
            "sip:192.0.2.40:5060",
            "sip:203.0.113.10:5060",
        ]
        assert refused["rtjson"]["success"] is False
        assert refused["rtjson"]["code"] == 404
        # The obvious curl without the token is what the quick start now explains.
        bare = httpx.post(
            f"{base}/kamailio/rtjson", json={"source_ip": "10.10.0.10", "to_uri": "x"}
        )
        assert bare.status_code == 403
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=5)
        log.close()
