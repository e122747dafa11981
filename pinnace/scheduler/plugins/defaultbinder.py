"""DefaultBinder (Bind): POST a ``Binding`` to ``pods/<name>/binding``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.client import ApiError
from pinnace.scheduler.framework.interface import CycleState
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import PodInfo

NAME = "DefaultBinder"


class DefaultBinder:
    name = NAME

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def bind(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        api = self.handle.api
        if api is None:
            return Status.error("no API client to bind with")
        try:
            await api.bind(pod.namespace, pod.name, node, pod_uid=pod.uid or None)
        except ApiError as e:
            return Status.error(f"binding rejected: {e.message or e}")
        return None


def new(args: Mapping[str, Any], handle: Any) -> DefaultBinder:
    return DefaultBinder(handle)
