"""Catalogs: every listed variable, the dynamic families, suggestions."""

import re

import pytest

from fastctx import catalog
from fastctx.program import VType

CATALOG_DOC = open(__file__.replace("tests/test_catalog.py", "src/fastctx/catalog.py")).read()


@pytest.mark.parametrize("api", catalog.APIS)
def test_every_listed_name_has_its_type(api):
    table = getattr(catalog, f"_{api.upper()}")
    for line in table.strip().splitlines():
        name, type_name = line.split()
        probe = name.replace("<p>", "someProp_1")
        assert catalog.lookup(api, probe) == catalog.VTYPE_NAMES[type_name], (api, name)


@pytest.mark.parametrize(
    "api, name, expected",
    [
        ("websocket", "status", VType.INT),
        ("websocket", "connectedAt", VType.EPOCH_MS),
        ("websocket", "requestTime", VType.CLF_TIME),
        ("websocket", "error.messageString", VType.QUOTED),
        ("websocket", "authorizer.status", VType.INT),  # exact name beats the family
        ("websocket", "authorizer.tenant_id", VType.TEXT),
        ("websocket", "authorizer.claims.sub", None),  # no claims family for WebSocket
        ("rest", "authorizer.claims.sub", VType.TEXT),
        ("rest", "requestOverride.header.X-Trace-Id", VType.TEXT),
        ("rest", "requestOverride.querystring.page", VType.TEXT),
        ("rest", "responseOverride.header.Cache-Control", VType.TEXT),
        ("rest", "responseOverride.status", VType.INT),
        ("rest", "customDomain.basePathMatched", VType.TEXT),
        ("http", "routeKey", VType.TEXT),
        ("http", "dataProcessed", VType.INT),
        ("http", "requestOverride.header.x", None),
        ("websocket", "httpMethod", None),
        ("websocket", "authorizer.bad-name", None),
    ],
)
def test_lookup(api, name, expected):
    assert catalog.lookup(api, name) == expected


def test_unknown_api():
    with pytest.raises(ValueError, match="unknown API type 'soap'"):
        catalog.lookup("soap", "status")


@pytest.mark.parametrize(
    "name, hint",
    [("requestID", "$context.requestId"), ("identity.sourceIP", "$context.identity.sourceIp"),
     ("statuss", "$context.status"), ("zzzzzzzzzz", None),
     ("authorizer.principalld", "$context.authorizer.principalId"),
     # a family's name with a property it cannot hold: the family, not authorizer.status
     ("authorizer.claims.sub", "$context.authorizer.<property>")],
)
def test_suggest(name, hint):
    assert catalog.suggest("websocket", name) == hint


def test_suggest_the_more_specific_family():
    assert catalog.suggest("rest", "authorizer.claims.a-b") == "$context.authorizer.claims.<property>"
    assert catalog.suggest("http", "authorizer.x.y") == "$context.authorizer.<property>"


def test_catalog_states_its_version():
    assert re.search(r"2026-11", CATALOG_DOC)


def test_known_names_lists_families():
    names = catalog.known_names("rest")
    assert "requestId" in names and "authorizer.claims.<p>" in names
