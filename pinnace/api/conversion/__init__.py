"""Conversions between API versions (and between groups sharing storage).

Each module holds pure functions from one version's JSON dict to another's,
mirroring upstream's hand-written conversions. The apiserver calls them when
a resource is served in one version but stored in another.
"""

from collections.abc import Callable
from typing import Any

from pinnace.api.conversion.autoscaling import hpa_v1_to_v2, hpa_v2_to_v1

Obj = dict[str, Any]

# (group, kind, from_version, to_version) -> converter
CONVERTERS: dict[tuple[str, str, str, str], Callable[[Obj], Obj]] = {
    ("autoscaling", "HorizontalPodAutoscaler", "v1", "v2"): hpa_v1_to_v2,
    ("autoscaling", "HorizontalPodAutoscaler", "v2", "v1"): hpa_v2_to_v1,
}


def converter(group: str, kind: str, from_version: str, to_version: str) -> Callable[[Obj], Obj]:
    """The conversion function between two served versions of a kind."""
    if from_version == to_version:
        return lambda o: o
    try:
        return CONVERTERS[(group, kind, from_version, to_version)]
    except KeyError:
        raise LookupError(
            f"no conversion for {group}/{kind} {from_version} -> {to_version}"
        ) from None
