"""The PV controller's matching rules, the VolumeBinding plugin's plan, and the
DefaultStorageClass admission choice."""

from __future__ import annotations

import asyncio
from typing import Any

from pinnace.apiserver.admission.default_storage_class import DefaultStorageClass, default_class
from pinnace.controllers.persistentvolume import (
    ANN_SELECTED_NODE,
    check_access_modes,
    claim_class,
    find_matching_volume,
    is_delay_binding,
    is_volume_bound_to_claim,
)
from pinnace.scheduler.framework.interface import CycleState
from pinnace.scheduler.framework.types import PodInfo
from pinnace.scheduler.plugins import volumebinding

Obj = dict[str, Any]


def pv(
    name: str,
    size: str,
    cls: str = "manual",
    modes: tuple[str, ...] = ("ReadWriteOnce",),
    phase: str = "Available",
    **spec: Any,
) -> Obj:
    return {
        "metadata": {"name": name, "labels": {"disk": name}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": list(modes),
            "storageClassName": cls,
            "hostPath": {"path": "/x"},
            **spec,
        },
        "status": {"phase": phase},
    }


def pvc(
    name: str = "c", size: str = "1Gi", cls: str | None = "manual", uid: str = "u1", **spec: Any
) -> Obj:
    s: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if cls is not None:
        s["storageClassName"] = cls
    s.update(spec)
    return {"metadata": {"name": name, "namespace": "ns", "uid": uid}, "spec": s}


def names(v: Obj | None) -> str | None:
    return None if v is None else str(v["metadata"]["name"])


def test_smallest_fitting_volume_wins() -> None:
    vols = [pv("big", "10Gi"), pv("small", "1Gi"), pv("mid", "5Gi"), pv("mid2", "3Gi")]
    assert names(find_matching_volume(pvc(size="2Gi"), vols)) == "mid2"
    assert names(find_matching_volume(pvc(size="1Gi"), vols)) == "small"
    assert names(find_matching_volume(pvc(size="1000Mi"), vols)) == "small"
    assert find_matching_volume(pvc(size="11Gi"), vols) is None


def test_class_access_modes_and_volume_mode() -> None:
    vols = [pv("fast", "1Gi", cls="fast"), pv("rwx", "2Gi", modes=("ReadWriteMany",))]
    assert names(find_matching_volume(pvc(), vols)) is None
    assert names(find_matching_volume(pvc(cls="fast"), vols)) == "fast"
    assert names(find_matching_volume(pvc(accessModes=["ReadWriteMany"]), vols)) == "rwx"
    # no class on the claim: only class-less volumes
    assert find_matching_volume(pvc(cls=""), vols) is None
    assert names(find_matching_volume(pvc(cls=""), [pv("none", "1Gi", cls="")])) == "none"
    block = pv("block", "1Gi", volumeMode="Block")
    assert find_matching_volume(pvc(), [block]) is None
    assert names(find_matching_volume(pvc(volumeMode="Block"), [block])) == "block"
    multi = pv("multi", "1Gi", modes=("ReadWriteOnce", "ReadOnlyMany"))
    assert check_access_modes(pvc(accessModes=["ReadOnlyMany"]), multi)
    assert not check_access_modes(pvc(accessModes=["ReadWriteMany"]), multi)


def test_unavailable_and_claimed_volumes_are_skipped() -> None:
    taken = pv("taken", "1Gi", claimRef={"namespace": "ns", "name": "other", "uid": "u9"})
    released = pv("released", "1Gi", phase="Released")
    assert find_matching_volume(pvc(), [taken, released]) is None


def test_selector() -> None:
    vols = [pv("a", "1Gi"), pv("b", "1Gi")]
    sel = {"matchLabels": {"disk": "b"}}
    assert names(find_matching_volume(pvc(selector=sel), vols)) == "b"
    sel = {"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["a", "b"]}]}
    assert find_matching_volume(pvc(selector=sel), vols) is None


def test_claim_ref_pre_binding_wins_and_respects_uid() -> None:
    pre = pv("pre", "50Gi", claimRef={"namespace": "ns", "name": "c"})
    vols = [pv("small", "1Gi"), pre]
    assert is_volume_bound_to_claim(pre, pvc())
    assert names(find_matching_volume(pvc(), vols)) == "pre"
    other_uid = pv("pre", "50Gi", claimRef={"namespace": "ns", "name": "c", "uid": "old"})
    assert not is_volume_bound_to_claim(other_uid, pvc())
    assert names(find_matching_volume(pvc(), [pv("small", "1Gi"), other_uid])) == "small"
    # a pre-bound volume that is too small is not used
    tiny = pv("tiny", "1Mi", claimRef={"namespace": "ns", "name": "c"})
    assert find_matching_volume(pvc(), [tiny]) is None


def test_delay_binding_and_node_affinity() -> None:
    affine = pv(
        "on-n1",
        "1Gi",
        nodeAffinity={
            "required": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}
                        ]
                    }
                ]
            }
        },
    )
    # the controller leaves delayed claims to the scheduler
    assert find_matching_volume(pvc(), [affine], delay_binding=True) is None
    n1 = ("n1", {"kubernetes.io/hostname": "n1"})
    n2 = ("n2", {"kubernetes.io/hostname": "n2"})
    assert names(find_matching_volume(pvc(), [affine], delay_binding=True, node=n1)) == "on-n1"
    assert find_matching_volume(pvc(), [affine], delay_binding=True, node=n2) is None
    assert find_matching_volume(pvc(), [affine], node=n1, excluded={"on-n1"}) is None
    classes = {"wffc": {"volumeBindingMode": "WaitForFirstConsumer"}, "imm": {}}
    assert is_delay_binding(pvc(cls="wffc"), classes.get)
    assert not is_delay_binding(pvc(cls="imm"), classes.get)
    assert not is_delay_binding(pvc(cls=""), classes.get)


def test_beta_class_annotation() -> None:
    c = pvc(cls="x")
    c["metadata"]["annotations"] = {"volume.beta.kubernetes.io/storage-class": "beta"}
    assert claim_class(c) == "beta"


# --- the scheduler's VolumeBinding plugin ---------------------------------------------------


class Handle:
    def __init__(self, objects: dict[str, list[Obj]]) -> None:
        self.objects = objects
        self.api: Any = None

    def lister(self, plural: str) -> list[Obj]:
        return self.objects.get(plural, [])

    def get_object(self, plural: str, namespace: str, name: str) -> Obj | None:
        for o in self.objects.get(plural, []):
            m = o["metadata"]
            if m["name"] == name and (m.get("namespace") or "") == namespace:
                return o
        return None


class NodeStub:
    def __init__(self, name: str) -> None:
        self.name = name
        self.labels = {"kubernetes.io/hostname": name}


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def replace(self, resource: Any, obj: Obj, **kw: Any) -> Obj:
        self.calls.append(("replace", obj))
        return obj

    async def patch(self, resource: Any, name: str, patch: Any, **kw: Any) -> Obj:
        self.calls.append(("patch", (name, patch)))
        return {}


def _pod(claim: str) -> PodInfo:
    return PodInfo(
        {
            "metadata": {"name": "p", "namespace": "ns", "uid": "pu"},
            "spec": {
                "containers": [{"name": "c"}],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}],
            },
        }
    )


def test_volume_binding_plugin_plans_provisioning_and_prebinding() -> None:
    classes = [
        {"metadata": {"name": "lp"}, "provisioner": "pinnace.io/local-path",
         "volumeBindingMode": "WaitForFirstConsumer"},
        {"metadata": {"name": "manual"}, "provisioner": "kubernetes.io/no-provisioner",
         "volumeBindingMode": "WaitForFirstConsumer"},
    ]  # fmt: skip
    on_n1 = pv("on-n1", "1Gi", nodeAffinity={"required": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                               "values": ["n1"]}]}]}})  # fmt: skip
    handle = Handle(
        {
            "storageclasses": classes,
            "persistentvolumeclaims": [pvc("dyn", cls="lp"), pvc("static", cls="manual")],
            "persistentvolumes": [on_n1],
            "nodes": [
                {"metadata": {"name": n, "labels": {"kubernetes.io/hostname": n}}}
                for n in ("n1", "n2")
            ],
        }
    )
    plugin = volumebinding.VolumeBinding(handle)
    # dynamic: any node fits; PreBind sets selected-node
    state = CycleState()
    _, st = plugin.pre_filter(state, _pod("dyn"))
    assert st is None
    assert plugin.filter(state, _pod("dyn"), NodeStub("n2")) is None  # type: ignore[arg-type]
    api = FakeApi()
    handle.api = api
    assert asyncio.run(plugin.pre_bind(state, _pod("dyn"), "n2")) is None
    assert api.calls == [
        ("patch", ("dyn", {"metadata": {"annotations": {ANN_SELECTED_NODE: "n2"}}}))
    ]
    # static (no provisioner): only the node its volume allows; PreBind pre-binds the volume
    state = CycleState()
    plugin.pre_filter(state, _pod("static"))
    st2 = plugin.filter(state, _pod("static"), NodeStub("n2"))  # type: ignore[arg-type]
    assert st2 is not None and volumebinding.ERR_REASON_BIND_CONFLICT in st2.message()
    assert plugin.filter(state, _pod("static"), NodeStub("n1")) is None  # type: ignore[arg-type]
    api.calls.clear()
    asyncio.run(plugin.pre_bind(state, _pod("static"), "n1"))
    ((op, obj),) = api.calls
    assert op == "replace" and obj["spec"]["claimRef"]["name"] == "static"
    assert obj["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] == "yes"
    # a claim with a selected node fits that node only
    handle.objects["persistentvolumeclaims"][0]["metadata"]["annotations"] = {
        ANN_SELECTED_NODE: "n1"
    }
    state = CycleState()
    plugin.pre_filter(state, _pod("dyn"))
    assert plugin.filter(state, _pod("dyn"), NodeStub("n2")) is not None  # type: ignore[arg-type]
    assert plugin.filter(state, _pod("dyn"), NodeStub("n1")) is None  # type: ignore[arg-type]


# --- DefaultStorageClass admission --------------------------------------------------------


def sc(name: str, created: str, default: bool = True) -> Obj:
    ann = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "creationTimestamp": created, "annotations": ann}}


def test_default_class_is_the_newest_default() -> None:
    assert default_class([sc("a", "2024-01-01T00:00:00Z", default=False)]) is None
    classes = [
        sc("old", "2024-01-01T00:00:00Z"),
        sc("new-b", "2024-06-01T00:00:00Z"),
        sc("new-a", "2024-06-01T00:00:00Z"),
        sc("newest-not-default", "2025-01-01T00:00:00Z", default=False),
    ]
    chosen = default_class(classes)
    assert chosen is not None and chosen["metadata"]["name"] == "new-a"


def test_default_storage_class_admission_sets_only_absent_class() -> None:
    from pinnace.apiserver.admission import AdmissionRequest

    plugin = DefaultStorageClass(lambda: [sc("local-path", "2024-01-01T00:00:00Z")])

    def admit(spec: Obj, operation: str = "CREATE") -> Obj:
        obj: Obj = {"metadata": {"name": "c"}, "spec": spec}
        req = AdmissionRequest.__new__(AdmissionRequest)
        fields = {
            "resource": type("R", (), {"group": "", "plural": "persistentvolumeclaims"})(),
            "subresource": "",
            "operation": operation,
            "object": obj,
        }
        for k, v in fields.items():
            object.__setattr__(req, k, v)
        asyncio.run(plugin.admit(req))
        return obj["spec"]

    assert admit({})["storageClassName"] == "local-path"
    assert admit({"storageClassName": ""})["storageClassName"] == ""
    assert admit({"storageClassName": "x"})["storageClassName"] == "x"
    assert "storageClassName" not in admit({}, operation="UPDATE")


# --- the local-path provisioner on the local machine ---------------------------------------


class FakeInformer:
    def __init__(self, objs: list[Obj]) -> None:
        self.objs = {
            (f"{o['metadata']['namespace']}/" if o["metadata"].get("namespace") else "")
            + o["metadata"]["name"]: o
            for o in objs
        }

    def get(self, key: str) -> Obj | None:
        return self.objs.get(key)

    def list(self) -> list[Obj]:
        return list(self.objs.values())

    def add_event_handler(self, **kw: Any) -> None:
        pass


def test_local_path_provisioner_makes_and_removes_the_directory(tmp_path: Any) -> None:
    from pinnace.controllers.base import ControllerContext
    from pinnace.controllers.localpath import ANN_CREATED, LocalPathProvisioner

    claim = pvc("data", size="3Gi", cls="local-path", uid="abc")
    claim["metadata"]["annotations"] = {
        "volume.kubernetes.io/storage-provisioner": "pinnace.io/local-path",
        ANN_SELECTED_NODE: "here",
    }
    informers = {
        "persistentvolumeclaims": FakeInformer([claim]),
        "persistentvolumes": FakeInformer([]),
        "storageclasses": FakeInformer([{
            "metadata": {"name": "local-path"}, "provisioner": "pinnace.io/local-path",
            "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Delete",
        }]),
        "nodes": FakeInformer([
            {"metadata": {"name": "here", "labels": {"kubernetes.io/hostname": "here"}}},
        ]),
    }  # fmt: skip
    created: list[Obj] = []
    deleted: list[str] = []

    class Client:
        async def create(self, resource: Any, obj: Obj, **kw: Any) -> Obj:
            if resource.plural == "persistentvolumes":
                created.append(obj)
            return obj

        async def delete(self, resource: Any, name: str, **kw: Any) -> Obj:
            deleted.append(name)
            return {}

    class Factory:
        def informer(self, resource: Any, **kw: Any) -> FakeInformer:
            return informers[resource.plural]

    async def run() -> None:
        ctx = ControllerContext(Client(), Factory(), host="here")  # type: ignore[arg-type]
        c = LocalPathProvisioner(ctx, base_dir=tmp_path)
        assert await c.reconcile("ns/data") is None
        (vol,) = created
        path = tmp_path / "pvc-abc_ns_data"
        assert path.is_dir()
        assert vol["metadata"]["name"] == "pvc-abc"
        assert vol["metadata"]["annotations"][ANN_CREATED] == "true"
        assert vol["spec"]["hostPath"] == {"path": str(path), "type": "DirectoryOrCreate"}
        assert vol["spec"]["capacity"] == {"storage": "3Gi"}
        assert vol["spec"]["claimRef"]["uid"] == "abc"
        # released with reclaim Delete: directory, then object
        vol["metadata"]["uid"] = "pv-uid"
        vol["status"] = {"phase": "Released"}
        informers["persistentvolumes"].objs["pvc-abc"] = vol
        assert await c.sync_volume("pvc-abc") is None
        assert not path.exists() and deleted == ["pvc-abc"]
        await c.recorder.stop(flush=False, timeout=0.1)

    asyncio.run(run())
