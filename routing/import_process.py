"""CSV imports (the admin's and the API's: route rules, DIDs, list entries, capacity limits,
rate decks and ported numbers) run in a process of their own, at low CPU priority.

Why: the processes that serve the admin and the API are the ones that answer Kamailio. A
10,000-rule import costs about 0.75 s of Python CPU (read, check, write) plus 0.6 s in the
PostgreSQL backend (COPY, indexes, history rows). Run in a serving worker, on the 2-core
machine, it pushed the host's routing p99 from 1.8 ms to 32 ms (bench/run --only admin).
Here the worker hands the uploaded file to a new `python -m routing.import_process`, lowered
to `C4ROUTER_IMPORT_NICE` (19 by default, the lowest priority) before Django is even set up,
and waits for its answer: the kernel gives the routing workers the CPU first, and the
worker's event loop never waits on the import's Python (no GIL shared). The import itself is
the same function (routing.imports): one transaction, all or nothing, one version bump. What
the operator sees is unchanged: the API answers the import's result (or its errors, line by
line), the admin shows the same messages.

The child's PostgreSQL backend gets the same priority when it runs on this host and this
process may renice it (the same machine and user, or root): that half of the CPU competes with
the routing workers too (bench/run --only admin measures both). Elsewhere (a database on
another host or container) the backend keeps its priority and the log says so once per import.

The protocol (private to this module): the job as one JSON object on stdin; the child writes
one line "RESULT {json}" on stdout: the result, or the errors, plus its pid, nice value and CPU
seconds, which the worker logs (c4router.imports). A child that dies or runs past
C4ROUTER_IMPORT_TIMEOUT_S is an error (a 500): its transaction never committed, so nothing was
imported.

C4ROUTER_IMPORT_CHILD=0 runs imports in the serving process as before (the test suite does,
so that imports see each test's transaction; tests/imports/test_import_process.py runs the
child for real).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger("c4router.imports")

MARKER = "RESULT "
# The importers a child may run, by name, and their modules (the job names one; nothing else
# is imported).
IMPORTERS = {
    "import_route_rules": "routing.imports",
    "import_dids": "routing.imports",
    "import_list_entries": "routing.imports",
    "import_limits": "routing.imports_limits",
    "import_rates": "routing.imports_rates",  # run_rate_import()
    "import_ported_numbers": "routing.imports_lnp",  # run_ported_import()
}


class ImportProcessError(RuntimeError):
    """The import's process failed (crashed, timed out): nothing was imported."""


def run_import(
    importer: Callable[..., Any],
    upload: Any,
    *,
    mode: str,
    dry_run: bool,
    user: Any,
    change_reason: str,
) -> Any:
    """Run `importer` (a routing.imports import_* function) over the uploaded file (a
    Django UploadedFile): in a child process at low priority, or here when
    C4ROUTER_IMPORT_CHILD is off. Returns its ImportResult; raises ImportFailed (the file's
    errors) or UnicodeDecodeError as the importer does."""
    from django.conf import settings

    conf = settings.C4ROUTER
    if not conf["IMPORT_CHILD"] or _in_memory_database():
        import io

        text = io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline="")
        return importer(text, mode=mode, dry_run=dry_run, user=user, change_reason=change_reason)
    name = importer.__name__
    if IMPORTERS.get(name) != importer.__module__:
        raise ValueError(f"{name} is not an importer a child process runs")
    with upload_path(upload) as path:
        job = {
            "importer": name,
            "path": str(path),
            "mode": mode,
            "dry_run": dry_run,
            "user": getattr(user, "pk", None),
            "change_reason": change_reason,
            "nice": conf["IMPORT_NICE"],
            "databases": _database_names(),
        }
        answer = _run_child(job, timeout=conf["IMPORT_TIMEOUT_S"])
    return _outcome(answer, getattr(upload, "name", "") or "")


def run_rate_import(
    deck: Any,
    path: Path,
    *,
    effective_from: Any,
    mode: str,
    preview: bool,
    user: Any,
    filename: str,
) -> Any:
    """routing.imports_rates.import_rates over a deck file on disk (the admin's spooled
    upload, the API's): in a child process at low priority, as the other imports (a deck of
    a million lines is tens of seconds of CPU), or here when C4ROUTER_IMPORT_CHILD is off.
    Returns its RateImportResult; raises ImportFailed or UnicodeDecodeError as it does."""
    from routing.imports_rates import RateImportResult, import_rates

    return _run_file_import(
        "import_rates",
        path,
        {"deck": deck.pk, "effective_from": effective_from.isoformat() if effective_from else None,
         "mode": mode, "preview": preview, "filename": filename},
        user,
        lambda text: import_rates(deck, text, effective_from=effective_from, mode=mode,
                                  preview=preview, user=user, filename=filename),
        RateImportResult.from_dict,
    )  # fmt: skip


def run_ported_import(upload: Any, *, delta: bool, dry_run: bool, user: Any, filename: str) -> Any:
    """routing.imports_lnp.import_ported_numbers over an uploaded file, as run_rate_import()
    (a portability database is millions of lines). Returns its LnpImportResult."""
    from routing.imports_lnp import LnpImportResult, import_ported_numbers

    with upload_path(upload) as path:
        return _run_file_import(
            "import_ported_numbers",
            path,
            {"delta": delta, "dry_run": dry_run, "filename": filename},
            user,
            lambda text: import_ported_numbers(text, delta=delta, dry_run=dry_run, user=user,
                                               filename=filename),
            lambda result: LnpImportResult(**result),
        )  # fmt: skip


def _run_file_import(
    importer: str,
    path: Path,
    arguments: dict[str, Any],
    user: Any,
    here: Callable[[Any], Any],
    decode: Callable[[dict[str, Any]], Any],
) -> Any:
    """An importer called with keyword `arguments` (JSON values) over the file at `path`:
    in the child (_keyword_import() there), or `here` over the file opened as text."""
    from django.conf import settings

    conf = settings.C4ROUTER
    if not conf["IMPORT_CHILD"] or _in_memory_database():
        with path.open(encoding="utf-8-sig", newline="") as text:
            return here(text)
    job = {
        "importer": importer,
        "path": str(path),
        "arguments": arguments,
        "user": getattr(user, "pk", None),
        "nice": conf["IMPORT_NICE"],
        "databases": _database_names(),
    }
    answer = _run_child(job, timeout=conf["IMPORT_TIMEOUT_S"])
    return _outcome(answer, arguments["filename"], decode)


def _in_memory_database() -> bool:
    """An in-memory SQLite database exists in this process only: no child can see it."""
    from django.db import connection

    return connection.vendor == "sqlite" and bool(
        connection.creation.is_in_memory_db(connection.settings_dict["NAME"])
    )


@contextmanager
def upload_path(upload: Any) -> Iterator[Path]:
    """A path to the upload's bytes: Django's own temporary file for a big upload, else a
    temporary copy (small uploads are held in memory)."""
    path = getattr(upload, "temporary_file_path", None)
    if path is not None:
        upload.file.flush()
        yield Path(path())
        return
    with tempfile.NamedTemporaryFile(prefix="c4router-import-", suffix=".csv") as copy:
        upload.file.seek(0)
        shutil.copyfileobj(upload.file, copy)
        copy.flush()
        yield Path(copy.name)


def _database_names() -> dict[str, str]:
    """Each alias's database name as this process uses it (the test suite's test_ database
    is not the one DATABASE_URL names)."""
    from django.db import connections

    return {alias: str(connections[alias].settings_dict["NAME"]) for alias in connections}


def _run_child(job: dict[str, Any], *, timeout: int) -> dict[str, Any]:
    # The same settings module as this process (in its environment, as Django requires);
    # one connection, no pool to fill.
    env = {**os.environ, "DATABASE_POOL": "0"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "c4router.settings")
    started = time.perf_counter()
    try:
        done = subprocess.run(  # our own interpreter and module; the job as JSON
            [sys.executable, "-m", "routing.import_process"],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            env=env,
            cwd=_project_dir(),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        # subprocess.run killed it: its connection closes, its transaction rolls back
        # (unless it was killed between its commit and its answer: the history shows it).
        raise ImportProcessError(
            f"The import did not finish within {timeout} s (C4ROUTER_IMPORT_TIMEOUT_S) and "
            "was stopped; nothing was imported."
        ) from exc
    if done.stderr:
        sys.stderr.write(done.stderr)  # the child's log lines and tracebacks, in ours
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARKER):
            answer: dict[str, Any] = json.loads(line[len(MARKER) :])
            answer["wall_s"] = time.perf_counter() - started
            return answer
    raise ImportProcessError(
        f"The import's process failed (exit status {done.returncode}); nothing was imported."
    )


def _project_dir() -> str:
    return str(Path(__file__).resolve().parent.parent)


def _outcome(
    answer: dict[str, Any], filename: str, decode: Callable[[dict[str, Any]], Any] | None = None
) -> Any:
    """The child's answer as the importer would have returned or raised it; `decode` makes
    the result from its dict (default: an ImportResult)."""
    from routing.imports import ImportFailed, ImportResult, RowError

    logger.info(
        # The file's name as the client sent it: quoted, so that no character of it can
        # start a log line of its own.
        "import of %r by %s: %s in pid %s at nice %s, %.2f s CPU, %.2f s in all%s",
        filename,
        answer["importer"],
        answer["outcome"],
        answer["pid"],
        answer["nice"],
        answer["cpu_s"],
        answer["wall_s"],
        f"; its database backend {answer['backend']}" if answer.get("backend") else "",
    )
    if answer["outcome"] == "failed":
        raise ImportFailed([RowError(**e) for e in answer["errors"]], answer["truncated"])
    if answer["outcome"] == "not-utf-8":
        raise UnicodeDecodeError("utf-8", b"", 0, 1, answer["reason"])
    return decode(answer["result"]) if decode is not None else ImportResult(**answer["result"])


# ------------------------------------------------------------------------------------------
# the child


def _lower_priority(nice: int) -> int:
    """This process's nice value raised to `nice` (never lowered: no privilege needed)."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    return os.getpriority(os.PRIO_PROCESS, 0)


def _lower_backend_priority(nice: int) -> str:
    """Give this connection's PostgreSQL backend the same low priority when it is a process
    of this host that we may renice; say what happened (for the log)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), inet_client_port()")
        pid, port = cursor.fetchone()
    if port is None:
        return "reached by a Unix socket: priority unchanged"
    # Same pid namespace and really our backend: its command line names our client port
    # ("postgres: user db 127.0.0.1(54321) idle"); a pid of another host or container is
    # never touched.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return "not on this host: priority unchanged"
    if f"({port})" not in cmdline or "postgres" not in cmdline:
        return "not on this host: priority unchanged"
    try:
        if os.getpriority(os.PRIO_PROCESS, pid) < nice:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
    except OSError as exc:
        return f"pid {pid} kept its priority ({exc.strerror})"
    return f"pid {pid} at nice {os.getpriority(os.PRIO_PROCESS, pid)}"


def _child(job: dict[str, Any]) -> dict[str, Any]:
    nice = _lower_priority(int(job["nice"]))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connections

    for alias, name in job["databases"].items():
        if alias in connections:
            connections[alias].settings_dict["NAME"] = name
    import importlib

    from routing import imports

    answer: dict[str, Any] = {"importer": job["importer"], "pid": os.getpid(), "nice": nice}
    if connections["default"].vendor == "postgresql":
        answer["backend"] = _lower_backend_priority(int(job["nice"]))
    user = None
    if job["user"] is not None:
        user = get_user_model().objects.filter(pk=job["user"]).first()
    importer = getattr(importlib.import_module(IMPORTERS[job["importer"]]), job["importer"])
    try:
        with open(job["path"], encoding="utf-8-sig", newline="") as text:
            if "arguments" in job:
                result = _keyword_import(importer, text, job, user)
            else:
                result = importer(
                    text,
                    mode=job["mode"],
                    dry_run=job["dry_run"],
                    user=user,
                    change_reason=job["change_reason"],
                )
    except imports.ImportFailed as exc:
        answer["outcome"] = "failed"
        answer["errors"] = [e.as_dict() for e in exc.errors]
        answer["truncated"] = exc.truncated
    except UnicodeDecodeError as exc:
        answer["outcome"] = "not-utf-8"
        answer["reason"] = exc.reason
    else:
        dry_run = getattr(result, "preview", None) or getattr(result, "dry_run", False)
        answer["outcome"] = "dry run" if dry_run else "imported"
        answer["result"] = result.as_dict()
    return answer


def _keyword_import(importer: Callable[..., Any], text: Any, job: dict[str, Any], user: Any) -> Any:
    """A job of _run_file_import(): a rate deck's import (its deck by id, its date) or the
    ported numbers'."""
    arguments = dict(job["arguments"])
    if job["importer"] != "import_rates":
        return importer(text, user=user, **arguments)
    from django.utils.dateparse import parse_datetime

    from routing import imports
    from routing.models import RateDeck

    deck = RateDeck.objects.filter(pk=arguments.pop("deck")).first()
    if deck is None:  # deleted between the upload and this import
        raise imports.ImportFailed([imports.RowError(0, "deck", "The rate deck no longer exists.")])
    when = arguments.pop("effective_from")
    return importer(deck, text, effective_from=parse_datetime(when) if when else None,
                    user=user, **arguments)  # fmt: skip


def main() -> None:
    started = time.process_time()
    job = json.loads(sys.stdin.read())
    if job.get("importer") not in IMPORTERS:
        raise SystemExit(f"unknown importer {job.get('importer')!r}")
    answer = _child(job)
    answer["cpu_s"] = time.process_time() - started
    sys.stdout.write(MARKER + json.dumps(answer) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
