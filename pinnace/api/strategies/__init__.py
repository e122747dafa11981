"""Kind-specific strategies; each module registers its classes on import."""

from pinnace.api.strategies import (  # noqa: F401
    admissionregistration,
    autoscaling,
    core,
    networking,
    other,
    policy,
    rbac,
    workloads,
)
