"""Push an image from an OCI layout to an OCI distribution registry (the ``/v2/`` API).

pinnace serves its locally built images from a registry (a loopback
``docker-registry`` in tests, any distribution registry in a cluster), so
images reach containerd the way they do on any other cluster: by pulling. This
is the push half, written on aiohttp and kept to what a push needs:

- a blob is skipped when ``HEAD /v2/<name>/blobs/<digest>`` finds it; otherwise
  it is uploaded monolithically: ``POST /v2/<name>/blobs/uploads/`` gives an
  upload location, ``PUT <location>?digest=<digest>`` sends the bytes;
- the manifest goes last with ``PUT /v2/<name>/manifests/<tag>`` and its own
  media type, so the registry only names an image whose blobs it holds;
- on ``401`` the ``WWW-Authenticate`` challenge is answered: ``Basic`` sends
  the credentials, ``Bearer`` fetches a token from the challenge's realm
  (``service``, ``scope=repository:<name>:pull,push``, credentials as basic
  auth when given) and retries. A token is kept for the rest of the push.

``insecure=True`` speaks plain HTTP (for a loopback registry); otherwise HTTPS
with the default trust store or the ``ssl`` context given. Blobs are streamed
from the layout's files.
"""

from __future__ import annotations

import base64
import logging
import re
import ssl as ssl_module
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import aiohttp

from pinnace.image.oci import LayoutImage, parse_ref, read_image

__all__ = [
    "PushError",
    "RegistryClient",
    "parse_www_authenticate",
    "push",
    "registry_host",
]

log = logging.getLogger("pinnace.image.registry")

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


class PushError(Exception):
    """The registry refused or failed a step of a push (the message says which)."""


def registry_host(domain: str) -> str:
    """The host to talk to for a reference's domain (``docker.io`` -> ``registry-1.docker.io``)."""
    return DOCKER_HUB_API if domain == DOCKER_HUB else domain


_CHALLENGE_RE = re.compile(r'\s*([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_www_authenticate(header: str) -> tuple[str, dict[str, str]]:
    """Split a ``WWW-Authenticate`` header into (scheme in lower case, parameters)."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _CHALLENGE_RE.match(rest, pos)
        if not m or m.end() == pos:
            break
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
        pos = m.end()
    return scheme.lower(), params


@dataclass
class RegistryClient:
    """A session with one registry host, remembering the authorisation it earned."""

    host: str
    insecure: bool = False
    auth: tuple[str, str] | None = None
    ssl: ssl_module.SSLContext | None = None
    session: aiohttp.ClientSession | None = None
    _authorization: str | None = field(default=None, repr=False)
    _own_session: bool = field(default=False, repr=False)

    @property
    def base(self) -> str:
        return f"{'http' if self.insecure else 'https'}://{self.host}"

    async def __aenter__(self) -> RegistryClient:
        if self.session is None:
            self.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30)
            )
            self._own_session = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._own_session and self.session is not None:
            await self.session.close()
            self.session = None

    # ----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        scope: str,
        headers: Mapping[str, str] | None = None,
        body: Callable[[], Any] | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One request, answering a 401 challenge once. ``body`` makes a fresh body per try."""
        assert self.session is not None, "use RegistryClient as an async context manager"
        for attempt in range(2):
            hdrs = dict(headers or {})
            if self._authorization:
                hdrs["Authorization"] = self._authorization
            data = body() if body is not None else None
            kwargs: dict[str, Any] = {"headers": hdrs, "data": data, "allow_redirects": True}
            if not self.insecure and self.ssl is not None:
                kwargs["ssl"] = self.ssl
            try:
                async with self.session.request(method, url, **kwargs) as resp:
                    content = await resp.read()
                    status, resp_headers = resp.status, resp.headers
                    challenge = resp.headers.get("WWW-Authenticate", "")
            finally:
                close = getattr(data, "close", None)
                if callable(close):
                    close()
            if status == 401 and attempt == 0 and challenge:
                await self._answer(challenge, scope)
                continue
            if status == 401:
                raise PushError(f"{method} {url}: {self.host} refused the credentials (HTTP 401)")
            return status, resp_headers, content
        raise AssertionError("unreachable")

    async def _answer(self, challenge: str, scope: str) -> None:
        scheme, params = parse_www_authenticate(challenge)
        if scheme == "basic":
            if self.auth is None:
                raise PushError(f"{self.host} asks for credentials (Basic auth); none were given")
            self._authorization = _basic(*self.auth)
        elif scheme == "bearer":
            self._authorization = "Bearer " + await self._token(params, scope)
        else:
            raise PushError(f"{self.host}: unsupported authentication scheme {scheme!r}")

    async def _token(self, params: Mapping[str, str], scope: str) -> str:
        assert self.session is not None
        realm = params.get("realm")
        if not realm:
            raise PushError(f"{self.host}: Bearer challenge without a realm")
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        query.append(("scope", scope))
        parts = urlsplit(realm)
        full = urlunsplit(parts._replace(query=urlencode([*parse_qsl(parts.query), *query])))
        headers = {"Authorization": _basic(*self.auth)} if self.auth else {}
        kwargs: dict[str, Any] = {"headers": headers}
        if parts.scheme == "https" and self.ssl is not None:
            kwargs["ssl"] = self.ssl
        async with self.session.get(full, **kwargs) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise PushError(
                    f"token server {realm} answered {resp.status}: {text.strip()[:200]}"
                )
            doc = await resp.json(content_type=None)
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise PushError(f"token server {realm} gave no token")
        return token

    # ----------------------------------------------------------------------

    async def blob_exists(self, name: str, digest: str) -> bool:
        status, _, _ = await self.request(
            "HEAD", f"{self.base}/v2/{name}/blobs/{digest}", scope=_scope(name)
        )
        if status == 200:
            return True
        if status == 404:
            return False
        raise PushError(f"HEAD blob {digest} in {self.host}/{name}: HTTP {status}")

    async def upload_blob(self, name: str, digest: str, size: int, path: Path) -> None:
        scope = _scope(name)
        status, headers, content = await self.request(
            "POST", f"{self.base}/v2/{name}/blobs/uploads/", scope=scope
        )
        if status != 202 or "Location" not in headers:
            raise PushError(f"start upload to {self.host}/{name}: HTTP {status}: {_text(content)}")
        location = urljoin(f"{self.base}/v2/{name}/blobs/uploads/", headers["Location"])
        parts = urlsplit(location)
        query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("digest", digest)])
        url = urlunsplit(parts._replace(query=query))
        status, _, content = await self.request(
            "PUT",
            url,
            scope=scope,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            body=lambda: open(path, "rb"),
        )
        if status not in (201, 204):
            raise PushError(
                f"upload blob {digest} to {self.host}/{name}: HTTP {status}: {_text(content)}"
            )

    async def put_manifest(self, name: str, reference: str, media_type: str, data: bytes) -> str:
        status, headers, content = await self.request(
            "PUT",
            f"{self.base}/v2/{name}/manifests/{reference}",
            scope=_scope(name),
            headers={"Content-Type": media_type},
            body=lambda: data,
        )
        if status not in (200, 201, 204):
            raise PushError(
                f"put manifest {self.host}/{name}:{reference}: HTTP {status}: {_text(content)}"
            )
        return headers.get("Docker-Content-Digest", "")

    async def get_manifest(self, name: str, reference: str, accept: str) -> tuple[str, bytes]:
        """A manifest's media type and bytes (used to read a push back)."""
        status, headers, content = await self.request(
            "GET",
            f"{self.base}/v2/{name}/manifests/{reference}",
            scope=f"repository:{name}:pull",
            headers={"Accept": accept},
        )
        if status != 200:
            raise PushError(
                f"get manifest {self.host}/{name}:{reference}: HTTP {status}: {_text(content)}"
            )
        return headers.get("Content-Type", ""), content

    async def push_image(self, image: LayoutImage, name: str, reference: str) -> str:
        """Push an image's blobs, then its manifest; returns the manifest digest."""
        for blob in image.blobs():
            digest, size = blob["digest"], int(blob["size"])
            if await self.blob_exists(name, digest):
                log.debug("blob %s already in %s/%s", digest, self.host, name)
                continue
            log.debug("uploading blob %s (%d bytes) to %s/%s", digest, size, self.host, name)
            await self.upload_blob(name, digest, size, image.blob_path(digest))
        got = await self.put_manifest(name, reference, image.media_type, image.manifest_bytes)
        if got and got != image.digest:
            raise PushError(
                f"{self.host}/{name}:{reference}: registry stored digest {got}, pushed {image.digest}"
            )
        return image.digest


def _scope(name: str) -> str:
    return f"repository:{name}:pull,push"


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _text(content: bytes) -> str:
    return content.decode(errors="replace").strip()[:300]


async def push(
    layout_dir: Path,
    src_ref: str | None,
    dest: str,
    *,
    insecure: bool = False,
    auth: tuple[str, str] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    session: aiohttp.ClientSession | None = None,
) -> str:
    """Push the image ``src_ref`` of a layout (``None``: its only image) to ``dest``.

    ``dest`` is a full reference, e.g. ``127.0.0.1:5000/library/busybox:latest``
    (a reference with a digest instead of a tag pushes by digest). Returns the
    manifest digest.
    """
    image = read_image(Path(layout_dir), src_ref)
    target = parse_ref(dest)
    reference = target.tag or target.digest
    assert reference is not None
    if target.digest is not None and target.digest != image.digest:
        raise PushError(f"{dest}: the image's digest is {image.digest}")
    async with RegistryClient(
        registry_host(target.domain), insecure=insecure, auth=auth, ssl=ssl, session=session
    ) as client:
        digest = await client.push_image(image, target.path, reference)
    log.info("pushed %s as %s (%s)", image.name or src_ref, dest, digest)
    return digest
