"""Payloads of the projected volume types: configMap, secret, downwardAPI, projected.

Each builder turns a volume source plus the objects it refers to into
``{relative path: FileProjection}`` for the :class:`AtomicWriter`, with
upstream's rules and messages:

* configMap/secret: every key (``data`` and for ConfigMaps ``binaryData``) as a
  file, or only the listed ``items`` (``key`` → ``path``, per-item ``mode``);
  a listed key that does not exist is an error (``configmap references
  non-existent config key: k``) unless the source is ``optional``; a missing
  object is an error (``configmap "x" not found``) unless ``optional``, which
  then gives an empty volume;
* downwardAPI: ``fieldRef`` (name, namespace, uid, labels, annotations, one
  label or annotation) and ``resourceFieldRef`` (with ``containerName`` and
  ``divisor``; limits default to the node's allocatable amounts);
* projected: the union of its sources, each with the volume's ``defaultMode``
  unless an item says otherwise; ``serviceAccountToken`` sources ask the API
  server for a bound token (TokenRequest on ``serviceaccounts/<sa>/token``) and
  keep it in :class:`TokenCache` until 80% of its lifetime (or 24 h) has passed,
  as upstream's token manager. ``clusterTrustBundle`` sources are not
  supported (an error).

Object reads go through the :class:`Client` (plain GETs); the answers are
cached per :class:`Fetcher` (one per setup/refresh pass).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.client.errors import ApiError, NotFound
from pinnace.client.objects import CONFIGMAPS, SECRETS, ResourceRef
from pinnace.client.rest import Client
from pinnace.kubelet.envvars import (
    ContainerConfigError,
    field_ref_value,
    resource_field_value,
    secret_data,
)
from pinnace.kubelet.volumes.atomic_writer import FileProjection

__all__ = [
    "DEFAULT_MODE",
    "Fetcher",
    "ProjectionError",
    "TokenCache",
    "configmap_payload",
    "downward_api_payload",
    "projected_payload",
    "secret_payload",
]

log = logging.getLogger("pinnace.kubelet.volumes")

Obj = dict[str, Any]
Payload = dict[str, FileProjection]

SERVICE_ACCOUNTS = ResourceRef("", "v1", "serviceaccounts", True, "ServiceAccount")
DEFAULT_MODE = 0o644
TOKEN_MAX_TTL = timedelta(hours=24)


class ProjectionError(Exception):
    """The volume's content cannot be made; the message is upstream's SetUp error."""


#: In-flight reads of the whole node, by (what, namespace, name); see :class:`Fetcher`.
SharedReads = dict[tuple[str, str, str], "asyncio.Task[Obj | None]"]


class Fetcher:
    """ConfigMaps and Secrets of one namespace, read at most once per pass
    (concurrent asks for the same object share one request).

    With ``shared`` (one dict for the node), a pass also joins a read of the
    same object that another pod's pass has in flight instead of sending its
    own: a batch of pods that all project ``kube-root-ca.crt`` reads it about
    once, not once per pod. A joined read started at most one round trip
    before this pass, so it is as current as the pass's own would be; once
    it finishes, the next pass reads again."""

    def __init__(self, client: Client, namespace: str, shared: SharedReads | None = None) -> None:
        self.client = client
        self.namespace = namespace
        self._cache: dict[tuple[str, str], asyncio.Task[Obj | None]] = {}
        self._shared = shared

    async def _get(self, resource: ResourceRef, what: str, name: str) -> Obj | None:
        key = (what, name)
        task = self._cache.get(key)
        if task is None:
            task = self._cache[key] = self._start(resource, what, name)
        return await asyncio.shield(task)

    def _start(self, resource: ResourceRef, what: str, name: str) -> asyncio.Task[Obj | None]:
        shared = self._shared
        if shared is None:
            return asyncio.ensure_future(self._fetch(resource, what, name))
        skey = (what, self.namespace, name)
        task = shared.get(skey)
        if task is None:
            task = shared[skey] = asyncio.ensure_future(self._fetch(resource, what, name))

            def finished(t: asyncio.Task[Obj | None]) -> None:
                if shared.get(skey) is t:
                    del shared[skey]

            task.add_done_callback(finished)
        return task

    async def _fetch(self, resource: ResourceRef, what: str, name: str) -> Obj | None:
        try:
            return await self.client.get(resource, name, namespace=self.namespace)
        except NotFound:
            return None
        except ApiError as e:
            raise ProjectionError(
                f"failed to get {what} {self.namespace}/{name}: {e.message or e}"
            ) from e

    async def configmap(self, name: str) -> Obj | None:
        return await self._get(CONFIGMAPS, "configmap", name)

    async def secret(self, name: str) -> Obj | None:
        return await self._get(SECRETS, "secret", name)


def _mode(value: Any, default: int) -> int:
    return int(value) if value is not None else default


def _configmap_files(cm: Obj) -> dict[str, bytes]:
    files = {str(k): str(v).encode() for k, v in (cm.get("data") or {}).items()}
    for k, v in (cm.get("binaryData") or {}).items():
        files[str(k)] = base64.b64decode(str(v))
    return files


def _select(
    files: Mapping[str, bytes],
    items: list[Obj] | None,
    default_mode: int,
    optional: bool,
    missing_key: str,
) -> Payload:
    payload: Payload = {}
    if not items:
        for k, data in files.items():
            payload[k] = FileProjection(data, default_mode)
        return payload
    for item in items:
        key = str(item.get("key") or "")
        if key not in files:
            if optional:
                continue
            raise ProjectionError(f"{missing_key}: {key}")
        payload[str(item.get("path") or key)] = FileProjection(
            files[key], _mode(item.get("mode"), default_mode)
        )
    return payload


async def configmap_payload(source: Obj, fetcher: Fetcher, default_mode: int | None) -> Payload:
    """A ``configMap`` volume's (or projection's) files."""
    name = str(source.get("name") or "")
    optional = bool(source.get("optional"))
    mode = _mode(default_mode if default_mode is not None else source.get("defaultMode"), 0o644)
    cm = await fetcher.configmap(name)
    if cm is None:
        if not optional:
            raise ProjectionError(f'configmap "{name}" not found')
        cm = {}
    return _select(
        _configmap_files(cm),
        source.get("items"),
        mode,
        optional,
        "configmap references non-existent config key",
    )


async def secret_payload(
    source: Obj, fetcher: Fetcher, default_mode: int | None, *, name_field: str = "secretName"
) -> Payload:
    """A ``secret`` volume's files (``name_field="name"`` for a projected source)."""
    name = str(source.get(name_field) or "")
    optional = bool(source.get("optional"))
    mode = _mode(default_mode if default_mode is not None else source.get("defaultMode"), 0o644)
    secret = await fetcher.secret(name)
    if secret is None:
        if not optional:
            raise ProjectionError(f'secret "{name}" not found')
        secret = {}
    return _select(
        secret_data(secret),
        source.get("items"),
        mode,
        optional,
        "references non-existent secret key",
    )


def downward_api_payload(
    items: list[Obj],
    pod: Obj,
    default_mode: int,
    node_allocatable: Mapping[str, str],
) -> Payload:
    """A ``downwardAPI`` volume's (or projection's) files; all item errors are joined."""
    payload: Payload = {}
    errors: list[str] = []
    for item in items:
        path = str(item.get("path") or "")
        mode = _mode(item.get("mode"), default_mode)
        try:
            if item.get("fieldRef") is not None:
                value = field_ref_value(pod, str(item["fieldRef"].get("fieldPath") or ""))
            elif item.get("resourceFieldRef") is not None:
                value = resource_field_value(item["resourceFieldRef"], pod, None, node_allocatable)
            else:
                continue
        except ContainerConfigError as e:
            log.error("unable to extract field for %s: %s", path, e)
            errors.append(e.message)
            continue
        payload[path] = FileProjection(value.encode(), mode)
    if errors:
        raise ProjectionError(_aggregate(errors))
    return payload


def _aggregate(errors: list[str]) -> str:
    """``utilerrors.NewAggregate``'s message: the error itself, or ``[e1, e2]``."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


# --- service account tokens ------------------------------------------------------------------


@dataclass
class _Token:
    token: str
    expires: datetime
    ttl: timedelta


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class TokenCache:
    """Bound service account tokens by (namespace, account, audience, lifetime, pod uid)."""

    def __init__(self, client: Client, *, clock: Clock = REAL_CLOCK) -> None:
        self.client = client
        self.clock = clock
        self._tokens: dict[tuple[str, str, str, int, str], _Token] = {}

    def _needs_refresh(self, t: _Token) -> bool:
        now = self.clock.wall()
        issued = t.expires - t.ttl
        return now > issued + TOKEN_MAX_TTL or now > t.expires - t.ttl * 0.2

    async def get(
        self, pod: Obj, service_account: str, audience: str, expiration_seconds: int
    ) -> str:
        meta = pod.get("metadata") or {}
        ns, uid = str(meta.get("namespace") or "default"), str(meta.get("uid") or "")
        key = (ns, service_account, audience, expiration_seconds, uid)
        cached = self._tokens.get(key)
        if cached is not None and not self._needs_refresh(cached):
            return cached.token
        spec: Obj = {
            "expirationSeconds": expiration_seconds,
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta.get("name", ""),
                "uid": uid,
            },
        }
        if audience:
            spec["audiences"] = [audience]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        try:
            answer = await self.client.create(
                SERVICE_ACCOUNTS, body, namespace=ns, name=service_account, subresource="token"
            )
            status = answer.get("status") or {}
            token = str(status["token"])
            expires = _parse_time(str(status["expirationTimestamp"]))
        except ApiError as e:
            if cached is not None and self.clock.wall() < cached.expires:
                log.warning(
                    "token refresh for %s/%s failed, keeping the old token: %s",
                    ns,
                    service_account,
                    e,
                )
                return cached.token
            raise ProjectionError(f"failed to fetch token: {e.message or e}") from e
        except (KeyError, ValueError) as e:
            raise ProjectionError(
                f"failed to fetch token: malformed TokenRequest answer: {e}"
            ) from e
        ttl_s = (answer.get("spec") or {}).get("expirationSeconds") or expiration_seconds
        self._tokens[key] = _Token(token, expires, timedelta(seconds=int(ttl_s)))
        return token

    def forget(self, pod_uid: str) -> None:
        for key in [k for k in self._tokens if k[4] == pod_uid]:
            del self._tokens[key]


async def projected_payload(
    source: Obj,
    pod: Obj,
    fetcher: Fetcher,
    tokens: TokenCache,
    node_allocatable: Mapping[str, str],
    *,
    fs_user: int | None,
    fs_group: int | None,
) -> Payload:
    """A ``projected`` volume's files; errors of all sources are joined."""
    default_mode = _mode(source.get("defaultMode"), DEFAULT_MODE)

    async def one(src: Obj) -> Payload:
        if src.get("configMap") is not None:
            return await configmap_payload(src["configMap"], fetcher, default_mode)
        if src.get("secret") is not None:
            return await secret_payload(src["secret"], fetcher, default_mode, name_field="name")
        if src.get("downwardAPI") is not None:
            return downward_api_payload(
                src["downwardAPI"].get("items") or [], pod, default_mode, node_allocatable
            )
        if src.get("serviceAccountToken") is not None:
            tp = src["serviceAccountToken"]
            # with fsUser/fsGroup the file starts 0600; fsGroup ownership makes it 0640
            mode = 0o600 if (fs_user is not None or fs_group is not None) else default_mode
            sa = str((pod.get("spec") or {}).get("serviceAccountName") or "default")
            token = await tokens.get(
                pod, sa, str(tp.get("audience") or ""), int(tp.get("expirationSeconds") or 3600)
            )
            return {str(tp.get("path") or "token"): FileProjection(token.encode(), mode, fs_user)}
        if src.get("clusterTrustBundle") is not None:
            raise ProjectionError("clusterTrustBundle projections are not supported")
        return {}

    # The sources' API reads (the token request, the CA ConfigMap of every
    # kube-api-access volume) go out together; results merge in source order.
    results = await asyncio.gather(
        *(one(src) for src in source.get("sources") or []), return_exceptions=True
    )
    payload: Payload = {}
    errors: list[str] = []
    for result in results:
        if isinstance(result, ProjectionError):
            errors.append(str(result))
        elif isinstance(result, BaseException):
            raise result
        else:
            payload.update(result)
    if errors:
        raise ProjectionError(_aggregate(errors))
    return payload
