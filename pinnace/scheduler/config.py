"""Scheduler configuration: upstream's ``KubeSchedulerConfiguration``
(``kubescheduler.config.k8s.io/v1``) reduced to what pinnace implements.

The default profile is data (:data:`DEFAULT_PLUGINS`, the v1 ``multiPoint``
list with upstream's weights). A config file may declare several profiles
(one per ``schedulerName``), each enabling/disabling plugins per extension
point or through ``multiPoint``, overriding score weights, and passing plugin
args (``pluginConfig``). Merging follows upstream: a profile's plugin sets are
applied on top of the defaults; ``disabled: [{name: "*"}]`` drops the defaults
of that extension point; a plugin enabled again replaces its default entry
(keeping its position) so that its weight can be changed.

Unknown plugin names are an error (like upstream), except the upstream
defaults pinnace has no use for (``NodeVolumeLimits``, ``VolumeZone``), which
are accepted and ignored with a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "API_VERSION",
    "DEFAULT_PLUGINS",
    "DEFAULT_SCHEDULER_NAME",
    "EXTENSION_POINTS",
    "IGNORED_PLUGINS",
    "ConfigError",
    "PluginRef",
    "ProfileConfig",
    "SchedulerConfig",
    "load_config",
    "parse_config",
]

log = logging.getLogger(__name__)

API_VERSION = "kubescheduler.config.k8s.io/v1"
DEFAULT_SCHEDULER_NAME = "default-scheduler"

EXTENSION_POINTS = (
    "preEnqueue",
    "queueSort",
    "preFilter",
    "filter",
    "postFilter",
    "preScore",
    "score",
    "reserve",
    "permit",
    "preBind",
    "bind",
    "postBind",
)

IGNORED_PLUGINS = frozenset({"NodeVolumeLimits", "VolumeZone", "DynamicResources"})


@dataclass(frozen=True, slots=True)
class PluginRef:
    name: str
    weight: int = 0


# upstream pkg/scheduler/apis/config/v1/default_plugins.go (multiPoint), in order
DEFAULT_PLUGINS: tuple[PluginRef, ...] = (
    PluginRef("SchedulingGates"),
    PluginRef("PrioritySort"),
    PluginRef("NodeUnschedulable"),
    PluginRef("NodeName"),
    PluginRef("TaintToleration", 3),
    PluginRef("NodeAffinity", 2),
    PluginRef("NodePorts"),
    PluginRef("NodeResourcesFit", 1),
    PluginRef("VolumeRestrictions"),
    PluginRef("VolumeBinding"),
    PluginRef("PodTopologySpread", 2),
    PluginRef("InterPodAffinity", 2),
    PluginRef("DefaultPreemption"),
    PluginRef("NodeResourcesBalancedAllocation", 1),
    PluginRef("ImageLocality", 1),
    PluginRef("DefaultBinder"),
)


class ConfigError(ValueError):
    """The scheduler configuration is invalid."""


@dataclass
class ProfileConfig:
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    #: plugins registered at every extension point they implement
    multi_point: list[PluginRef] = field(default_factory=lambda: list(DEFAULT_PLUGINS))
    #: per extension point: explicitly enabled plugins (before multiPoint ones)
    enabled: dict[str, list[PluginRef]] = field(default_factory=dict)
    #: per extension point: disabled plugin names ("*" = all multiPoint defaults)
    disabled: dict[str, set[str]] = field(default_factory=dict)
    plugin_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    percentage_of_nodes_to_score: int | None = None


@dataclass
class SchedulerConfig:
    profiles: list[ProfileConfig] = field(default_factory=lambda: [ProfileConfig()])
    percentage_of_nodes_to_score: int = 0
    pod_initial_backoff_seconds: float = 1.0
    pod_max_backoff_seconds: float = 10.0
    leader_elect: bool | None = None
    lease_namespace: str = "kube-system"
    lease_name: str = "kube-scheduler"
    parallelism: int = 16


def _refs(items: Any, where: str) -> list[PluginRef]:
    out = []
    for item in items or []:
        if not isinstance(item, Mapping) or not item.get("name"):
            raise ConfigError(f"{where}: each plugin needs a name")
        weight = item.get("weight") or 0
        if not isinstance(weight, int) or weight < 0:
            raise ConfigError(f"{where}: weight of {item['name']} must be a non-negative integer")
        out.append(PluginRef(str(item["name"]), weight))
    return out


def _parse_profile(doc: Mapping[str, Any], index: int) -> ProfileConfig:
    where = f"profiles[{index}]"
    p = ProfileConfig(scheduler_name=str(doc.get("schedulerName") or DEFAULT_SCHEDULER_NAME))
    pct = doc.get("percentageOfNodesToScore")
    if pct is not None:
        if not isinstance(pct, int) or not 0 <= pct <= 100:
            raise ConfigError(f"{where}.percentageOfNodesToScore must be between 0 and 100")
        p.percentage_of_nodes_to_score = pct
    plugins = doc.get("plugins") or {}
    if not isinstance(plugins, Mapping):
        raise ConfigError(f"{where}.plugins must be a mapping")
    for point, sets in plugins.items():
        if point != "multiPoint" and point not in EXTENSION_POINTS:
            raise ConfigError(f"{where}.plugins: unknown extension point {point!r}")
        sets = sets or {}
        enabled = _refs(sets.get("enabled"), f"{where}.plugins.{point}.enabled")
        disabled = {
            r.name for r in _refs(sets.get("disabled"), f"{where}.plugins.{point}.disabled")
        }
        if point == "multiPoint":
            base = [] if "*" in disabled else [r for r in p.multi_point if r.name not in disabled]
            for ref in enabled:
                idx = next((i for i, r in enumerate(base) if r.name == ref.name), None)
                if idx is None:
                    base.append(ref)
                else:
                    base[idx] = ref
            p.multi_point = base
        else:
            p.enabled[point] = enabled
            p.disabled[point] = disabled
    for i, pc in enumerate(doc.get("pluginConfig") or []):
        if not isinstance(pc, Mapping) or not pc.get("name"):
            raise ConfigError(f"{where}.pluginConfig[{i}] needs a name")
        args = pc.get("args") or {}
        if not isinstance(args, Mapping):
            raise ConfigError(f"{where}.pluginConfig[{i}].args must be a mapping")
        name = str(pc["name"])
        if name in p.plugin_args:
            raise ConfigError(f"{where}.pluginConfig: repeated config for plugin {name}")
        p.plugin_args[name] = {k: v for k, v in args.items() if k not in ("kind", "apiVersion")}
    return p


def parse_config(doc: Mapping[str, Any] | None) -> SchedulerConfig:
    """A :class:`SchedulerConfig` from a KubeSchedulerConfiguration document."""
    cfg = SchedulerConfig()
    if not doc:
        return cfg
    api_version = doc.get("apiVersion")
    if api_version and api_version != API_VERSION:
        raise ConfigError(f"unsupported apiVersion {api_version!r} (want {API_VERSION})")
    kind = doc.get("kind")
    if kind and kind != "KubeSchedulerConfiguration":
        raise ConfigError(f"unsupported kind {kind!r} (want KubeSchedulerConfiguration)")
    pct = doc.get("percentageOfNodesToScore")
    if pct is not None:
        if not isinstance(pct, int) or not 0 <= pct <= 100:
            raise ConfigError("percentageOfNodesToScore must be between 0 and 100")
        cfg.percentage_of_nodes_to_score = pct
    if doc.get("podInitialBackoffSeconds") is not None:
        cfg.pod_initial_backoff_seconds = float(doc["podInitialBackoffSeconds"])
    if doc.get("podMaxBackoffSeconds") is not None:
        cfg.pod_max_backoff_seconds = float(doc["podMaxBackoffSeconds"])
    if (
        cfg.pod_initial_backoff_seconds <= 0
        or cfg.pod_max_backoff_seconds < cfg.pod_initial_backoff_seconds
    ):
        raise ConfigError("need 0 < podInitialBackoffSeconds <= podMaxBackoffSeconds")
    if doc.get("parallelism") is not None:
        cfg.parallelism = int(doc["parallelism"])
    le = doc.get("leaderElection") or {}
    if "leaderElect" in le:
        cfg.leader_elect = bool(le["leaderElect"])
    cfg.lease_namespace = str(le.get("resourceNamespace") or cfg.lease_namespace)
    cfg.lease_name = str(le.get("resourceName") or cfg.lease_name)
    profiles = doc.get("profiles")
    if profiles:
        cfg.profiles = [_parse_profile(p, i) for i, p in enumerate(profiles)]
        names = [p.scheduler_name for p in cfg.profiles]
        if len(set(names)) != len(names):
            raise ConfigError("profiles must have distinct schedulerNames")
    return cfg


def load_config(path: str | Path) -> SchedulerConfig:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError(f"cannot read scheduler config {path}: {e.strerror or e}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"scheduler config {path} is not valid YAML: {e}") from None
    if doc is not None and not isinstance(doc, Mapping):
        raise ConfigError(f"scheduler config {path} must be a mapping")
    return parse_config(doc)
