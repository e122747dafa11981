"""RuntimeClient against a fake CRI server (grpcio's grpc.aio on a Unix socket in
tmp_path, so the client meets an HTTP/2 implementation other than its own):
requests carry the arguments, responses are unwrapped, deadlines follow the
rules, and gRPC failures become CRIError."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from grpclib.const import Status

from pinnace.kubelet.cri import CRIError, RuntimeClient, unix_target
from pinnace.kubelet.cri import api_pb2 as cri


class FakeRuntime:
    """Records each request and the deadline left when it arrived. RPCs it does
    not define answer UNIMPLEMENTED, as a runtime of an older CRI would."""

    def __init__(self) -> None:
        self.requests: dict[str, Any] = {}
        self.remaining: dict[str, float | None] = {}

    def _seen(self, name: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        self.requests[name] = request
        self.remaining[name] = context.time_remaining()

    async def Version(self, request: Any, context: Any) -> cri.VersionResponse:
        self._seen("Version", request, context)
        return cri.VersionResponse(
            version="0.1.0", runtime_name="fake", runtime_version="1", runtime_api_version="v1"
        )

    async def Status(self, request: Any, context: Any) -> cri.StatusResponse:
        self._seen("Status", request, context)
        return cri.StatusResponse(
            status=cri.RuntimeStatus(
                conditions=[
                    cri.RuntimeCondition(type="RuntimeReady", status=True),
                    cri.RuntimeCondition(
                        type="NetworkReady", status=False, reason="NetworkPluginNotReady"
                    ),
                ]
            )
        )

    async def RunPodSandbox(self, request: Any, context: Any) -> cri.RunPodSandboxResponse:
        self._seen("RunPodSandbox", request, context)
        return cri.RunPodSandboxResponse(pod_sandbox_id="sandbox-1")

    async def CreateContainer(self, request: Any, context: Any) -> cri.CreateContainerResponse:
        self._seen("CreateContainer", request, context)
        return cri.CreateContainerResponse(container_id="ctr-1")

    async def StopContainer(self, request: Any, context: Any) -> cri.StopContainerResponse:
        self._seen("StopContainer", request, context)
        return cri.StopContainerResponse()

    async def ListContainers(self, request: Any, context: Any) -> cri.ListContainersResponse:
        self._seen("ListContainers", request, context)
        return cri.ListContainersResponse(
            containers=[cri.Container(id="a"), cri.Container(id="b", state=cri.CONTAINER_RUNNING)]
        )

    async def ListPodSandbox(self, request: Any, context: Any) -> cri.ListPodSandboxResponse:
        self._seen("ListPodSandbox", request, context)
        return cri.ListPodSandboxResponse(items=[cri.PodSandbox(id="s")])

    async def ContainerStatus(self, request: Any, context: Any) -> cri.ContainerStatusResponse:
        self._seen("ContainerStatus", request, context)
        if request.container_id != "ctr-1":
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f'an error occurred when try to find container "{request.container_id}": not found',
            )
        return cri.ContainerStatusResponse(
            status=cri.ContainerStatus(id="ctr-1", state=cri.CONTAINER_EXITED, exit_code=3)
        )

    async def ExecSync(self, request: Any, context: Any) -> cri.ExecSyncResponse:
        self._seen("ExecSync", request, context)
        if list(request.cmd) == ["sleep"]:
            await asyncio.sleep(5)
        return cri.ExecSyncResponse(stdout=b"hello\n", exit_code=0)

    async def Exec(self, request: Any, context: Any) -> cri.ExecResponse:
        self._seen("Exec", request, context)
        return cri.ExecResponse(url="http://127.0.0.1:1234/exec/abc")

    async def GetContainerEvents(
        self, request: Any, context: Any
    ) -> AsyncIterator[cri.ContainerEventResponse]:
        for i in range(3):
            yield cri.ContainerEventResponse(
                container_id=f"c{i}", container_event_type=cri.CONTAINER_STARTED_EVENT
            )

    async def PullImage(self, request: Any, context: Any) -> cri.PullImageResponse:
        self._seen("PullImage", request, context)
        return cri.PullImageResponse(image_ref="sha256:feed")

    async def ImageStatus(self, request: Any, context: Any) -> cri.ImageStatusResponse:
        self._seen("ImageStatus", request, context)
        if request.image.image == "present:1":
            return cri.ImageStatusResponse(image=cri.Image(id="sha256:1", size=10))
        return cri.ImageStatusResponse()


def handlers_for(servicer: FakeRuntime) -> list[grpc.GenericRpcHandler]:
    """grpcio handlers for the servicer's methods, one per service of the proto,
    built from its descriptor."""
    handlers = []
    for service in cri.DESCRIPTOR.services_by_name.values():
        methods = {}
        for method in service.methods:
            impl = getattr(servicer, method.name, None)
            if impl is None:
                continue
            make = (
                grpc.unary_stream_rpc_method_handler
                if method.server_streaming
                else grpc.unary_unary_rpc_method_handler
            )
            methods[method.name] = make(
                impl,
                request_deserializer=getattr(cri, method.input_type.name).FromString,
                response_serializer=getattr(cri, method.output_type.name).SerializeToString,
            )
        handlers.append(grpc.method_handlers_generic_handler(service.full_name, methods))
    return handlers


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[tuple[FakeRuntime, RuntimeClient]]:
    servicer = FakeRuntime()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(handlers_for(servicer))
    sock = tmp_path / "cri.sock"
    server.add_insecure_port(unix_target(sock))
    await server.start()
    client = RuntimeClient(sock, timeout=10.0, pull_timeout=120.0)
    await client.connect()
    try:
        yield servicer, client
    finally:
        await client.close()
        await server.stop(None)


def test_unix_target() -> None:
    assert unix_target("/run/x.sock") == "unix:///run/x.sock"
    assert unix_target(Path("/run/x.sock")) == "unix:///run/x.sock"
    assert unix_target("unix:///run/x.sock") == "unix:///run/x.sock"


async def test_version_and_conditions(fake: tuple[FakeRuntime, RuntimeClient]) -> None:
    server, rt = fake
    v = await rt.version()
    assert (v.runtime_name, v.runtime_api_version) == ("fake", "v1")
    assert server.requests["Version"].version == "v1"
    conds = await rt.conditions()
    assert conds["RuntimeReady"].status is True
    assert conds["NetworkReady"].status is False
    assert conds["NetworkReady"].reason == "NetworkPluginNotReady"


async def test_sandbox_and_container_ids_are_returned(
    fake: tuple[FakeRuntime, RuntimeClient],
) -> None:
    server, rt = fake
    config = cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name="p", uid="u", namespace="ns", attempt=2)
    )
    assert await rt.run_pod_sandbox(config, runtime_handler="runc") == "sandbox-1"
    req = server.requests["RunPodSandbox"]
    assert req.runtime_handler == "runc"
    assert req.config.metadata.attempt == 2

    cc = cri.ContainerConfig(metadata=cri.ContainerMetadata(name="c"), log_path="c/0.log")
    assert await rt.create_container("sandbox-1", cc, config) == "ctr-1"
    req = server.requests["CreateContainer"]
    assert req.pod_sandbox_id == "sandbox-1"
    assert req.config.log_path == "c/0.log"
    assert req.sandbox_config.metadata.name == "p"


async def test_list_filters_from_keywords(fake: tuple[FakeRuntime, RuntimeClient]) -> None:
    server, rt = fake
    got = await rt.list_containers(
        pod_sandbox_id="s1", state=cri.CONTAINER_RUNNING, label_selector={"app": "x"}
    )
    assert [c.id for c in got] == ["a", "b"]
    f = server.requests["ListContainers"].filter
    assert f.pod_sandbox_id == "s1"
    assert f.HasField("state") and f.state.state == cri.CONTAINER_RUNNING
    assert dict(f.label_selector) == {"app": "x"}

    await rt.list_containers()
    f = server.requests["ListContainers"].filter
    assert not f.HasField("state")  # CONTAINER_CREATED (0) is a state; unset means any
    assert f.pod_sandbox_id == ""

    given = cri.ContainerFilter(id="c9")
    await rt.list_containers(given, label_selector={"k": "v"})
    f = server.requests["ListContainers"].filter
    assert (f.id, dict(f.label_selector)) == ("c9", {"k": "v"})
    assert dict(given.label_selector) == {}  # the caller's filter is not modified

    sandboxes = await rt.list_pod_sandbox(state=cri.SANDBOX_READY)
    assert [s.id for s in sandboxes] == ["s"]
    f = server.requests["ListPodSandbox"].filter
    assert f.HasField("state") and f.state.state == cri.SANDBOX_READY


async def test_not_found_becomes_crierror(fake: tuple[FakeRuntime, RuntimeClient]) -> None:
    _, rt = fake
    status = await rt.container_status("ctr-1")
    assert (status.state, status.exit_code) == (cri.CONTAINER_EXITED, 3)
    with pytest.raises(CRIError) as info:
        await rt.container_status("gone")
    err = info.value
    assert err.is_not_found
    assert err.code == Status.NOT_FOUND
    assert err.method == "ContainerStatus"
    assert '"gone": not found' in err.message
    assert "ContainerStatus: NOT_FOUND" in str(err)


async def test_unimplemented_rpc(fake: tuple[FakeRuntime, RuntimeClient]) -> None:
    _, rt = fake
    with pytest.raises(CRIError) as info:
        await rt.reopen_container_log("ctr-1")
    assert info.value.is_unimplemented
    assert not info.value.is_not_found


async def test_unavailable_when_nothing_listens(tmp_path: Path) -> None:
    async with RuntimeClient(tmp_path / "none.sock", timeout=5.0) as rt:
        with pytest.raises(CRIError) as info:
            await rt.version()
    assert info.value.is_unavailable


async def test_not_connected_is_a_clear_error(tmp_path: Path) -> None:
    rt = RuntimeClient(tmp_path / "none.sock")
    with pytest.raises(RuntimeError, match="not connected"):
        await rt.version()


async def test_deadlines(fake: tuple[FakeRuntime, RuntimeClient]) -> None:
    server, rt = fake
    # The grpc-timeout header is rounded up on the wire: allow 2 s over.
    await rt.version()
    assert server.remaining["Version"] is not None and server.remaining["Version"] <= 12.0

    assert await rt.pull_image("busybox") == "sha256:feed"
    assert server.requests["PullImage"].image.image == "busybox"
    left = server.remaining["PullImage"]
    assert left is not None and 10.0 < left <= 122.0

    await rt.stop_container("ctr-1", 30)
    assert server.requests["StopContainer"].timeout == 30
    left = server.remaining["StopContainer"]
    assert left is not None and 30.0 < left <= 42.0

    await rt.stop_container("ctr-1", 30, timeout=200.0)
    left = server.remaining["StopContainer"]
    assert left is not None and 120.0 < left <= 202.0

    await rt.version(timeout=300.0)
    left = server.remaining["Version"]
    assert left is not None and left > 120.0


async def test_exec_sync_timeout_and_deadline(fake: tuple[FakeRuntime, RuntimeClient]) -> None:
    server, rt = fake
    resp = await rt.exec_sync("ctr-1", ["echo", "hello"], 2.5)
    assert (resp.stdout, resp.exit_code) == (b"hello\n", 0)
    req = server.requests["ExecSync"]
    assert (list(req.cmd), req.timeout) == (["echo", "hello"], 3)
    left = server.remaining["ExecSync"]
    assert left is not None and 10.0 < left <= 15.0

    await rt.exec_sync("ctr-1", ["true"])
    assert server.requests["ExecSync"].timeout == 0
    assert server.remaining["ExecSync"] is None  # no timeout asked: no deadline


async def test_exec_url_and_tty_implies_no_stderr(
    fake: tuple[FakeRuntime, RuntimeClient],
) -> None:
    server, rt = fake
    assert await rt.exec("ctr-1", ["sh"], tty=True, stdin=True) == (
        "http://127.0.0.1:1234/exec/abc"
    )
    req = server.requests["Exec"]
    assert (req.tty, req.stdin, req.stdout, req.stderr) == (True, True, True, False)


async def test_image_status_none_when_absent(fake: tuple[FakeRuntime, RuntimeClient]) -> None:
    _, rt = fake
    image = await rt.image_status("present:1")
    assert image is not None and image.id == "sha256:1"
    assert await rt.image_status("absent:1") is None


async def test_generic_call_maps_errors(fake: tuple[FakeRuntime, RuntimeClient]) -> None:
    _, rt = fake
    resp = await rt.call("ContainerStatus", cri.ContainerStatusRequest(container_id="ctr-1"))
    assert resp.status.id == "ctr-1"
    with pytest.raises(CRIError) as info:
        await rt.call("ContainerStatus", cri.ContainerStatusRequest(container_id="x"))
    assert info.value.is_not_found
    with pytest.raises(ValueError, match="no CRI method"):
        await rt.call("NoSuchThing", cri.VersionRequest())


async def test_wire_numbers_match_upstream() -> None:
    # Spot checks of field numbers that upstream assigned out of order; a slip
    # here silently sends a different field to the runtime.
    def num(msg: Any, field: str) -> int:
        return int(msg.DESCRIPTOR.fields_by_name[field].number)

    assert num(cri.LinuxSandboxSecurityContext, "run_as_group") == 8
    assert num(cri.LinuxSandboxSecurityContext, "seccomp") == 9
    assert num(cri.LinuxContainerSecurityContext, "run_as_group") == 12
    assert num(cri.LinuxContainerSecurityContext, "no_new_privs") == 11
    assert num(cri.LinuxContainerSecurityContext, "apparmor") == 16
    assert num(cri.Namespace, "options") == 2
    assert num(cri.ContainerConfig, "log_path") == 11
    assert num(cri.ContainerStatus, "resources") == 16
    assert num(cri.LinuxContainerResources, "memory_swap_limit_in_bytes") == 10
    assert cri.DESCRIPTOR.package == "runtime.v1"
    names = {m.name for m in cri.DESCRIPTOR.services_by_name["RuntimeService"].methods}
    assert {"RunPodSandbox", "ExecSync", "PortForward", "ListPodSandboxStats"} <= names


async def test_deadline_exceeded_becomes_crierror(
    fake: tuple[FakeRuntime, RuntimeClient],
) -> None:
    _, rt = fake
    with pytest.raises(CRIError) as info:
        await rt.exec_sync("ctr-1", ["sleep"], timeout=0.2)
    assert info.value.is_deadline_exceeded
    assert info.value.method == "ExecSync"


async def test_event_stream(fake: tuple[FakeRuntime, RuntimeClient]) -> None:
    _, rt = fake
    got = [event.container_id async for event in rt.container_events()]
    assert got == ["c0", "c1", "c2"]


async def test_reconnects_after_the_runtime_restarts(tmp_path: Path) -> None:
    sock = tmp_path / "cri.sock"

    async def serve() -> grpc.aio.Server:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(handlers_for(FakeRuntime()))
        server.add_insecure_port(unix_target(sock))
        await server.start()
        return server

    async with RuntimeClient(sock, timeout=5.0) as rt:
        server = await serve()
        assert (await rt.version()).runtime_name == "fake"
        await server.stop(None)
        with pytest.raises(CRIError) as info:
            await rt.version()
        assert info.value.is_unavailable
        server = await serve()
        try:
            assert (await rt.version()).runtime_name == "fake"
        finally:
            await server.stop(None)
