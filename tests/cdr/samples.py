"""Call record messages shaped as Kamailio 5.6 writes them (captured from a real run of
kamailio_cfg/kamailio.cfg: a 503 then a 200 through two SIPp carriers), with their times
moved to `start`."""

from __future__ import annotations

import orjson

CALL = {"dir": "out", "tenant": 1, "pbx": 2, "carrier": None, "rule": 7,
        "callee": "33612345678", "caller": "33100000000"}  # fmt: skip
ROUTE_1 = {"attempt": 1, "rule": 7, "carrier": 10, "gateway": 20, "pbx": None,
           "to": "33612345678", "from": "33100000000"}  # fmt: skip
ROUTE_2 = {"attempt": 2, "rule": 7, "carrier": 11, "gateway": 21, "pbx": None,
           "to": "0612345678", "from": "0100000000"}  # fmt: skip


def failed_attempt(start: float, call_id: str = "1-20496@127.0.0.1", **changes: object) -> dict:
    message = {
        "time": start + 0.0095, "method": "INVITE", "from_tag": "20496SIPpTag001",
        "to_tag": "20472SIPpTag011", "callid": call_id, "sip_code": "503",
        "sip_reason": "Service Unavailable", "attempt": "1", "t0": f"{start:.6f}",
        "tb": f"{start + 0.0074:.6f}", "t18x": "", "src": "127.0.0.1", "caller_in": "alice",
        "callee_in": "33612345678", "j_call": CALL, "j_route": ROUTE_1,
        "reason_hdr": 'Q.850;cause=34;text="No circuit/channel available"',
    }  # fmt: skip
    message.update(changes)
    return message


def answered_attempt(start: float, call_id: str = "1-20496@127.0.0.1", **changes: object) -> dict:
    message = {
        "time": start + 0.1636, "method": "INVITE", "from_tag": "20496SIPpTag001",
        "to_tag": "20475SIPpTag011", "callid": call_id, "sip_code": "200", "sip_reason": "OK",
        "attempt": "2", "t0": f"{start:.6f}", "tb": f"{start + 0.0098:.6f}",
        "t18x": f"{start + 0.0105:.6f}", "reason_hdr": "", "src": "127.0.0.1",
        "caller_in": "alice", "callee_in": "33612345678", "j_call": CALL, "j_route": ROUTE_2,
    }  # fmt: skip
    message.update(changes)
    return message


def call(start: float, call_id: str = "1-20496@127.0.0.1", **changes: object) -> dict:
    message = {
        "start_time": f"{start:.3f}", "end_time": f"{start + 60.670:.3f}", "duration": "60.671",
        "callid": call_id, "t0": f"{start:.6f}", "src": "127.0.0.1", "caller_in": "alice",
        "callee_in": "33612345678", "attempts": "2", "code": "200", "reason": "OK",
        "reason_hdr": "", "t18x": f"{start + 0.0105:.6f}", "tans": f"{start + 0.1634:.6f}",
        "bye": "caller", "j_call": CALL, "j_route": ROUTE_2,
    }  # fmt: skip
    message.update(changes)
    return message


def body(message: dict) -> bytes:
    return orjson.dumps(message)
