"""Table columns for batch/v1 jobs and cronjobs, as ``kubectl get`` shows
them against a v1.32 API server (upstream's ``printJob`` and
``printCronJob``; the job STATUS column is there since v1.30)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pinnace.api.printers import (
    AGE,
    NAME,
    dig,
    format_label_selector,
    human_duration,
    parse_time,
    translate_timestamp_since,
)
from pinnace.api.printers.apps import container_images, container_names
from pinnace.api.schema import Column

Obj = Mapping[str, Any]


def _int(obj: Any, *path: str) -> int:
    value = dig(obj, *path, default=0)
    return value if isinstance(value, int) else 0


def has_condition(obj: Obj, ctype: str) -> bool:
    """Whether ``status.conditions`` holds ``ctype`` with status True."""
    return any(
        c.get("type") == ctype and c.get("status") == "True"
        for c in dig(obj, "status", "conditions", default=[])
    )


def job_status(o: Obj) -> str:
    if has_condition(o, "Complete"):
        return "Complete"
    if has_condition(o, "Failed"):
        return "Failed"
    if dig(o, "metadata", "deletionTimestamp") is not None:
        return "Terminating"
    for ctype in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if has_condition(o, ctype):
            return ctype
    return "Running"


def job_completions(o: Obj) -> str:
    succeeded = _int(o, "status", "succeeded")
    completions = dig(o, "spec", "completions")
    if isinstance(completions, int):
        return f"{succeeded}/{completions}"
    parallelism = _int(o, "spec", "parallelism")
    if parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def job_duration(o: Obj, now: datetime | None = None) -> str:
    start = parse_time(dig(o, "status", "startTime"))
    if start is None:
        return ""
    end = parse_time(dig(o, "status", "completionTime"))
    if end is None:
        end = now or datetime.now(UTC)
    return human_duration((end - start).total_seconds())


JOB_COLUMNS = (
    NAME,
    Column("Status", "string", "What the job came to, from its conditions.", job_status),
    Column("Completions", "string", "Succeeded pods out of those wanted.", job_completions),
    Column("Duration", "string", "How long the job ran or has been running.", job_duration),
    AGE,
    Column(
        "Containers",
        "string",
        "Names of the containers in the pod template.",
        lambda o: container_names(dig(o, "spec", "template", "spec")),
        priority=1,
    ),
    Column(
        "Images",
        "string",
        "Images the pod template's containers run.",
        lambda o: container_images(dig(o, "spec", "template", "spec")),
        priority=1,
    ),
    Column(
        "Selector",
        "string",
        "Label selector for the job's pods.",
        lambda o: format_label_selector(dig(o, "spec", "selector")),
        priority=1,
    ),
)


def print_bool_ptr(value: Any) -> str:
    """``True``/``False``, or ``<unset>`` when absent (upstream's printBoolPtr)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return "<unset>"


def cronjob_last_schedule(o: Obj) -> str:
    last = dig(o, "status", "lastScheduleTime")
    return translate_timestamp_since(last) if last else "<none>"


def _job_template_spec(o: Obj) -> Any:
    return dig(o, "spec", "jobTemplate", "spec", "template", "spec")


CRONJOB_COLUMNS = (
    NAME,
    Column(
        "Schedule",
        "string",
        "The cron schedule.",
        lambda o: str(dig(o, "spec", "schedule", default="")),
    ),
    Column(
        "Timezone",
        "string",
        "The time zone the schedule is read in.",
        lambda o: str(dig(o, "spec", "timeZone") or "<none>"),
    ),
    Column(
        "Suspend",
        "boolean",
        "Whether new runs are held back.",
        lambda o: print_bool_ptr(dig(o, "spec", "suspend")),
    ),
    Column(
        "Active",
        "integer",
        "Jobs of this cron job that are running.",
        lambda o: len(dig(o, "status", "active", default=[])),
    ),
    Column(
        "Last Schedule", "string", "How long ago a job was last scheduled.", cronjob_last_schedule
    ),
    AGE,
    Column(
        "Containers",
        "string",
        "Names of the containers in the job's pod template.",
        lambda o: container_names(_job_template_spec(o)),
        priority=1,
    ),
    Column(
        "Images",
        "string",
        "Images the job's pod template runs.",
        lambda o: container_images(_job_template_spec(o)),
        priority=1,
    ),
    Column(
        "Selector",
        "string",
        "Label selector of the job template.",
        lambda o: format_label_selector(dig(o, "spec", "jobTemplate", "spec", "selector")),
        priority=1,
    ),
)
