"""Real API Gateway lines (Elastic's test corpus): every line parses with its template rebuilt
from its keys, in none, json and auto modes, to the values a JSON reader sees."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

import fastctx
from fastctx import _reference
from fastctx.program import VType

from parse_helpers import both

CORPUS = Path(__file__).resolve().parent / "corpus" / "elastic-apigateway"

KEYS = {
    "requestId": "requestId", "ip": "identity.sourceIp", "caller": "identity.caller",
    "user": "identity.user", "requestTime": "requestTime", "httpMethod": "httpMethod",
    "routeKey": "routeKey", "resourcePath": "resourcePath", "status": "status",
    "protocol": "protocol", "responseLength": "responseLength", "eventType": "eventType",
    "connectionId": "connectionId", "stage": "stage", "apiId": "apiId", "domainName": "domainName",
}
_PAIR = re.compile(r'"(\w+)":( ?)"([^"]*)"')


def _lines():
    for path in sorted(CORPUS.glob("*.log")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                yield pytest.param(path.stem, line, id=f"{path.stem}-{number}")


def template_of(line: str) -> str:
    """The line with every value replaced by its variable, spacing kept."""
    return _PAIR.sub(lambda m: f'"{m[1]}":{m[2]}"$context.{KEYS[m[1]]}"', line)


def test_corpus_is_present():
    assert len(list(_lines())) == 14


@pytest.mark.parametrize("api, line", list(_lines()))
@pytest.mark.parametrize("mode", ["none", "json", "auto"])
def test_corpus_line_parses(api, line, mode):
    fmt = fastctx.compile(template_of(line), api=api, escape=mode)
    assert fmt.shape == "json"
    batch = both(fmt.program, line.encode() + b"\n")
    assert batch.stats == fastctx.Stats(1, 1, 0, 0, 0), batch.rejects
    got = {name: values[0] for name, values in batch.to_pydict().items()}
    for key, value in json.loads(line).items():
        name = KEYS[key]
        slot = next(s for s in fmt.program.slots if s.name == name)
        if value == "-":
            expected = None
        elif slot.vtype == VType.INT:
            expected = int(value)
        elif slot.vtype == VType.CLF_TIME:
            expected = dt.datetime.strptime(value, "%d/%b/%Y:%H:%M:%S %z").astimezone(dt.timezone.utc)
        else:
            expected = value
        assert got[name] == expected, name
    # canonical in every mode: the values render back to the very line
    assert _reference.render(fmt.program, batch)[0] == line.encode() + b"\n"


def test_observed_rest_line_with_its_own_quotes_and_an_escaped_user_agent():
    # Observed from a REST API (2024, tests/corpus/README.md): a User-Agent holding quotes
    # JSON-escaped, and $context.error.messageString with its own quotes raw. In json mode it
    # is read exactly, canonical, and renders back byte for byte.
    template = ('{"requestId":"$context.requestId","identity_userAgent": "$context.identity.userAgent",'
                '"err":"$context.error.messageString"}')
    line = (b'{"requestId":"r","identity_userAgent": "\\"\\"This is a special user-agent\\"\\"",'
            b'"err":""Forbidden""}\n')
    fmt = fastctx.compile(template, api="rest", escape="json")
    batch = both(fmt.program, line)
    assert batch.to_pydict() == {"requestId": ["r"],
                                 "identity.userAgent": ['""This is a special user-agent""'],
                                 "error.messageString": ["Forbidden"]}
    assert batch.stats.accepted == 1 and batch.stats.normalized == 0
    assert fmt.render(batch) == line
