"""Repair of Service allocations (upstream's cluster IP and node port repair
controllers): make the allocation keys agree with the Services that exist.

One pass:

* every cluster IP and node port a Service holds must have its key: a
  missing key is created for that Service ("was assigned but not recorded;
  repairing"); a key held by another *live* Service is a conflict that cannot
  be fixed automatically (logged as a warning: one of the two Services must be
  re-created); a key whose recorded owner is gone is handed over;
* values outside the configured ranges (the range changed) are logged;
* a key no live Service holds is leaked, but a create may be in flight on
  another API server (key written, object not yet): a leaked key is released
  only when the next pass finds it leaked again, unchanged (same mod
  revision).

Runs once at start-up, before the server serves, then every ``interval``
seconds. Concurrency model: one task on the API server's loop; the Services
come from the watch cache, the keys from the Backend; releases are guarded by
the key's mod revision, so a value re-allocated in between is never freed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pinnace.apiserver.services.allocation import ServiceAllocators, held_values
from pinnace.apiserver.services.allocator import (
    AllocationError,
    Holding,
    KeyAllocator,
    Owner,
)
from pinnace.storage import ConflictError, KeyNotFoundError

__all__ = ["ServiceRepair"]

log = logging.getLogger("pinnace.apiserver.services.repair")

Obj = dict[str, Any]
V = TypeVar("V", str, int)

#: upstream repairs every 3 minutes
REPAIR_INTERVAL = 180.0


class ServiceRepair:
    def __init__(
        self,
        allocators: ServiceAllocators,
        list_services: Callable[[], Iterable[Obj]],
        interval: float = REPAIR_INTERVAL,
    ) -> None:
        self.allocators = allocators
        self.list_services = list_services
        self.interval = interval
        # leaked keys seen on the last pass: (prefix, value) -> mod revision
        self._leaked: dict[tuple[str, str | int], int] = {}

    async def run(self) -> None:
        """Repair every ``interval`` seconds until cancelled (after the first
        pass, which the caller runs with :meth:`run_once`)."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("service allocation repair failed; retrying in %ss", self.interval)

    async def run_once(self) -> None:
        ip_keys = await self.allocators.ips.list()
        port_keys = await self.allocators.ports.list()
        want_ips: dict[str, list[Owner]] = {}
        want_ports: dict[int, list[Owner]] = {}
        live: set[str] = set()
        for svc in self.list_services():
            meta = svc.get("metadata") or {}
            owner = Owner(
                str(meta.get("namespace", "")), str(meta.get("name", "")), str(meta.get("uid", ""))
            )
            live.add(owner.uid)
            held = held_values(svc)
            for ip in held.ips:
                want_ips.setdefault(ip, []).append(owner)
            for port in held.ports:
                want_ports.setdefault(port, []).append(owner)
        leaked: dict[tuple[str, str | int], int] = {}
        await self._repair(self.allocators.ips, "cluster IP", want_ips, ip_keys, live, leaked)
        await self._repair(self.allocators.ports, "node port", want_ports, port_keys, live, leaked)
        self._leaked = leaked

    async def _repair(
        self,
        alloc: KeyAllocator[V],
        what: str,
        wanted: dict[V, list[Owner]],
        keys: dict[V, Holding],
        live: set[str],
        leaked: dict[tuple[str, str | int], int],
    ) -> None:
        for value, owners in wanted.items():
            if len(owners) > 1:
                names = ", ".join(sorted(str(o) for o in owners))
                log.warning(
                    "%s %s was assigned to multiple services (%s); please recreate service",
                    what,
                    value,
                    names,
                )
            owner = owners[0]
            if not alloc.contains(value):
                log.warning(
                    "%s %s of service %s is not within the configured range; please recreate service",
                    what,
                    value,
                    owner,
                )
                continue
            held = keys.get(value)
            if held is not None and any(o.uid == held.owner.uid for o in owners):
                continue
            if held is not None and held.owner.uid in live:
                log.warning(
                    "%s %s of service %s is allocated to service %s; please recreate service",
                    what,
                    value,
                    owner,
                    held.owner,
                )
                continue
            if held is not None:  # its recorded owner is gone: hand it over
                try:
                    await alloc.backend.update(alloc.key(value), owner.encode(), held.mod_revision)
                except (ConflictError, KeyNotFoundError):
                    pass  # changed meanwhile: the next pass looks again
                continue
            try:
                await alloc.allocate(value, owner)
                log.warning("%s %s of service %s was not recorded; repairing", what, value, owner)
            except AllocationError as e:
                log.warning("%s %s of service %s: cannot repair: %s", what, value, owner, e)
        for value, held in keys.items():
            if wanted.get(value):
                continue  # held as wanted, a conflict (logged above) or handed over
            slot = (alloc.prefix, value)
            if self._leaked.get(slot) == held.mod_revision:
                if await alloc.release(value, mod_revision=held.mod_revision):
                    log.info("%s %s of %s leaked; released", what, value, held.owner)
            else:
                leaked[slot] = held.mod_revision
