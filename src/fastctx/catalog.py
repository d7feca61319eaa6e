"""The $context variable catalogs per API type, as data (AWS documentation, 2026-11).

Each entry is ``name type``; ``<p>`` marks a dynamic family (a property name of letters,
digits and ``_``, or for overrides a header/parameter name). Amend the tables, not the code.
"""

_WEBSOCKET = """
apiId token
authorize.error text
authorize.latency int
authorize.status int
authorizer.error text
authorizer.integrationLatency int
authorizer.integrationStatus int
authorizer.latency int
authorizer.requestId token
authorizer.status int
authorizer.principalId text
authorizer.<p> text
authenticate.error text
authenticate.latency int
authenticate.status int
connectedAt epoch_ms
connectionId token
domainName token
error.message text
error.messageString quoted
error.responseType token
error.validationErrorString text
eventType token
extendedRequestId token
identity.accountId token
identity.apiKey token
identity.apiKeyId token
identity.caller text
identity.cognitoAuthenticationProvider text
identity.cognitoAuthenticationType token
identity.cognitoIdentityId token
identity.cognitoIdentityPoolId token
identity.principalOrgId token
identity.sourceIp token
identity.user text
identity.userAgent text
identity.userArn token
integration.error text
integration.integrationStatus int
integration.latency int
integration.requestId token
integration.status int
integrationLatency int
messageId token
requestId token
requestTime clf_time
requestTimeEpoch epoch_ms
routeKey text
stage token
status int
waf.error text
waf.latency int
waf.status int
"""

_REST = """
accountId token
apiId token
authorizer.claims.<p> text
authorizer.principalId text
authorizer.<p> text
awsEndpointRequestId token
domainName token
domainPrefix token
error.message text
error.messageString quoted
error.responseType token
error.validationErrorString text
extendedRequestId token
httpMethod token
identity.accountId token
identity.apiKey token
identity.apiKeyId token
identity.caller text
identity.cognitoAuthenticationProvider text
identity.cognitoAuthenticationType token
identity.cognitoIdentityId token
identity.cognitoIdentityPoolId token
identity.principalOrgId token
identity.sourceIp token
identity.clientCert.clientCertPem text
identity.clientCert.subjectDN text
identity.clientCert.issuerDN text
identity.clientCert.serialNumber token
identity.clientCert.validity.notBefore text
identity.clientCert.validity.notAfter text
identity.vpcId token
identity.vpceId token
identity.user text
identity.userAgent text
identity.userArn token
path text
protocol token
requestId token
requestOverride.header.<p> text
requestOverride.path.<p> text
requestOverride.querystring.<p> text
responseOverride.header.<p> text
responseOverride.status int
requestTime clf_time
requestTimeEpoch epoch_ms
resourceId token
resourcePath text
stage token
wafResponseCode token
webaclArn token
deploymentId token
endpointType token
isCanaryRequest token
tlsVersion token
cipherSuite token
authorize.error text
authorize.latency int
authorize.status int
authorizer.error text
authorizer.integrationLatency int
authorizer.integrationStatus int
authorizer.latency int
authorizer.requestId token
authorizer.status int
authenticate.error text
authenticate.latency int
authenticate.status int
customDomain.basePathMatched text
customDomain.routingRuleIdMatched token
integration.error text
integration.integrationStatus int
integration.latency int
integration.requestId token
integration.status int
integration.responseTransferMode token
integration.timeToAllHeaders int
integration.timeToFirstContent int
integrationErrorMessage text
integrationLatency int
integrationStatus int
responseLatency int
responseLength int
status int
waf.error text
waf.latency int
waf.status int
xrayTraceId token
"""

_HTTP = """
accountId token
apiId token
authorizer.claims.<p> text
authorizer.error text
authorizer.principalId text
authorizer.<p> text
awsEndpointRequestId token
awsEndpointRequestId2 token
customDomain.basePathMatched text
dataProcessed int
domainName token
domainPrefix token
error.message text
error.messageString quoted
error.responseType token
extendedRequestId token
httpMethod token
identity.accountId token
identity.caller text
identity.cognitoAuthenticationProvider text
identity.cognitoAuthenticationType token
identity.cognitoIdentityId token
identity.cognitoIdentityPoolId token
identity.principalOrgId token
identity.clientCert.clientCertPem text
identity.clientCert.subjectDN text
identity.clientCert.issuerDN text
identity.clientCert.serialNumber token
identity.clientCert.validity.notBefore text
identity.clientCert.validity.notAfter text
identity.sourceIp token
identity.user text
identity.userAgent text
identity.userArn token
integration.error text
integration.integrationStatus int
integration.latency int
integration.requestId token
integration.status int
integrationErrorMessage text
integrationLatency int
integrationStatus int
path text
protocol token
requestId token
requestTime clf_time
requestTimeEpoch epoch_ms
responseLatency int
responseLength int
routeKey text
stage token
status int
"""

import difflib
import re
from functools import lru_cache

from .program import VType

__all__ = ["APIS", "lookup", "known_names", "suggest", "VTYPE_NAMES"]

APIS = ("websocket", "rest", "http")
VTYPE_NAMES = {"int": VType.INT, "epoch_ms": VType.EPOCH_MS, "clf_time": VType.CLF_TIME,
               "token": VType.TOKEN, "text": VType.TEXT, "quoted": VType.QUOTED}

# What a dynamic part may hold: authorizer properties are identifiers; override names are
# header / path / query-string names, which may also hold '-'.
_DYNAMIC = {"authorizer.": r"[A-Za-z0-9_]+", "authorizer.claims.": r"[A-Za-z0-9_]+"}
_OVERRIDE_PART = r"[A-Za-z0-9_-]+"


def _load(table: str):
    exact: dict[str, VType] = {}
    families: list[tuple[re.Pattern, VType, str]] = []
    for line in table.strip().splitlines():
        name, type_name = line.split()
        vtype = VTYPE_NAMES[type_name]
        if name.endswith("<p>"):
            prefix = name[:-3]
            part = _DYNAMIC.get(prefix, _OVERRIDE_PART)
            families.append((re.compile(re.escape(prefix) + part + r"\Z"), vtype, name))
        else:
            exact[name] = vtype
    # the more specific family first: authorizer.claims.<p> before authorizer.<p>
    families.sort(key=lambda family: -len(family[2]))
    return exact, families


_CATALOGS = {api: _load(table) for api, table in
             (("websocket", _WEBSOCKET), ("rest", _REST), ("http", _HTTP))}


def _check_api(api: str) -> None:
    if api not in _CATALOGS:
        raise ValueError(f"unknown API type {api!r}; expected one of {', '.join(APIS)}")


def lookup(api: str, name: str) -> VType | None:
    """The value type of ``$context.<name>`` for an API type, or None if it is not supported.

    Examples
    --------
    >>> lookup("websocket", "status")
    <VType.INT: 0>
    >>> lookup("rest", "authorizer.claims.sub")
    <VType.TEXT: 4>
    >>> lookup("websocket", "httpMethod") is None
    True
    """
    _check_api(api)
    exact, families = _CATALOGS[api]
    if name in exact:
        return exact[name]
    for pattern, vtype, _ in families:
        if pattern.match(name):
            return vtype
    return None


def known_names(api: str) -> list[str]:
    """Every exact name of a catalog, and each family written with ``<p>``."""
    _check_api(api)
    exact, families = _CATALOGS[api]
    return sorted(exact) + [family for _, _, family in families]


@lru_cache(maxsize=1024)
def suggest(api: str, name: str) -> str | None:
    """The nearest known name for an unknown one, with ``$context.``, or None."""
    exact, _ = _CATALOGS[api]
    lowered = {known.lower(): known for known in exact}
    if name.lower() in lowered:
        return "$context." + lowered[name.lower()]
    close = difflib.get_close_matches(name, list(exact), n=1, cutoff=0.8)
    if not close:
        # a name of a family with a property it cannot hold (authorizer.claims.sub on a
        # websocket API, whose authorizer.<property> is one word): the family, not a
        # look-alike such as authorizer.status
        _, families = _CATALOGS[api]
        for _, _, family in families:
            if name.startswith(family[: family.index("<")]):
                return "$context." + family.replace("<p>", "<property>")
        close = difflib.get_close_matches(name, list(exact), n=1, cutoff=0.6)
    return "$context." + close[0] if close else None
