"""A small fake API server (aiohttp) implementing just enough for the client tests:
CRUD with resourceVersions, label/field-selected lists with paging, watch streams
with replay/bookmarks/410, subresources, and failure injection."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from pinnace.api.selectors import parse_field_selector, parse_label_selector

Obj = dict[str, Any]

_PATH = re.compile(
    r"^/(?:api/(?P<cv>v1)|apis/(?P<g>[^/]+)/(?P<v>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)

CLUSTER_SCOPED = {"nodes", "namespaces"}


def status(code: int, reason: str, message: str, **details: Any) -> Obj:
    s: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        s["details"] = details
    return s


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApiServer:
    objects: dict[tuple[str, str, str], Obj] = field(default_factory=dict)
    history: list[tuple[int, str, str, Obj]] = field(default_factory=list)
    rv: int = 0
    compacted: int = 0
    requests: list[Recorded] = field(default_factory=list)
    failures: list[tuple[int, Obj | None, dict[str, str]]] = field(default_factory=list)
    watchers: list[asyncio.Queue[Obj | None]] = field(default_factory=list)
    uids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    url: str = ""

    # --- direct manipulation (like another client writing) -------------------------------

    def put(self, plural: str, obj: Obj, type_: str | None = None) -> Obj:
        self.rv += 1
        obj = orjson.loads(orjson.dumps(obj))
        m = obj.setdefault("metadata", {})
        m["resourceVersion"] = str(self.rv)
        m.setdefault("uid", f"uid-{next(self.uids)}")
        key = (plural, m.get("namespace", ""), m["name"])
        if type_ is None:
            type_ = "MODIFIED" if key in self.objects else "ADDED"
        self.objects[key] = obj
        self._emit(plural, type_, obj)
        return obj

    def remove(self, plural: str, namespace: str, name: str) -> Obj:
        obj = self.objects.pop((plural, namespace, name))
        self.rv += 1
        obj = dict(obj, metadata=dict(obj["metadata"], resourceVersion=str(self.rv)))
        self._emit(plural, "DELETED", obj)
        return obj

    def _emit(self, plural: str, type_: str, obj: Obj) -> None:
        self.history.append((self.rv, plural, type_, obj))
        for q in self.watchers:
            q.put_nowait({"plural": plural, "type": type_, "object": obj})

    def compact(self) -> None:
        self.compacted = self.rv

    def bookmark(self) -> None:
        self.rv += 1
        for q in self.watchers:
            q.put_nowait({"plural": "*", "type": "BOOKMARK", "object": {
                "kind": "Bookmark", "metadata": {"resourceVersion": str(self.rv)}}})  # fmt: skip

    def drop_watches(self) -> None:
        for q in self.watchers:
            q.put_nowait(None)

    def fail_next(self, code: int, body: Obj | None = None, **headers: str) -> None:
        self.failures.append((code, body, headers))

    def requests_to(self, method: str, path_part: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    # --- HTTP ------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body: Any = orjson.loads(raw) if raw else None
        query = dict(request.query)
        self.requests.append(
            Recorded(request.method, request.path, query, dict(request.headers), body)
        )
        if self.failures:
            code, fbody, headers = self.failures.pop(0)
            return web.json_response(
                fbody or status(code, "InternalError", "injected"),
                status=code,
                headers=headers,
                dumps=lambda o: orjson.dumps(o).decode(),
            )
        m = _PATH.match(request.path)
        if not m:
            return self.json(status(404, "NotFound", "the server could not find the resource"), 404)
        plural, ns, name, sub = m["plural"], m["ns"] or "", m["name"], m["sub"]
        if request.method == "GET" and name is None:
            if query.get("watch") in ("true", "1"):
                return await self.watch(request, plural, ns, query)
            return self.list(plural, ns, query)
        if request.method == "GET":
            obj = self.objects.get((plural, ns, name))
            if obj is None:
                return self.not_found(plural, name)
            return self.json(obj)
        if request.method == "POST" and sub:
            if (plural, ns, name) not in self.objects:
                return self.not_found(plural, name)
            if sub == "binding":
                pod = self.objects[(plural, ns, name)]
                self.put(plural, merge_patch(pod, {"spec": {"nodeName": body["target"]["name"]}}))
            return self.json(status(201, "", "") | {"status": "Success"}, 201)
        if request.method == "POST":
            meta = body.setdefault("metadata", {})
            if ns:
                meta["namespace"] = ns
            key = (plural, ns, meta["name"])
            if key in self.objects:
                return self.json(
                    status(
                        409,
                        "AlreadyExists",
                        f'{plural} "{meta["name"]}" already exists',
                        name=meta["name"],
                        kind=plural,
                    ),
                    409,
                )
            return self.json(self.put(plural, body), 201)
        key = (plural, ns, name)
        current = self.objects.get(key)
        if current is None:
            return self.not_found(plural, name)
        if request.method == "PUT":
            want = body.get("metadata", {}).get("resourceVersion")
            if want and want != current["metadata"]["resourceVersion"]:
                return self.json(
                    status(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on {plural} "{name}": the object has been '
                        "modified; please apply your changes to the latest version and try again",
                    ),
                    409,
                )
            return self.json(self.put(plural, body))
        if request.method == "PATCH":
            if isinstance(body, list):  # json patch: only "replace"/"add" of top-level paths
                new = dict(current)
                for op in body:
                    parts = op["path"].strip("/").split("/")
                    target = new
                    for p in parts[:-1]:
                        target = target.setdefault(p, {})
                    target[parts[-1]] = op["value"]
            else:
                new = merge_patch(current, body)
            return self.json(self.put(plural, new))
        if request.method == "DELETE":
            return self.json(self.remove(plural, ns, name))
        return self.json(status(405, "MethodNotAllowed", "no"), 405)

    def json(self, obj: Obj, code: int = 200) -> web.Response:
        return web.Response(body=orjson.dumps(obj), status=code, content_type="application/json")

    def not_found(self, plural: str, name: str) -> web.Response:
        return self.json(
            status(404, "NotFound", f'{plural} "{name}" not found', name=name, kind=plural), 404
        )

    def _selected(self, plural: str, ns: str, query: dict[str, str]) -> list[Obj]:
        ls = parse_label_selector(query.get("labelSelector"))
        fs = parse_field_selector(query.get("fieldSelector"))
        out = []
        for (p, ons, _), obj in sorted(self.objects.items()):
            if p != plural or (ns and ons != ns):
                continue
            if self.matches(obj, ls, fs):
                out.append(obj)
        return out

    @staticmethod
    def matches(obj: Obj, ls: Any, fs: Any) -> bool:
        m = obj["metadata"]
        fields = {"metadata.name": m["name"], "metadata.namespace": m.get("namespace", "")}
        return bool(ls.matches(m.get("labels") or {}) and fs.matches(fields))

    def list(self, plural: str, ns: str, query: dict[str, str]) -> web.Response:
        items = self._selected(plural, ns, query)
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0)
        meta: Obj = {"resourceVersion": str(self.rv)}
        if limit:
            page = items[start : start + limit]
            if start + limit < len(items):
                meta["continue"] = str(start + limit)
            items = page
        return self.json({"kind": "List", "apiVersion": "v1", "metadata": meta, "items": items})

    async def watch(
        self, request: web.Request, plural: str, ns: str, query: dict[str, str]
    ) -> web.StreamResponse:
        rv = query.get("resourceVersion", "")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)

        async def send(type_: str, obj: Obj) -> None:
            await resp.write(orjson.dumps({"type": type_, "object": obj}) + b"\n")

        if rv not in ("", "0") and int(rv) < self.compacted:
            await send(
                "ERROR",
                status(410, "Expired", f"too old resource version: {rv} ({self.compacted})"),
            )
            return resp
        ls = parse_label_selector(query.get("labelSelector"))
        fs = parse_field_selector(query.get("fieldSelector"))
        q: asyncio.Queue[Obj | None] = asyncio.Queue()
        self.watchers.append(q)
        try:
            if rv in ("", "0"):
                for obj in self._selected(plural, ns, query):
                    await send("ADDED", obj)
            else:
                for erv, p, type_, obj in self.history:
                    if erv > int(rv) and p == plural and self.matches(obj, ls, fs):
                        if not ns or obj["metadata"].get("namespace") == ns:
                            await send(type_, obj)
            timeout = float(query.get("timeoutSeconds") or 3600)
            loop = asyncio.get_running_loop()
            end = loop.time() + timeout
            while True:
                try:
                    ev = await asyncio.wait_for(q.get(), max(0.0, end - loop.time()))
                except TimeoutError:
                    break
                if ev is None:
                    break
                if ev["type"] == "BOOKMARK":
                    if query.get("allowWatchBookmarks") == "true":
                        await send("BOOKMARK", ev["object"])
                    continue
                obj = ev["object"]
                if ev["plural"] != plural or (ns and obj["metadata"].get("namespace") != ns):
                    continue
                if self.matches(obj, ls, fs):
                    await send(ev["type"], obj)
        finally:
            self.watchers.remove(q)
        return resp


async def until(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait until ``cond()`` holds (polling), or fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def serve_all(handler: Callable[[web.Request], Any]) -> tuple[TestServer, str]:
    """A loopback test server sending every path to ``handler``, started; and
    its base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, str(server.make_url("")).rstrip("/")


async def serve_unix(handler: Callable[[web.Request], Any], path: str) -> tuple[web.AppRunner, str]:
    """The same on a Unix socket at ``path`` (how the API server's own
    components reach it); and its ``unix://`` URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.UnixSite(runner, path).start()
    return runner, "unix://" + path
