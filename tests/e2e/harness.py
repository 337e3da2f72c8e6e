"""End-to-end helpers: real Kamailio + SIPp on 127.0.0.1, for pytest.

No Django import at module level: usable from Django-free tests and from Django
tests alike. Everything started here is bounded (timeouts, -m, -timeout) and is
stopped by the context managers / fixtures that started it.

Main pieces:
  requirements()/missing_requirements()  where kamailio, sipp and http_async_client.so are
  free_port(), free_port_block()          127.0.0.1 ports (UDP+TCP free)
  kamailio_check(cfg)                     `kamailio -c -f cfg`
  KamailioProcess                         kamailio -DD -E in the foreground, ready when it
                                          answers an OPTIONS keepalive
  run_sipp(...) / SippUAS                 a bounded SIPp caller / a SIPp carrier in the background
  parse_sipp_messages(path)               what a SIPp instance sent/received (-message_file)
  StubAPI                                 a tiny threaded HTTP server playing the routing API
  sip_options_ping(host, port)            one OPTIONS over UDP, returns the status code
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SIPP_DIR = Path(__file__).resolve().parent / "sipp"
INSTALL_SCRIPT = REPO_ROOT / "bin" / "install-kamailio"
LOCALHOST = "127.0.0.1"

DEFAULT_MODULE_DIR = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"


# --------------------------------------------------------------------------- discovery


@dataclasses.dataclass
class Requirements:
    kamailio: str | None
    sipp: str | None
    http_async_client: str | None  # path of the .so if it exists
    expected_module_path: str | None  # where bin/install-kamailio puts it
    module_dir: str | None  # Kamailio's mpath

    def missing(self) -> list[str]:
        out = []
        if not self.kamailio:
            out.append("kamailio binary")
        if not self.sipp:
            out.append("sipp binary")
        if not self.http_async_client:
            out.append(f"http_async_client.so (expected at {self.expected_module_path})")
        if not self.module_dir:
            out.append("Kamailio module directory")
        return out


def _which(name: str, extra: Iterable[str] = ()) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in extra:
        p = Path(d) / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def find_module_dir() -> str | None:
    candidates = [DEFAULT_MODULE_DIR]
    candidates += [str(p) + "/" for p in Path("/usr/lib").glob("*/kamailio/modules")]
    candidates += [
        "/usr/lib/kamailio/modules/",
        "/usr/local/lib64/kamailio/modules/",
        "/usr/local/lib/kamailio/modules/",
    ]
    for c in candidates:
        if Path(c, "tm.so").is_file():
            return c if c.endswith("/") else c + "/"
    return None


def expected_module_path() -> str | None:
    """Ask bin/install-kamailio where the .so is (or would be); no install."""
    env_override = os.environ.get("C4ROUTER_HTTP_ASYNC_CLIENT_SO")
    if env_override:
        return env_override
    if not INSTALL_SCRIPT.is_file():
        return None
    try:
        out = subprocess.run(
            ["bash", str(INSTALL_SCRIPT), "--print-module-path"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[-1] if out.returncode == 0 and lines else None


_REQ_CACHE: dict[str, Requirements] = {}


def requirements(refresh: bool = False) -> Requirements:
    """What is installed (cached; refresh=True looks again)."""
    if refresh or "req" not in _REQ_CACHE:
        sbin = ["/usr/sbin", "/usr/local/sbin"]
        mod = expected_module_path()
        _REQ_CACHE["req"] = Requirements(
            kamailio=_which("kamailio", sbin),
            sipp=_which("sipp", sbin),
            http_async_client=mod if mod and Path(mod).is_file() else None,
            expected_module_path=mod,
            module_dir=find_module_dir(),
        )
    return _REQ_CACHE["req"]


def missing_requirements() -> list[str]:
    return requirements().missing()


def e2e_required() -> bool:
    """C4ROUTER_REQUIRE_E2E=1: missing Kamailio/SIPp is a failure, not a skip (CI)."""
    return os.environ.get("C4ROUTER_REQUIRE_E2E", "") == "1"


def skip_or_fail_without_requirements() -> None:
    """For pytest fixtures/tests: skip (or fail under C4ROUTER_REQUIRE_E2E=1) with a
    message naming bin/install-kamailio when something is missing."""
    missing = missing_requirements()
    if not missing:
        return
    import pytest

    msg = (
        "Kamailio end-to-end test needs: "
        + ", ".join(missing)
        + ". Run `sudo bin/install-kamailio` first."
    )
    if e2e_required():
        pytest.fail(msg + " (C4ROUTER_REQUIRE_E2E=1: failing instead of skipping)", pytrace=False)
    pytest.skip(msg)


# --------------------------------------------------------------------------- ports

_used_ports: set[int] = set()
_port_lock = threading.Lock()


def _port_is_free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((LOCALHOST, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port_block(count: int = 1) -> int:
    """First port of `count` consecutive ports free on 127.0.0.1 for UDP and TCP,
    never handed out before by this process (avoids races between fixtures)."""
    with _port_lock:
        for _ in range(2000):
            # Below Linux's ephemeral range (32768-60999): a port picked there could be
            # taken by any outgoing connection (the database's, an HTTP client's) between
            # this check and Kamailio's or SIPp's bind ("Address already in use").
            base = random.randrange(20000, 32768 - count)
            ports = range(base, base + count)
            if any(p in _used_ports for p in ports):
                continue
            if all(_port_is_free(p) for p in ports):
                _used_ports.update(ports)
                return base
    raise RuntimeError("no free port block found on 127.0.0.1")


def free_port() -> int:
    return free_port_block(1)


def closed_port() -> int:
    """A port where nothing listens (for 'API down' tests)."""
    return free_port()


# --------------------------------------------------------------------------- SIP helpers


def sip_request(
    host: str,
    port: int,
    method: str = "OPTIONS",
    ruri: str | None = None,
    timeout: float = 0.5,
) -> SipMessage | None:
    """Send one out-of-dialog request over UDP, return the first final response
    (or None). Good for keepalives and for methods SIPp scenarios do not cover."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((LOCALHOST, 0))
        lport = s.getsockname()[1]
        branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        callid = uuid.uuid4().hex
        ruri = ruri or f"sip:{host}:{port}"
        msg = (
            f"{method} {ruri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCALHOST}:{lport};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:probe@{LOCALHOST}>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <{ruri}>\r\n"
            f"Call-ID: {callid}\r\n"
            f"CSeq: 1 {method}\r\n"
            f"Contact: <sip:probe@{LOCALHOST}:{lport}>\r\n"
            f"Content-Length: 0\r\n\r\n"
        )
        s.settimeout(timeout)
        s.sendto(msg.encode(), (host, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(65535)
            except (TimeoutError, ConnectionRefusedError):
                return None
            resp = parse_sip_text(data.decode(errors="replace"), "received")
            if resp.header("Call-ID") == callid and not resp.is_request and resp.status >= 200:
                return resp
        return None
    finally:
        s.close()


def sip_options_ping(host: str, port: int, timeout: float = 0.5) -> int | None:
    """Send one OPTIONS over UDP to host:port, return the status code or None."""
    resp = sip_request(host, port, "OPTIONS", timeout=timeout)
    return resp.status if resp else None


@dataclasses.dataclass
class SipMessage:
    direction: str  # "sent" or "received"
    first_line: str
    headers: list[tuple[str, str]]  # in order, names as written
    body: str
    raw: str
    timestamp: str = ""

    _COMPACT = {
        "f": "from",
        "t": "to",
        "v": "via",
        "i": "call-id",
        "m": "contact",
        "l": "content-length",
        "c": "content-type",
        "k": "supported",
    }

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0")

    @property
    def method(self) -> str | None:
        return self.first_line.split(" ", 1)[0] if self.is_request else None

    @property
    def request_uri(self) -> str | None:
        return self.first_line.split(" ")[1] if self.is_request else None

    @property
    def status(self) -> int | None:
        if self.is_request:
            return None
        return int(self.first_line.split(" ")[1])

    @property
    def reason(self) -> str | None:
        if self.is_request:
            return None
        parts = self.first_line.split(" ", 2)
        return parts[2] if len(parts) > 2 else ""

    @property
    def cseq_method(self) -> str | None:
        v = self.header("CSeq")
        return v.split()[-1] if v else None

    def headers_named(self, name: str) -> list[str]:
        n = name.lower()
        n = self._COMPACT.get(n, n)
        return [v for k, v in self.headers if self._COMPACT.get(k.lower(), k.lower()) == n]

    def header(self, name: str) -> str | None:
        vals = self.headers_named(name)
        return vals[0] if vals else None

    @property
    def time(self) -> float | None:
        """Epoch seconds of the SIPp log timestamp ("2024-01-01 12:00:00.123456")."""
        try:
            return datetime.datetime.strptime(
                self.timestamp.strip(), "%Y-%m-%d %H:%M:%S.%f"
            ).timestamp()
        except ValueError:
            return None

    def __repr__(self) -> str:
        return f"<SipMessage {self.direction} {self.first_line!r}>"


_SIPP_BLOCK_START = re.compile(r"^-{10,}\s*(.*)$")
_SIPP_DIRECTION = re.compile(r"^(?:UDP|TCP|TLS|SCTP) message (sent|received)\b")


def parse_sip_text(raw: str, direction: str = "", timestamp: str = "") -> SipMessage:
    text = raw.replace("\r\n", "\n").strip("\n")
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded header
            k, v = headers[-1]
            headers[-1] = (k, v + " " + line.strip())
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            headers.append((k.strip(), v.strip()))
    return SipMessage(direction, lines[0].strip(), headers, body, raw, timestamp)


def parse_sipp_messages(path: str | Path) -> list[SipMessage]:
    """Parse a SIPp -trace_msg/-message_file log:

    ----------------------------------------------- 2024-01-01 12:00:00.000000
    UDP message received (812 bytes):

    INVITE sip:... SIP/2.0
    ...
    """
    p = Path(path)
    if not p.exists():
        return []
    out: list[SipMessage] = []
    cur: list[str] | None = None
    direction = ts = ""

    def flush():
        if cur is None:
            return
        raw = "\n".join(cur).strip("\n")
        if raw:
            out.append(parse_sip_text(raw, direction, ts))

    for line in p.read_text(errors="replace").splitlines():
        m = _SIPP_BLOCK_START.match(line)
        if m:
            flush()
            cur, direction, ts = None, "", m.group(1)
            continue
        if cur is None:
            d = _SIPP_DIRECTION.match(line)
            if d:
                direction = d.group(1)
                cur = []
            continue
        cur.append(line)
    flush()
    return out


def received(messages: list[SipMessage], method: str | None = None) -> list[SipMessage]:
    out = [m for m in messages if m.direction == "received"]
    if method:
        out = [m for m in out if m.method == method]
    return out


def received_statuses(messages: list[SipMessage]) -> list[int]:
    return [m.status for m in messages if m.direction == "received" and not m.is_request]


def final_status(messages: list[SipMessage], cseq_method: str = "INVITE") -> int | None:
    """Last final (>=200) response received for `cseq_method`."""
    finals = [
        m.status
        for m in messages
        if m.direction == "received"
        and not m.is_request
        and m.cseq_method == cseq_method
        and m.status >= 200
    ]
    return finals[-1] if finals else None


# --------------------------------------------------------------------------- process helpers


def _terminate(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a process started with start_new_session=True and its children (its own
    process group, identified by its pid), SIGTERM then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)


def kamailio_check(
    cfg_path: str | Path, kamailio: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    """`kamailio -c -f CFG`: syntax and module parameters (mod_init is not run).
    Returns the CompletedProcess (returncode 0 = ok; output in .stdout, merged)."""
    kamailio = kamailio or requirements().kamailio or "kamailio"
    return subprocess.run(
        [kamailio, "-c", "-f", str(cfg_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


class KamailioProcess:
    """kamailio -DD -E -f CFG in the foreground, as a context manager.

        with KamailioProcess(cfg_text, port=5060, workdir=tmp) as k:
            ... k.log_text() ...
    Ready when it answers an OPTIONS to itself with 200 (the config's keepalive).
    """

    def __init__(
        self,
        cfg_text: str,
        port: int,
        workdir: str | Path,
        host: str = LOCALHOST,
        startup_timeout: float = 15.0,
        shm_mb: int = 64,
        pkg_mb: int = 8,
        kamailio: str | None = None,
        name: str = "kamailio",
    ):
        self.cfg_text = cfg_text
        self.port = port
        self.host = host
        self.workdir = Path(workdir)
        self.startup_timeout = startup_timeout
        self.shm_mb = shm_mb
        self.pkg_mb = pkg_mb
        self.kamailio = kamailio or requirements().kamailio or "kamailio"
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.cfg_path = self.workdir / f"{name}.cfg"
        self.rundir = self.workdir / f"{name}-run"
        self.pidfile = self.rundir / "kamailio.pid"
        self.log_path = self.workdir / f"{name}.log"
        self._log = None

    def start(self) -> KamailioProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.cfg_path.write_text(self.cfg_text)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (open while kamailio runs)
        self.proc = subprocess.Popen(
            [
                self.kamailio,
                "-DD",
                "-E",
                "-f",
                str(self.cfg_path),
                "-Y",
                str(self.rundir),
                "-P",
                str(self.pidfile),
                "-m",
                str(self.shm_mb),
                "-M",
                str(self.pkg_mb),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"kamailio exited with {self.proc.returncode} at start-up; log tail:\n"
                    + self.log_tail()
                )
            if sip_options_ping(self.host, self.port, timeout=0.3) == 200:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"kamailio did not answer OPTIONS on {self.host}:{self.port} "
            f"within {self.startup_timeout}s; log tail:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.proc is not None:
            _terminate(self.proc)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def __enter__(self) -> KamailioProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- SIPp


@dataclasses.dataclass
class SippResult:
    returncode: int | None  # 0 = all calls succeeded; None = killed by us / timeout
    messages: list[SipMessage]
    stdout: str
    elapsed: float
    message_file: Path
    error_log: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def received(self, method: str | None = None) -> list[SipMessage]:
        return received(self.messages, method)

    def final_status(self, cseq_method: str = "INVITE") -> int | None:
        return final_status(self.messages, cseq_method)

    def describe(self) -> str:
        lines = [f"sipp rc={self.returncode} in {self.elapsed:.2f}s"]
        lines += [f"  {m.direction:8} {m.first_line}" for m in self.messages]
        if self.error_log:
            lines.append("errors: " + self.error_log[-2000:])
        return "\n".join(lines)


def _scenario_path(scenario: str | Path) -> Path:
    p = Path(scenario)
    if not p.is_absolute() and not p.exists():
        p = SIPP_DIR / p
    if not p.suffix:
        p = p.with_suffix(".xml")
    if not p.is_file():
        raise FileNotFoundError(p)
    return p


def _sipp_cmd(
    scenario: Path,
    *,
    remote: str | None,
    port: int,
    media_port: int,
    calls: int,
    timeout_s: float,
    recv_timeout_ms: int | None,
    service: str | None,
    duration_ms: int | None,
    message_file: Path,
    error_file: Path,
    extra: Iterable[str],
) -> list[str]:
    sipp = requirements().sipp or "sipp"
    cmd = [sipp, "-sf", str(scenario)]
    if remote:
        cmd.append(remote)
    cmd += [
        "-i",
        LOCALHOST,
        "-p",
        str(port),
        "-mp",
        str(media_port),
        "-m",
        str(calls),
        "-timeout",
        f"{int(timeout_s)}s",
        "-timeout_error",
        "-nostdin",
        "-trace_msg",
        "-message_file",
        str(message_file),
        "-trace_err",
        "-error_file",
        str(error_file),
    ]
    if recv_timeout_ms:
        cmd += ["-recv_timeout", str(recv_timeout_ms)]
    if service:
        cmd += ["-s", service]
    if duration_ms is not None:
        cmd += ["-d", str(duration_ms)]
    cmd += list(extra)
    return cmd


def run_sipp(
    scenario: str | Path,
    remote_port: int,
    *,
    workdir: str | Path,
    service: str = "1000",
    calls: int = 1,
    timeout_s: float = 30,
    recv_timeout_ms: int = 20000,
    duration_ms: int | None = 200,
    remote_host: str = LOCALHOST,
    port: int | None = None,
    media_port: int | None = None,
    extra: Iterable[str] = (),
    tag: str = "uac",
) -> SippResult:
    """Run a SIPp caller to completion, bounded by `timeout` (the command) as well as
    -m/-timeout/-recv_timeout. Returns the exit status and the parsed messages."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    media_port = media_port or free_port_block(4)
    msg_file = workdir / f"{tag}-{port}.messages.log"
    err_file = workdir / f"{tag}-{port}.errors.log"
    cmd = _sipp_cmd(
        _scenario_path(scenario),
        remote=f"{remote_host}:{remote_port}",
        port=port,
        media_port=media_port,
        calls=calls,
        timeout_s=timeout_s,
        recv_timeout_ms=recv_timeout_ms,
        service=service,
        duration_ms=duration_ms,
        message_file=msg_file,
        error_file=err_file,
        extra=extra,
    )
    cmd = ["timeout", "-k", "5", str(int(timeout_s) + 10), *cmd]
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        text=True,
        errors="replace",
        timeout=timeout_s + 30,
        check=False,
    )
    elapsed = time.monotonic() - t0
    return SippResult(
        proc.returncode,
        parse_sipp_messages(msg_file),
        proc.stdout[-5000:],
        elapsed,
        msg_file,
        _read(err_file),
    )


def _read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except FileNotFoundError:
        return ""


class SippUAS:
    """A SIPp carrier (UAS) running in the background on its own port.

    with SippUAS("uas.xml", workdir=tmp) as carrier:
        ... carrier.port ...
        res = carrier.wait(10)      # or carrier.stop() if it should have seen nothing
    """

    def __init__(
        self,
        scenario: str | Path,
        *,
        workdir: str | Path,
        calls: int = 1,
        timeout_s: float = 30,
        port: int | None = None,
        extra: Iterable[str] = (),
        tag: str = "uas",
    ):
        self.scenario = _scenario_path(scenario)
        self.workdir = Path(workdir)
        self.calls = calls
        self.timeout_s = timeout_s
        self.port = port or free_port()
        self.media_port = free_port_block(4)
        self.extra = list(extra)
        self.tag = tag
        self.message_file = self.workdir / f"{tag}-{self.port}.messages.log"
        self.error_file = self.workdir / f"{tag}-{self.port}.errors.log"
        self.stdout_file = self.workdir / f"{tag}-{self.port}.stdout.log"
        self.proc: subprocess.Popen | None = None
        self._t0 = 0.0
        self._out = None

    @property
    def uri(self) -> str:
        return f"sip:{LOCALHOST}:{self.port}"

    def start(self) -> SippUAS:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = _sipp_cmd(
            self.scenario,
            remote=None,
            port=self.port,
            media_port=self.media_port,
            calls=self.calls,
            timeout_s=self.timeout_s,
            recv_timeout_ms=None,
            service=None,
            duration_ms=None,
            message_file=self.message_file,
            error_file=self.error_file,
            extra=self.extra,
        )
        cmd = ["timeout", "-k", "5", str(int(self.timeout_s) + 10), *cmd]
        self._out = open(self.stdout_file, "wb")  # noqa: SIM115 (open while sipp runs)
        self._t0 = time.monotonic()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
        )
        # SIPp binds its socket quickly; wait until the UDP port is taken.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sipp UAS exited at start: {self._stdout()[-2000:]}")
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((LOCALHOST, self.port))
            except OSError:
                return self
            finally:
                s.close()
            time.sleep(0.05)
        return self

    def _stdout(self) -> str:
        return _read(self.stdout_file)

    def _result(self, rc: int | None) -> SippResult:
        return SippResult(
            rc,
            parse_sipp_messages(self.message_file),
            self._stdout()[-5000:],
            time.monotonic() - self._t0,
            self.message_file,
            _read(self.error_file),
        )

    def wait(self, timeout: float | None = None) -> SippResult:
        """Wait for the UAS to finish its calls; on timeout it is stopped and
        returncode is None."""
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout if timeout is not None else self.timeout_s + 15)
        except subprocess.TimeoutExpired:
            self.stop()
            return self._result(None)
        self._close()
        return self._result(rc)

    def messages(self) -> list[SipMessage]:
        return parse_sipp_messages(self.message_file)

    def stop(self) -> SippResult:
        if self.proc is not None and self.proc.poll() is None:
            _terminate(self.proc)
            rc = None
        else:
            rc = self.proc.returncode if self.proc else None
        self._close()
        return self._result(rc)

    def _close(self):
        if self._out is not None:
            self._out.close()
            self._out = None

    def __enter__(self) -> SippUAS:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- stub API


@dataclasses.dataclass
class StubRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)


# handler(request) -> (status, body: bytes|str|dict, delay_seconds)
StubHandler = Callable[[StubRequest], tuple[int, Any, float]]


def rtjson_routes(*routes: dict, routing: str = "serial") -> dict:
    return {
        "rtjson": {"success": True, "version": "1.0", "routing": routing, "routes": list(routes)}
    }


def rtjson_refusal(code: int, reason: str) -> dict:
    return {"rtjson": {"success": False, "code": code, "reason": reason}}


def rtjson_route(
    dst_uri: str,
    uri: str,
    *,
    from_: tuple[str, str] | None = None,
    to: tuple[str, str] | None = None,
    extra: str = "",
    fr_timer: int = 5000,
    fr_inv_timer: int = 30000,
    branch_flags: int = 0,
) -> dict:
    """One route as the contract wants it (all keys present; From/To both sent
    because of the rtjson carry-over bug: see KAMAILIO.md)."""
    from_ = from_ or ("", "")
    to = to or ("", "")
    headers: dict[str, Any] = {"extra": extra}
    headers["from"] = {"display": from_[0], "uri": from_[1]}
    headers["to"] = {"display": to[0], "uri": to[1]}
    return {
        "uri": uri,
        "dst_uri": dst_uri,
        "path": "",
        "socket": "",
        "headers": headers,
        "branch_flags": branch_flags,
        "fr_timer": fr_timer,
        "fr_inv_timer": fr_inv_timer,
    }


class StubAPI:
    """Threaded HTTP server on 127.0.0.1 playing POST /kamailio/rtjson.

    `handler` decides each answer; every request is recorded in `requests`.
    """

    def __init__(self, handler: StubHandler | None = None, port: int | None = None):
        self.handler: StubHandler = handler or (lambda req: (503, "no handler", 0.0))
        self.requests: list[StubRequest] = []
        self._lock = threading.Lock()
        self.port = port or free_port()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}/kamailio/rtjson"

    def reset(self, handler: StubHandler | None = None) -> None:
        with self._lock:
            self.requests.clear()
            if handler is not None:
                self.handler = handler

    def start(self) -> StubAPI:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = StubRequest(
                    self.path, {k: v for k, v in self.headers.items()}, body, time.monotonic()
                )
                with stub._lock:
                    stub.requests.append(req)
                    handler = stub.handler
                try:
                    status, payload, delay = handler(req)
                except Exception as exc:  # a broken test handler must be visible
                    status, payload, delay = 599, f"stub handler error: {exc!r}", 0.0
                if delay:
                    time.sleep(delay)
                if isinstance(payload, (dict, list)):
                    data = json.dumps(payload).encode()
                    ctype = "application/json"
                elif isinstance(payload, str):
                    data = payload.encode()
                    ctype = "text/plain"
                else:
                    data = payload or b""
                    ctype = "application/octet-stream"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client (Kamailio) gave up: timeout tests

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server((LOCALHOST, self.port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None

    def __enter__(self) -> StubAPI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def new_workdir(prefix: str = "c4router-e2e-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
