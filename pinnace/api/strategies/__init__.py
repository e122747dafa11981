"""Kind-specific strategies; each module registers its classes on import."""

from pinnace.api.strategies import core, workloads  # noqa: F401
