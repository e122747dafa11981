"""pinnace.controllers — the controller manager and its controllers.

Every controller is a :class:`~pinnace.controllers.base.Controller` (informers →
keys → rate-limited work queue → N workers → ``reconcile(key)``), registered in
:data:`~pinnace.controllers.registry.CONTROLLERS` and selectable with
``--controllers`` syntax (:func:`~pinnace.controllers.registry.select_controllers`).
:func:`~pinnace.controllers.manager.run_controller_manager` runs a selection
under one task group, optionally leader-elected. Controllers talk to the API
only through :mod:`pinnace.client` and read resource metadata from
:func:`pinnace.api.resources.catalog`.

Modules: ``base`` (the shared base), ``registry`` (the table), ``manager``,
``discovery`` (resources from the catalog, metadata-only client), ``namespace``
(namespace lifecycle), ``gcgraph`` + ``garbagecollector`` (the garbage collector).
"""

from pinnace.controllers.base import Controller, ControllerContext, Requeue
from pinnace.controllers.manager import (
    ControllerManagerError,
    LeaderElectionLost,
    run_controller_manager,
)
from pinnace.controllers.registry import CONTROLLERS, ControllerSpec, select_controllers

__all__ = [
    "CONTROLLERS",
    "Controller",
    "ControllerContext",
    "ControllerManagerError",
    "ControllerSpec",
    "LeaderElectionLost",
    "Requeue",
    "run_controller_manager",
    "select_controllers",
]
