"""Conversions between API versions (and between groups sharing storage).

Each module holds pure functions from one version's JSON dict to another's,
mirroring upstream's hand-written conversions. The apiserver calls them when
a resource is served in one version but stored in another.
"""

from collections.abc import Callable
from typing import Any

from pinnace.api.conversion.autoscaling import hpa_v1_to_v2, hpa_v2_to_v1
from pinnace.api.conversion.events import core_to_events_v1, events_v1_to_core

Obj = dict[str, Any]

# (kind, from apiVersion, to apiVersion) -> converter
CONVERTERS: dict[tuple[str, str, str], Callable[[Obj], Obj]] = {
    ("HorizontalPodAutoscaler", "autoscaling/v1", "autoscaling/v2"): hpa_v1_to_v2,
    ("HorizontalPodAutoscaler", "autoscaling/v2", "autoscaling/v1"): hpa_v2_to_v1,
    ("Event", "v1", "events.k8s.io/v1"): core_to_events_v1,
    ("Event", "events.k8s.io/v1", "v1"): events_v1_to_core,
}


def converter(kind: str, from_api_version: str, to_api_version: str) -> Callable[[Obj], Obj]:
    """The conversion function between two apiVersions of a kind."""
    if from_api_version == to_api_version:
        return lambda o: o
    try:
        return CONVERTERS[(kind, from_api_version, to_api_version)]
    except KeyError:
        raise LookupError(
            f"no conversion for {kind} {from_api_version} -> {to_api_version}"
        ) from None
