"""``POST /v1-pinnace/node-credentials``: how an agent that joined with the
node token becomes its node. The caller (the join-token identity, allowed by
RBAC's ``system:pinnace:node-joiner``) names its node; the answer is a client
certificate and key for ``system:node:<name>`` in ``system:nodes``, signed by
the cluster CA, so that the agent is then judged by the Node authorizer and
NodeRestriction like any kubelet. k3s hands out node certificates the same way
(there is no CertificateSigningRequest API here yet).

Blocking work (a key pair, one signature, reading the CA) is small and done
inline."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from pinnace.api.validation_common import is_dns1123_subdomain
from pinnace.apiserver import errors, negotiation
from pinnace.apiserver.certs import issue_client_cert

if TYPE_CHECKING:
    from pinnace.apiserver.certs import Pki

PATH = "/v1-pinnace/node-credentials"


async def handle(request: web.Request, pki: Pki | None, validity: dt.timedelta) -> web.Response:
    if request.method != "POST":
        raise errors.method_not_allowed()
    if pki is None:
        raise errors.internal("the server has no certificate authority to sign with")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as e:
        raise errors.bad_request(f"the request body is not JSON: {e}") from None
    name = body.get("nodeName") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        raise errors.bad_request("nodeName is required")
    problems = is_dns1123_subdomain(name)
    if problems:
        raise errors.bad_request(f'invalid nodeName "{name}": {"; ".join(problems)}')
    cert, key = issue_client_cert(pki, f"system:node:{name}", ["system:nodes"], validity=validity)
    return negotiation.json_response({"certificate": cert.decode(), "key": key.decode()})
