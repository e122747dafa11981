"""The two webhook plugins with a fake client: review contents, patches,
refusals, failure policies, dry run, warnings, reinvocation."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from pinnace.api.resources import catalog
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.webhook import MutatingWebhooks, ValidatingWebhooks
from pinnace.apiserver.admission.webhook.client import WebhookClient
from pinnace.apiserver.admission.webhook.hooks import Hook
from pinnace.apiserver.admission.webhook.review import CallError
from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.errors import ApiError

Obj = dict[str, Any]
USER = UserInfo("alice", ("devs", "system:authenticated"), uid="u-1", extra={"k": ["v"]})


def b64(ops: list[Obj]) -> str:
    return base64.b64encode(orjson.dumps(ops)).decode()


class FakeClient(WebhookClient):
    """Answers per webhook name with a function of the review."""

    def __init__(self, answers: dict[str, Any]) -> None:
        super().__init__()
        self.answers = answers
        self.reviews: list[tuple[str, Obj]] = []

    async def post(self, hook: Hook, review: Obj) -> Any:
        self.reviews.append((hook.name, review))
        answer = self.answers[hook.name]
        if isinstance(answer, CallError):
            raise answer
        resp = answer(review["request"])
        return {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": review["request"]["uid"], **resp},
        }


def config(*hooks: Obj, name: str = "cfg", rv: str = "1") -> Obj:
    return {"metadata": {"name": name, "resourceVersion": rv}, "webhooks": list(hooks)}


def hook(name: str, **kw: Any) -> Obj:
    h: Obj = {
        "name": name,
        "clientConfig": {"url": "https://127.0.0.1:1/"},
        "rules": [
            {
                "operations": ["*"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["configmaps"],
            }
        ],
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "namespaceSelector": {},
        "objectSelector": {},
        "timeoutSeconds": 10,
        "reinvocationPolicy": "Never",
    }
    h.update(kw)
    return h


def cm_req(op: Operation = "CREATE", dry_run: bool = False, **labels: str) -> AdmissionRequest:
    r = catalog().by_plural("", "v1", "configmaps")
    assert r is not None
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "dev", "labels": dict(labels)},
        "data": {"a": "1"},
    }
    old = None
    if op != "CREATE":
        old = {**obj, "data": {}}
    if op == "DELETE":
        obj = None  # type: ignore[assignment]
    return AdmissionRequest(op, r, "dev", "c", obj, old, USER, "", dry_run)


def ns(name: str) -> Obj | None:
    return {"metadata": {"name": name}}


def allow(_: Obj) -> Obj:
    return {"allowed": True}


async def test_review_carries_the_request() -> None:
    client = FakeClient({"v.x.io": allow})
    plugin = ValidatingWebhooks(lambda: [config(hook("v.x.io"))], ns, client)
    req = cm_req("UPDATE", dry_run=True)
    await plugin.validate(req)
    (_, review) = client.reviews[0]
    assert review["apiVersion"] == "admission.k8s.io/v1" and review["kind"] == "AdmissionReview"
    r = review["request"]
    assert r["kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
    assert r["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
    assert r["requestKind"] == r["kind"] and r["requestResource"] == r["resource"]
    assert (r["name"], r["namespace"], r["operation"]) == ("c", "dev", "UPDATE")
    assert r["userInfo"] == {
        "username": "alice",
        "uid": "u-1",
        "groups": ["devs", "system:authenticated"],
        "extra": {"k": ["v"]},
    }
    assert r["object"]["data"] == {"a": "1"} and r["oldObject"]["data"] == {}
    assert r["dryRun"] is True
    assert r["options"] == {
        "kind": "UpdateOptions",
        "apiVersion": "meta.k8s.io/v1",
        "dryRun": ["All"],
    }
    assert "subResource" not in r and len(r["uid"]) == 36


async def test_mutating_patch_is_applied_in_place() -> None:
    def add_label(r: Obj) -> Obj:
        ops = [{"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}]
        return {"allowed": True, "patchType": "JSONPatch", "patch": b64(ops), "warnings": ["w1"]}

    client = FakeClient({"m.x.io": add_label})
    plugin = MutatingWebhooks(lambda: [config(hook("m.x.io"))], ns, client)
    req = cm_req()
    assert req.object is not None
    obj, meta = req.object, req.object["metadata"]
    await plugin.admit(req)
    assert req.object is obj and req.object["metadata"] is meta
    assert meta["labels"] == {"mutated": "yes"}
    assert req.warnings == ["w1"]
    assert orjson.loads(
        req.audit_annotations["mutation.webhook.admission.k8s.io/round_0_index_0"]
    ) == {"configuration": "cfg", "webhook": "m.x.io", "mutated": True}


async def test_mutating_webhooks_run_in_order_and_see_earlier_patches() -> None:
    def first(r: Obj) -> Obj:
        ops = [{"op": "add", "path": "/data/b", "value": "2"}]
        return {"allowed": True, "patchType": "JSONPatch", "patch": b64(ops)}

    def second(r: Obj) -> Obj:
        assert r["object"]["data"] == {"a": "1", "b": "2"}
        return {"allowed": True}

    client = FakeClient({"one.x.io": first, "two.x.io": second})
    configs = [config(hook("two.x.io"), name="z"), config(hook("one.x.io"), name="a")]
    await MutatingWebhooks(lambda: configs, ns, client).admit(cm_req())
    assert [n for n, _ in client.reviews] == ["one.x.io", "two.x.io"]


async def test_if_needed_webhooks_are_reinvoked_after_a_later_change() -> None:
    def noop(r: Obj) -> Obj:
        return {"allowed": True}

    def change(r: Obj) -> Obj:
        if "b" in r["object"]["data"]:
            return {"allowed": True}
        ops = [{"op": "add", "path": "/data/b", "value": "2"}]
        return {"allowed": True, "patchType": "JSONPatch", "patch": b64(ops)}

    client = FakeClient({"a.x.io": noop, "b.x.io": change})
    hooks = [hook("a.x.io", reinvocationPolicy="IfNeeded"), hook("b.x.io")]
    await MutatingWebhooks(lambda: [config(*hooks)], ns, client).admit(cm_req())
    assert [n for n, _ in client.reviews] == ["a.x.io", "b.x.io", "a.x.io"]


async def test_denial_uses_the_webhook_status() -> None:
    def deny(r: Obj) -> Obj:
        return {
            "allowed": False,
            "status": {"code": 403, "reason": "Forbidden", "message": "no"},
            "auditAnnotations": {"why": "policy"},
        }

    plugin = ValidatingWebhooks(lambda: [config(hook("v.x.io"))], ns, FakeClient({"v.x.io": deny}))
    req = cm_req()
    with pytest.raises(ApiError) as e:
        await plugin.validate(req)
    assert req.audit_annotations == {"v.x.io/why": "policy"}
    assert (e.value.code, e.value.reason) == (403, "Forbidden")
    assert e.value.message == 'admission webhook "v.x.io" denied the request: no'


async def test_denial_without_status_is_400_without_explanation() -> None:
    plugin = MutatingWebhooks(
        lambda: [config(hook("m.x.io"))], ns, FakeClient({"m.x.io": lambda r: {"allowed": False}})
    )
    with pytest.raises(ApiError) as e:
        await plugin.admit(cm_req())
    assert e.value.code == 400
    assert e.value.status()["message"] == (
        'admission webhook "m.x.io" denied the request without explanation'
    )
    assert "reason" not in e.value.status()


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
async def test_failure_policy(policy: str) -> None:
    down = CallError("v.x.io", 'failed to call webhook: Post "https://127.0.0.1:1/?timeout=10s": x')
    plugin = ValidatingWebhooks(
        lambda: [config(hook("v.x.io", failurePolicy=policy))], ns, FakeClient({"v.x.io": down})
    )
    if policy == "Ignore":
        req = cm_req()
        await plugin.validate(req)
        assert req.audit_annotations == {
            "failed-open.validating.webhook.admission.k8s.io/round_0_index_0": "v.x.io"
        }
        return
    with pytest.raises(ApiError) as e:
        await plugin.validate(cm_req())
    assert (e.value.code, e.value.reason) == (500, "InternalError")
    assert e.value.message == (
        'Internal error occurred: failed calling webhook "v.x.io": failed to call webhook: '
        'Post "https://127.0.0.1:1/?timeout=10s": x'
    )


async def test_validating_reports_the_first_refusal_after_calling_all() -> None:
    def deny(msg: str) -> Any:
        return lambda r: {"allowed": False, "status": {"message": msg}}

    client = FakeClient({"a.x.io": deny("A"), "b.x.io": deny("B"), "c.x.io": allow})
    hooks = [hook("a.x.io"), hook("b.x.io"), hook("c.x.io")]
    with pytest.raises(ApiError) as e:
        await ValidatingWebhooks(lambda: [config(*hooks)], ns, client).validate(cm_req())
    assert e.value.message.endswith(": A")
    assert sorted(n for n, _ in client.reviews) == ["a.x.io", "b.x.io", "c.x.io"]


async def test_dry_run_with_side_effects_is_refused() -> None:
    client = FakeClient({"v.x.io": allow})
    plugin = ValidatingWebhooks(lambda: [config(hook("v.x.io", sideEffects="Some"))], ns, client)
    await plugin.validate(cm_req())  # not a dry run: called
    with pytest.raises(ApiError) as e:
        await plugin.validate(cm_req(dry_run=True))
    assert (e.value.code, e.value.message) == (
        400,
        'admission webhook "v.x.io" does not support dry run',
    )
    assert len(client.reviews) == 1


async def test_patch_on_delete_is_an_error() -> None:
    def patch(r: Obj) -> Obj:
        ops = [{"op": "add", "path": "/data/b", "value": "2"}]
        return {"allowed": True, "patchType": "JSONPatch", "patch": b64(ops)}

    plugin = MutatingWebhooks(lambda: [config(hook("m.x.io"))], ns, FakeClient({"m.x.io": patch}))
    with pytest.raises(ApiError) as e:
        await plugin.admit(cm_req("DELETE"))
    assert e.value.code == 500
    assert "attempted to modify the object" in e.value.message


async def test_bad_response_is_a_call_failure() -> None:
    class WrongUid(FakeClient):
        async def post(self, hook: Hook, review: Obj) -> Any:
            return {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {"uid": "other", "allowed": True},
            }

    plugin = ValidatingWebhooks(lambda: [config(hook("v.x.io"))], ns, WrongUid({}))
    with pytest.raises(ApiError) as e:
        await plugin.validate(cm_req())
    assert e.value.code == 500
    assert 'received invalid webhook response: expected response.uid="' in e.value.message
    assert e.value.message.endswith(', got "other"')


async def test_unmatched_and_exempt_requests_call_nothing() -> None:
    client = FakeClient({"v.x.io": allow})
    plugin = ValidatingWebhooks(
        lambda: [config(hook("v.x.io", objectSelector={"matchLabels": {"x": "y"}}))], ns, client
    )
    await plugin.validate(cm_req())
    await plugin.validate(cm_req(x="y"))
    assert len(client.reviews) == 1


async def test_equivalent_match_policy_sends_the_registered_version() -> None:
    def add_label(r: Obj) -> Obj:
        ops = [{"op": "add", "path": "/metadata/labels", "value": {"seen": r["kind"]["version"]}}]
        return {"allowed": True, "patchType": "JSONPatch", "patch": b64(ops)}

    v1_rule = {
        "operations": ["CREATE"],
        "apiGroups": ["autoscaling"],
        "apiVersions": ["v1"],
        "resources": ["horizontalpodautoscalers"],
    }
    client = FakeClient({"eq.x.io": add_label, "exact.x.io": add_label})
    configs = [
        config(hook("eq.x.io", rules=[v1_rule]), name="a"),
        config(hook("exact.x.io", rules=[v1_rule], matchPolicy="Exact"), name="b"),
    ]
    r = catalog().by_plural("autoscaling", "v2", "horizontalpodautoscalers")
    assert r is not None
    hpa: Obj = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h", "namespace": "dev"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
            "maxReplicas": 3,
        },
    }
    req = AdmissionRequest("CREATE", r, "dev", "h", hpa, None, USER)
    await MutatingWebhooks(lambda: configs, ns, client).admit(req)
    assert [n for n, _ in client.reviews] == ["eq.x.io"]
    sent = client.reviews[0][1]["request"]
    assert sent["kind"] == {
        "group": "autoscaling",
        "version": "v1",
        "kind": "HorizontalPodAutoscaler",
    }
    assert sent["requestKind"]["version"] == "v2"
    assert sent["resource"]["version"] == "v1" and sent["requestResource"]["version"] == "v2"
    assert sent["object"]["apiVersion"] == "autoscaling/v1"
    # the patch made to the v1 object lands on the v2 object
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"]["labels"] == {"seen": "v1"}
