"""batch/v1: Job and CronJob.

Facts follow kubernetes/api ``batch/v1`` as of v1.32; descriptions are our
own. No defaults are declared on ``JobSpec``: upstream defaults Jobs (and only
Jobs, not the job template inside a CronJob), and several of them depend on
other fields (completions/parallelism, backoffLimit with
backoffLimitPerIndex, podReplacementPolicy with podFailurePolicy), so the Job
registry strategy applies them.
"""

from __future__ import annotations

from typing import Any

from pinnace.api.printers import batch as printers
from pinnace.api.schema import Field, Resource, Struct, field, struct

GROUP = "batch"
VERSION = "v1"
PKG = "io.k8s.api.batch.v1"


def _kind(kind: str, description: str, fields: list[Field]) -> Struct:
    s = struct(
        PKG,
        kind,
        description,
        [
            field("apiVersion", "string", "The versioned schema of this representation."),
            field("kind", "string", f"The REST kind of this object ({kind})."),
            field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
            *fields,
        ],
    )
    s.gvk = (GROUP, VERSION, kind)
    return s


def _list(kind: str, what: str) -> None:
    s = struct(
        PKG,
        f"{kind}List",
        f"A list of {what}.",
        [
            field("apiVersion", "string", "The versioned schema of this representation."),
            field("kind", "string", f"The REST kind of this object ({kind}List)."),
            field("metadata", "ListMeta", "Standard list metadata.", proto=1),
            field("items", f"[]{kind}", f"The {what}.", proto=2, required=True),
        ],
    )
    s.gvk = (GROUP, VERSION, f"{kind}List")


# -- Job -----------------------------------------------------------------------

struct(
    PKG,
    "PodFailurePolicyOnExitCodesRequirement",
    "Matches a failed pod by the exit codes of its containers.",
    [
        field(
            "containerName",
            "string",
            "Only look at this container's exit code (all containers when unset).",
            proto=1,
        ),
        field(
            "operator",
            "string",
            "Whether an exit code must be In or NotIn the values.",
            proto=2,
            required=True,
            enum=("In", "NotIn"),
        ),
        field(
            "values",
            "[]int32",
            "The exit codes to compare with.",
            proto=3,
            required=True,
            list_type="set",
        ),
    ],
)

struct(
    PKG,
    "PodFailurePolicyOnPodConditionsPattern",
    "Matches a failed pod by one of its conditions.",
    [
        field("type", "string", "The pod condition type to look for.", proto=1, required=True),
        field("status", "string", "The condition status to look for.", proto=2, required=True),
    ],
)

struct(
    PKG,
    "PodFailurePolicyRule",
    "An action to take when a failed pod matches its requirements.",
    [
        field(
            "action",
            "string",
            "What to do with a matching failure: FailJob, FailIndex, Ignore or Count.",
            proto=1,
            required=True,
            enum=("Count", "FailIndex", "FailJob", "Ignore"),
        ),
        field(
            "onExitCodes",
            "PodFailurePolicyOnExitCodesRequirement",
            "Match by container exit codes.",
            proto=2,
        ),
        field(
            "onPodConditions",
            "[]PodFailurePolicyOnPodConditionsPattern",
            "Match by pod conditions; any one pattern suffices.",
            proto=3,
            list_type="atomic",
        ),
    ],
)

struct(
    PKG,
    "PodFailurePolicy",
    "How failed pods affect the Job, beyond counting against backoffLimit.",
    [
        field(
            "rules",
            "[]PodFailurePolicyRule",
            "Rules tried in order; the first that matches decides.",
            proto=1,
            required=True,
            list_type="atomic",
        ),
    ],
)

struct(
    PKG,
    "SuccessPolicyRule",
    "A condition on succeeded indexes under which an Indexed Job succeeds early.",
    [
        field(
            "succeededIndexes",
            "string",
            "Indexes (like 1,3-5) that must all have succeeded.",
            proto=1,
        ),
        field(
            "succeededCount",
            "int32",
            "How many of those indexes (or of all) must have succeeded.",
            proto=2,
        ),
    ],
)

struct(
    PKG,
    "SuccessPolicy",
    "When a Job may be declared successful before all completions.",
    [
        field(
            "rules",
            "[]SuccessPolicyRule",
            "Alternative rules; meeting any one of them is enough.",
            proto=1,
            required=True,
            list_type="atomic",
        ),
    ],
)

struct(
    PKG,
    "JobSpec",
    "The desired behaviour of a Job.",
    [
        field("parallelism", "int32", "Most pods the Job runs at the same time.", proto=1),
        field(
            "completions",
            "int32",
            "Successful pods needed for the Job to complete; unset means any one.",
            proto=2,
        ),
        field(
            "activeDeadlineSeconds",
            "int64",
            "Seconds after start at which the Job is stopped and failed.",
            proto=3,
        ),
        field(
            "podFailurePolicy",
            "PodFailurePolicy",
            "How failed pods are judged.",
            proto=11,
        ),
        field(
            "successPolicy",
            "SuccessPolicy",
            "When an Indexed Job may succeed early.",
            proto=16,
        ),
        field("backoffLimit", "int32", "Retries before the Job is marked failed.", proto=7),
        field(
            "backoffLimitPerIndex",
            "int32",
            "Retries per index before that index is marked failed (Indexed Jobs).",
            proto=12,
        ),
        field(
            "maxFailedIndexes",
            "int32",
            "Failed indexes tolerated before the whole Job fails.",
            proto=13,
        ),
        field(
            "selector",
            "LabelSelector",
            "Which pods belong to the Job; normally generated.",
            proto=4,
        ),
        field(
            "manualSelector",
            "bool",
            "Use the given selector instead of generating one.",
            proto=5,
        ),
        field(
            "template",
            "io.k8s.api.core.v1.PodTemplateSpec",
            "The pods to run.",
            proto=6,
            required=True,
        ),
        field(
            "ttlSecondsAfterFinished",
            "int32",
            "Seconds after finishing at which the Job is deleted.",
            proto=8,
        ),
        field(
            "completionMode",
            "string",
            "NonIndexed (any pods count) or Indexed (one success per index).",
            proto=9,
            enum=("Indexed", "NonIndexed"),
        ),
        field("suspend", "bool", "Holds the Job: no pods are created while true.", proto=10),
        field(
            "podReplacementPolicy",
            "string",
            "When a replacement pod may be created: TerminatingOrFailed or Failed.",
            proto=14,
            enum=("Failed", "TerminatingOrFailed"),
        ),
        field(
            "managedBy",
            "string",
            "The controller in charge of this Job when not the built-in one.",
            proto=15,
        ),
    ],
)

struct(
    PKG,
    "UncountedTerminatedPods",
    "Finished pods the controller has not yet added to the counters.",
    [
        field("succeeded", "[]string", "UIDs of succeeded pods.", proto=1, list_type="set"),
        field("failed", "[]string", "UIDs of failed pods.", proto=2, list_type="set"),
    ],
)

struct(
    PKG,
    "JobCondition",
    "One observed aspect of a Job's state.",
    [
        field(
            "type",
            "string",
            "Complete, Failed, Suspended, FailureTarget or SuccessCriteriaMet.",
            proto=1,
            required=True,
        ),
        field("status", "string", "True, False or Unknown.", proto=2, required=True),
        field("lastProbeTime", "Time", "When the condition was last checked.", proto=3),
        field("lastTransitionTime", "Time", "When the status last changed.", proto=4),
        field("reason", "string", "Machine-readable cause of the last change.", proto=5),
        field("message", "string", "Human-readable detail about the last change.", proto=6),
    ],
)

struct(
    PKG,
    "JobStatus",
    "The observed state of a Job.",
    [
        field(
            "conditions",
            "[]JobCondition",
            "Latest observations of the Job's state.",
            proto=1,
            merge_key="type",
            patch_strategy="merge",
            list_type="atomic",
        ),
        field("startTime", "Time", "When the controller started working on the Job.", proto=2),
        field("completionTime", "Time", "When the Job completed successfully.", proto=3),
        field("active", "int32", "Pending or running pods that are not terminating.", proto=4),
        field("succeeded", "int32", "Pods that succeeded.", proto=5),
        field("failed", "int32", "Pods that failed.", proto=6),
        field("terminating", "int32", "Pods that are shutting down.", proto=11),
        field(
            "completedIndexes",
            "string",
            "Succeeded indexes of an Indexed Job, as ranges like 1,3-5.",
            proto=7,
        ),
        field(
            "failedIndexes",
            "string",
            "Failed indexes when backoffLimitPerIndex is set, as ranges.",
            proto=10,
        ),
        field(
            "uncountedTerminatedPods",
            "UncountedTerminatedPods",
            "Finished pods not yet counted.",
            proto=8,
        ),
        field("ready", "int32", "Active pods with a Ready condition.", proto=9),
    ],
)

_kind(
    "Job",
    "Runs pods until a number of them finish successfully.",
    [
        field("spec", "JobSpec", "The desired behaviour.", proto=2),
        field("status", "JobStatus", "The most recently observed state.", proto=3),
    ],
)
_list("Job", "jobs")

# -- CronJob -------------------------------------------------------------------

struct(
    PKG,
    "JobTemplateSpec",
    "The Job a CronJob creates on each run.",
    [
        field("metadata", "ObjectMeta", "Metadata given to the created Jobs.", proto=1),
        field("spec", "JobSpec", "The spec of the created Jobs.", proto=2),
    ],
)

struct(
    PKG,
    "CronJobSpec",
    "The schedule and Job of a CronJob.",
    [
        field("schedule", "string", "When to run, in cron syntax.", proto=1, required=True),
        field(
            "timeZone",
            "string",
            "IANA time zone the schedule is read in (the controller's own when unset).",
            proto=8,
        ),
        field(
            "startingDeadlineSeconds",
            "int64",
            "How late a missed run may still be started.",
            proto=2,
        ),
        field(
            "concurrencyPolicy",
            "string",
            "What to do when a run is due while one is active: Allow, Forbid or Replace.",
            proto=3,
            enum=("Allow", "Forbid", "Replace"),
            default="Allow",
        ),
        field(
            "suspend",
            "bool",
            "Holds back future runs; running Jobs are left alone.",
            proto=4,
            default=False,
        ),
        field(
            "jobTemplate",
            "JobTemplateSpec",
            "The Job to create on each run.",
            proto=5,
            required=True,
        ),
        field(
            "successfulJobsHistoryLimit",
            "int32",
            "Finished successful Jobs to keep.",
            proto=6,
            default=3,
        ),
        field(
            "failedJobsHistoryLimit",
            "int32",
            "Finished failed Jobs to keep.",
            proto=7,
            default=1,
        ),
    ],
)

struct(
    PKG,
    "CronJobStatus",
    "The observed state of a CronJob.",
    [
        field(
            "active",
            "[]io.k8s.api.core.v1.ObjectReference",
            "The Jobs of this CronJob that are running.",
            proto=1,
            list_type="atomic",
        ),
        field("lastScheduleTime", "Time", "When a Job was last scheduled.", proto=4),
        field("lastSuccessfulTime", "Time", "When a Job last completed successfully.", proto=5),
    ],
)

_kind(
    "CronJob",
    "Creates Jobs on a repeating schedule.",
    [
        field("spec", "CronJobSpec", "The schedule and the Job to run.", proto=2),
        field("status", "CronJobStatus", "The most recently observed state.", proto=3),
    ],
)
_list("CronJob", "cron jobs")

# -- resources -----------------------------------------------------------------


def _status_successful(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("succeeded") or 0)


RESOURCES: list[Resource] = [
    Resource(
        GROUP,
        VERSION,
        "CronJob",
        "cronjobs",
        namespaced=True,
        schema=f"{PKG}.CronJob",
        short_names=("cj",),
        categories=("all",),
        subresources=("status",),
        columns=printers.CRONJOB_COLUMNS,
    ),
    Resource(
        GROUP,
        VERSION,
        "Job",
        "jobs",
        namespaced=True,
        schema=f"{PKG}.Job",
        categories=("all",),
        subresources=("status",),
        field_selectors={"status.successful": _status_successful},
        columns=printers.JOB_COLUMNS,
    ),
]
