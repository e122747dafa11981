"""An asyncio client for the CRI runtime.v1 API (RuntimeService and ImageService).

The kubelet talks to containerd only through :class:`RuntimeClient`. It is a thin
layer over one grpclib channel to the runtime's Unix socket, built so that the
kubelet's code stays short:

- one coroutine per RPC, taking the identifiers and options as arguments and
  returning the interesting part of the response (the new id, the list, the
  status message) rather than the response wrapper; messages are the generated
  ``api_pb2`` classes with upstream's names, so callers build configs with
  ``cri.PodSandboxConfig(...)`` and read ``status.state == cri.CONTAINER_RUNNING``;
- every call has a deadline: ``timeout`` (10 s by default) for ordinary calls,
  ``pull_timeout`` (2 min) for image pulls, and for calls that themselves wait
  (StopContainer's grace period, ExecSync's timeout) that wait plus ``timeout``;
  each method also accepts ``timeout=``, the whole deadline in seconds;
- every gRPC failure becomes one exception type, :class:`CRIError`, carrying the
  status code (``is_not_found`` is what the kubelet mostly asks), the runtime's
  message and the RPC's name: the runtime's own status, a deadline that ran out
  (``DEADLINE_EXCEEDED``), a socket that does not answer or a connection lost
  mid-call (``UNAVAILABLE``). A call the wrappers do not cover can be made with
  :meth:`RuntimeClient.call` and still gets the same error mapping.

Why grpclib and not grpcio: the node agent's idle memory budget is 60 MB and
grpcio's C core alone costs about 10-19 MB of it (threads, arenas); grpclib is
HTTP/2 in Python over asyncio (h2) at about 2.5 MB, and the CRI's traffic (a few
calls per pod, stats every housekeeping interval) is far from needing more. The
RPC table (path, request and response classes) comes from the proto's
descriptor, so no generated stub module is needed. grpclib puts no limit on
message size, so large lists (ListContainers on a busy node) need no setting.

Concurrency: one channel serves any number of concurrent calls from the event
loop, multiplexed as HTTP/2 streams over one connection. The channel connects on
the first call and again on the first call after the runtime went away, so a
runtime restart needs nothing from the caller; calls made while the socket is
down fail fast with ``UNAVAILABLE`` instead of waiting.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import h2.exceptions
from grpclib.client import Channel, UnaryStreamMethod, UnaryUnaryMethod
from grpclib.const import Status
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from . import api_pb2 as cri

__all__ = ["CRIError", "RuntimeClient", "unix_target"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_PULL_TIMEOUT = 120.0


class CRIError(Exception):
    """A CRI call failed: the gRPC status code, the runtime's message, the RPC."""

    def __init__(self, code: Status, message: str, method: str = "") -> None:
        self.code = code
        self.message = message
        self.method = method
        name = getattr(code, "name", str(code))
        super().__init__(f"{method}: {name}: {message}" if method else f"{name}: {message}")

    @property
    def is_not_found(self) -> bool:
        return self.code == Status.NOT_FOUND

    @property
    def is_unavailable(self) -> bool:
        """The runtime's socket does not answer (not started, restarting, gone)."""
        return self.code == Status.UNAVAILABLE

    @property
    def is_unimplemented(self) -> bool:
        return self.code == Status.UNIMPLEMENTED

    @property
    def is_deadline_exceeded(self) -> bool:
        return self.code == Status.DEADLINE_EXCEEDED


class _Rpc(NamedTuple):
    path: str
    request: type[Any]
    response: type[Any]
    server_streaming: bool


def _rpc_table() -> dict[str, _Rpc]:
    """Every RPC of the proto's services by its upstream name, from the descriptor."""
    table: dict[str, _Rpc] = {}
    for service in cri.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            table[method.name] = _Rpc(
                f"/{service.full_name}/{method.name}",
                getattr(cri, method.input_type.name),
                getattr(cri, method.output_type.name),
                bool(method.server_streaming),
            )
    return table


RPCS = _rpc_table()


def call_error(err: BaseException, method: str) -> CRIError | None:
    """The CRIError for what a grpclib call raised, or None for an exception that
    is not about the call (a bug, a cancellation)."""
    if isinstance(err, GRPCError):
        return CRIError(err.status, err.message or "", method)
    if isinstance(err, TimeoutError):
        return CRIError(Status.DEADLINE_EXCEEDED, "context deadline exceeded", method)
    if isinstance(err, OSError):
        return CRIError(Status.UNAVAILABLE, f"connection error: {err}", method)
    if isinstance(err, StreamTerminatedError):
        return CRIError(Status.UNAVAILABLE, f"error reading from server: {err}", method)
    if isinstance(err, (ProtocolError, h2.exceptions.H2Error)):
        return CRIError(Status.INTERNAL, f"protocol error: {err}", method)
    return None


def unix_target(address: str | Path) -> str:
    """The gRPC target for a socket path (``unix:///path``); targets pass through."""
    text = str(address)
    if "://" in text or text.startswith("unix:"):
        return text
    return "unix://" + text


def _with_labels(filter_msg: Any, label_selector: Mapping[str, str] | None) -> None:
    if label_selector:
        filter_msg.label_selector.update(label_selector)


class RuntimeClient:
    """CRI RuntimeService and ImageService over one grpclib channel.

    ``address`` is a socket path or a ``unix://`` target. Use as
    ``async with RuntimeClient(path) as rt:`` or call :meth:`connect` and
    :meth:`close` yourself.
    """

    def __init__(
        self,
        address: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        pull_timeout: float = DEFAULT_PULL_TIMEOUT,
    ) -> None:
        self.target = unix_target(address)
        self.timeout = timeout
        self.pull_timeout = pull_timeout
        self._channel: Channel | None = None

    # ------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        """Make the channel (idempotent). Connection happens on the first call."""
        if self._channel is not None:
            return
        path = self.target.removeprefix("unix://")
        if path == self.target:
            raise ValueError(f"only unix:// CRI endpoints are supported, not {self.target!r}")
        self._channel = Channel(path=path)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    async def __aenter__(self) -> RuntimeClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------ plumbing

    def _rpc(self, method: str) -> tuple[Channel, _Rpc]:
        if self._channel is None:
            raise RuntimeError("RuntimeClient is not connected (call connect() first)")
        rpc = RPCS.get(method)
        if rpc is None:
            raise ValueError(f"no CRI method {method!r}")
        return self._channel, rpc

    async def call(self, method: str, request: Any, *, timeout: float | None = None) -> Any:
        """Call the RPC named ``method`` (upstream's name, e.g. ``"ContainerStatus"``)
        with a request message; returns the response message. ``timeout`` defaults
        to the client's."""
        return await self._call(method, request, self.timeout if timeout is None else timeout)

    async def _call(self, method: str, request: Any, deadline: float | None) -> Any:
        """The call with exactly this deadline in seconds (None: none at all)."""
        channel, rpc = self._rpc(method)
        if rpc.server_streaming:
            raise ValueError(f"{method} is a streaming RPC")
        call: UnaryUnaryMethod[Any, Any] = UnaryUnaryMethod(
            channel, rpc.path, rpc.request, rpc.response
        )
        try:
            return await call(request, timeout=deadline)
        except Exception as err:
            mapped = call_error(err, method)
            if mapped is None:
                raise
            raise mapped from None

    # --------------------------------------------------------- the runtime

    async def version(self, *, timeout: float | None = None) -> cri.VersionResponse:
        resp: cri.VersionResponse = await self.call(
            "Version", cri.VersionRequest(version="v1"), timeout=timeout
        )
        return resp

    async def status(
        self, *, verbose: bool = False, timeout: float | None = None
    ) -> cri.StatusResponse:
        """The runtime's conditions (RuntimeReady, NetworkReady); ``info`` when verbose."""
        resp: cri.StatusResponse = await self.call(
            "Status", cri.StatusRequest(verbose=verbose), timeout=timeout
        )
        return resp

    async def conditions(self, *, timeout: float | None = None) -> dict[str, cri.RuntimeCondition]:
        """Status conditions by type, e.g. ``conds["RuntimeReady"].status``."""
        resp = await self.status(timeout=timeout)
        return {c.type: c for c in resp.status.conditions}

    async def update_runtime_config(self, pod_cidr: str, *, timeout: float | None = None) -> None:
        config = cri.RuntimeConfig(network_config=cri.NetworkConfig(pod_cidr=pod_cidr))
        await self.call(
            "UpdateRuntimeConfig",
            cri.UpdateRuntimeConfigRequest(runtime_config=config),
            timeout=timeout,
        )

    # ------------------------------------------------------- pod sandboxes

    async def run_pod_sandbox(
        self,
        config: cri.PodSandboxConfig,
        runtime_handler: str = "",
        *,
        timeout: float | None = None,
    ) -> str:
        """Create and start a sandbox; returns its id."""
        resp: cri.RunPodSandboxResponse = await self.call(
            "RunPodSandbox",
            cri.RunPodSandboxRequest(config=config, runtime_handler=runtime_handler),
            timeout=timeout,
        )
        return resp.pod_sandbox_id

    async def stop_pod_sandbox(self, pod_sandbox_id: str, *, timeout: float | None = None) -> None:
        await self.call(
            "StopPodSandbox",
            cri.StopPodSandboxRequest(pod_sandbox_id=pod_sandbox_id),
            timeout=timeout,
        )

    async def remove_pod_sandbox(
        self, pod_sandbox_id: str, *, timeout: float | None = None
    ) -> None:
        await self.call(
            "RemovePodSandbox",
            cri.RemovePodSandboxRequest(pod_sandbox_id=pod_sandbox_id),
            timeout=timeout,
        )

    async def pod_sandbox_status(
        self, pod_sandbox_id: str, *, timeout: float | None = None
    ) -> cri.PodSandboxStatus:
        resp: cri.PodSandboxStatusResponse = await self.call(
            "PodSandboxStatus",
            cri.PodSandboxStatusRequest(pod_sandbox_id=pod_sandbox_id),
            timeout=timeout,
        )
        return resp.status

    async def list_pod_sandbox(
        self,
        filter: cri.PodSandboxFilter | None = None,
        *,
        id: str = "",
        state: cri.PodSandboxState | None = None,
        label_selector: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[cri.PodSandbox]:
        """Sandboxes matching ``filter`` and/or the keyword criteria (all if none)."""
        f = cri.PodSandboxFilter()
        if filter is not None:
            f.CopyFrom(filter)
        if id:
            f.id = id
        if state is not None:
            f.state.state = state
        _with_labels(f, label_selector)
        resp: cri.ListPodSandboxResponse = await self.call(
            "ListPodSandbox", cri.ListPodSandboxRequest(filter=f), timeout=timeout
        )
        return list(resp.items)

    # ---------------------------------------------------------- containers

    async def create_container(
        self,
        pod_sandbox_id: str,
        config: cri.ContainerConfig,
        sandbox_config: cri.PodSandboxConfig,
        *,
        timeout: float | None = None,
    ) -> str:
        """Create a container in a sandbox; returns its id."""
        resp: cri.CreateContainerResponse = await self.call(
            "CreateContainer",
            cri.CreateContainerRequest(
                pod_sandbox_id=pod_sandbox_id, config=config, sandbox_config=sandbox_config
            ),
            timeout=timeout,
        )
        return resp.container_id

    async def start_container(self, container_id: str, *, timeout: float | None = None) -> None:
        await self.call(
            "StartContainer", cri.StartContainerRequest(container_id=container_id), timeout=timeout
        )

    async def stop_container(
        self, container_id: str, grace_seconds: int = 0, *, timeout: float | None = None
    ) -> None:
        """Signal the container to stop and kill it after ``grace_seconds``; the
        call's deadline is ``timeout`` if given, else the grace period plus the
        client's timeout."""
        await self.call(
            "StopContainer",
            cri.StopContainerRequest(container_id=container_id, timeout=grace_seconds),
            timeout=self._plus(grace_seconds) if timeout is None else timeout,
        )

    async def remove_container(self, container_id: str, *, timeout: float | None = None) -> None:
        await self.call(
            "RemoveContainer",
            cri.RemoveContainerRequest(container_id=container_id),
            timeout=timeout,
        )

    async def list_containers(
        self,
        filter: cri.ContainerFilter | None = None,
        *,
        id: str = "",
        pod_sandbox_id: str = "",
        state: cri.ContainerState | None = None,
        label_selector: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[cri.Container]:
        """Containers matching ``filter`` and/or the keyword criteria (all if none)."""
        f = cri.ContainerFilter()
        if filter is not None:
            f.CopyFrom(filter)
        if id:
            f.id = id
        if pod_sandbox_id:
            f.pod_sandbox_id = pod_sandbox_id
        if state is not None:
            f.state.state = state
        _with_labels(f, label_selector)
        resp: cri.ListContainersResponse = await self.call(
            "ListContainers", cri.ListContainersRequest(filter=f), timeout=timeout
        )
        return list(resp.containers)

    async def container_status(
        self, container_id: str, *, timeout: float | None = None
    ) -> cri.ContainerStatus:
        resp: cri.ContainerStatusResponse = await self.call(
            "ContainerStatus",
            cri.ContainerStatusRequest(container_id=container_id),
            timeout=timeout,
        )
        return resp.status

    async def update_container_resources(
        self,
        container_id: str,
        linux: cri.LinuxContainerResources | None = None,
        *,
        annotations: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        req = cri.UpdateContainerResourcesRequest(container_id=container_id, linux=linux)
        if annotations:
            req.annotations.update(annotations)
        await self.call("UpdateContainerResources", req, timeout=timeout)

    async def reopen_container_log(
        self, container_id: str, *, timeout: float | None = None
    ) -> None:
        await self.call(
            "ReopenContainerLog",
            cri.ReopenContainerLogRequest(container_id=container_id),
            timeout=timeout,
        )

    # ----------------------------------------------------- exec, streaming

    async def exec_sync(
        self,
        container_id: str,
        cmd: Sequence[str],
        exec_timeout: float = 0,
        *,
        timeout: float | None = None,
    ) -> cri.ExecSyncResponse:
        """Run ``cmd`` in the container and wait: stdout, stderr (bytes), exit_code.

        ``exec_timeout`` (seconds, 0 = none) is enforced by the runtime; the call's
        deadline is that plus the client's timeout, or none when it is 0 and no
        ``timeout`` is given.
        """
        seconds = math.ceil(exec_timeout) if exec_timeout > 0 else 0
        deadline = timeout if timeout is not None else (self._plus(seconds) if seconds else None)
        resp: cri.ExecSyncResponse = await self._call(
            "ExecSync",
            cri.ExecSyncRequest(container_id=container_id, cmd=list(cmd), timeout=seconds),
            deadline,
        )
        return resp

    async def exec(
        self,
        container_id: str,
        cmd: Sequence[str],
        *,
        tty: bool = False,
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
        timeout: float | None = None,
    ) -> str:
        """Prepare a streaming exec; returns the URL on the runtime's streaming server."""
        resp: cri.ExecResponse = await self.call(
            "Exec",
            cri.ExecRequest(
                container_id=container_id,
                cmd=list(cmd),
                tty=tty,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr and not tty,
            ),
            timeout=timeout,
        )
        return resp.url

    async def attach(
        self,
        container_id: str,
        *,
        tty: bool = False,
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
        timeout: float | None = None,
    ) -> str:
        """Prepare a streaming attach; returns the URL."""
        resp: cri.AttachResponse = await self.call(
            "Attach",
            cri.AttachRequest(
                container_id=container_id,
                tty=tty,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr and not tty,
            ),
            timeout=timeout,
        )
        return resp.url

    async def port_forward(
        self, pod_sandbox_id: str, ports: Iterable[int] = (), *, timeout: float | None = None
    ) -> str:
        """Prepare a port-forward into the sandbox's network namespace; returns the URL."""
        resp: cri.PortForwardResponse = await self.call(
            "PortForward",
            cri.PortForwardRequest(pod_sandbox_id=pod_sandbox_id, port=list(ports)),
            timeout=timeout,
        )
        return resp.url

    # --------------------------------------------------------------- stats

    async def container_stats(
        self, container_id: str, *, timeout: float | None = None
    ) -> cri.ContainerStats:
        resp: cri.ContainerStatsResponse = await self.call(
            "ContainerStats",
            cri.ContainerStatsRequest(container_id=container_id),
            timeout=timeout,
        )
        return resp.stats

    async def list_container_stats(
        self,
        *,
        id: str = "",
        pod_sandbox_id: str = "",
        label_selector: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[cri.ContainerStats]:
        f = cri.ContainerStatsFilter(id=id, pod_sandbox_id=pod_sandbox_id)
        _with_labels(f, label_selector)
        resp: cri.ListContainerStatsResponse = await self.call(
            "ListContainerStats", cri.ListContainerStatsRequest(filter=f), timeout=timeout
        )
        return list(resp.stats)

    async def pod_sandbox_stats(
        self, pod_sandbox_id: str, *, timeout: float | None = None
    ) -> cri.PodSandboxStats:
        resp: cri.PodSandboxStatsResponse = await self.call(
            "PodSandboxStats",
            cri.PodSandboxStatsRequest(pod_sandbox_id=pod_sandbox_id),
            timeout=timeout,
        )
        return resp.stats

    async def list_pod_sandbox_stats(
        self,
        *,
        id: str = "",
        label_selector: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[cri.PodSandboxStats]:
        f = cri.PodSandboxStatsFilter(id=id)
        _with_labels(f, label_selector)
        resp: cri.ListPodSandboxStatsResponse = await self.call(
            "ListPodSandboxStats", cri.ListPodSandboxStatsRequest(filter=f), timeout=timeout
        )
        return list(resp.stats)

    # -------------------------------------------------------------- events

    async def container_events(self) -> AsyncIterator[cri.ContainerEventResponse]:
        """The runtime's container event stream (GetContainerEvents), without a
        deadline. containerd 1.6 answers ``UNIMPLEMENTED`` (raised as CRIError)."""
        channel, rpc = self._rpc("GetContainerEvents")
        events: UnaryStreamMethod[Any, Any] = UnaryStreamMethod(
            channel, rpc.path, rpc.request, rpc.response
        )
        try:
            async with events.open() as stream:
                await stream.send_message(cri.GetEventsRequest(), end=True)
                async for event in stream:
                    yield event
        except Exception as err:
            mapped = call_error(err, "GetContainerEvents")
            if mapped is None:
                raise
            raise mapped from None

    # -------------------------------------------------------------- images

    async def list_images(
        self, image: str = "", *, timeout: float | None = None
    ) -> list[cri.Image]:
        """All images, or those matching the reference ``image``."""
        req = cri.ListImagesRequest()
        if image:
            req.filter.image.image = image
        resp: cri.ListImagesResponse = await self.call("ListImages", req, timeout=timeout)
        return list(resp.images)

    async def image_status(
        self, image: str | cri.ImageSpec, *, timeout: float | None = None
    ) -> cri.Image | None:
        """The image, or None when it is not present (the runtime answers that
        with an empty response, not an error)."""
        resp: cri.ImageStatusResponse = await self.call(
            "ImageStatus", cri.ImageStatusRequest(image=_spec(image)), timeout=timeout
        )
        return resp.image if resp.HasField("image") else None

    async def pull_image(
        self,
        image: str | cri.ImageSpec,
        *,
        auth: cri.AuthConfig | None = None,
        sandbox_config: cri.PodSandboxConfig | None = None,
        timeout: float | None = None,
    ) -> str:
        """Pull ``image``; returns the image reference (its id) the runtime resolved.
        The deadline is ``pull_timeout`` unless ``timeout`` is given."""
        resp: cri.PullImageResponse = await self.call(
            "PullImage",
            cri.PullImageRequest(image=_spec(image), auth=auth, sandbox_config=sandbox_config),
            timeout=self.pull_timeout if timeout is None else timeout,
        )
        return resp.image_ref

    async def remove_image(
        self, image: str | cri.ImageSpec, *, timeout: float | None = None
    ) -> None:
        await self.call("RemoveImage", cri.RemoveImageRequest(image=_spec(image)), timeout=timeout)

    async def image_fs_info(self, *, timeout: float | None = None) -> list[cri.FilesystemUsage]:
        resp: cri.ImageFsInfoResponse = await self.call(
            "ImageFsInfo", cri.ImageFsInfoRequest(), timeout=timeout
        )
        return list(resp.image_filesystems)

    # ------------------------------------------------------------- helpers

    def _plus(self, seconds: float) -> float:
        return max(0.0, seconds) + self.timeout


def _spec(image: str | cri.ImageSpec) -> cri.ImageSpec:
    return cri.ImageSpec(image=image) if isinstance(image, str) else image
