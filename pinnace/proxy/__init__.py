"""kube-proxy: programs this node's netfilter so that Service addresses reach
their endpoints (``iptables`` mode by default, ``nftables`` mode; ``ipvs`` is
refused — this kernel has no IPVS).

Layout (each module's docstring has the details):

* ``config``: :class:`ProxyConfig`, :class:`ProxyError`;
* ``model``, ``topology``, ``state``: Services and EndpointSlices → service
  ports and the endpoints that serve them, with change tracking;
* ``iptables``, ``nftables``: pure rule generation (model → restore text);
* ``iptables_proxier``, ``nftables_proxier``: full/partial/skip decisions and
  applying the text atomically (``runner`` runs the tools);
* ``syncloop``: rate-limited syncs; ``proxy``: :func:`run_proxy`;
* ``healthcheck``: the ``healthCheckNodePort`` HTTP servers;
* ``cleanup``: :func:`cleanup`; ``metrics``: upstream's metric names.
"""

from pinnace.proxy.cleanup import cleanup
from pinnace.proxy.config import ProxyConfig, ProxyError
from pinnace.proxy.proxy import make_proxier, run_proxy

__all__ = ["ProxyConfig", "ProxyError", "cleanup", "make_proxier", "run_proxy"]
