"""Default certificate lifetimes, apart from :mod:`pinnace.apiserver.certs` so
that command-line flags can name them without loading ``cryptography`` (about
12 MB of memory) in processes that never make a certificate, such as the
node agent."""

from __future__ import annotations

import datetime as dt

__all__ = ["DEFAULT_CA_VALIDITY", "DEFAULT_CERT_VALIDITY", "DEFAULT_RENEW_BEFORE"]

#: how long a newly created cluster CA is valid (``--ca-validity``)
DEFAULT_CA_VALIDITY = dt.timedelta(days=3650)
#: how long leaf certificates are valid (``--cert-validity``, ``pinnace kubeconfig --expires``)
DEFAULT_CERT_VALIDITY = dt.timedelta(days=365)
#: leaf certificates are issued again at start-up when they expire within this
#: (or within a third of their validity, when that is shorter)
DEFAULT_RENEW_BEFORE = dt.timedelta(days=30)
