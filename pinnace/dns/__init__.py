"""Cluster DNS (the kube-dns add-on): CoreDNS's ``kubernetes`` plugin
behaviour over UDP and TCP, with a cache and forwarding of other names.

Modules: ``config`` (:class:`DnsConfig`), ``index`` (what the informers
know, indexed), ``source`` (informers → index), ``records`` (question →
answer for the cluster zone), ``wire`` (byte-level helpers), ``cache`` (answers
by query bytes), ``forward`` (upstream resolvers), ``server`` (UDP/TCP
listeners), ``metrics`` (CoreDNS metric names, ``/metrics`` ``/health``
``/ready``), ``addon`` (the kube-dns Service and EndpointSlice), ``run``
(:func:`run_dns`).
"""

from pinnace.dns.config import DnsConfig
from pinnace.dns.run import ClusterDns, run_dns

__all__ = ["ClusterDns", "DnsConfig", "run_dns"]
