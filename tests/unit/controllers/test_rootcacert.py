"""The root CA publisher: kube-root-ca.crt created, repaired, left alone when
right; terminating namespaces skipped; the CA taken from the client's config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pinnace.client import Obj
from pinnace.client.config import ClientConfig
from pinnace.controllers.base import ControllerContext
from pinnace.controllers.rootcacert import DESCRIPTION, RootCACertPublisher

PEM = b"-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"


class FakeInformer:
    def __init__(self, objs: list[Obj]) -> None:
        self.objs = {self.key(o): o for o in objs}
        self.handlers: list[dict[str, Callable[..., None] | None]] = []

    @staticmethod
    def key(o: Obj) -> str:
        m = o["metadata"]
        return f"{m['namespace']}/{m['name']}" if m.get("namespace") else m["name"]

    def add_event_handler(self, **kw: Callable[..., None] | None) -> None:
        self.handlers.append(kw)

    def get(self, key: str) -> Obj | None:
        return self.objs.get(key)


class Transport:
    config = ClientConfig(server="https://127.0.0.1:1", ca_data=PEM)


class Client:
    def __init__(self) -> None:
        self.transport = Transport()
        self.created: list[Obj] = []
        self.replaced: list[Obj] = []

    async def create(self, resource: Any, obj: Obj, **kw: Any) -> Obj:
        self.created.append(obj)
        return obj

    async def replace(self, resource: Any, obj: Obj, **kw: Any) -> Obj:
        self.replaced.append(obj)
        return obj


def publisher(client: Client, namespaces: list[Obj], configmaps: list[Obj]) -> RootCACertPublisher:
    informers = {"namespaces": FakeInformer(namespaces), "configmaps": FakeInformer(configmaps)}

    class Factory:
        def informer(self, resource: Any, **kw: Any) -> FakeInformer:
            return informers[resource.plural]

    ctx = ControllerContext(client, Factory(), host="here")  # type: ignore[arg-type]
    return RootCACertPublisher(ctx)


def ns(name: str, phase: str = "Active") -> Obj:
    return {"metadata": {"name": name}, "status": {"phase": phase}}


async def test_creates_repairs_and_leaves_alone() -> None:
    good = {
        "metadata": {
            "name": "kube-root-ca.crt",
            "namespace": "ok",
            "annotations": {"kubernetes.io/description": DESCRIPTION},
        },
        "data": {"ca.crt": PEM.decode()},
    }
    edited = {
        "metadata": {"name": "kube-root-ca.crt", "namespace": "edited", "resourceVersion": "3"},
        "data": {"ca.crt": "junk", "extra": "x"},
    }
    client = Client()
    p = publisher(
        client, [ns("new"), ns("ok"), ns("edited"), ns("gone", "Terminating")], [good, edited]
    )
    for key in ("new", "ok", "edited", "gone", "missing"):
        assert await p.reconcile(key) is None
    (created,) = client.created
    assert created["metadata"] == {
        "name": "kube-root-ca.crt",
        "namespace": "new",
        "annotations": {"kubernetes.io/description": DESCRIPTION},
    }
    assert created["data"] == {"ca.crt": PEM.decode()}
    (replaced,) = client.replaced
    assert replaced["data"] == {"ca.crt": PEM.decode()}
    assert replaced["metadata"]["resourceVersion"] == "3"
    assert replaced["metadata"]["annotations"]["kubernetes.io/description"] == DESCRIPTION
    await p.recorder.stop(flush=False, timeout=0.1)
