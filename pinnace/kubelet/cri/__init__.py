"""The Container Runtime Interface (runtime.v1) as the kubelet uses it.

``api.proto`` is our own declaration of the CRI with upstream's names and field
numbers; ``api_pb2`` (messages and the service descriptors the client's RPC table
is read from) is generated from it by ``scripts/gen-cri`` (never edited by hand). Callers import the messages as
``from pinnace.kubelet.cri import api_pb2 as cri`` and talk to the runtime
through :class:`RuntimeClient`, whose failures are all :class:`CRIError`.
"""

from . import api_pb2
from .client import CRIError, RuntimeClient, unix_target

__all__ = ["CRIError", "RuntimeClient", "api_pb2", "unix_target"]
