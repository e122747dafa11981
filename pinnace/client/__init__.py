"""pinnace.client — how every component talks to the API server.

Layers, bottom up (each module's docstring has the details):

* ``transport``: the byte-moving seam (:class:`Transport`); HTTPS via aiohttp,
  an in-process loopback transport comes from the apiserver;
* ``config``: kubeconfig → :class:`ClientConfig`;
* ``rest``: :class:`Client`, generic CRUD/patch/subresources on any resource,
  errors as :class:`ApiError` subclasses, client-side rate limiting;
* ``watch``: :func:`watch` streams and the list+watch :class:`Reflector`;
* ``informer``: :class:`Informer` caches with handlers and indexes, shared via
  :class:`SharedInformerFactory`;
* ``workqueue``: client-go's rate-limited :class:`WorkQueue`;
* ``leaderelection``: :class:`LeaderElector` on Leases;
* ``events``: :class:`EventRecorder`;
* ``clock``: the injectable :class:`Clock` (:class:`FakeClock` for tests).
"""

from pinnace.client.clock import REAL_CLOCK, Clock, FakeClock, RealClock
from pinnace.client.config import ClientConfig, ConfigError
from pinnace.client.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Expired,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from pinnace.client.events import NORMAL, WARNING, EventRecorder
from pinnace.client.informer import (
    EventHandler,
    Informer,
    SharedInformerFactory,
    Store,
    namespace_index,
    trim_for_cache,
)
from pinnace.client.leaderelection import LeaderElectionRecord, LeaderElector
from pinnace.client.loopback import LoopbackTransport
from pinnace.client.objects import (
    EVENTS,
    LEASES,
    PODS,
    Key,
    Obj,
    ResourceLike,
    ResourceRef,
    key_of,
    object_reference,
    resource_path,
    split_key,
)
from pinnace.client.ratelimit import (
    BucketLimiter,
    ItemExponentialLimiter,
    MaxOfLimiter,
    RateLimiter,
    TokenBucket,
    default_controller_rate_limiter,
)
from pinnace.client.rest import Client, PatchType, PropagationPolicy
from pinnace.client.transport import (
    AiohttpTransport,
    Response,
    Transport,
    TransportError,
    transport_for,
)
from pinnace.client.watch import Reflector, ReflectorHandler, WatchEvent, watch
from pinnace.client.workqueue import ShutDown, WorkQueue

__all__ = [
    "EVENTS",
    "LEASES",
    "NORMAL",
    "PODS",
    "REAL_CLOCK",
    "WARNING",
    "AiohttpTransport",
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "BucketLimiter",
    "Client",
    "ClientConfig",
    "Clock",
    "ConfigError",
    "Conflict",
    "EventHandler",
    "EventRecorder",
    "Expired",
    "FakeClock",
    "Forbidden",
    "Gone",
    "Informer",
    "Invalid",
    "ItemExponentialLimiter",
    "Key",
    "LeaderElectionRecord",
    "LeaderElector",
    "LoopbackTransport",
    "MaxOfLimiter",
    "NotFound",
    "Obj",
    "PatchType",
    "PropagationPolicy",
    "RateLimiter",
    "RealClock",
    "Reflector",
    "ReflectorHandler",
    "ResourceLike",
    "ResourceRef",
    "Response",
    "SharedInformerFactory",
    "ShutDown",
    "Store",
    "TokenBucket",
    "TooManyRequests",
    "Transport",
    "TransportError",
    "Unauthorized",
    "WatchEvent",
    "WorkQueue",
    "default_controller_rate_limiter",
    "key_of",
    "namespace_index",
    "object_reference",
    "resource_path",
    "split_key",
    "transport_for",
    "trim_for_cache",
    "watch",
]
