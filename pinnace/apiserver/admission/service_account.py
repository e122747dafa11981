"""ServiceAccount admission: every pod runs as a ServiceAccount that exists, and gets
its API credentials mounted.

Upstream's ``plugin/pkg/admission/serviceaccount``, on pod CREATE:

* mutating: ``spec.serviceAccountName`` defaults to ``default``; unless
  ``automountServiceAccountToken`` is false (the pod's choice wins over the
  account's), a projected volume ``kube-api-access-<5 chars>`` (a bound token
  valid 3607 s, the ``kube-root-ca.crt`` ConfigMap's ``ca.crt`` and the pod's
  namespace) is added and mounted read-only at
  ``/var/run/secrets/kubernetes.io/serviceaccount`` in every init and app container
  that has nothing mounted there yet; the account's ``imagePullSecrets`` are
  copied to a pod that has none;
* validating: the account must exist (``error looking up service account ns/name:
  serviceaccount "name" not found``); mirror pods (annotation
  ``kubernetes.io/config.mirror``) are left untouched and may not reference service
  accounts, secrets or token projections; accounts annotated
  ``kubernetes.io/enforce-mountable-secrets: "true"`` limit the secrets a pod uses
  to those listed in the account.

Concurrency model: called on the request's task. The account is read through a
callable (the API server's watch cache). The ``default`` account is created by
the serviceaccount controller right after its namespace, so a miss on it is
re-checked a few times with a short sleep (upstream: 10 tries, 100-200 ms apart)
before failing; the sleep is injectable for tests.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from pinnace.api.ids import name_suffix
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.errors import ApiError

__all__ = [
    "DEFAULT_API_TOKEN_MOUNT_PATH",
    "DEFAULT_SERVICE_ACCOUNT_NAME",
    "SERVICE_ACCOUNT_VOLUME_NAME",
    "ServiceAccount",
    "token_volume_source",
]

Obj = dict[str, Any]

DEFAULT_SERVICE_ACCOUNT_NAME = "default"
DEFAULT_API_TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICE_ACCOUNT_VOLUME_NAME = "kube-api-access"
ENFORCE_MOUNTABLE_SECRETS = "kubernetes.io/enforce-mountable-secrets"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
#: upstream ``serviceaccount.WarnOnlyBoundTokenExpirationSeconds``
TOKEN_EXPIRATION_SECONDS = 3607
#: upstream ``ProjectedVolumeSourceDefaultMode`` (0644)
DEFAULT_MODE = 0o644
DEFAULT_ACCOUNT_ATTEMPTS = 10


def token_volume_source() -> Obj:
    """The projected volume source of the automounted API credentials."""
    return {
        "defaultMode": DEFAULT_MODE,
        "sources": [
            {
                "serviceAccountToken": {
                    "expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                    "path": "token",
                }
            },
            {
                "configMap": {
                    "name": ROOT_CA_CONFIGMAP,
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }
            },
            {
                "downwardAPI": {
                    "items": [
                        {
                            "path": "namespace",
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        }
                    ]
                }
            },
        ],
    }


def _generate_name(prefix: str) -> str:
    return prefix + name_suffix()


async def _retry_sleep() -> None:
    await asyncio.sleep((100 + random.randrange(100)) / 1000)


def _forbidden(req: AdmissionRequest, message: str) -> ApiError:
    what = f'{req.resource.plural} "{req.name}"' if req.name else req.resource.plural
    return ApiError(
        403, "Forbidden", f"{what} is forbidden: {message}", {"name": req.name, "kind": "pods"}
    )


def _containers(spec: Obj) -> Iterator[tuple[str, Obj]]:
    for c in spec.get("initContainers") or []:
        yield "init container", c
    for c in spec.get("containers") or []:
        yield "container", c


def _secret_refs(pod: Obj) -> Iterator[str]:
    """Every Secret name a pod refers to (upstream ``VisitPodSecretNames``)."""
    spec = pod.get("spec") or {}
    for ref in spec.get("imagePullSecrets") or []:
        yield str(ref.get("name") or "")
    for c in list(_containers(spec)) + [
        ("ephemeral container", e) for e in spec.get("ephemeralContainers") or []
    ]:
        for src in c[1].get("envFrom") or []:
            if src.get("secretRef") is not None:
                yield str(src["secretRef"].get("name") or "")
        for env in c[1].get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref is not None:
                yield str(ref.get("name") or "")
    for v in spec.get("volumes") or []:
        if v.get("secret") is not None:
            yield str(v["secret"].get("secretName") or "")
        for src in (v.get("projected") or {}).get("sources") or []:
            if src.get("secret") is not None:
                yield str(src["secret"].get("name") or "")
        for kind in ("cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "storageos", "iscsi"):
            ref = (v.get(kind) or {}).get("secretRef")
            if ref is not None:
                yield str(ref.get("name") or "")
        if v.get("azureFile") is not None:
            yield str(v["azureFile"].get("secretName") or "")
        csi_ref = (v.get("csi") or {}).get("nodePublishSecretRef")
        if csi_ref is not None:
            yield str(csi_ref.get("name") or "")


def _should_automount(sa: Obj, pod: Obj) -> bool:
    pod_choice = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if pod_choice is not None:
        return bool(pod_choice)
    sa_choice = sa.get("automountServiceAccountToken")
    if sa_choice is not None:
        return bool(sa_choice)
    return True


def mount_token(pod: Obj, generate_name: Callable[[str], str] = _generate_name) -> None:
    """Add the ``kube-api-access-*`` volume and its mounts (upstream ``mountServiceAccountToken``)."""
    spec = pod.setdefault("spec", {})
    volumes = spec.get("volumes") or []
    name = ""
    for v in volumes:
        if str(v.get("name") or "").startswith(SERVICE_ACCOUNT_VOLUME_NAME + "-"):
            name = str(v["name"])
            break
    has_volume = bool(name)
    if not name:
        name = generate_name(SERVICE_ACCOUNT_VOLUME_NAME + "-")
    needs_volume = False
    for _, c in _containers(spec):
        mounts = c.get("volumeMounts") or []
        if any(m.get("mountPath") == DEFAULT_API_TOKEN_MOUNT_PATH for m in mounts):
            continue
        c["volumeMounts"] = [
            *mounts,
            {"name": name, "readOnly": True, "mountPath": DEFAULT_API_TOKEN_MOUNT_PATH},
        ]
        needs_volume = True
    if needs_volume and not has_volume:
        spec["volumes"] = [*volumes, {"name": name, "projected": token_volume_source()}]


class ServiceAccount:
    name = "ServiceAccount"

    def __init__(
        self,
        get_service_account: Callable[[str, str], Obj | None],
        *,
        sleep: Callable[[], Awaitable[None]] = _retry_sleep,
        generate_name: Callable[[str], str] = _generate_name,
        mount_service_account_token: bool = True,
    ) -> None:
        self._get = get_service_account
        self._sleep = sleep
        self._generate_name = generate_name
        self.mount_service_account_token = mount_service_account_token

    @staticmethod
    def _handles(req: AdmissionRequest) -> bool:
        r = req.resource
        return (
            r.group == ""
            and r.plural == "pods"
            and req.operation == "CREATE"
            and not req.subresource
            and req.object is not None
        )

    async def _lookup(self, req: AdmissionRequest, namespace: str, name: str) -> Obj:
        attempts = DEFAULT_ACCOUNT_ATTEMPTS if name == DEFAULT_SERVICE_ACCOUNT_NAME else 1
        for i in range(attempts):
            if i:
                await self._sleep()
            sa = self._get(namespace, name)
            if sa is not None:
                return sa
        raise _forbidden(
            req,
            f"error looking up service account {namespace}/{name}: "
            f'serviceaccount "{name}" not found',
        )

    async def admit(self, req: AdmissionRequest) -> None:
        if not self._handles(req):
            return
        pod = req.object or {}
        if MIRROR_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {}):
            return  # validated below; a mirror pod's spec is never changed
        spec = pod.setdefault("spec", {})
        if not spec.get("serviceAccountName"):
            spec["serviceAccountName"] = DEFAULT_SERVICE_ACCOUNT_NAME
        sa = await self._lookup(req, req.namespace, str(spec["serviceAccountName"]))
        if self.mount_service_account_token and _should_automount(sa, pod):
            mount_token(pod, self._generate_name)
        if not spec.get("imagePullSecrets") and sa.get("imagePullSecrets"):
            spec["imagePullSecrets"] = [
                {"name": ref.get("name", "")} for ref in sa["imagePullSecrets"]
            ]

    async def validate(self, req: AdmissionRequest) -> None:
        if not self._handles(req):
            return
        pod = req.object or {}
        spec = pod.get("spec") or {}
        if MIRROR_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {}):
            self._validate_mirror(req, pod)
            return
        sa_name = str(spec.get("serviceAccountName") or "")
        if not sa_name:
            raise _forbidden(
                req, f"no service account specified for pod {req.namespace}/{req.name}"
            )
        sa = await self._lookup(req, req.namespace, sa_name)
        annotations = (sa.get("metadata") or {}).get("annotations") or {}
        if str(annotations.get(ENFORCE_MOUNTABLE_SECRETS, "")).lower() in ("true", "1", "t"):
            self._limit_secret_references(req, sa, pod)

    def _validate_mirror(self, req: AdmissionRequest, pod: Obj) -> None:
        spec = pod.get("spec") or {}
        if spec.get("serviceAccountName"):
            raise _forbidden(req, "a mirror pod may not reference service accounts")
        if any(True for _ in _secret_refs(pod)):
            raise _forbidden(req, "a mirror pod may not reference secrets")
        for v in spec.get("volumes") or []:
            for src in (v.get("projected") or {}).get("sources") or []:
                if src.get("serviceAccountToken") is not None:
                    raise _forbidden(
                        req, "a mirror pod may not use ServiceAccountToken volume projections"
                    )

    def _limit_secret_references(self, req: AdmissionRequest, sa: Obj, pod: Obj) -> None:
        sa_name = (sa.get("metadata") or {}).get("name", "")
        mountable = {str(s.get("name")) for s in sa.get("secrets") or []}
        spec = pod.get("spec") or {}
        for v in spec.get("volumes") or []:
            secret = v.get("secret")
            if secret is not None and secret.get("secretName") not in mountable:
                raise _forbidden(
                    req,
                    f'volume with secret.secretName="{secret.get("secretName")}" is not allowed '
                    f"because service account {sa_name} does not reference that secret",
                )
        for what, c in _containers(spec):
            for env in c.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref is not None and ref.get("name") not in mountable:
                    raise _forbidden(
                        req,
                        f"{what} {c.get('name')} with envVar {env.get('name')} referencing "
                        f'secret.secretName="{ref.get("name")}" is not allowed because service '
                        f"account {sa_name} does not reference that secret",
                    )
        pull = {str(s.get("name")) for s in sa.get("imagePullSecrets") or []}
        for i, ref in enumerate(spec.get("imagePullSecrets") or []):
            if ref.get("name") not in pull:
                raise _forbidden(
                    req,
                    f'imagePullSecrets[{i}].name="{ref.get("name")}" is not allowed because '
                    f"service account {sa_name} does not reference that imagePullSecret",
                )
