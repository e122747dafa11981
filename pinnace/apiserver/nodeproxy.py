"""The API server's side of ``kubectl logs/exec/attach/port-forward``: find the
pod's kubelet and relay the request to it.

- ``pods/log`` (GET): the kubelet's ``/containerLogs/{ns}/{pod}/{container}``
  answer is streamed through as ``text/plain`` (chunk by chunk, so
  ``--follow`` works). A kubelet error becomes a ``metav1.Status`` as
  upstream's response checker builds it: 400 → BadRequest with the kubelet's
  text (e.g. ``container "x" in pod "y" is waiting to start:
  ContainerCreating``), 500 → InternalError, anything else the generic
  ``... ( pods/log NAME)`` message. A pod without a node gives an empty log,
  as upstream.
- ``pods/exec``, ``pods/attach``, ``pods/portforward`` (GET or POST with
  ``Connection: Upgrade``): we open TLS to the kubelet, send the request line
  for the kubelet's path (the API's ``stdin/stdout/stderr/tty/command`` become
  the kubelet's ``input/output/error/tty/command``; ``ports`` becomes
  ``port``) with the client's upgrade headers, and relay the kubelet's answer.
  If that is ``101 Switching Protocols`` we send the same 101 and then copy raw
  bytes both ways until either side closes: the kubelet does all protocol
  work, so WebSocket (``v5.channel.k8s.io``...) and SPDY/3.1 pass alike. Any
  other answer is returned to the client as it came (clients print it after
  ``unable to upgrade connection:``), like upstream's upgrade-aware proxy.
- ``nodes/{name}/proxy/{path}`` and ``pods/{name[:port]}/proxy/{path}``:
  plain HTTP forwarding to the kubelet / the pod IP.

Taking over the client's connection: aiohttp's server parses only
WebSocket upgrades as upgrades. The hook its own ``WebSocketResponse`` uses,
``request.protocol.set_parser(p)``, routes every later byte of the connection
to ``p.feed_data`` (and its end to ``p.feed_eof``); we install it *before*
sending our 101 (SPDY clients send nothing until they read the 101, WebSocket
bytes that came early wait in aiohttp's buffer and are fed on install). Bytes
to the client go through the prepared ``StreamResponse`` (``await
resp.write``), which gives aiohttp's write flow control; our feeder pauses
reading from the client when the kubelet side falls behind. This keeps one
HTTPS listener and aiohttp's TLS instead of a second HTTP server.

Simulated nodes (label ``pinnace.io/simulated: "true"``) are never dialled:
their addresses are fake and traffic to them would leave the machine; their
logs are empty and streams are refused.

Kubelet addresses: the Node's ``status.addresses`` in the order InternalIP,
ExternalIP, Hostname, InternalDNS, ExternalDNS (k3s' preference), and
``status.daemonEndpoints.kubeletEndpoint.Port`` (10250 when unset). The API
server authenticates with the client certificate ``ensure_pki`` issues
(CN ``kube-apiserver-kubelet-client``, O ``system:masters``) and, like
upstream without ``--kubelet-certificate-authority``, does not verify the
kubelet's serving certificate unless ``ServerConfig.extra
["kubelet-certificate-authority"]`` names a CA file.

Concurrency model: one coroutine per request; an upgraded connection adds one
task per direction, both ended when either side ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web

from pinnace import aio
from pinnace.apiserver import errors
from pinnace.apiserver.certs import Pki

if TYPE_CHECKING:
    from pinnace.apiserver.registry import ResourceStore
    from pinnace.apiserver.server import ApiServer

__all__ = [
    "KubeletConnection",
    "kubelet_address",
    "node_proxy",
    "pod_log",
    "pod_proxy",
    "pod_stream",
    "validate_container",
]

log = logging.getLogger("pinnace.apiserver.nodeproxy")

Obj = dict[str, Any]

DEFAULT_KUBELET_PORT = 10250
ADDRESS_PREFERENCE = ("InternalIP", "ExternalIP", "Hostname", "InternalDNS", "ExternalDNS")
MAX_ERROR_BODY = 50000
READ_CHUNK = 64 * 1024
HIGH_WATER = 256 * 1024
CONNECT_TIMEOUT = 30.0
CA_OPTION = "kubelet-certificate-authority"

# request headers never passed on to a kubelet or pod: credentials are the
# caller's to the API server, and framing is ours to set
_DROP = frozenset(
    {
        "host",
        "authorization",
        "proxy-authorization",
        "cookie",
        "content-length",
        "transfer-encoding",
        "keep-alive",
        "te",
        "trailer",
    }
)
_DROP_PREFIXES = ("impersonate-", "x-remote-")
# response headers from the kubelet we do not copy (aiohttp sets its own)
_DROP_RESPONSE = frozenset({"date", "server", "content-length", "transfer-encoding", "keep-alive"})


# --------------------------------------------------------------------------
# how to reach kubelets


class KubeletConnection:
    """TLS settings for calling kubelets, built once per PKI directory."""

    _cache: dict[tuple[str, str], KubeletConnection] = {}

    def __init__(self, cert: Path, key: Path, ca: Path | None = None) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(certfile=str(cert), keyfile=str(key))
        if ca is not None:
            ctx.load_verify_locations(cafile=str(ca))
            ctx.check_hostname = True
            ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        self.ssl = ctx

    @classmethod
    def for_server(cls, server: ApiServer) -> KubeletConnection:
        pki = Pki.at(server.config.pki_dir)
        ca = server.config.extra.get(CA_OPTION, "")
        key = (str(pki.dir), ca)
        conn = cls._cache.get(key)
        if conn is None:
            try:
                conn = cls(
                    pki.kubelet_client_cert, pki.kubelet_client_key, Path(ca) if ca else None
                )
            except (OSError, ssl.SSLError) as e:
                raise errors.internal(f"cannot load the kubelet client certificate: {e}") from e
            cls._cache[key] = conn
        return conn


def kubelet_address(node: Obj) -> tuple[str, int]:
    """``(host, port)`` of a Node's kubelet API. Raises a 500 ApiError with
    upstream's text when the Node lists no usable address."""
    st = node.get("status") or {}
    addresses = st.get("addresses") or []
    host = ""
    for kind in ADDRESS_PREFERENCE:
        for a in addresses:
            if a.get("type") == kind and a.get("address"):
                host = a["address"]
                break
        if host:
            break
    if not host:
        known = " ".join(f"{{{a.get('type', '')} {a.get('address', '')}}}" for a in addresses)
        raise errors.ApiError(500, "", f"no preferred addresses found; known addresses: [{known}]")
    port = ((st.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 0
    return host, int(port) or DEFAULT_KUBELET_PORT


def _hostport(host: str, port: int) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"


# the label `pinnace sim` puts on its nodes (pinnace.sim.objects.SIMULATED)
SIMULATED_LABEL = "pinnace.io/simulated"


class SimulatedNode(Exception):
    """The node is simulated: there is no kubelet to call (and its address
    must never be dialled: it would leave the machine)."""


def _node_target(server: ApiServer, node_name: str) -> tuple[str, int]:
    node = server.store("", "v1", "nodes").get("", node_name)
    labels = (node.get("metadata") or {}).get("labels") or {}
    if labels.get(SIMULATED_LABEL) == "true":
        raise SimulatedNode(node_name)
    return kubelet_address(node)


# --------------------------------------------------------------------------
# options and containers


def _truthy(v: str | None) -> bool:
    return v is not None and v.lower() not in ("", "0", "false")


def validate_container(pod: Obj, container: str) -> str:
    """The container a request means (upstream's rules and messages)."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    names = [
        c.get("name", "")
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in (spec.get(key) or ())
    ]
    if not container:
        regular = spec.get("containers") or []
        if len(regular) == 1:
            return str(regular[0].get("name", ""))
        if not regular:
            raise errors.bad_request(f"a container name must be specified for pod {name}")
        raise errors.bad_request(
            f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
        )
    if container not in names:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    return container


def _log_query(query: Mapping[str, str], pod_name: str) -> dict[str, str]:
    """Validate ``PodLogOptions`` as the API server does and build the
    kubelet's query."""
    from pinnace.kubelet.logs import LogOptionsError, parse_log_options

    try:
        opts = parse_log_options(query)
    except LogOptionsError as e:
        if e.decode:
            raise errors.bad_request(str(e)) from None
        parts = [f"{f}: {m}" if f else m for f, m in e.causes]
        summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
        raise errors.ApiError(
            422,
            "Invalid",
            f'PodLogOptions "{pod_name}" is invalid: {summary}',
            {
                "name": pod_name,
                "kind": "PodLogOptions",
                "causes": [
                    {"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in e.causes
                ],
            },
        ) from None
    return opts.to_query()


def _stream_query(query: Any, kind: str) -> list[tuple[str, str]]:
    """The kubelet's query for exec/attach/portforward (upstream's streamParams)."""
    out: list[tuple[str, str]] = []
    if kind == "portforward":
        ports = [p for v in query.getall("ports", []) for p in v.split(",") if p]
        if ports:
            out.append(("port", ",".join(ports)))
        return out
    for api, kubelet in (
        ("stdin", "input"),
        ("stdout", "output"),
        ("stderr", "error"),
        ("tty", "tty"),
    ):
        if _truthy(query.get(api)) or _truthy(query.get(kubelet)):
            out.append((kubelet, "1"))
    if kind == "exec":
        out += [("command", c) for c in query.getall("command", [])]
    return out


# --------------------------------------------------------------------------
# kubelet errors as Status (upstream's GenericHttpResponseChecker)

_GENERIC = {
    401: ("Unauthorized", "the server has asked for the client to provide credentials"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    409: ("Conflict", "the server reported a conflict"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: (
        "TooManyRequests",
        "the server has received too many requests and has asked us to try again later",
    ),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: (
        "Timeout",
        "the server was unable to return a response in the time allotted, "
        "but may still be processing the request",
    ),
}


def response_error(status: int, body: str, resource: str, name: str) -> errors.ApiError:
    """The Status for a kubelet answer ``status`` with text ``body``."""
    if status == 500:
        return errors.ApiError(
            500,
            "InternalError",
            f"Internal error occurred: {body}",
            {"causes": [{"message": body}]},
        )
    if status == 400:
        return errors.bad_request(body)
    if status == 403:
        reason, message = "Forbidden", body
    elif status in _GENERIC:
        reason, message = _GENERIC[status]
    elif status >= 500:
        reason = "InternalError"
        message = (
            f"an error on the server ({_go_quote(body)}) has prevented the request from succeeding"
        )
    else:
        reason = ""
        message = f"the server responded with the status code {status} but did not return more information"
    message = f"{message} ( {resource} {name})"
    return errors.ApiError(status, reason, message, {"name": name, "kind": resource})


def _go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


# --------------------------------------------------------------------------
# pods/log


async def pod_log(
    server: ApiServer, request: web.Request, store: ResourceStore, ns: str, name: str
) -> web.StreamResponse:
    pod = store.get(ns, name)
    container = validate_container(pod, request.query.get("container", ""))
    query = _log_query(request.query, name)
    node_name = (pod.get("spec") or {}).get("nodeName") or ""
    if not node_name:
        # no node, no log yet: an empty answer (upstream returns a null stream)
        return web.Response(body=b"", content_type="text/plain")
    try:
        host, port = _node_target(server, node_name)
    except SimulatedNode:
        # a simulated container writes nothing
        return web.Response(body=b"", content_type="text/plain")
    path = "/containerLogs/" + "/".join(quote(p, safe="") for p in (ns, name, container))
    url = f"https://{_hostport(host, port)}{path}"
    if query:
        url += "?" + urlencode(query)
    conn = KubeletConnection.for_server(server)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        try:
            kresp = await session.get(url, ssl=conn.ssl)
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            raise errors.ApiError(500, "", f'Get "{url}": {e}') from None
        async with kresp:
            if not 200 <= kresp.status <= 206:
                body = (await kresp.content.read(MAX_ERROR_BODY)).decode("utf-8", "replace")
                raise response_error(kresp.status, body, "pods/log", name)
            out = web.StreamResponse(status=200)
            out.content_type = "text/plain"
            out.enable_chunked_encoding()
            await out.prepare(request)
            while True:
                try:
                    chunk = await aio.wait_for(kresp.content.readany(), 5.0)
                except TimeoutError:
                    t = request.transport
                    if t is None or t.is_closing():
                        break  # the client went away while the log was quiet
                    continue
                except (aiohttp.ClientError, OSError):
                    break
                if not chunk:
                    break
                await out.write(chunk)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await out.write_eof()
            return out


# --------------------------------------------------------------------------
# exec / attach / portforward: the upgrade splice


def _is_upgrade(request: web.BaseRequest) -> bool:
    connection = request.headers.get("Connection", "").lower()
    return "upgrade" in connection and bool(request.headers.get("Upgrade"))


async def pod_stream(
    server: ApiServer, request: web.Request, store: ResourceStore, ns: str, name: str, kind: str
) -> web.StreamResponse:
    """``pods/exec``, ``pods/attach`` or ``pods/portforward``."""
    pod = store.get(ns, name)
    if kind == "portforward":
        path = f"/portForward/{quote(ns, safe='')}/{quote(name, safe='')}"
    else:
        container = validate_container(pod, request.query.get("container", ""))
        path = "/" + "/".join(quote(p, safe="") for p in (kind, ns, name, container))
    node_name = (pod.get("spec") or {}).get("nodeName") or ""
    if not node_name:
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    try:
        host, port = _node_target(server, node_name)
    except SimulatedNode:
        raise errors.bad_request(
            f"pod {name} runs on the simulated node {node_name}, which has no kubelet"
        ) from None
    query = _stream_query(request.query, kind)
    if query:
        path += "?" + urlencode(query)
    if not _is_upgrade(request):
        raise errors.bad_request("Upgrade request required")
    return await upgrade_proxy(request, host, port, path, KubeletConnection.for_server(server).ssl)


class _ClientBytes:
    """Receives the client's bytes from aiohttp after ``set_parser``; pauses
    reading from the client while too much is waiting for the kubelet."""

    def __init__(self, transport: asyncio.Transport | None) -> None:
        self.transport = transport
        self.buf = bytearray()
        self.eof = False
        self.paused = False
        self.ready = asyncio.Event()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.buf += data
        self.ready.set()
        if len(self.buf) > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        return False, b""

    def feed_eof(self) -> None:
        self.eof = True
        self.ready.set()

    async def read(self) -> bytes:
        while not self.buf and not self.eof:
            self.ready.clear()
            await self.ready.wait()
        data = bytes(self.buf)
        self.buf.clear()
        if self.paused and self.transport is not None and not self.transport.is_closing():
            self.paused = False
            self.transport.resume_reading()
        return data


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    """The body of a non-101 answer (Content-Length or chunked), at most
    MAX_ERROR_BODY bytes."""
    h = {k.lower(): v for k, v in headers}
    try:
        if "chunked" in h.get("transfer-encoding", "").lower():
            out = b""
            while len(out) < MAX_ERROR_BODY:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    break
                out += await reader.readexactly(size + 2)
                out = out[:-2]
            return out[:MAX_ERROR_BODY]
        n = int(h.get("content-length", "0") or 0)
        return await reader.readexactly(min(n, MAX_ERROR_BODY)) if n else b""
    except (asyncio.IncompleteReadError, ValueError, OSError):
        return b""


def _request_head(request: web.BaseRequest, hostport: str, path: str) -> bytes:
    lines = [f"{request.method} {path} HTTP/1.1", f"Host: {hostport}"]
    for k, v in request.headers.items():
        lk = k.lower()
        if lk in _DROP or lk.startswith(_DROP_PREFIXES):
            continue
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(head: bytes) -> tuple[int, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"malformed status line {lines[0]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


async def upgrade_proxy(
    request: web.Request, host: str, port: int, path: str, ssl_context: ssl.SSLContext | None
) -> web.StreamResponse:
    """Relay an upgrade request to ``host:port`` (TLS when ``ssl_context``),
    then splice the two connections."""
    hostport = _hostport(host, port)
    try:
        reader, writer = await aio.wait_for(
            asyncio.open_connection(
                host,
                port,
                ssl=ssl_context,
                server_hostname=(host if ssl_context is not None else None),
                limit=2 * READ_CHUNK,
            ),
            CONNECT_TIMEOUT,
        )
    except (OSError, TimeoutError, ssl.SSLError) as e:
        raise errors.ApiError(500, "", f"error dialing backend: {e}") from None
    try:
        writer.write(_request_head(request, hostport, path))
        await writer.drain()
        head = await aio.wait_for(reader.readuntil(b"\r\n\r\n"), CONNECT_TIMEOUT)
        status, reason, headers = _parse_head(head)
    except (
        OSError,
        TimeoutError,
        ValueError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
    ) as e:
        writer.close()
        raise errors.ApiError(500, "", f"error proxying the upgrade to {hostport}: {e}") from None
    if status != 101:
        body = await _read_body(reader, headers)
        writer.close()
        answer = web.Response(status=status, body=body)
        for k, v in headers:
            if k.lower() == "content-type":
                answer.headers["Content-Type"] = v
        return answer

    resp = web.StreamResponse(status=101, reason=reason or "Switching Protocols")
    for k, v in headers:
        if k.lower() not in _DROP_RESPONSE:
            resp.headers.add(k, v)
    resp.force_close()
    client = _ClientBytes(request.transport)
    # every later byte of the client's connection goes to `client`, not to HTTP parsing
    request.protocol.set_parser(cast(Any, client))
    await resp.prepare(request)

    async def to_kubelet() -> None:
        while data := await client.read():
            writer.write(data)
            await writer.drain()

    async def to_client() -> None:
        while data := await reader.read(READ_CHUNK):
            await resp.write(data)

    tasks = [asyncio.create_task(to_kubelet()), asyncio.create_task(to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        writer.close()
        transport = request.transport
        if transport is not None and not transport.is_closing():
            transport.close()
    return resp


# --------------------------------------------------------------------------
# nodes/proxy and pods/proxy: plain HTTP


async def _forward_http(
    request: web.Request, url: str, ssl_context: ssl.SSLContext | bool, resource: str, name: str
) -> web.StreamResponse:
    headers = [
        (k, v)
        for k, v in request.headers.items()
        if k.lower() not in _DROP and not k.lower().startswith(_DROP_PREFIXES)
    ]
    body = await request.read() if request.can_read_body else None
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        try:
            kresp = await session.request(
                request.method,
                url,
                headers=headers,
                data=body,
                ssl=ssl_context,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            raise errors.ApiError(
                503, "ServiceUnavailable", f"error trying to reach service: {e}"
            ) from None
        async with kresp:
            out = web.StreamResponse(status=kresp.status, reason=kresp.reason)
            for k, v in kresp.headers.items():
                if k.lower() not in _DROP_RESPONSE and k.lower() != "connection":
                    out.headers.add(k, v)
            await out.prepare(request)
            async for chunk in kresp.content.iter_any():
                await out.write(chunk)
            await out.write_eof()
            return out


def _proxy_url(base: str, subpath: str, query: Iterable[tuple[str, str]]) -> str:
    url = base + "/" + subpath.lstrip("/")
    q = list(query)
    return url + ("?" + urlencode(q) if q else "")


async def node_proxy(
    server: ApiServer, request: web.Request, node_name: str, subpath: str
) -> web.StreamResponse:
    """``/api/v1/nodes/{name}/proxy/{subpath}`` → the kubelet's ``/{subpath}``."""
    try:
        host, port = _node_target(server, node_name)
    except SimulatedNode:
        raise errors.bad_request(f"node {node_name} is simulated and has no kubelet") from None
    url = _proxy_url(f"https://{_hostport(host, port)}", subpath, request.query.items())
    conn = KubeletConnection.for_server(server)
    return await _forward_http(request, url, conn.ssl, "nodes/proxy", node_name)


async def pod_proxy(
    server: ApiServer,
    request: web.Request,
    store: ResourceStore,
    ns: str,
    name_port: str,
    subpath: str,
) -> web.StreamResponse:
    """``/api/v1/namespaces/{ns}/pods/{[scheme:]name[:port]}/proxy/{subpath}``
    → the pod IP (upstream's ResourceLocation)."""
    parts = name_port.split(":")
    scheme = ""
    if len(parts) == 3:
        scheme, name, port = parts
    elif len(parts) == 2:
        name, port = parts
    elif len(parts) == 1:
        name, port = parts[0], ""
    else:
        raise errors.bad_request(f'invalid pod request "{name_port}"')
    if scheme not in ("", "http", "https"):
        raise errors.bad_request(f'invalid pod request "{name_port}"')
    pod = store.get(ns, name)
    node_name = (pod.get("spec") or {}).get("nodeName") or ""
    if node_name:
        try:
            _node_target(server, node_name)
        except SimulatedNode:
            raise errors.bad_request("address not allowed") from None  # fake pod IPs
        except errors.ApiError:
            pass  # the node is gone or has no address: the pod IP may still answer
    if not port:
        for c in (pod.get("spec") or {}).get("containers") or []:
            if c.get("ports"):
                port = str(c["ports"][0].get("containerPort", ""))
                break
    ips = (pod.get("status") or {}).get("podIPs") or []
    ip = ips[0].get("ip", "") if ips else (pod.get("status") or {}).get("podIP", "")
    try:
        addr = ipaddress.ip_address(ip)
        ok = not (
            addr.is_loopback or addr.is_link_local or addr.is_multicast or addr.is_unspecified
        )
    except ValueError:
        ok = False
    if not ok:
        raise errors.bad_request("address not allowed")
    hostport = _hostport(ip, int(port)) if port else (f"[{ip}]" if ":" in ip else ip)
    url = _proxy_url(f"{scheme or 'http'}://{hostport}", subpath, request.query.items())
    ctx: ssl.SSLContext | bool = False if scheme == "https" else True
    return await _forward_http(request, url, ctx, "pods/proxy", name)
