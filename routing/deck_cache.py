"""Compiled rate decks shared by the workers of a host: one file per deck and version,
built by the first worker that needs it and memory-mapped read-only by every worker.

Ten decks of a million prefixes take each worker tens of seconds of CPU to read and
compile (routing.loader.read_deck_rates); two workers doing it at once on a 2-core host
take twice as long, and each keeps its own copy. With C4ROUTER_DECK_CACHE_DIR set, a deck
is compiled once per host: the worker that takes the deck's lock (fcntl) reads it and
writes its arrays to a file, the others wait for the lock and map the same file. Its pages
are the page cache's, shared: the host pays for them once, whatever the worker count.

A file is named by the database (server address, port, name and the database's OID: a
database dropped and created again gets another OID), the deck and the routing version
its rates were read at; its header repeats them and the rate count, checked at load. A
forced rebuild (TableHolder.refresh(force=True): data written around the version bump)
does not read the cache. Older files of a deck are removed when a new one is written (a
worker still mapping one keeps it until it lets go: Linux frees an unlinked file then); a
full build sweeps the files of the decks its database no longer has (sweep(): deleted
decks) and temporary files a writer left, once they are SWEEP_AGE_S old.

The palette (a few thousand tuples of Decimal and datetime) and the rare overlay of
prefixes over 17 digits are pickled in the file: it is written by c4router itself in a
directory only the server's user may write (created 0700; refused when others may write).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import mmap
import os
import pickle
import stat
import struct
import time
from array import array
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from routing.engine.rates import DeckRates

logger = logging.getLogger("c4router.loader")

_MAGIC = b"C4DECK01"
_ALIGN = 8
# A deck's file or a temporary file is swept once this old: a deck another worker has just
# created (and written) may not be in this worker's table yet.
SWEEP_AGE_S = 3600


def _aligned(size: int) -> int:
    return (size + _ALIGN - 1) // _ALIGN * _ALIGN


def _directory(path: str) -> Path:
    root = Path(path)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = root.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(f"deck cache {root}: writable by others; use a private directory")
    return root


def _name(identity: str, deck_id: int, version: int) -> str:
    digest = hashlib.sha256(f"{identity}|{deck_id}|{version}".encode()).hexdigest()[:24]
    return f"deck-{deck_id}-{digest}.bin"


def cached(
    directory: str, identity: str, deck_id: int, version: int, build: Callable[[], DeckRates]
) -> DeckRates:
    """The deck's compiled rates, from the host's file for this version, or built (by this
    worker, which then writes the file) while the others wait."""
    root = _directory(directory)
    path = root / _name(identity, deck_id, version)
    header = {"identity": identity, "deck": deck_id, "version": version}
    with (root / f"deck-{deck_id}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder per deck on the host
        if path.exists():
            try:
                return _load(path, header)
            except (OSError, ValueError, pickle.UnpicklingError, EOFError) as exc:
                logger.warning("deck cache %s unreadable (%s): building it again", path, exc)
        rates = build()
        _write(path, header, rates)
        for old in root.glob(f"deck-{deck_id}-*.bin"):
            if old != path:
                old.unlink(missing_ok=True)
        return _load(path, header)


def sweep(directory: str, identity: str, keep: Collection[int], now: float | None = None) -> int:
    """Remove the files of this database's decks not in `keep` (the decks it has: deleted
    ones go) and the temporary files a writer left (a crash mid-write), once SWEEP_AGE_S
    old; the files of other databases sharing the directory stay, as the lock files (a
    few bytes each). Returns how many went."""
    root = _directory(directory)
    limit = (time.time() if now is None else now) - SWEEP_AGE_S
    removed = 0
    for path in root.glob("deck-*"):
        try:
            if path.stat().st_mtime > limit:
                continue
        except OSError:
            continue  # gone meanwhile
        if not path.suffix.startswith(".tmp"):
            parts = path.name.split("-")
            if path.suffix != ".bin" or len(parts) != 3 or not parts[1].isdigit():
                continue
            if int(parts[1]) in keep or _identity_of(path) != identity:
                continue
        path.unlink(missing_ok=True)
        removed += 1
    if removed:
        logger.info("deck cache %s: %s files of deleted decks or unfinished writes removed",
                    root, removed)  # fmt: skip
    return removed


def _identity_of(path: Path) -> str | None:
    """The database a deck file was written for (None: not a readable deck file)."""
    try:
        with path.open("rb") as file:
            start = file.read(len(_MAGIC) + 4)
            if len(start) < len(_MAGIC) + 4 or start[: len(_MAGIC)] != _MAGIC:
                return None
            (size,) = struct.unpack_from("<I", start, len(_MAGIC))
            identity = json.loads(file.read(size)).get("identity")
    except (OSError, ValueError):
        return None
    return identity if isinstance(identity, str) else None


def _write(path: Path, header: dict[str, Any], rates: DeckRates) -> None:
    arrays: list[tuple[str, Any]] = [
        ("keys", rates.keys),
        ("terms", rates.terms),
        ("parents", rates.parents),
    ]
    if rates.directory is not None:
        arrays.append(("directory", rates.directory))
    objects = pickle.dumps((list(rates.palette), rates.overlay), protocol=pickle.HIGHEST_PROTOCOL)
    layout = []
    offset = 0
    for name, values in arrays:
        size = len(values) * values.itemsize
        layout.append([name, values.typecode if isinstance(values, array) else values.format,
                       offset, len(values)])  # fmt: skip
        offset = _aligned(offset + size)
    meta = dict(header, count=len(rates.keys), arrays=layout, objects=[offset, len(objects)])
    meta_bytes = json.dumps(meta).encode()
    start = _aligned(len(_MAGIC) + 4 + len(meta_bytes))
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    with temporary.open("wb") as out:
        out.write(_MAGIC + struct.pack("<I", len(meta_bytes)) + meta_bytes)
        out.write(b"\0" * (start - out.tell()))
        for (_, _, at, _), (_, values) in zip(layout, arrays, strict=True):
            out.write(b"\0" * (start + at - out.tell()))
            out.write(memoryview(values).cast("B"))
        out.write(b"\0" * (start + offset - out.tell()))
        out.write(objects)
    os.replace(temporary, path)


def _load(path: Path, header: dict[str, Any]) -> DeckRates:
    with path.open("rb") as file:
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    if mapped[: len(_MAGIC)] != _MAGIC:
        raise ValueError("not a deck file")
    (size,) = struct.unpack_from("<I", mapped, len(_MAGIC))
    meta = json.loads(mapped[len(_MAGIC) + 4 : len(_MAGIC) + 4 + size])
    if any(meta.get(key) != value for key, value in header.items()):
        raise ValueError("another database, deck or version")
    start = _aligned(len(_MAGIC) + 4 + size)
    view = memoryview(mapped)
    found: dict[str, Any] = {}
    for name, code, at, count in meta["arrays"]:
        itemsize = array(code).itemsize
        found[name] = view[start + at : start + at + count * itemsize].cast(code)
    at, length = meta["objects"]
    palette, overlay = pickle.loads(view[start + at : start + at + length])  # noqa: S301 - our own file
    if len(found["keys"]) != meta["count"]:
        raise ValueError("truncated")
    return DeckRates.from_arrays(
        found["keys"], found["terms"], found["parents"], found.get("directory"), palette, overlay
    )
