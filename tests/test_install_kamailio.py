"""Issue 11 item 21: bin/install-kamailio waits for another apt instead of failing at once.

The real script, the real apt-get and the real dpkg/apt locks: the test holds
/var/lib/dpkg/lock-frontend and /var/lib/apt/lists/lock (POSIX locks, as apt takes them)
for a few seconds, as unattended-upgrades on a fresh machine does, while the script runs.
On this machine everything is installed, so the script would not call apt at all: a
`dpkg-query` first in PATH says sip-tester is not installed (everything else goes to the
real one), and the script's `apt-get install sip-tester` is then a real no-op install that
needs the locks. Root and Debian's apt only; skipped where another apt is running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "bin" / "install-kamailio"
LOCKS = ("/var/lib/dpkg/lock-frontend", "/var/lib/apt/lists/lock")

HOLD = """
import fcntl, os, sys, time
fds = []
for path in sys.argv[2:]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print("busy", path, flush=True)
        sys.exit(0)
    fds.append(fd)
print("held", flush=True)
time.sleep(float(sys.argv[1]))
"""


def installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Status}", package],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return result.stdout == "installed"


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("apt-get") or not shutil.which("dpkg-query"),
    reason="needs root and Debian's apt (the script installs packages)",
)


@pytest.fixture
def setup(tmp_path) -> Iterator[dict[str, str]]:
    """The environment to run the script in: sip-tester 'missing', the module cached."""
    module = subprocess.run(
        ["bash", str(SCRIPT), "--print-module-path"], capture_output=True, text=True,
        timeout=30, check=False,
    ).stdout.strip()  # fmt: skip
    if not (installed("kamailio") and installed("sip-tester") and Path(module).is_file()):
        pytest.skip("Kamailio, SIPp and the module must be installed (bin/install-kamailio)")
    shim = tmp_path / "bin" / "dpkg-query"
    shim.parent.mkdir()
    shim.write_text(
        "#!/bin/sh\n"
        '[ "$3" = sip-tester ] && [ "$2" = "-f=\\${db:Status-Status}" ] '
        "&& { echo not-installed; exit 0; }\n"
        f'exec {shutil.which("dpkg-query")} "$@"\n'
    )
    shim.chmod(0o755)
    cache = tmp_path / "cache"
    cached = cache / Path(module).parent.name / "http_async_client.so"
    cached.parent.mkdir(parents=True)
    cached.symlink_to(module)
    yield {
        **os.environ,
        "PATH": f"{shim.parent}:{os.environ['PATH']}",
        "C4ROUTER_CACHE": str(cache),
        "module": str(cached),
    }


class LockHolder:
    """Holds LOCKS in a child process for `seconds`, as another apt would."""

    def __init__(self, seconds: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(seconds), *LOCKS],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        first = self.process.stdout.readline().strip()
        if first != "held":
            self.release()
            pytest.skip(f"another apt/dpkg is at work on this machine ({first})")

    def release(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def run_script(env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)], env={k: v for k, v in env.items() if k != "module"},
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_f21_install_kamailio_waits_for_another_apt_holding_its_locks(setup):
    holder = LockHolder(seconds=4)
    try:
        result = run_script(setup)
    finally:
        holder.release()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == setup["module"]
    assert "install-kamailio: another apt/dpkg is at work" in result.stderr
    assert f"held by process {holder.process.pid}" in result.stderr
    assert "waiting for it, at most 600s" in result.stderr


def test_f21_install_kamailio_gives_up_after_the_wait_it_was_given(setup):
    holder = LockHolder(seconds=120)
    try:
        # (Bounded by the wait, not by the holder: else subprocess.run times out.)
        result = run_script({**setup, "C4ROUTER_APT_LOCK_WAIT": "2"}, timeout=60)
    finally:
        holder.release()
    assert result.returncode == 1
    assert "gave up after 2s waiting for another apt/dpkg" in result.stderr
    assert "C4ROUTER_APT_LOCK_WAIT sets the wait" in result.stderr


def test_f21_a_malformed_wait_is_refused(setup):
    result = run_script({**setup, "C4ROUTER_APT_LOCK_WAIT": "ten"}, timeout=60)
    assert result.returncode == 1
    assert "C4ROUTER_APT_LOCK_WAIT=ten is not a number of seconds" in result.stderr
