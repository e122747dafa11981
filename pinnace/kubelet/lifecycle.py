"""Container lifecycle hooks: ``postStart`` and ``preStop``.

A hook handler is ``exec`` (a command run in the container through CRI
``ExecSync``, without a timeout), ``httpGet`` (a GET to the pod, as a probe's but
with ``User-Agent: kube-lifecycle/1.32``, no timeout, and only transport errors
count: any HTTP status is fine) or ``sleep`` (wait ``seconds``). Behaviour and
texts follow upstream's ``pkg/kubelet/lifecycle/handlers.go`` and
``kuberuntime_container.go`` (v1.32):

- :func:`run_hook` runs one handler and returns None, or the failure message
  upstream puts in the ``FailedPostStartHook`` event, e.g. ``Exec lifecycle hook
  ([sh -c exit 1]) for Container "c" in Pod "p_ns(uid)" failed - error: command
  'sh -c exit 1' exited with 1: , message: ""``.
- An HTTPS hook answered in plain HTTP is retried over HTTP (without an
  ``Authorization`` header) and, when that works, a ``Warning
  LifecycleHTTPFallback`` event is recorded on the pod.
- :func:`run_post_start` records ``Warning FailedPostStartHook <message>``; the
  kubelet then kills the container.
- :func:`run_pre_stop` waits for the hook at most the grace period, records
  ``Warning FailedPreStopHook PreStopHook failed`` (upstream keeps the details out
  of the event), and returns the grace period left for stopping the container
  (at least 2 s).

Sleeping and the pre-stop deadline use the injected clock (tests use a
``FakeClock``); HTTP and exec run in real time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.kubelet.probes.gofmt import format_pod, go_list, go_quote
from pinnace.kubelet.probes.handlers import ExecSync, error_text, exec_output, exec_result
from pinnace.kubelet.probes.http import (
    HTTPGetError,
    PortError,
    http_get,
    new_request_for_http_get_action,
)

__all__ = [
    "EVENT_FAILED_POST_START_HOOK",
    "EVENT_FAILED_PRE_STOP_HOOK",
    "EVENT_LIFECYCLE_HTTP_FALLBACK",
    "MINIMUM_GRACE_PERIOD",
    "PRE_STOP_FAILED_MESSAGE",
    "EventRecorder",
    "run_hook",
    "run_post_start",
    "run_pre_stop",
]

log = logging.getLogger("pinnace.kubelet.lifecycle")

EventRecorder = Callable[[Mapping[str, Any], str, str, str], object]
"""``event(pod, type, reason, message)``."""

EVENT_FAILED_POST_START_HOOK = "FailedPostStartHook"
EVENT_FAILED_PRE_STOP_HOOK = "FailedPreStopHook"
EVENT_LIFECYCLE_HTTP_FALLBACK = "LifecycleHTTPFallback"
PRE_STOP_FAILED_MESSAGE = "PreStopHook failed"
MINIMUM_GRACE_PERIOD = 2
"""Upstream always leaves a container at least this many seconds to stop."""


async def run_hook(
    handler: Mapping[str, Any],
    *,
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    container_id: str,
    pod_ip: str,
    exec_sync: ExecSync,
    clock: Clock = REAL_CLOCK,
    event: EventRecorder | None = None,
) -> str | None:
    """Run one ``postStart``/``preStop`` handler; None when it succeeded, else
    upstream's failure message."""
    name = str(container.get("name") or "")
    where = f"for Container {go_quote(name)} in Pod {go_quote(format_pod(pod))}"
    if (action := handler.get("exec")) is not None:
        command = [str(a) for a in action.get("command") or []]
        error, output = await _run_exec(exec_sync, container_id, command)
        if error is None:
            return None
        message = (
            f"Exec lifecycle hook ({go_list(command)}) {where} failed - error: {error}, "
            f"message: {go_quote(output)}"
        )
        log.info(message, extra={"container": name})
        return message
    if (action := handler.get("httpGet")) is not None:
        error = await _run_http(action, pod=pod, container=container, pod_ip=pod_ip, event=event)
        if error is None:
            return None
        message = (
            f"HTTP lifecycle hook ({action.get('path') or ''}) {where} failed - error: {error}"
        )
        log.info(message, extra={"container": name})
        return message
    if (action := handler.get("sleep")) is not None:
        await clock.sleep(float(action.get("seconds") or 0))
        return None
    return f"Cannot run handler: invalid handler: {dict(handler)}"


async def _run_exec(
    exec_sync: ExecSync, container_id: str, command: list[str]
) -> tuple[str | None, str]:
    """(error text or None, stdout+stderr)."""
    try:
        code, stdout, stderr = exec_result(await exec_sync(container_id, command, 0))
    except Exception as exc:
        return error_text(exc), ""
    if code == 0:
        return None, exec_output(stdout, stderr)
    err_text = exec_output(b"", stderr)
    return (
        f"command '{' '.join(command)}' exited with {code}: {err_text}",
        exec_output(stdout, stderr),
    )


async def _run_http(
    action: Mapping[str, Any],
    *,
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    pod_ip: str,
    event: EventRecorder | None,
) -> str | None:
    host = str(action.get("host") or "")
    if not host and not pod_ip:
        return "failed to find networking container: the pod has no IP address"
    try:
        request = new_request_for_http_get_action(action, container, pod_ip, "lifecycle")
    except PortError as exc:
        return str(exc)
    try:
        await http_get(request, None)
    except HTTPGetError as exc:
        if not exc.http_to_https:
            return str(exc)
        log.info("HTTPS request to lifecycle hook got HTTP response, retrying with HTTP")
        plain = dataclasses.replace(
            request,
            scheme="http",
            headers=[(k, v) for k, v in request.headers if k.lower() != "authorization"],
        )
        try:
            await http_get(plain, None)
        except HTTPGetError:
            return str(exc)
        if event is not None:
            _call(
                event,
                pod,
                "Warning",
                EVENT_LIFECYCLE_HTTP_FALLBACK,
                f"request to HTTPS lifecycle hook {request.host_port} got HTTP response, "
                "retry with HTTP succeeded",
            )
    return None


async def run_post_start(
    handler: Mapping[str, Any],
    *,
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    container_id: str,
    pod_ip: str,
    exec_sync: ExecSync,
    clock: Clock = REAL_CLOCK,
    event: EventRecorder | None = None,
) -> str | None:
    """Run the ``postStart`` hook; on failure record ``FailedPostStartHook`` and
    return the message (the kubelet then kills the container)."""
    message = await run_hook(
        handler,
        pod=pod,
        container=container,
        container_id=container_id,
        pod_ip=pod_ip,
        exec_sync=exec_sync,
        clock=clock,
        event=event,
    )
    if message is not None and event is not None:
        _call(event, pod, "Warning", EVENT_FAILED_POST_START_HOOK, message)
    return message


async def run_pre_stop(
    handler: Mapping[str, Any],
    *,
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    container_id: str,
    pod_ip: str,
    exec_sync: ExecSync,
    grace_period: float,
    clock: Clock = REAL_CLOCK,
    event: EventRecorder | None = None,
) -> float:
    """Run the ``preStop`` hook for at most ``grace_period`` seconds and return
    the grace period left to stop the container (never below 2 s). A hook still
    running at the deadline is cancelled. With no grace period left the hook is
    not run."""
    if grace_period <= 0:
        return MINIMUM_GRACE_PERIOD
    begun = clock.now()
    hook = asyncio.ensure_future(
        run_hook(
            handler,
            pod=pod,
            container=container,
            container_id=container_id,
            pod_ip=pod_ip,
            exec_sync=exec_sync,
            clock=clock,
            event=event,
        )
    )
    deadline = asyncio.ensure_future(clock.sleep(grace_period))
    try:
        await asyncio.wait({hook, deadline}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        hook.cancel()
        deadline.cancel()
        raise
    deadline.cancel()
    failed = False
    if not hook.done():
        log.info(
            "PreStop hook not completed in grace period",
            extra={"container": container.get("name"), "grace_period": grace_period},
        )
        hook.cancel()
        await asyncio.wait({hook})
    elif (exc := hook.exception()) is not None:
        log.error("PreStop hook crashed", exc_info=exc)
        failed = True
    elif (message := hook.result()) is not None:
        log.info("PreStop hook failed: %s", message)
        failed = True
    if failed and event is not None:
        _call(event, pod, "Warning", EVENT_FAILED_PRE_STOP_HOOK, PRE_STOP_FAILED_MESSAGE)
    elapsed = clock.now() - begun
    return max(float(MINIMUM_GRACE_PERIOD), grace_period - int(elapsed))


_background: set[asyncio.Future[Any]] = set()


def _call(callback: Callable[..., object], *args: Any) -> None:
    """Call an event recorder; an awaitable it returns runs as a task."""
    try:
        result = callback(*args)
    except Exception:
        log.exception("event recorder failed")
        return
    if inspect.isawaitable(result):
        task = asyncio.ensure_future(result)
        _background.add(task)
        task.add_done_callback(_background.discard)
