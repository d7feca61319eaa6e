"""The example formats that the API Gateway console offers, per API type (catalogs.md)."""

from __future__ import annotations

__all__ = ["preset", "PRESETS"]

PRESETS = {
    "websocket": {
        "clf": '$context.identity.sourceIp $context.identity.caller $context.identity.user '
               '[$context.requestTime] "$context.eventType $context.routeKey $context.connectionId" '
               '$context.status $context.requestId',
        "json": '{ "requestId":"$context.requestId", "ip": "$context.identity.sourceIp", '
                '"caller":"$context.identity.caller", "user":"$context.identity.user", '
                '"requestTime":"$context.requestTime", "eventType":"$context.eventType", '
                '"routeKey":"$context.routeKey", "status":"$context.status", '
                '"connectionId":"$context.connectionId" }',
        "xml": '<request id="$context.requestId"> <ip>$context.identity.sourceIp</ip> '
               '<caller>$context.identity.caller</caller> <user>$context.identity.user</user> '
               '<requestTime>$context.requestTime</requestTime> '
               '<eventType>$context.eventType</eventType> <routeKey>$context.routeKey</routeKey> '
               '<status>$context.status</status> <connectionId>$context.connectionId</connectionId> '
               '</request>',
        "csv": '$context.identity.sourceIp,$context.identity.caller,$context.identity.user,'
               '$context.requestTime,$context.eventType,$context.routeKey,$context.connectionId,'
               '$context.status,$context.requestId',
    },
    "rest": {
        # AWS's current REST CLF preset has no space between ']' and '"'.
        "clf": '$context.identity.sourceIp $context.identity.caller $context.identity.user '
               '[$context.requestTime]"$context.httpMethod $context.resourcePath $context.protocol" '
               '$context.status $context.responseLength $context.requestId $context.extendedRequestId',
        "json": '{ "requestId":"$context.requestId", "extendedRequestId":"$context.extendedRequestId",'
                '"ip": "$context.identity.sourceIp", "caller":"$context.identity.caller", '
                '"user":"$context.identity.user", "requestTime":"$context.requestTime", '
                '"httpMethod":"$context.httpMethod", "resourcePath":"$context.resourcePath", '
                '"status":"$context.status", "protocol":"$context.protocol", '
                '"responseLength":"$context.responseLength" }',
        "csv": '$context.identity.sourceIp,$context.identity.caller,$context.identity.user,'
               '$context.requestTime,$context.httpMethod,$context.resourcePath,$context.protocol,'
               '$context.status,$context.responseLength,$context.requestId,$context.extendedRequestId',
    },
    "http": {
        "clf": '$context.identity.sourceIp - - [$context.requestTime] '
               '"$context.httpMethod $context.routeKey $context.protocol" '
               '$context.status $context.responseLength $context.requestId',
    },
}


def preset(api: str, name: str) -> str:
    """The console's preset template ``name`` (``clf``, ``json``, ``xml``, ``csv``) for ``api``.

    Examples
    --------
    >>> import fastctx
    >>> fastctx.compile(fastctx.preset("websocket", "xml")).shape
    'xml'
    """
    if api not in PRESETS:
        raise ValueError(f"unknown API type {api!r}; expected one of {', '.join(PRESETS)}")
    try:
        return PRESETS[api][name]
    except KeyError:
        raise ValueError(
            f"no {name!r} preset for {api}; it has {', '.join(PRESETS[api])}"
        ) from None
