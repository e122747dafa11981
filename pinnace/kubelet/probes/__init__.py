"""Probe handlers shared by the prober (``pinnace.kubelet.prober``) and the
lifecycle hooks (``pinnace.kubelet.lifecycle``).

``handlers`` runs one exec/httpGet/tcpSocket/grpc action and reports a
:class:`~pinnace.kubelet.probes.handlers.Result` with upstream's output text;
``http`` is the GET client both probes and hooks use; ``gofmt`` renders values
the way upstream's Go ``fmt`` verbs do, because those texts end up in Events
and users (and tests written against real clusters) match on them.
"""
