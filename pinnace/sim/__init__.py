"""pinnace.sim — simulated nodes (kwok-style): many fake kubelets, one process.

* ``profile``: node groups from a YAML profile → one :class:`NodeSpec` per node;
* ``ipam``: node addresses, per-node pod CIDRs and pod IPs;
* ``objects``: the Node, node status and Lease a kubelet writes;
* ``lifecycle``: a pod's simulated life (Pending → Running → Succeeded/Failed);
* ``simulator``: :class:`SimNodes`, which registers the nodes, heartbeats and
  runs their pods through :class:`pinnace.client.Client`.

:func:`run_sim` is the entry point for ``pinnace sim`` and for starting the
simulator inside the server. To kill and revive nodes from a test in the same
process, build a :class:`SimNodes` (or pass ``on_start`` to :func:`run_sim`);
from anywhere else, annotate the Node ``pinnace.io/sim-state: dead``.
See ``docs/sim.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pinnace.client import REAL_CLOCK, Client, ClientConfig, Clock, transport_for
from pinnace.sim.profile import NodeGroup, NodeSpec, ProfileError, expand, load_profile
from pinnace.sim.simulator import SimNodes, SimOptions, scaled_options

__all__ = [
    "NodeGroup",
    "NodeSpec",
    "ProfileError",
    "SimNodes",
    "SimOptions",
    "expand",
    "load_profile",
    "run_sim",
]

# qps/burst for the simulator's client: its concurrency is bounded by its
# worker counts, so the token bucket only needs to stay out of the way
SIM_QPS = 0.0  # unlimited
SIM_BURST = 1000


async def run_sim(
    client_config: ClientConfig | Client,
    *,
    nodes: int | None,
    profile: list[NodeGroup] | str | os.PathLike[str] | None = None,
    name_prefix: str = "sim-",
    clock: Clock = REAL_CLOCK,
    options: SimOptions | None = None,
    on_start: Callable[[SimNodes], None] | None = None,
) -> None:
    """Run ``nodes`` simulated nodes (shaped by ``profile``) until cancelled.

    ``client_config`` may also be a ready :class:`Client` (e.g. one on the
    server's in-process transport); a client built here is closed on return.
    ``on_start`` receives the :class:`SimNodes` before registration starts (its
    ``ready`` event is set once nodes are registered and pods are synced).
    Raises :class:`ProfileError` for a bad profile or node count.
    """
    groups = load_profile(profile) if isinstance(profile, (str, os.PathLike)) else profile
    specs = expand(groups, nodes, name_prefix=name_prefix)
    options = scaled_options(options or SimOptions(), len(specs))
    own = not isinstance(client_config, Client)
    if isinstance(client_config, Client):
        client = client_config
    else:
        cfg = client_config.with_rate_limits(SIM_QPS, SIM_BURST).with_user_agent("pinnace-sim")
        # every connection costs TLS buffers (64 KiB and more): enough for the
        # workers that run at once (heartbeats and pods; registration comes
        # first, alone), no more
        conns = max(options.heartbeat_workers + options.pod_workers, options.register_workers) + 4
        client = Client(
            transport_for(cfg, max_connections=conns),
            qps=cfg.qps,
            burst=cfg.burst,
            clock=clock,
        )
    sim = SimNodes(client, specs, options=options, clock=clock)
    if on_start is not None:
        on_start(sim)
    try:
        await sim.run()
    finally:
        if own:
            await client.close()
