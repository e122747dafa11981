"""Serving /openapi/v2 and /openapi/v3 from the documents generated from the
schema declarations (``pinnace.api.schema.openapi``)."""

from __future__ import annotations

from aiohttp import web

from pinnace.api.schema.openapi import openapi
from pinnace.apiserver import errors

# kubectl asks with the "@v1.0" form (V2_PROTOBUF_CONTENT_TYPE); upstream
# answers with the ".v1.0" form, which Go's mime parser accepts
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def serve(request: web.Request, path: str) -> web.Response:
    docs = openapi()
    headers = {"Cache-Control": "no-cache, private", "Vary": "Accept"}
    if path == "/openapi/v2":
        accept = request.headers.get("Accept", "")
        if "protobuf" in accept:
            pb = docs.v2_protobuf()
            return web.Response(
                body=pb.body,
                headers={**headers, "Content-Type": V2_PROTOBUF, "Etag": f'"{pb.hash}"'},
            )
        doc = docs.v2()
        return web.Response(
            body=doc.body,
            headers={**headers, "Content-Type": "application/json", "Etag": f'"{doc.hash}"'},
        )
    if path == "/openapi/v3":
        doc = docs.v3_index()
        return web.Response(body=doc.body, headers={**headers, "Content-Type": "application/json"})
    if path.startswith("/openapi/v3/"):
        d = docs.v3(path[len("/openapi/v3/") :])
        if d is not None:
            h = {**headers, "Content-Type": "application/json", "Etag": f'"{d.hash}"'}
            if request.query.get("hash") == d.hash:
                h["Cache-Control"] = "public, immutable"
                h["Expires"] = "Thu, 01 Jan 2099 00:00:00 GMT"
            return web.Response(body=d.body, headers=h)
    raise errors.ApiError(404, "NotFound", "the server could not find the requested resource", {})
