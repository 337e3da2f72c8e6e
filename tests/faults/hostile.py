"""Malformed and hostile routing queries, and a bounded raw HTTP/1.1 client to fire them.

httpx would cost more CPU per request than the server under test (2 cores shared): this
client writes the requests' bytes itself on keep-alive connections (asyncio streams) and
reads each answer whole, so that every status and body can be checked. The requests are
well-framed HTTP whose content is hostile; the framing abuse (bodies cut short, slow
bodies, bodies past the server's read limit) has its own functions below.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field

import orjson

PATH = b"/kamailio/rtjson"
MISSING = b"\x00missing"  # Hostile.token: send no X-C4-Token header at all
MAX_FIELD = 1024  # routing.engine.query.MAX_FIELD
MAX_QUERY = 16 * 1024  # routing.engine.query.MAX_BODY
MAX_READ = 64 * 1024  # c4router.asgi.MAX_BODY


@dataclass(frozen=True)
class Hostile:
    """One request. expect: "routed" (a valid query, possibly with hostile but harmless
    content such as control characters in a display name: 200 with a route), "error" (4xx
    with a JSON error), "answer" (well-formed, refused or not: an rtjson answer, e.g. 403
    for an unknown source, or a JSON error)."""

    name: str
    body: bytes
    expect: str = "error"
    content_type: bytes | None = b"application/json"
    token: bytes | None = None  # None: the right token
    chunked: bool = False


def query(**fields: object) -> dict:
    base: dict[str, object] = {
        "event": "sip-routing", "source_ip": "127.0.0.1", "source_port": 5060, "auth": 0,
        "call_id": "hostile@faults", "from_name": "Alice", "from_uri": "sip:alice@127.0.0.1",
        "from_tag": "abc", "to_name": "Bob", "to_uri": "sip:33612345678@127.0.0.1",
        "to_tag": "<null>",
    }  # fmt: skip
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def dumps(**fields: object) -> bytes:
    return orjson.dumps(query(**fields))


def padded_to(size: int) -> bytes:
    """A valid query whose body is exactly `size` bytes (extra fields are ignored)."""
    body = dumps()
    pad = size - len(body) - len(b',"pad":""')
    return body[:-1] + b',"pad":"' + b"x" * pad + b'"}'


def variants() -> list[Hostile]:
    v: list[Hostile] = []
    add = v.append
    # A valid query (mixed in: the server must keep routing while it is abused).
    add(Hostile("valid", dumps(), "routed"))
    add(Hostile("valid-chunked", dumps(), "routed", chunked=True))
    charset = b"application/json; charset=utf-8"
    add(Hostile("valid-charset", dumps(), "routed", content_type=charset))
    # Not JSON, or not a JSON object.
    not_json = [
        b"", b"{", b"}", b"not json", b'{"a":}', b"[1,2", b"\xff\xfe\x00", b"null", b"[]",
        b"123", b'"sip-routing"', b"true", b"{}", b'{"to_uri":"sip:1@x",}', b"\x00" * 64,
        b"{" * 2000, b"[" * 10_000, dumps()[:-1], b'{"source_ip":"::1","to_uri":"\\ud800"}',
        b'{"source_port":1e400,"source_ip":"127.0.0.1","to_uri":"sip:1@x"}',
        b"\xef\xbb\xbf" + dumps(),
    ]  # fmt: skip
    for i, body in enumerate(not_json):
        add(Hostile(f"not-json-{i}", body))
    # Truncated bodies: a valid query cut anywhere (the Content-Length says the cut length).
    whole = dumps()
    for cut in (1, 7, 20, len(whole) // 2, len(whole) - 2):
        add(Hostile(f"truncated-{cut}", whole[:cut]))
    # Wrong types and values.
    for name, fields in [
        ("ip-int", {"source_ip": 2130706433}), ("ip-bad", {"source_ip": "999.1.1.1"}),
        ("ip-missing", {"source_ip": ...}), ("ip-list", {"source_ip": ["127.0.0.1"]}),
        ("port-str", {"source_port": "abc"}), ("port-neg", {"source_port": -1}),
        ("port-big", {"source_port": 70000}), ("port-float", {"source_port": 5060.5}),
        ("port-bool", {"source_port": True}), ("port-huge", {"source_port": 2**63}),
        ("to-missing", {"to_uri": ...}), ("to-list", {"to_uri": []}),
        ("to-dict", {"to_uri": {"uri": "sip:1@x"}}), ("to-not-uri", {"to_uri": "mailto:x@y"}),
        ("to-empty-host", {"to_uri": "sip:336@"}), ("call-id-obj", {"call_id": {}}),
        ("event-other", {"event": "sip-register"}), ("auth-str", {"auth": "yes"}),
        ("from-int", {"from_uri": 5}), ("tag-list", {"from_tag": [1]}),
    ]:  # fmt: skip
        add(Hostile(f"type-{name}", dumps(**fields)))
    # Unknown sources and numbers: answered (refusals are rtjson answers, not errors).
    for i in range(5):
        add(Hostile(f"unknown-source-{i}", dumps(source_ip=f"192.0.2.{i + 1}"), "answer"))
    add(Hostile("no-route", dumps(to_uri="sip:4930123456@127.0.0.1"), "answer"))
    add(Hostile("ipv6-source", dumps(source_ip="::1"), "answer"))
    # Huge fields: up to the limits, and just past them.
    add(Hostile("field-at-limit", dumps(call_id="c" * MAX_FIELD), "routed"))
    add(Hostile("field-past-limit", dumps(call_id="c" * (MAX_FIELD + 1))))
    add(Hostile("uri-past-limit", dumps(to_uri="sip:" + "3" * MAX_FIELD + "@127.0.0.1")))
    add(Hostile("display-at-limit", dumps(from_name="A" * MAX_FIELD), "routed"))
    add(Hostile("body-at-limit", padded_to(MAX_QUERY), "routed"))
    add(Hostile("body-past-limit", padded_to(MAX_QUERY + 1)))
    add(Hostile("body-near-read-limit", padded_to(MAX_READ - 10)))
    many = orjson.dumps({**query(), **{f"k{i}": i for i in range(1000)}})  # ignored: routed
    add(Hostile("many-keys", many, "routed"))
    # Control characters and injection attempts.
    for name, fields, expect in [
        ("callid-nul", {"call_id": "a\x00b"}, "error"),
        ("callid-crlf", {"call_id": "a\r\nX-Evil: 1"}, "error"),
        ("to-crlf", {"to_uri": "sip:336\r\nX-Evil: 1@127.0.0.1"}, "error"),
        ("from-crlf", {"from_uri": "sip:a@b\r\nVia: evil"}, "error"),
        ("display-ctl", {"from_name": 'Al\x1bice"\r\nX-Evil: 1\\'}, "routed"),
        ("display-unicode", {"from_name": "Zoë 😀\u202e"}, "routed"),
        ("to-nul-escape", {"to_uri": "sip:336\u0000@127.0.0.1"}, "error"),
    ]:  # fmt: skip
        add(Hostile(f"ctl-{name}", dumps(**fields), expect))
    # Wrong content type, missing or wrong token.
    for ct in (None, b"text/plain", b"application/x-www-form-urlencoded", b"", b"json",
               b"application/jsonx", b"multipart/form-data; boundary=x"):  # fmt: skip
        add(Hostile(f"ctype-{ct!r}", dumps(), content_type=ct))
    tokens = [
        ("empty", b""), ("wrong", b"nope-0123456789abcdef"), ("huge", b"t" * 8000),
        ("latin1", b"\xe9t\xe9-token-0123456789"),
    ]  # fmt: skip
    for name, token in tokens:
        add(Hostile(f"token-{name}", dumps(), token=token))
    add(Hostile("token-missing", dumps(), token=MISSING))
    return v


def request_bytes(item: Hostile, token: bytes, port: int, call_number: int) -> bytes:
    body = item.body
    if item.expect == "routed":  # a Call-ID of its own, the same length (body-at-limit)
        body = body.replace(b"hostile@faults", b"h%06d@faults" % (call_number % 1_000_000))
    lines = [b"POST " + PATH + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % port]
    if item.content_type is not None:
        lines.append(b"Content-Type: " + item.content_type)
    if item.token is None:
        lines.append(b"X-C4-Token: " + token)
    elif item.token != MISSING:
        lines.append(b"X-C4-Token: " + item.token)
    if item.chunked:
        lines.append(b"Transfer-Encoding: chunked")
        chunks = [body[i : i + 64] for i in range(0, len(body), 64)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    else:
        lines.append(b"Content-Length: %d" % len(body))
        payload = body
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in header_lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = await reader.read()
    return Answer(status, headers, body)


@dataclass
class Tally:
    """What came back: statuses by expectation, and every answer that broke a rule."""

    statuses: Counter = field(default_factory=Counter)
    by_variant: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    sent: int = 0
    reconnects: int = 0

    def check(self, item: Hostile, answer: Answer, routed_to: str) -> None:
        self.statuses[answer.status] += 1
        self.by_variant[item.name, answer.status] += 1
        problem = judge(item, answer, routed_to)
        if problem and len(self.problems) < 50:
            report = f"{item.name}: {problem}: {answer.status} {answer.body[:200]!r}"
            if report not in self.problems:
                self.problems.append(report)

    def merge(self, other: Tally) -> None:
        self.statuses.update(other.statuses)
        self.by_variant.update(other.by_variant)
        self.problems.extend(other.problems[: 50 - len(self.problems)])
        self.sent += other.sent
        self.reconnects += other.reconnects


def judge(item: Hostile, answer: Answer, routed_to: str) -> str | None:
    """None if the answer is right for the request, else what is wrong with it."""
    if answer.status >= 500:
        return "server error"
    if not answer.headers.get("content-type", "").startswith("application/json"):
        return "not JSON"
    try:
        document = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return "body is not JSON"
    if not isinstance(document, dict):
        return "not a JSON object"
    if answer.status == 200:
        rtjson = document.get("rtjson")
        if not isinstance(rtjson, dict) or "success" not in rtjson:
            return "200 without an rtjson answer"
        if item.expect == "error":
            return "accepted a malformed query"
        if item.expect == "routed" and (
            not rtjson["success"] or rtjson["routes"][0]["dst_uri"] != routed_to
        ):
            return "a valid query was not routed"
        return None
    if not isinstance(document.get("error"), str) or not document["error"]:
        return "error answer without an 'error' message"
    if item.expect == "routed":
        return "a valid query was refused"
    if not 400 <= answer.status < 500:
        return "error outside 4xx"
    return None


async def burst(
    port: int, token: bytes, items: list[Hostile], count: int, *, concurrency: int, routed_to: str,
    seed: int = 7, timeout: float = 10.0,
) -> Tally:  # fmt: skip
    """`count` requests drawn in turn from `items` (shuffled), over `concurrency` keep-alive
    connections; a connection the server closes is opened again."""
    order = list(items)
    random.Random(seed).shuffle(order)
    numbers = iter(range(count))
    tally = Tally()

    async def connection() -> None:
        reader = writer = None
        for n in numbers:
            item = order[n % len(order)]
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            writer.write(request_bytes(item, token, port, n))
            tally.sent += 1
            answer = await asyncio.wait_for(read_answer(reader), timeout)
            tally.check(item, answer, routed_to)
            if answer.headers.get("connection", "").lower() == "close":
                writer.close()
                reader = writer = None
                tally.reconnects += 1
            else:
                await writer.drain()
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return tally


async def framing_abuse(port: int, token: bytes, rounds: int, *, concurrency: int) -> Counter:
    """Requests whose framing is abusive, each on its own connection, bounded in time:
    - "partial": Content-Length promises more than is sent, then the client goes away;
    - "slow": a valid query dribbled out in pieces (must still be answered 200);
    - "oversized": a body far past the server's read limit (1 MiB): answered with an error
      (or the connection is cut while the client is still sending: both are fine, a 5xx
      is not);
    - "headers-only": the client stops in the middle of the headers and goes away.
    Returns outcome counts ("slow:200", "oversized:400", "oversized:cut", ...)."""
    outcomes: Counter = Counter()
    semaphore = asyncio.Semaphore(concurrency)
    valid = dumps()

    async def one(kind: str, n: int) -> None:
        async with semaphore:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                outcome = await asyncio.wait_for(_abuse(kind, n, reader, writer), 10)
            except (ConnectionError, asyncio.IncompleteReadError):
                outcome = "cut"
            except TimeoutError:
                outcome = "timeout"
            finally:
                writer.close()
            outcomes[f"{kind}:{outcome}"] += 1

    async def _abuse(kind: str, n: int, reader, writer) -> str:  # type: ignore[no-untyped-def]
        head = (
            b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"X-C4-Token: %s\r\n" % (PATH, token)
        )
        if kind == "headers-only":
            writer.write(head[: 20 + n % 40])
            await writer.drain()
            await asyncio.sleep(0.2)
            return "gone"
        if kind == "partial":
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(valid) + valid[: n % 50])
            await writer.drain()
            await asyncio.sleep(0.2)
            return "gone"
        if kind == "slow":
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(valid))
            step = len(valid) // 4 + 1
            for start in range(0, len(valid), step):
                writer.write(valid[start : start + step])
                await writer.drain()
                await asyncio.sleep(0.05)
            return str((await read_answer(reader)).status)
        assert kind == "oversized"
        body = b"{" + b'"x":"' + b"y" * (1 << 20) + b'"}'
        writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body))
        writer.write(body)  # not drained: the answer may come before the body is sent
        answer = await read_answer(reader)
        if answer.status >= 500 or b'"error"' not in answer.body:
            return f"bad-{answer.status}"
        return str(answer.status)

    kinds = ["partial", "slow", "oversized", "headers-only"]
    await asyncio.gather(*(one(kinds[n % len(kinds)], n) for n in range(rounds)))
    return outcomes
