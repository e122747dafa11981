"""ServiceAccount admission: default account, existence check with retries, the
kube-api-access projected volume, mirror pods, mountable-secret enforcement."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api.resources import catalog
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.admission.service_account import (
    DEFAULT_API_TOKEN_MOUNT_PATH,
    ServiceAccount,
    token_volume_source,
)
from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.errors import ApiError

PODS = catalog().by_plural("", "v1", "pods")
USER = UserInfo("alice")


def pod(name: str = "p", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}], **spec},
    }
    return body


def request(obj: dict[str, Any], op: str = "CREATE", sub: str = "") -> AdmissionRequest:
    assert PODS is not None
    return AdmissionRequest(op, PODS, "ns", obj["metadata"]["name"], obj, None, USER, sub)  # type: ignore[arg-type]


class Accounts:
    def __init__(self, *accounts: dict[str, Any]) -> None:
        self.accounts = {(a["metadata"]["namespace"], a["metadata"]["name"]): a for a in accounts}
        self.lookups = 0
        self.sleeps = 0

    def get(self, ns: str, name: str) -> dict[str, Any] | None:
        self.lookups += 1
        return self.accounts.get((ns, name))

    async def sleep(self) -> None:
        self.sleeps += 1


def sa(name: str = "default", **fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, **fields}


def plugin(accounts: Accounts) -> ServiceAccount:
    return ServiceAccount(accounts.get, sleep=accounts.sleep, generate_name=lambda p: p + "abcde")


async def admit(p: ServiceAccount, req: AdmissionRequest) -> None:
    await p.admit(req)
    await p.validate(req)


async def test_default_account_and_projected_volume() -> None:
    accounts = Accounts(sa())
    obj = pod(initContainers=[{"name": "init", "image": "busybox"}])
    await admit(plugin(accounts), request(obj))
    spec = obj["spec"]
    assert spec["serviceAccountName"] == "default"
    assert spec["volumes"] == [
        {"name": "kube-api-access-abcde", "projected": token_volume_source()}
    ]
    mount = {
        "name": "kube-api-access-abcde",
        "readOnly": True,
        "mountPath": DEFAULT_API_TOKEN_MOUNT_PATH,
    }
    assert spec["containers"][0]["volumeMounts"] == [mount]
    assert spec["initContainers"][0]["volumeMounts"] == [mount]
    src = token_volume_source()
    assert src["defaultMode"] == 420
    assert src["sources"][0] == {
        "serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}
    }
    assert src["sources"][1]["configMap"]["name"] == "kube-root-ca.crt"
    assert (
        src["sources"][2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"]
        == "metadata.namespace"
    )


async def test_existing_mount_at_the_path_is_kept() -> None:
    accounts = Accounts(sa())
    obj = pod()
    obj["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "mine", "mountPath": DEFAULT_API_TOKEN_MOUNT_PATH}
    ]
    await admit(plugin(accounts), request(obj))
    assert "volumes" not in obj["spec"]
    assert obj["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "mine", "mountPath": DEFAULT_API_TOKEN_MOUNT_PATH}
    ]


@pytest.mark.parametrize(
    ("pod_choice", "sa_choice", "mounted"),
    [(None, None, True), (None, False, False), (True, False, True), (False, True, False)],
)
async def test_automount_choice(
    pod_choice: bool | None, sa_choice: bool | None, mounted: bool
) -> None:
    fields = {} if sa_choice is None else {"automountServiceAccountToken": sa_choice}
    accounts = Accounts(sa(**fields))
    extra = {} if pod_choice is None else {"automountServiceAccountToken": pod_choice}
    obj = pod(**extra)
    await admit(plugin(accounts), request(obj))
    assert ("volumes" in obj["spec"]) is mounted


async def test_missing_account_is_forbidden_after_retries_for_default() -> None:
    accounts = Accounts()
    with pytest.raises(ApiError) as e:
        await admit(plugin(accounts), request(pod()))
    assert e.value.code == 403
    assert e.value.message == (
        'pods "p" is forbidden: error looking up service account ns/default: '
        'serviceaccount "default" not found'
    )
    assert accounts.lookups == 10 and accounts.sleeps == 9


async def test_missing_named_account_is_not_retried() -> None:
    accounts = Accounts(sa())
    with pytest.raises(ApiError) as e:
        await admit(plugin(accounts), request(pod(serviceAccountName="builder")))
    assert "error looking up service account ns/builder" in e.value.message
    assert accounts.sleeps == 0


async def test_default_account_appearing_late_is_found() -> None:
    accounts = Accounts()

    async def sleep() -> None:
        accounts.sleeps += 1
        if accounts.sleeps == 3:
            accounts.accounts[("ns", "default")] = sa()

    p = ServiceAccount(accounts.get, sleep=sleep)
    obj = pod()
    await admit(p, request(obj))
    assert obj["spec"]["volumes"][0]["name"].startswith("kube-api-access-")


async def test_image_pull_secrets_copied() -> None:
    accounts = Accounts(sa(imagePullSecrets=[{"name": "reg"}]))
    obj = pod()
    await admit(plugin(accounts), request(obj))
    assert obj["spec"]["imagePullSecrets"] == [{"name": "reg"}]


async def test_mirror_pods() -> None:
    accounts = Accounts()
    p = plugin(accounts)
    obj = pod()
    obj["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "x"}
    await admit(p, request(obj))
    assert "serviceAccountName" not in obj["spec"] and "volumes" not in obj["spec"]
    obj["spec"]["serviceAccountName"] = "default"
    with pytest.raises(ApiError, match="a mirror pod may not reference service accounts"):
        await admit(p, request(obj))
    del obj["spec"]["serviceAccountName"]
    obj["spec"]["volumes"] = [{"name": "s", "secret": {"secretName": "x"}}]
    with pytest.raises(ApiError, match="a mirror pod may not reference secrets"):
        await admit(p, request(obj))
    obj["spec"]["volumes"] = [{"name": "t", "projected": token_volume_source()}]
    with pytest.raises(ApiError, match="may not use ServiceAccountToken volume projections"):
        await admit(p, request(obj))


async def test_enforce_mountable_secrets() -> None:
    account = sa(secrets=[{"name": "ok"}])
    account["metadata"]["annotations"] = {"kubernetes.io/enforce-mountable-secrets": "true"}
    p = plugin(Accounts(account))
    obj = pod(volumes=[{"name": "s", "secret": {"secretName": "nope"}}])
    with pytest.raises(ApiError) as e:
        await admit(p, request(obj))
    assert e.value.message.endswith(
        'volume with secret.secretName="nope" is not allowed because service account default '
        "does not reference that secret"
    )
    await admit(p, request(pod(volumes=[{"name": "s", "secret": {"secretName": "ok"}}])))


async def test_other_requests_are_ignored() -> None:
    accounts = Accounts()
    p = plugin(accounts)
    obj = pod()
    await admit(p, request(obj, op="UPDATE"))
    await admit(p, request(obj, sub="status"))
    assert accounts.lookups == 0 and "serviceAccountName" not in obj["spec"]
