"""The result of a plugin call: a code plus human-readable reasons.

Codes and meanings follow upstream ``framework.Code``: ``UNSCHEDULABLE``
means "not here, but preemption might help"; ``UNSCHEDULABLE_AND_UNRESOLVABLE``
means preemption cannot help; ``SKIP`` from PreFilter/PreScore skips the
plugin's Filter/Score for this cycle. ``None`` is accepted everywhere a status
is expected and means success (the cheap, common case).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["SUCCESS", "Code", "Status", "is_success"]


class Code(IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5

    @property
    def label(self) -> str:
        return {
            0: "Success",
            1: "Error",
            2: "Unschedulable",
            3: "UnschedulableAndUnresolvable",
            4: "Wait",
            5: "Skip",
        }[int(self)]


class Status:
    __slots__ = ("code", "plugin", "reasons")

    def __init__(self, code: Code = Code.SUCCESS, *reasons: str, plugin: str = "") -> None:
        self.code = code
        self.reasons = list(reasons)
        self.plugin = plugin

    @classmethod
    def error(cls, message: str, plugin: str = "") -> Status:
        return cls(Code.ERROR, message, plugin=plugin)

    @classmethod
    def unschedulable(cls, *reasons: str, plugin: str = "") -> Status:
        return cls(Code.UNSCHEDULABLE, *reasons, plugin=plugin)

    @classmethod
    def unresolvable(cls, *reasons: str, plugin: str = "") -> Status:
        return cls(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, *reasons, plugin=plugin)

    @classmethod
    def skip(cls) -> Status:
        return cls(Code.SKIP)

    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    def is_skip(self) -> bool:
        return self.code == Code.SKIP

    def is_rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def message(self) -> str:
        return ", ".join(self.reasons)

    def with_plugin(self, plugin: str) -> Status:
        if not self.plugin:
            self.plugin = plugin
        return self

    def __repr__(self) -> str:
        return f"Status({self.code.label}, {self.reasons!r}, plugin={self.plugin!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self.code == other.code and self.reasons == other.reasons

    __hash__ = None  # type: ignore[assignment]


SUCCESS = Status()


def is_success(status: Status | None) -> bool:
    return status is None or status.code == Code.SUCCESS
