"""Pushing to a registry: blob checks, monolithic uploads, manifests, Basic and Bearer auth.

The registry is a small fake on aiohttp (127.0.0.1, a free port) that checks
what a distribution registry checks: uploaded digests, manifests naming only
known blobs, and the Authorization header.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pinnace.image import oci
from pinnace.image.oci import Entry, ImageConfig
from pinnace.image.registry_client import PushError, parse_www_authenticate, push

USER, PASSWORD, TOKEN = "alice", "s3cret", "tok-123"


@dataclass
class FakeRegistry:
    auth: str = "none"  # none | basic | bearer
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    uploads: int = 0
    token_queries: list[dict[str, str]] = field(default_factory=list)
    base: str = ""

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/token", self.token)
        app.router.add_get("/v2/", self.root)
        app.router.add_route("HEAD", r"/v2/{name:.+}/blobs/{digest}", self.head_blob)
        app.router.add_post(r"/v2/{name:.+}/blobs/uploads/", self.start_upload)
        app.router.add_put(r"/v2/{name:.+}/blobs/uploads/{id}", self.finish_upload)
        app.router.add_put(r"/v2/{name:.+}/manifests/{ref}", self.put_manifest)
        app.router.add_get(r"/v2/{name:.+}/manifests/{ref}", self.get_manifest)
        return app

    @web.middleware
    async def _auth(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path == "/token" or self.auth == "none":
            return await handler(request)
        got = request.headers.get("Authorization", "")
        if self.auth == "basic":
            want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if got != want:
                raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="fake"'})
        elif got != f"Bearer {TOKEN}":
            challenge = (
                f'Bearer realm="{self.base}/token",service="fake-registry",'
                'scope="repository:library/x:pull"'
            )
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": challenge})
        return await handler(request)

    async def token(self, request: web.Request) -> web.Response:
        self.token_queries.append(dict(request.query))
        want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != want:
            return web.json_response({"errors": [{"code": "DENIED"}]}, status=401)
        return web.json_response({"token": TOKEN})

    async def root(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def head_blob(self, request: web.Request) -> web.Response:
        digest = request.match_info["digest"]
        if digest not in self.blobs:
            return web.Response(status=404)
        return web.Response(status=200, headers={"Content-Length": str(len(self.blobs[digest]))})

    async def start_upload(self, request: web.Request) -> web.Response:
        self.uploads += 1
        name = request.match_info["name"]
        # a relative Location with a query, as distribution sends
        return web.Response(
            status=202, headers={"Location": f"/v2/{name}/blobs/uploads/u{self.uploads}?_state=abc"}
        )

    async def finish_upload(self, request: web.Request) -> web.Response:
        assert request.query.get("_state") == "abc"
        digest = request.query["digest"]
        body = await request.read()
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            return web.json_response({"errors": [{"code": "DIGEST_INVALID"}]}, status=400)
        self.blobs[digest] = body
        return web.Response(status=201, headers={"Docker-Content-Digest": digest})

    async def put_manifest(self, request: web.Request) -> web.Response:
        body = await request.read()
        doc = json.loads(body)
        for d in [doc["config"], *doc["layers"]]:
            if d["digest"] not in self.blobs:
                return web.json_response(
                    {"errors": [{"code": "MANIFEST_BLOB_UNKNOWN"}]}, status=400
                )
        key = (request.match_info["name"], request.match_info["ref"])
        self.manifests[key] = (request.content_type, body)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        return web.Response(status=201, headers={"Docker-Content-Digest": digest})

    async def get_manifest(self, request: web.Request) -> web.Response:
        key = (request.match_info["name"], request.match_info["ref"])
        if key not in self.manifests:
            return web.Response(status=404)
        media_type, body = self.manifests[key]
        return web.Response(body=body, content_type=media_type)


async def _serve(reg: FakeRegistry) -> AsyncIterator[tuple[FakeRegistry, str]]:
    server = TestServer(reg.app(), host="127.0.0.1")
    await server.start_server()
    try:
        reg.base = f"http://127.0.0.1:{server.port}"
        yield reg, f"127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture
async def registry() -> AsyncIterator[tuple[FakeRegistry, str]]:
    async for x in _serve(FakeRegistry()):
        yield x


@pytest.fixture
async def basic_registry() -> AsyncIterator[tuple[FakeRegistry, str]]:
    async for x in _serve(FakeRegistry(auth="basic")):
        yield x


@pytest.fixture
async def bearer_registry() -> AsyncIterator[tuple[FakeRegistry, str]]:
    async for x in _serve(FakeRegistry(auth="bearer")):
        yield x


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    d = tmp_path / "layout"
    oci.write_image(d, [Entry.file("hello", data="hello\n")], ImageConfig(cmd=["x"]), "hello")
    return d


async def test_push_uploads_blobs_then_manifest(
    registry: tuple[FakeRegistry, str], layout: Path
) -> None:
    reg, address = registry
    image = oci.read_image(layout)
    digest = await push(layout, "hello", f"{address}/library/hello:v1", insecure=True)
    assert digest == image.digest
    assert reg.uploads == 2  # config and layer
    for d in image.blobs():
        assert reg.blobs[d["digest"]] == image.blob_path(d["digest"]).read_bytes()
    media_type, body = reg.manifests[("library/hello", "v1")]
    assert media_type == oci.MEDIA_MANIFEST
    assert body == image.manifest_bytes
    # a second push (another tag) finds the blobs and uploads nothing
    await push(layout, None, f"{address}/library/hello:v2", insecure=True)
    assert reg.uploads == 2
    assert ("library/hello", "v2") in reg.manifests


async def test_push_with_basic_auth(basic_registry: tuple[FakeRegistry, str], layout: Path) -> None:
    reg, address = basic_registry
    with pytest.raises(PushError, match="asks for credentials"):
        await push(layout, None, f"{address}/x:1", insecure=True)
    with pytest.raises(PushError, match="refused the credentials"):
        await push(layout, None, f"{address}/x:1", insecure=True, auth=(USER, "wrong"))
    await push(layout, None, f"{address}/x:1", insecure=True, auth=(USER, PASSWORD))
    assert ("x", "1") in reg.manifests


async def test_push_with_bearer_token(
    bearer_registry: tuple[FakeRegistry, str], layout: Path
) -> None:
    reg, address = bearer_registry
    with pytest.raises(PushError, match=r"token server .* answered 401"):
        await push(layout, None, f"{address}/team/app:1", insecure=True)
    await push(layout, None, f"{address}/team/app:1", insecure=True, auth=(USER, PASSWORD))
    assert ("team/app", "1") in reg.manifests
    assert reg.token_queries[-1] == {
        "service": "fake-registry",
        "scope": "repository:team/app:pull,push",
    }
    # the token is fetched once and then kept for the rest of the push
    assert len(reg.token_queries) == 2


async def test_push_by_digest_must_match(registry: tuple[FakeRegistry, str], layout: Path) -> None:
    _, address = registry
    with pytest.raises(PushError, match="the image's digest is"):
        await push(layout, None, f"{address}/x@sha256:" + "0" * 64, insecure=True)


def test_parse_www_authenticate() -> None:
    scheme, params = parse_www_authenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:samalba/my-app:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:samalba/my-app:pull,push",
    }
    assert parse_www_authenticate('Basic realm="Registry Realm"') == (
        "basic",
        {"realm": "Registry Realm"},
    )
    assert parse_www_authenticate("Basic") == ("basic", {})
