"""Issue 11 item 3: every display name of an answer is an RFC 3261 quoted-string.

Kamailio's rtjson/uac write headers.from/to.display into the header as given (KAMAILIO.md):
an unquoted `Smith, John` is an illegal From, `Bob <sip:evil@203.0.113.9>` a second URI in
it. These tests pin the answer c4router gives; tests/e2e/test_display_names_wire.py proves
the same names on the wire through a real Kamailio.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from routing.engine.query import parse_query
from routing.engine.rtjson import NO_DISPLAY, answer_bytes, quote_display
from tests.engine.builders import CARRIER_IP, query_bytes, route, rule, table, to_gw

DATA = Path(__file__).parent.parent / "data"
ANSWER = Draft202012Validator(json.loads((DATA / "rtjson-answer.schema.json").read_text()))

# RFC 3261 25.1: quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE, where qdtext is
# LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII and quoted-pair = "\" (%x00-09 / %x0B-0C /
# %x0E-7F). We never emit a control character, LWS included: a tab or a line break in a
# display is dropped.
QUOTED_STRING = re.compile(r'"(?:[ !#-\[\]-~\u0080-\U0010ffff]|\\[\x20-\x7e])*"')


def displays(answer: bytes) -> list[tuple[str, str]]:
    document = orjson.loads(answer)
    assert not list(ANSWER.iter_errors(document))
    return [
        (r["headers"]["from"]["display"], r["headers"]["to"]["display"])
        for r in document["rtjson"]["routes"]
    ]


def unquote(quoted: str) -> str:
    assert QUOTED_STRING.fullmatch(quoted), quoted
    return re.sub(r"\\(.)", r"\1", quoted[1:-1])


OUTBOUND = table(rules=(rule(1, "33", to_gw(1), to_gw(3, order=1)),))


# (the display as Kamailio sends it in the query, what the answer must say)
QUERY_DISPLAYS = [
    ("Smith, John", '"Smith, John"'),
    ("Bob <sip:evil@203.0.113.9>", '"Bob <sip:evil@203.0.113.9>"'),
    ("a;tag=1", '"a;tag=1"'),
    ("Zoë Ørsted 名前 😀", '"Zoë Ørsted 名前 😀"'),
    # Our config unquotes the caller's display ($(fn{s.unquote})) and leaves its
    # quoted-pairs; the seed's sends $fn with its quotes: the same name either way.
    ('Say \\"hi\\" \\\\ bye', '"Say \\"hi\\" \\\\ bye"'),
    ('"Say \\"hi\\" \\\\ bye"', '"Say \\"hi\\" \\\\ bye"'),
    ('"Smith, John"', '"Smith, John"'),
    # A quote that is not part of a quoted-pair is text, and is escaped as such.
    ('Bob" <sip:evil@203.0.113.9>', '"Bob\\" <sip:evil@203.0.113.9>"'),
    ("C:\\", '"C:\\\\"'),
    # Control characters never reach a header, not even as quoted-pairs.
    ("Al\x1bice\r\nX-Evil: 1", '"AliceX-Evil: 1"'),
    ('"\\\r\\\n"', NO_DISPLAY),
]


@pytest.mark.parametrize(("sent", "expected"), QUERY_DISPLAYS)
def test_f03_caller_and_callee_displays_are_quoted_strings(sent, expected):
    answer = answer_bytes(route(OUTBOUND, from_name=sent, to_name=sent))
    assert displays(answer) == [(expected, expected)] * 2


@pytest.mark.parametrize(("sent", "expected"), QUERY_DISPLAYS)
def test_f03_inbound_displays_are_quoted_strings(sent, expected):
    decision = route(
        table(), source_ip=CARRIER_IP, to_uri="sip:callee@domain.com", from_name=sent,
        to_name=sent,
    )  # fmt: skip
    assert displays(answer_bytes(decision)) == [(expected, expected)]


@pytest.mark.parametrize("empty", ["", "<null>", '""', "   ", "\r\n"])
def test_f03_an_empty_display_is_no_display_at_all(empty):
    # uac leaves the header's display alone when given an empty one (the caller's would
    # reach the carrier unchecked); a lone space replaces it with nothing but whitespace.
    answer = answer_bytes(route(OUTBOUND, from_name=empty, to_name=empty))
    assert displays(answer) == [(NO_DISPLAY, NO_DISPLAY)] * 2
    assert NO_DISPLAY.strip() == ""


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Smith, John", '"Smith, John"'),
        ("Bob <sip:evil@203.0.113.9>", '"Bob <sip:evil@203.0.113.9>"'),
        ('Acme "HQ" \\ Sales', '"Acme \\"HQ\\" \\\\ Sales"'),
        ("Zoë", '"Zoë"'),
    ],
)
def test_f03_an_admin_entered_display_is_a_quoted_string(typed, expected):
    tbl = table(rules=(rule(1, "33", to_gw(1), from_display=typed),))
    assert displays(answer_bytes(route(tbl, to_name="Callee"))) == [(expected, '"Callee"')]


def test_f03_a_long_display_is_cut_before_it_is_quoted():
    answer = answer_bytes(route(OUTBOUND, from_name='"' * 200))
    (from_display, _), _ = displays(answer)
    # The outer pair of quotes is the seed's quoting; 64 of the 198 quotes inside are kept.
    assert from_display == '"' + '\\"' * 64 + '"'


@given(st.text(max_size=80))
def test_f03_any_text_quotes_to_a_quoted_string_that_reads_back_as_the_text(text):
    quoted = quote_display(text)
    kept = re.sub(r"[\x00-\x1f\x7f]", "", text)
    if not kept:
        assert quoted == NO_DISPLAY
    else:
        assert unquote(quoted) == kept


@given(st.text(max_size=200))
def test_f03_any_query_display_gives_a_valid_answer(text):
    body = query_bytes(from_name=text, to_name=text)
    for pair in displays(answer_bytes(route(OUTBOUND, **orjson.loads(body)))):
        for shown in pair:
            assert shown == NO_DISPLAY or QUOTED_STRING.fullmatch(shown)
    parse_query(body)  # never a QueryError for a display name


def test_f03_routes_with_displays_of_their_own_are_quoted_each():
    # answer_document quotes the displays the routes share once; a route with another
    # display (none today, but Route allows it) is quoted on its own.
    decision = route(OUTBOUND, from_name="Shared")
    first, second = decision.routes
    decision.routes = (first, dataclasses.replace(second, from_display="Own, one", to_display=""))
    assert displays(answer_bytes(decision)) == [
        ('"Shared"', '"Callee"'),
        ('"Own, one"', NO_DISPLAY),
    ]
