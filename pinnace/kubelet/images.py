"""Image pulls for containers: ``imagePullPolicy``, credentials, back-off, events.

Upstream's rules: ``Never`` uses only what is present (``ErrImageNeverPull``);
``IfNotPresent`` pulls when missing; ``Always`` asks the registry every time
(containerd resolves the tag and fetches only missing layers). A failed pull
is ``ErrImagePull`` and the next attempts wait an exponential back-off (10 s
doubling to 5 min) with the container ``ImagePullBackOff`` meanwhile.
Credentials come from the pod's ``imagePullSecrets`` first, then the node's
``registries.yaml``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from pinnace.client import Obj
from pinnace.image.registries import AuthConfig
from pinnace.kubelet.cri import api_pb2 as cri
from pinnace.kubelet.cri.client import CRIError, RuntimeClient

__all__ = ["Backoff", "ImageError", "ImageManager"]

log = logging.getLogger("pinnace.kubelet.images")

EventFn = Callable[[Obj, str, str, str, str], None]
"""event(pod, type, reason, message, field_path)"""


class ImageError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Backoff:
    """Per-key exponential back-off (client-go's ``flowcontrol.Backoff``)."""

    def __init__(self, initial: float = 10.0, maximum: float = 300.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._entries: dict[str, tuple[float, float]] = {}  # key -> (delay, last)

    def in_backoff_since(self, key: str, since: float, now: float | None = None) -> float:
        """Seconds left of the back-off that started at ``since`` (0: none)."""
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        now = time.time() if now is None else now
        delay, last = entry
        if now - last > 2 * self.maximum:  # quiet long enough: forget
            del self._entries[key]
            return 0.0
        return max(0.0, since + delay - now)

    def in_backoff(self, key: str, now: float | None = None) -> bool:
        """Whether the back-off started by the last :meth:`next` is still running."""
        entry = self._entries.get(key)
        return entry is not None and self.in_backoff_since(key, entry[1], now) > 0

    def next(self, key: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        entry = self._entries.get(key)
        delay = self.initial if entry is None else min(entry[0] * 2, self.maximum)
        self._entries[key] = (delay, now)
        return delay

    def current(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry[0] if entry else 0.0

    def reset(self, key: str) -> None:
        self._entries.pop(key, None)


def _has_tag_or_digest(image: str) -> bool:
    last = image.rsplit("/", 1)[-1]
    return "@" in last or ":" in last


def default_pull_policy(image: str) -> str:
    if not _has_tag_or_digest(image) or image.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


class ImageManager:
    def __init__(
        self,
        runtime: RuntimeClient,
        *,
        event: EventFn,
        credentials: Callable[[Obj, str], Awaitable[AuthConfig | None]] | None = None,
    ) -> None:
        self.runtime = runtime
        self.event = event
        self.credentials = credentials
        self.backoff = Backoff()

    async def ensure(self, pod: Obj, container: Obj, field_path: str) -> str:
        """Make ``container.image`` present; returns the image reference to run.
        Raises :class:`ImageError` with the waiting reason."""
        image = container.get("image") or ""
        policy = container.get("imagePullPolicy") or default_pull_policy(image)
        present = None
        try:
            present = await self.runtime.image_status(image)
        except CRIError as e:
            log.debug("image status %s: %s", image, e)
        if policy == "Never":
            if present is None:
                msg = f'Container image "{image}" is not present with pull policy of Never'
                self.event(pod, "Warning", "ErrImageNeverPull", msg, field_path)
                raise ImageError("ErrImageNeverPull", msg)
            return image
        if present is not None and policy == "IfNotPresent":
            self.event(
                pod, "Normal", "Pulled",
                f'Container image "{image}" already present on machine', field_path,
            )  # fmt: skip
            return image
        key = f"{pod['metadata']['uid']}/{image}"
        if self.backoff.in_backoff(key):
            msg = f'Back-off pulling image "{image}"'
            self.event(pod, "Normal", "BackOff", msg, field_path)
            raise ImageError("ImagePullBackOff", msg)
        self.event(pod, "Normal", "Pulling", f'Pulling image "{image}"', field_path)
        started = time.monotonic()
        auth = None
        if self.credentials is not None:
            creds = await self.credentials(pod, image)
            if creds is not None:
                auth = cri.AuthConfig(
                    username=creds.username,
                    password=creds.password,
                    auth=creds.auth,
                    server_address=creds.server_address,
                    identity_token=creds.identity_token,
                    registry_token=creds.registry_token,
                )
        try:
            await self.runtime.pull_image(image, auth=auth)
        except CRIError as e:
            self.backoff.next(key)
            msg = f'Failed to pull image "{image}": {e.message}'
            self.event(pod, "Warning", "Failed", msg, field_path)
            self.event(pod, "Warning", "Failed", "Error: ErrImagePull", field_path)
            raise ImageError("ErrImagePull", msg) from e
        self.backoff.reset(key)
        took = time.monotonic() - started
        size = 0
        try:
            st = await self.runtime.image_status(image)
            size = int(st.size) if st is not None else 0
        except CRIError:
            pass
        self.event(
            pod, "Normal", "Pulled",
            f'Successfully pulled image "{image}" in {took:.3f}s ({took:.3f}s including waiting).'
            f" Image size: {size} bytes.",
            field_path,
        )  # fmt: skip
        return image
