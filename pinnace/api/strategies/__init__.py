"""Kind-specific strategies; each module registers its classes on import."""

from pinnace.api.strategies import (  # noqa: F401
    autoscaling,
    core,
    networking,
    other,
    policy,
    rbac,
    workloads,
)
