"""The scheduler's quantities live in :mod:`pinnace.api.quantity` (the kubelet
uses them too); this name stays for the scheduler's modules."""

from pinnace.api.quantity import *  # noqa: F403
from pinnace.api.quantity import __all__ as __all__
