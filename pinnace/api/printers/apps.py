"""Table columns for apps/v1: deployments, replicasets, statefulsets,
daemonsets and controllerrevisions, as ``kubectl get`` shows them against a
v1.32 API server (upstream's ``printDeployment``, ``printReplicaSet``, ...).

Cells are pure functions of the object dict; integer columns return ints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.api.printers import AGE, NAME, dig, format_label_selector, format_labels
from pinnace.api.schema import Column

Obj = Mapping[str, Any]


def _int(obj: Obj, *path: str) -> int:
    value = dig(obj, *path, default=0)
    return value if isinstance(value, int) else 0


def container_names(pod_spec: Any) -> str:
    """Comma-separated names of a pod spec's (regular) containers."""
    return ",".join(str(c.get("name", "")) for c in dig(pod_spec, "containers", default=[]))


def container_images(pod_spec: Any) -> str:
    """Comma-separated images of a pod spec's (regular) containers."""
    return ",".join(str(c.get("image", "")) for c in dig(pod_spec, "containers", default=[]))


def template_columns(*spec_path: str, selector: bool = True) -> tuple[Column, ...]:
    """The wide-only CONTAINERS, IMAGES (and SELECTOR) columns of a workload
    whose pod template sits at ``spec_path + (template, spec)``."""

    def names(o: Obj) -> str:
        return container_names(dig(o, *spec_path, "template", "spec"))

    def images(o: Obj) -> str:
        return container_images(dig(o, *spec_path, "template", "spec"))

    def sel(o: Obj) -> str:
        return format_label_selector(dig(o, *spec_path, "selector"))

    cols = [
        Column(
            "Containers",
            "string",
            "Names of the containers in the pod template.",
            names,
            priority=1,
        ),
        Column("Images", "string", "Images the pod template's containers run.", images, priority=1),
    ]
    if selector:
        cols.append(
            Column("Selector", "string", "Label selector for the managed pods.", sel, priority=1)
        )
    return tuple(cols)


# -- deployments ---------------------------------------------------------------


def deployment_ready(o: Obj) -> str:
    return f"{_int(o, 'status', 'readyReplicas')}/{_int(o, 'spec', 'replicas')}"


DEPLOYMENT_COLUMNS = (
    NAME,
    Column("Ready", "string", "Ready pods out of the desired number.", deployment_ready),
    Column(
        "Up-to-date",
        "string",
        "Pods that run the current template.",
        lambda o: _int(o, "status", "updatedReplicas"),
    ),
    Column(
        "Available",
        "string",
        "Pods that have been ready for at least minReadySeconds.",
        lambda o: _int(o, "status", "availableReplicas"),
    ),
    AGE,
    *template_columns("spec"),
)

# -- replicasets -----------------------------------------------------------------

REPLICASET_COLUMNS = (
    NAME,
    Column("Desired", "integer", "Desired number of pods.", lambda o: _int(o, "spec", "replicas")),
    Column(
        "Current", "integer", "Pods that currently exist.", lambda o: _int(o, "status", "replicas")
    ),
    Column(
        "Ready",
        "integer",
        "Pods with a Ready condition.",
        lambda o: _int(o, "status", "readyReplicas"),
    ),
    AGE,
    *template_columns("spec"),
)

# -- statefulsets ----------------------------------------------------------------


def statefulset_ready(o: Obj) -> str:
    return f"{_int(o, 'status', 'readyReplicas')}/{_int(o, 'spec', 'replicas')}"


STATEFULSET_COLUMNS = (
    NAME,
    Column("Ready", "string", "Ready pods out of the desired number.", statefulset_ready),
    AGE,
    *template_columns("spec", selector=False),
)

# -- daemonsets ------------------------------------------------------------------

DAEMONSET_COLUMNS = (
    NAME,
    Column(
        "Desired",
        "integer",
        "Nodes that should run the daemon pod.",
        lambda o: _int(o, "status", "desiredNumberScheduled"),
    ),
    Column(
        "Current",
        "integer",
        "Nodes that run the daemon pod and should.",
        lambda o: _int(o, "status", "currentNumberScheduled"),
    ),
    Column(
        "Ready",
        "integer",
        "Nodes whose daemon pod is ready.",
        lambda o: _int(o, "status", "numberReady"),
    ),
    Column(
        "Up-to-date",
        "integer",
        "Nodes that run the current template.",
        lambda o: _int(o, "status", "updatedNumberScheduled"),
    ),
    Column(
        "Available",
        "integer",
        "Nodes whose daemon pod has been ready for minReadySeconds.",
        lambda o: _int(o, "status", "numberAvailable"),
    ),
    Column(
        "Node Selector",
        "string",
        "Node labels the pod template requires.",
        lambda o: format_labels(dig(o, "spec", "template", "spec", "nodeSelector")),
    ),
    AGE,
    *template_columns("spec"),
)

# -- controllerrevisions ---------------------------------------------------------


def controller_of(o: Obj) -> str:
    """``<kind>.<group>/<name>``, lower-cased, of the controlling owner
    (upstream's ``printControllerRevision``), ``<none>`` when there is none."""
    for ref in dig(o, "metadata", "ownerReferences", default=[]):
        if not ref.get("controller"):
            continue
        api_version = str(ref.get("apiVersion", ""))
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        kind = str(ref.get("kind", ""))
        qualified = f"{kind}.{group}" if group else kind
        return f"{qualified.lower()}/{ref.get('name', '')}"
    return "<none>"


CONTROLLERREVISION_COLUMNS = (
    NAME,
    Column("Controller", "string", "The object that owns this revision.", controller_of),
    Column("Revision", "integer", "The revision number.", lambda o: _int(o, "revision")),
    AGE,
)
