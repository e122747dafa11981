"""A container's environment, as the kubelet computes it before CreateContainer.

:func:`container_env` follows upstream's ``makeEnvironmentVariables``:

1. ``envFrom`` sources (ConfigMaps, Secrets, with ``prefix`` and ``optional``) are
   read first, in order; later sources overwrite earlier keys;
2. each ``env[]`` entry, in order: a non-empty ``value`` has its ``$(VAR)``
   references expanded against the variables defined so far (``envFrom`` and
   earlier ``env`` entries) and then the service variables; otherwise
   ``valueFrom`` is resolved (``fieldRef``, ``resourceFieldRef``,
   ``configMapKeyRef``, ``secretKeyRef``). A missing optional source leaves the
   variable out entirely;
3. the service variables (``<SVC>_SERVICE_HOST`` & co., docker-link style
   ``<SVC>_PORT_<port>_<PROTO>``) not already defined come last.

Upstream returns the variables in Go map order; here the order is deterministic
(first definition wins the position, later definitions the value), which a
container cannot tell apart.

``$(VAR)`` expansion (:func:`expand`) is upstream's
``third_party/forked/golang/expansion`` syntax: ``$$`` is an escaped ``$``, an
unknown ``$(NAME)`` stays literally, an unterminated ``$(`` is copied as is.
The same function expands ``command``/``args`` (:func:`expand_command_and_args`)
and volume ``subPathExpr`` (:func:`expand_subpath`).

Errors that keep the container from being created raise :class:`EnvError`
with upstream's message (the kubelet reports ``CreateContainerConfigError``).
ConfigMaps and Secrets are read with plain GETs through :class:`Client`; a
NotFound becomes upstream's kubelet text (``configmap "x" not found``, the
kubelet's watch-based cache's wording, singular).

Everything here is pure computation apart from those GETs; nothing blocks.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any, Protocol

from pinnace.api.quantity import parse_quantity
from pinnace.client.errors import ApiError, NotFound
from pinnace.client.objects import CONFIGMAPS, SECRETS
from pinnace.client.rest import Client

__all__ = [
    "ContainerConfigError",
    "EnvError",
    "Recorder",
    "container_env",
    "expand",
    "expand_command_and_args",
    "expand_subpath",
    "field_ref_value",
    "format_map",
    "go_quote",
    "resource_field_value",
    "service_env",
]

log = logging.getLogger("pinnace.kubelet.envvars")

Obj = dict[str, Any]

WARNING = "Warning"


class Recorder(Protocol):
    """What the kubelet's helpers need of :class:`pinnace.client.EventRecorder`."""

    def event(
        self,
        obj: Obj,
        type_: str,
        reason: str,
        message: str,
        *,
        kind: str | None = None,
        api_version: str | None = None,
        field_path: str | None = None,
    ) -> None: ...


class ContainerConfigError(Exception):
    """A container cannot be configured (the kubelet reports ``CreateContainerConfigError``
    with ``str(err)`` as the message)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EnvError(ContainerConfigError):
    """The container's environment cannot be computed."""


# --- $(VAR) expansion ----------------------------------------------------------------------


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Expand ``$(NAME)`` references in ``text``; ``lookup`` returns None for an unknown
    name, which then stays as ``$(NAME)``. ``$$`` is a literal ``$``."""
    if "$" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":  # escaped operator
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:  # unterminated reference: copy "$(" and carry on after it
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            value = lookup(name)
            out.append(f"$({name})" if value is None else value)
            i = close + 1
        else:  # a lone operator
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def _lookup_in(*maps: Mapping[str, str]) -> Callable[[str], str | None]:
    def lookup(name: str) -> str | None:
        for m in maps:
            if name in m:
                return m[name]
        return None

    return lookup


def expand_command_and_args(
    container: Obj, env: Iterable[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """The container's ``command`` and ``args`` with ``$(VAR)`` expanded from ``env``."""
    lookup = _lookup_in(dict(env))
    command = [expand(str(c), lookup) for c in container.get("command") or []]
    args = [expand(str(a), lookup) for a in container.get("args") or []]
    return command, args


def expand_subpath(expr: str, env: Iterable[tuple[str, str]]) -> str:
    """A volumeMount's ``subPathExpr`` expanded from the container's environment;
    a reference to an unset or empty variable is an error (``missing value for X``)."""
    values = dict(env)
    missing: set[str] = set()

    def lookup(name: str) -> str:
        value = values.get(name)
        if not value:
            missing.add(name)
            return ""
        return value

    result = expand(expr, lookup)
    if missing:
        raise EnvError(f"missing value for {', '.join(sorted(missing))}")
    return result


# --- service links ---------------------------------------------------------------------------


def _env_name(name: str) -> str:
    out = name.replace(".", "_").replace("-", "_").upper()
    return "_" + out if out[:1].isdigit() else out


def _service_ip_set(svc: Obj) -> bool:
    ip = (svc.get("spec") or {}).get("clusterIP") or ""
    return ip not in ("", "None")


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def service_env(services: Iterable[Obj]) -> list[tuple[str, str]]:
    """The environment variables for ``services`` (upstream's ``envvars.FromServices``),
    in the order given; services without a cluster IP are skipped."""
    result: list[tuple[str, str]] = []
    for svc in services:
        if not _service_ip_set(svc):
            continue
        spec = svc.get("spec") or {}
        ports = spec.get("ports") or []
        if not ports:
            continue
        ip = str(spec["clusterIP"])
        prefix = _env_name(str((svc.get("metadata") or {}).get("name", "")))
        result.append((f"{prefix}_SERVICE_HOST", ip))
        result.append((f"{prefix}_SERVICE_PORT", str(int(ports[0].get("port", 0)))))
        for p in ports:
            if p.get("name"):
                result.append(
                    (f"{prefix}_SERVICE_PORT_{_env_name(str(p['name']))}", str(int(p["port"])))
                )
        for i, p in enumerate(ports):
            port = int(p.get("port", 0))
            proto = str(p.get("protocol") or "TCP")
            url = f"{proto.lower()}://{_host_port(ip, port)}"
            if i == 0:
                result.append((f"{prefix}_PORT", url))
            pp = f"{prefix}_PORT_{port}_{proto.upper()}"
            result.append((pp, url))
            result.append((f"{pp}_PROTO", proto.lower()))
            result.append((f"{pp}_PORT", str(port)))
            result.append((f"{pp}_ADDR", ip))
    return result


def _service_env_map(
    services: Iterable[Obj] | None, namespace: str, enable_service_links: bool
) -> dict[str, str]:
    """The service variables a pod in ``namespace`` sees: the ``kubernetes`` service of
    ``default`` always, the pod's own namespace's services when service links are on
    (a same-named service of the pod's namespace wins over ``default/kubernetes``)."""
    if services is None:
        return {}
    chosen: dict[str, Obj] = {}
    for svc in services:
        if not _service_ip_set(svc):
            continue
        m = svc.get("metadata") or {}
        name, ns = str(m.get("name", "")), str(m.get("namespace", ""))
        if ns == namespace and enable_service_links:
            chosen[name] = svc
        elif ns == "default" and name == "kubernetes":
            chosen.setdefault(name, svc)
    return dict(service_env(chosen[k] for k in sorted(chosen)))


# --- downward API: fields --------------------------------------------------------------------


def go_quote(s: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``), which the downward API uses for
    label and annotation values."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable() and o != 0xFFFD:
            out.append(ch)
        elif o < 0x80:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def format_map(m: Mapping[str, Any] | None) -> str:
    """Labels or annotations as the downward API renders them: ``key="value"`` lines,
    sorted by key, without a trailing newline."""
    if not m:
        return ""
    return "\n".join(f"{k}={go_quote(str(m[k]))}" for k in sorted(m))


def _split_subscript(path: str) -> tuple[str, str] | None:
    if not path.endswith("']"):
        return None
    head, sep, key = path[:-2].partition("['")
    if not sep or not head:
        return None
    return head, key


def field_ref_value(
    pod: Obj,
    field_path: str,
    *,
    host_ips: list[str] | None = None,
    pod_ips: list[str] | None = None,
) -> str:
    """The value of a downward API ``fieldRef`` for ``pod``. Pod and host IPs default
    to the pod's ``status``. Raises :class:`EnvError` for an unsupported path."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    sub = _split_subscript(field_path)
    if sub is not None:
        head, key = sub
        if head == "metadata.annotations":
            return str((meta.get("annotations") or {}).get(key, ""))
        if head == "metadata.labels":
            return str((meta.get("labels") or {}).get(key, ""))
        raise EnvError(f'fieldPath "{field_path}" does not support subscript')
    if field_path == "spec.nodeName":
        return str(spec.get("nodeName") or "")
    if field_path == "spec.serviceAccountName":
        return str(spec.get("serviceAccountName") or "")
    if field_path in ("status.hostIP", "status.hostIPs"):
        hips = host_ips if host_ips is not None else _ips(status, "hostIP", "hostIPs")
        if not hips:
            raise EnvError("failed to get host IPs: no host IP known for the node")
        return hips[0] if field_path == "status.hostIP" else ",".join(hips)
    if field_path in ("status.podIP", "status.podIPs"):
        pips = pod_ips if pod_ips is not None else _ips(status, "podIP", "podIPs")
        if field_path == "status.podIP":
            return pips[0] if pips else ""
        return ",".join(pips)
    if field_path == "metadata.annotations":
        return format_map(meta.get("annotations"))
    if field_path == "metadata.labels":
        return format_map(meta.get("labels"))
    if field_path == "metadata.name":
        return str(meta.get("name") or "")
    if field_path == "metadata.namespace":
        return str(meta.get("namespace") or "")
    if field_path == "metadata.uid":
        return str(meta.get("uid") or "")
    raise EnvError(f"unsupported fieldPath: {field_path}")


def _ips(status: Obj, single: str, plural: str) -> list[str]:
    ips = [str(x.get("ip")) for x in status.get(plural) or [] if x.get("ip")]
    if not ips and status.get(single):
        ips = [str(status[single])]
    return ips


# --- downward API: resources -----------------------------------------------------------------

_DEFAULTED_FROM_NODE = ("cpu", "memory", "ephemeral-storage")


def _quantity(value: Any) -> Fraction:
    if isinstance(value, bool):
        raise ValueError("not a quantity")
    if isinstance(value, int | float):
        return Fraction(value)
    return parse_quantity(str(value))


def _milli(q: Fraction) -> int:
    return math.ceil(q * 1000)


def _value(q: Fraction) -> int:
    return math.ceil(q)


def resource_field_value(
    ref: Obj,
    pod: Obj,
    container: Obj | None,
    node_allocatable: Mapping[str, str],
) -> str:
    """A ``resourceFieldRef``'s value: the container's limit or request in units of
    ``divisor`` (default 1), rounded up. Limits the container does not set for cpu,
    memory and ephemeral-storage are the node's allocatable amount, as upstream.
    ``ref.containerName`` (required in volumes) picks another container of the pod."""
    name = ref.get("containerName")
    if name:
        container = _find_container(pod, str(name))
        if container is None:
            raise EnvError(f"container {name} not found")
    if container is None:
        raise EnvError("resourceFieldRef needs a container")
    resources = container.get("resources") or {}
    limits = dict(resources.get("limits") or {})
    requests = dict(resources.get("requests") or {})
    for res in _DEFAULTED_FROM_NODE:
        if res not in limits and res in node_allocatable:
            limits[res] = node_allocatable[res]
    try:
        divisor = _quantity(ref.get("divisor") or 0)
    except ValueError as e:
        raise EnvError(f"invalid divisor for {ref.get('resource')}: {e}") from None
    if divisor == 0:  # unset: 1
        divisor = Fraction(1)
    resource = str(ref.get("resource") or "")
    kind, _, res = resource.partition(".")
    if kind not in ("limits", "requests") or not res:
        raise EnvError(f"unsupported container resource : {resource}")
    source = limits if kind == "limits" else requests
    if res not in ("cpu", "memory", "ephemeral-storage") and not res.startswith("hugepages-"):
        raise EnvError(f"unsupported container resource : {resource}")
    try:
        q = _quantity(source.get(res, 0))
    except ValueError as e:
        raise EnvError(f"invalid quantity for {resource}: {e}") from None
    if res == "cpu":
        return str(math.ceil(Fraction(_milli(q), max(_milli(divisor), 1))))
    return str(math.ceil(Fraction(_value(q), max(_value(divisor), 1))))


def _find_container(pod: Obj, name: str) -> Obj | None:
    spec = pod.get("spec") or {}
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if c.get("name") == name:
                return dict(c)
    return None


# --- environment -----------------------------------------------------------------------------

_C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _valid_env_name(name: str, relaxed: bool) -> bool:
    """Upstream's ``IsRelaxedEnvVarName`` (any printable ASCII but ``=``), or with
    ``relaxed=False`` the older C identifier rule."""
    if not name:
        return False
    if not relaxed:
        return _C_IDENTIFIER.match(name) is not None
    return all(" " <= ch <= "~" and ch != "=" for ch in name)


class _Sources:
    """ConfigMaps and Secrets of one namespace, each read at most once."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self.configmaps: dict[str, Obj | None] = {}
        self.secrets: dict[str, Obj | None] = {}

    async def configmap(self, name: str) -> Obj | None:
        """The ConfigMap, None when it does not exist; other errors raise EnvError."""
        if name not in self.configmaps:
            try:
                self.configmaps[name] = await self.client.get(
                    CONFIGMAPS, name, namespace=self.namespace
                )
            except NotFound:
                self.configmaps[name] = None
            except ApiError as e:
                raise EnvError(f"failed to get configmap {self.namespace}/{name}: {e}") from e
        return self.configmaps[name]

    async def secret(self, name: str) -> Obj | None:
        if name not in self.secrets:
            try:
                self.secrets[name] = await self.client.get(SECRETS, name, namespace=self.namespace)
            except NotFound:
                self.secrets[name] = None
            except ApiError as e:
                raise EnvError(f"failed to get secret {self.namespace}/{name}: {e}") from e
        return self.secrets[name]


def configmap_data(cm: Obj) -> dict[str, str]:
    """A ConfigMap's string ``data`` (``binaryData`` is not used for environments)."""
    return {str(k): str(v) for k, v in (cm.get("data") or {}).items()}


def secret_data(secret: Obj) -> dict[str, bytes]:
    """A Secret's ``data`` decoded from base64 (plus any ``stringData`` as written)."""
    out: dict[str, bytes] = {}
    for k, v in (secret.get("data") or {}).items():
        try:
            out[str(k)] = base64.b64decode(str(v), validate=False)
        except (binascii.Error, ValueError):
            out[str(k)] = b""
    for k, v in (secret.get("stringData") or {}).items():
        out[str(k)] = str(v).encode()
    return out


def _decode(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


async def container_env(
    client: Client,
    pod: Obj,
    container: Obj,
    *,
    services: list[Obj] | None,
    node_allocatable: Mapping[str, str],
    recorder: Recorder | None = None,
    host_ips: list[str] | None = None,
    relaxed_names: bool = True,
) -> list[tuple[str, str]]:
    """The container's environment as ``(name, value)`` pairs (see the module docstring).

    ``services``: every Service the kubelet knows (it filters them: the pod's
    namespace when ``enableServiceLinks`` is not false, plus ``default/kubernetes``
    always); None: no service variables at all (a kubelet without an API server).
    Pod IPs come from ``pod.status.podIPs``/``podIP``, host IPs from ``host_ips`` or
    ``pod.status.hostIPs``/``hostIP``. ``envFrom`` keys that are not valid variable
    names are skipped with an ``InvalidEnvironmentVariableNames`` event; with
    ``relaxed_names`` (upstream's default since RelaxedEnvironmentVariableValidation)
    that is only a key with ``=`` or a non-printable character.
    """
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    namespace = str(meta.get("namespace") or "default")
    enable_links = spec.get("enableServiceLinks") is not False
    service_vars = _service_env_map(services, namespace, enable_links)
    sources = _Sources(client, namespace)
    env: dict[str, str] = {}

    for src in container.get("envFrom") or []:
        prefix = str(src.get("prefix") or "")
        if src.get("configMapRef") is not None:
            ref = src["configMapRef"]
            name = str(ref.get("name") or "")
            cm = await sources.configmap(name)
            if cm is None:
                if ref.get("optional"):
                    continue
                raise EnvError(f'configmap "{name}" not found')
            items: Iterable[tuple[str, str]] = configmap_data(cm).items()
            what = "configMap"
        elif src.get("secretRef") is not None:
            ref = src["secretRef"]
            name = str(ref.get("name") or "")
            secret = await sources.secret(name)
            if secret is None:
                if ref.get("optional"):
                    continue
                raise EnvError(f'secret "{name}" not found')
            items = ((k, _decode(v)) for k, v in secret_data(secret).items())
            what = "secret"
        else:
            continue
        invalid: list[str] = []
        for key, value in items:
            key = prefix + key
            if not _valid_env_name(key, relaxed_names):
                invalid.append(key)
                continue
            env[key] = value
        if invalid and recorder is not None:
            recorder.event(
                pod,
                WARNING,
                "InvalidEnvironmentVariableNames",
                f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {what} {namespace}/{name} "
                "were skipped since they are considered invalid environment variable names.",
                kind="Pod",
                api_version="v1",
            )

    lookup = _lookup_in(env, service_vars)
    for var in container.get("env") or []:
        name = str(var.get("name") or "")
        value = var.get("value")
        if value:
            env[name] = expand(str(value), lookup)
            continue
        source = var.get("valueFrom")
        if not source:
            env[name] = ""
            continue
        resolved = await _value_from(
            sources, pod, container, source, node_allocatable, host_ips, namespace
        )
        if resolved is None:  # optional and missing: the variable is left out
            continue
        env[name] = resolved

    result = list(env.items())
    result.extend((k, v) for k, v in service_vars.items() if k not in env)
    return result


async def _value_from(
    sources: _Sources,
    pod: Obj,
    container: Obj,
    source: Obj,
    node_allocatable: Mapping[str, str],
    host_ips: list[str] | None,
    namespace: str,
) -> str | None:
    if source.get("fieldRef") is not None:
        return field_ref_value(
            pod, str(source["fieldRef"].get("fieldPath") or ""), host_ips=host_ips
        )
    if source.get("resourceFieldRef") is not None:
        return resource_field_value(source["resourceFieldRef"], pod, container, node_allocatable)
    if source.get("configMapKeyRef") is not None:
        ref = source["configMapKeyRef"]
        name, key = str(ref.get("name") or ""), str(ref.get("key") or "")
        optional = bool(ref.get("optional"))
        cm = await sources.configmap(name)
        if cm is None:
            if optional:
                return None
            raise EnvError(f'configmap "{name}" not found')
        data = configmap_data(cm)
        if key not in data:
            if optional:
                return None
            raise EnvError(f"couldn't find key {key} in ConfigMap {namespace}/{name}")
        return data[key]
    if source.get("secretKeyRef") is not None:
        ref = source["secretKeyRef"]
        name, key = str(ref.get("name") or ""), str(ref.get("key") or "")
        optional = bool(ref.get("optional"))
        secret = await sources.secret(name)
        if secret is None:
            if optional:
                return None
            raise EnvError(f'secret "{name}" not found')
        sdata = secret_data(secret)
        if key not in sdata:
            if optional:
                return None
            raise EnvError(f"couldn't find key {key} in Secret {namespace}/{name}")
        return _decode(sdata[key])
    return ""
