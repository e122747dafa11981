"""The kubelet's stats: the ``/stats/summary`` document (stats API
``v1alpha1.Summary``) and the ``/metrics/resource`` text that metrics-server
and ``kubectl top`` read.

Where the numbers come from:

- **node**: the host itself. CPU from the root cgroup's ``cpuacct.usage``
  (cgroup v1), ``cpu.stat`` (v2) or ``/proc/stat``; memory from the root
  memory cgroup (v1: usage minus inactive file pages is the working set, as
  cAdvisor computes it) or ``/proc/meminfo``; network from ``/proc/net/dev``
  (the default route's interface first); ``fs`` from ``statvfs`` of the
  kubelet's root dir; ``runtime.imageFs`` from CRI ``ImageFsInfo``.
- **pods and containers**: CRI ``ListPodSandboxStats`` (pod cgroup CPU and
  memory, the sandbox's network) and ``ListContainerStats`` (per container
  CPU, memory, writable layer), matched to the kubelet's own view of its pods
  (:class:`PodInfo`: names, start times, log dirs, volume paths). Log and
  volume usage is measured by walking those directories.

CRI messages are read by their upstream ``runtime.v1`` field names
(``attributes.id``, ``cpu.usage_core_nano_seconds.value`` ...), so the
generated protobuf classes and plain test doubles both work.

``usageNanoCores`` is a rate: each call keeps the cumulative CPU time of every
node/pod/container it saw and divides the difference by the time between the
two samples (the runtime's own figure is used when it gives one). The first
call after start reports no rate.

Concurrency model: :meth:`StatsProvider.summary` runs the blocking part
(reading /proc and cgroup files, ``statvfs``, walking log and volume dirs) in
one worker thread per call; the sample memory is touched only on the event
loop thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ContainerInfo",
    "PodInfo",
    "StatsProvider",
    "VolumeInfo",
    "cpu_and_memory_only",
    "resource_metrics",
]

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    name: str
    container_id: str
    """The runtime's id (no ``containerd://`` prefix)."""
    start_time: str = ""
    """RFC 3339; empty: not known."""
    log_dir: Path | None = None
    """The directory holding this container's log files."""


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    name: str
    path: Path
    pvc: tuple[str, str] | None = None
    """``(namespace, claim name)`` when the volume is a PVC."""
    ephemeral: bool = False
    """Counted in the pod's ``ephemeral-storage`` (emptyDir and the like)."""


@dataclass(frozen=True, slots=True)
class PodInfo:
    name: str
    namespace: str
    uid: str
    sandbox_id: str = ""
    start_time: str = ""
    containers: list[ContainerInfo] = field(default_factory=list)
    volumes: list[VolumeInfo] = field(default_factory=list)


# --------------------------------------------------------------------------
# helpers


def rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(int(t), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _has(msg: Any, name: str) -> bool:
    if msg is None:
        return False
    has = getattr(msg, "HasField", None)
    if has is not None:
        try:
            return bool(has(name))
        except ValueError:
            pass
    return getattr(msg, name, None) is not None


def _sub(msg: Any, name: str) -> Any:
    return getattr(msg, name) if _has(msg, name) else None


def _u64(msg: Any, name: str) -> int | None:
    """A ``UInt64Value`` field's value, None when unset."""
    sub = _sub(msg, name)
    if sub is None:
        return None
    v = getattr(sub, "value", sub)
    return int(v)


def _put(d: Obj, key: str, v: int | None) -> None:
    if v is not None:
        d[key] = v


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _kv(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def _fs_stats(path: Path, now: float) -> Obj | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return {
        "time": rfc3339(now),
        "availableBytes": st.f_bavail * st.f_frsize,
        "capacityBytes": st.f_blocks * st.f_frsize,
        "usedBytes": (st.f_blocks - st.f_bfree) * st.f_frsize,
        "inodesFree": st.f_ffree,
        "inodes": st.f_files,
        "inodesUsed": st.f_files - st.f_ffree,
    }


def _du(path: Path) -> tuple[int, int]:
    """(bytes on disk, inodes) under ``path``, not crossing into other filesystems."""
    total = inodes = 0
    try:
        dev = os.lstat(path).st_dev
    except OSError:
        return 0, 0
    stack = [str(path)]
    while stack:
        d = stack.pop()
        inodes += 1
        try:
            with os.scandir(d) as it:
                for e in it:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if st.st_dev != dev:
                        continue
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    else:
                        inodes += 1
                        total += st.st_blocks * 512
        except OSError:
            continue
    return total, inodes


def _usage_fs(path: Path | None, now: float) -> Obj | None:
    """FsStats of a directory's own usage on the filesystem holding it."""
    if path is None or not path.exists():
        return None
    fs = _fs_stats(path, now) or {"time": rfc3339(now)}
    used, inodes = _du(path)
    fs["usedBytes"] = used
    fs["inodesUsed"] = inodes
    return fs


# --------------------------------------------------------------------------
# host readings (blocking)


@dataclass(slots=True)
class _HostSample:
    cpu_ns: int | None = None
    memory: Obj = field(default_factory=dict)
    network: Obj | None = None
    fs: Obj | None = None
    image_fs_capacity: Obj | None = None
    boot_time: float = 0.0
    usage: dict[str, Obj | None] = field(default_factory=dict)


class StatsProvider:
    """Builds the Summary; keeps the previous CPU samples for the rates.

    ``proc`` and ``cgroup`` are the roots to read (tests point them at fake
    trees); ``clock`` returns seconds since the epoch."""

    def __init__(
        self,
        node_name: str,
        root_dir: Path,
        *,
        proc: Path = Path("/proc"),
        cgroup: Path = Path("/sys/fs/cgroup"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node_name = node_name
        self.root_dir = Path(root_dir)
        self.proc = proc
        self.cgroup = cgroup
        self.clock = clock
        self._prev: dict[str, tuple[int, int]] = {}

    # -- CPU rates -------------------------------------------------------------

    def _rate(self, key: str, ts_ns: int, usage_ns: int | None) -> int | None:
        if usage_ns is None:
            return None
        prev = self._prev.get(key)
        self._prev[key] = (ts_ns, usage_ns)
        if prev is None or ts_ns <= prev[0] or usage_ns < prev[1]:
            return None
        return (usage_ns - prev[1]) * 1_000_000_000 // (ts_ns - prev[0])

    def _cpu(self, key: str, ts_ns: int, usage_ns: int | None, given_rate: int | None) -> Obj:
        cpu: Obj = {"time": rfc3339(ts_ns / 1e9)}
        rate = self._rate(key, ts_ns, usage_ns)
        if given_rate:
            rate = given_rate
        _put(cpu, "usageNanoCores", rate)
        _put(cpu, "usageCoreNanoSeconds", usage_ns)
        return cpu

    # -- host -------------------------------------------------------------------

    def _host_cpu_ns(self) -> int | None:
        for p in (
            self.cgroup / "cpuacct" / "cpuacct.usage",
            self.cgroup / "cpu,cpuacct" / "cpuacct.usage",
        ):
            text = _read(p)
            if text and text.strip().isdigit():
                return int(text.strip())
        stat = _kv(_read(self.cgroup / "cpu.stat"))
        if "usage_usec" in stat:
            return stat["usage_usec"] * 1000
        text = _read(self.proc / "stat")
        if text:
            for line in text.splitlines():
                if line.startswith("cpu "):
                    f = [int(x) for x in line.split()[1:]]
                    busy = sum(f) - f[3] - (f[4] if len(f) > 4 else 0)  # minus idle, iowait
                    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
                    return busy * 1_000_000_000 // hz
        return None

    def _host_memory(self, now: float) -> Obj:
        meminfo = _kv(_read(self.proc / "meminfo"))
        total = meminfo.get("MemTotal", 0) * 1024
        mem: Obj = {"time": rfc3339(now)}
        usage_text = _read(self.cgroup / "memory" / "memory.usage_in_bytes")
        if usage_text and usage_text.strip().isdigit():
            stat = _kv(_read(self.cgroup / "memory" / "memory.stat"))
            usage = int(usage_text.strip())
            working = max(0, usage - stat.get("total_inactive_file", 0))
            rss = stat.get("total_rss")
            faults, major = stat.get("total_pgfault"), stat.get("total_pgmajfault")
        else:
            usage = total - meminfo.get("MemFree", 0) * 1024
            working = max(0, usage - meminfo.get("Inactive(file)", 0) * 1024)
            rss = meminfo.get("AnonPages", 0) * 1024
            vm = _kv(_read(self.proc / "vmstat"))
            faults, major = vm.get("pgfault"), vm.get("pgmajfault")
        if total:
            mem["availableBytes"] = max(0, total - working)
        mem["usageBytes"] = usage
        mem["workingSetBytes"] = working
        _put(mem, "rssBytes", rss)
        _put(mem, "pageFaults", faults)
        _put(mem, "majorPageFaults", major)
        return mem

    def _host_network(self, now: float) -> Obj | None:
        text = _read(self.proc / "net" / "dev")
        if not text:
            return None
        ifaces: list[Obj] = []
        for line in text.splitlines()[2:]:
            name, _, rest = line.partition(":")
            name = name.strip()
            f = rest.split()
            if not name or name == "lo" or len(f) < 11:
                continue
            ifaces.append(
                {
                    "name": name,
                    "rxBytes": int(f[0]),
                    "rxErrors": int(f[2]),
                    "txBytes": int(f[8]),
                    "txErrors": int(f[10]),
                }
            )
        default = ""
        for line in (_read(self.proc / "net" / "route") or "").splitlines()[1:]:
            f = line.split()
            if len(f) > 2 and f[1] == "00000000":
                default = f[0]
                break
        ifaces.sort(key=lambda i: (i["name"] != default, i["name"]))
        net: Obj = {"time": rfc3339(now)}
        if ifaces:
            net.update(ifaces[0])
            net["interfaces"] = ifaces
        return net

    def _boot_time(self) -> float:
        for line in (_read(self.proc / "stat") or "").splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
        return 0.0

    def _collect_host(
        self, pods: Sequence[PodInfo], image_mounts: Iterable[str], now: float
    ) -> _HostSample:
        s = _HostSample(
            cpu_ns=self._host_cpu_ns(),
            memory=self._host_memory(now),
            network=self._host_network(now),
            fs=_fs_stats(self.root_dir, now),
            boot_time=self._boot_time(),
        )
        for mount in image_mounts:
            s.image_fs_capacity = _fs_stats(Path(mount), now)
            break
        for pod in pods:
            for c in pod.containers:
                s.usage[f"log:{pod.uid}/{c.name}"] = _usage_fs(c.log_dir, now)
            for v in pod.volumes:
                s.usage[f"vol:{pod.uid}/{v.name}"] = _usage_fs(v.path, now)
        return s

    # -- the summary --------------------------------------------------------------

    async def summary(
        self,
        pods: Sequence[PodInfo],
        container_stats: Sequence[Any] = (),
        sandbox_stats: Sequence[Any] = (),
        image_fs: Sequence[Any] = (),
    ) -> Obj:
        """The ``/stats/summary`` document for ``pods`` (the kubelet's view),
        from the CRI ``ListContainerStats``, ``ListPodSandboxStats`` and
        ``ImageFsInfo`` (its ``image_filesystems``) answers."""
        now = self.clock()
        mounts = [getattr(getattr(f, "fs_id", None), "mountpoint", "") for f in image_fs]
        host = await asyncio.to_thread(self._collect_host, pods, [m for m in mounts if m], now)
        now_ns = int(now * 1e9)
        node: Obj = {
            "nodeName": self.node_name,
            "startTime": rfc3339(host.boot_time or now),
            "cpu": self._cpu("node", now_ns, host.cpu_ns, None),
            "memory": host.memory,
        }
        if host.network is not None:
            node["network"] = host.network
        if host.fs is not None:
            node["fs"] = host.fs
        if image_fs:
            f0 = image_fs[0]
            ifs: Obj = dict(host.image_fs_capacity or {"time": rfc3339(now)})
            ifs["usedBytes"] = sum(_u64(f, "used_bytes") or 0 for f in image_fs)
            inodes = [_u64(f, "inodes_used") for f in image_fs]
            if any(i is not None for i in inodes):
                ifs["inodesUsed"] = sum(i or 0 for i in inodes)
            ts = getattr(f0, "timestamp", 0)
            if ts:
                ifs["time"] = rfc3339(ts / 1e9)
            node["runtime"] = {"imageFs": ifs}

        by_container = {
            getattr(getattr(s, "attributes", None), "id", ""): s for s in container_stats
        }
        by_sandbox = {getattr(getattr(s, "attributes", None), "id", ""): s for s in sandbox_stats}
        out_pods: list[Obj] = []
        seen: set[str] = {"node"}
        for pod in pods:
            out_pods.append(self._pod(pod, by_container, by_sandbox, host, now, seen))
        # forget samples of what is gone
        for key in list(self._prev):
            if key not in seen:
                del self._prev[key]
        return {"node": node, "pods": out_pods}

    def _container(
        self, pod: PodInfo, c: ContainerInfo, cs: Any, host: _HostSample, now: float, seen: set[str]
    ) -> Obj:
        out: Obj = {"name": c.name, "startTime": c.start_time or rfc3339(now)}
        if cs is not None:
            cpu = _sub(cs, "cpu")
            if cpu is not None:
                ts = int(getattr(cpu, "timestamp", 0) or now * 1e9)
                key = f"c:{c.container_id}"
                seen.add(key)
                out["cpu"] = self._cpu(
                    key, ts, _u64(cpu, "usage_core_nano_seconds"), _u64(cpu, "usage_nano_cores")
                )
            mem = _sub(cs, "memory")
            if mem is not None:
                out["memory"] = _memory(mem, now)
            wl = _sub(cs, "writable_layer")
            if wl is not None:
                ts = int(getattr(wl, "timestamp", 0) or now * 1e9)
                rootfs: Obj = dict(host.image_fs_capacity or {})
                for k in ("usedBytes", "inodesUsed"):
                    rootfs.pop(k, None)
                rootfs["time"] = rfc3339(ts / 1e9)
                _put(rootfs, "usedBytes", _u64(wl, "used_bytes"))
                _put(rootfs, "inodesUsed", _u64(wl, "inodes_used"))
                out["rootfs"] = rootfs
        logs = host.usage.get(f"log:{pod.uid}/{c.name}")
        if logs is not None:
            out["logs"] = logs
        return out

    def _pod(
        self,
        pod: PodInfo,
        by_container: Mapping[str, Any],
        by_sandbox: Mapping[str, Any],
        host: _HostSample,
        now: float,
        seen: set[str],
    ) -> Obj:
        containers = [
            self._container(pod, c, by_container.get(c.container_id), host, now, seen)
            for c in pod.containers
        ]
        out: Obj = {
            "podRef": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
            "startTime": pod.start_time or rfc3339(now),
            "containers": containers,
        }
        ss = by_sandbox.get(pod.sandbox_id) if pod.sandbox_id else None
        linux = _sub(ss, "linux") if ss is not None else None
        cpu = _sub(linux, "cpu") if linux is not None else None
        if cpu is not None:
            ts = int(getattr(cpu, "timestamp", 0) or now * 1e9)
            key = f"p:{pod.uid}"
            seen.add(key)
            out["cpu"] = self._cpu(
                key, ts, _u64(cpu, "usage_core_nano_seconds"), _u64(cpu, "usage_nano_cores")
            )
        else:
            cpus = [c["cpu"] for c in containers if "cpu" in c]
            if cpus:
                total: Obj = {"time": rfc3339(now)}
                for k in ("usageNanoCores", "usageCoreNanoSeconds"):
                    vals = [c[k] for c in cpus if k in c]
                    if vals:
                        total[k] = sum(vals)
                out["cpu"] = total
        mem = _sub(linux, "memory") if linux is not None else None
        if mem is not None:
            out["memory"] = _memory(mem, now)
        else:
            mems = [c["memory"] for c in containers if "memory" in c]
            if mems:
                mtotal: Obj = {"time": rfc3339(now)}
                for k in (
                    "usageBytes",
                    "workingSetBytes",
                    "rssBytes",
                    "pageFaults",
                    "majorPageFaults",
                ):
                    vals = [m[k] for m in mems if k in m]
                    if vals:
                        mtotal[k] = sum(vals)
                out["memory"] = mtotal
        net = _sub(linux, "network") if linux is not None else None
        if net is not None:
            out["network"] = _network(net, now)
        volumes: list[Obj] = []
        ephemeral_used = 0
        ephemeral_inodes = 0
        for v in pod.volumes:
            fs = host.usage.get(f"vol:{pod.uid}/{v.name}")
            if fs is None:
                continue
            vs: Obj = {**fs, "name": v.name}
            if v.pvc is not None:
                vs["pvcRef"] = {"name": v.pvc[1], "namespace": v.pvc[0]}
            volumes.append(vs)
            if v.ephemeral:
                ephemeral_used += int(fs.get("usedBytes", 0))
                ephemeral_inodes += int(fs.get("inodesUsed", 0))
        if volumes:
            out["volume"] = volumes
        for c in containers:
            for k in ("rootfs", "logs"):
                if k in c:
                    ephemeral_used += int(c[k].get("usedBytes", 0))
                    ephemeral_inodes += int(c[k].get("inodesUsed", 0))
        eph: Obj = dict(host.fs or {"time": rfc3339(now)})
        eph["usedBytes"] = ephemeral_used
        eph["inodesUsed"] = ephemeral_inodes
        out["ephemeral-storage"] = eph
        proc = _sub(linux, "process") if linux is not None else None
        count = _u64(proc, "process_count") if proc is not None else None
        if count is not None:
            out["process_stats"] = {"process_count": count}
        return out


def _memory(mem: Any, now: float) -> Obj:
    ts = int(getattr(mem, "timestamp", 0) or now * 1e9)
    out: Obj = {"time": rfc3339(ts / 1e9)}
    for key, name in (
        ("availableBytes", "available_bytes"),
        ("usageBytes", "usage_bytes"),
        ("workingSetBytes", "working_set_bytes"),
        ("rssBytes", "rss_bytes"),
        ("pageFaults", "page_faults"),
        ("majorPageFaults", "major_page_faults"),
    ):
        _put(out, key, _u64(mem, name))
    if not out.get("availableBytes"):
        # containerd reports 0 for a container without a memory limit;
        # upstream leaves the field out then
        out.pop("availableBytes", None)
    return out


def _iface(i: Any) -> Obj:
    out: Obj = {"name": getattr(i, "name", "")}
    for key, name in (
        ("rxBytes", "rx_bytes"),
        ("rxErrors", "rx_errors"),
        ("txBytes", "tx_bytes"),
        ("txErrors", "tx_errors"),
    ):
        _put(out, key, _u64(i, name))
    return out


def _network(net: Any, now: float) -> Obj:
    ts = int(getattr(net, "timestamp", 0) or now * 1e9)
    out: Obj = {"time": rfc3339(ts / 1e9)}
    default = _sub(net, "default_interface")
    if default is not None:
        out.update(_iface(default))
    ifaces = [_iface(i) for i in getattr(net, "interfaces", ()) or ()]
    if ifaces:
        out["interfaces"] = ifaces
    return out


# --------------------------------------------------------------------------
# views of the summary


def cpu_and_memory_only(summary: Obj) -> Obj:
    """What ``/stats/summary?only_cpu_and_memory=true`` returns."""
    node = summary["node"]
    keep = ("nodeName", "startTime", "cpu", "memory", "systemContainers")
    pods = []
    for p in summary["pods"]:
        pods.append(
            {
                k: v
                for k, v in p.items()
                if k in ("podRef", "startTime", "cpu", "memory", "containers")
            }
        )
        pods[-1]["containers"] = [
            {k: v for k, v in c.items() if k in ("name", "startTime", "cpu", "memory")}
            for c in p.get("containers", [])
        ]
    return {"node": {k: v for k, v in node.items() if k in keep}, "pods": pods}


def _ms(t: str) -> int:
    return (
        int(dt.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()) * 1000
    )


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def resource_metrics(summary: Obj) -> str:
    """``/metrics/resource`` (Prometheus text) from a summary: the metric
    names and labels metrics-server reads."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} [STABLE] {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    def sample(name: str, labels: dict[str, str], value: float, t: str) -> None:
        lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
        lab = "{" + lab + "}" if lab else ""
        lines.append(f"{name}{lab} {value:g} {_ms(t)}")

    pods = summary.get("pods", [])
    family(
        "container_cpu_usage_seconds_total",
        "counter",
        "CPU time the container has used, in core-seconds",
    )
    for p in pods:
        for c in p.get("containers", []):
            cpu = c.get("cpu") or {}
            if "usageCoreNanoSeconds" in cpu:
                lab = {
                    "container": c["name"],
                    "namespace": p["podRef"]["namespace"],
                    "pod": p["podRef"]["name"],
                }
                sample(
                    "container_cpu_usage_seconds_total",
                    lab,
                    cpu["usageCoreNanoSeconds"] / 1e9,
                    cpu["time"],
                )
    family(
        "container_memory_working_set_bytes",
        "gauge",
        "Memory the container is actively using (working set), in bytes",
    )
    for p in pods:
        for c in p.get("containers", []):
            mem = c.get("memory") or {}
            if "workingSetBytes" in mem:
                lab = {
                    "container": c["name"],
                    "namespace": p["podRef"]["namespace"],
                    "pod": p["podRef"]["name"],
                }
                sample(
                    "container_memory_working_set_bytes", lab, mem["workingSetBytes"], mem["time"]
                )
    family(
        "container_start_time_seconds",
        "gauge",
        "When the container started, in seconds since the Unix epoch",
    )
    for p in pods:
        for c in p.get("containers", []):
            if c.get("startTime"):
                lab = {
                    "container": c["name"],
                    "namespace": p["podRef"]["namespace"],
                    "pod": p["podRef"]["name"],
                }
                sample(
                    "container_start_time_seconds", lab, _ms(c["startTime"]) / 1000, c["startTime"]
                )
    node = summary.get("node", {})
    ncpu, nmem = node.get("cpu") or {}, node.get("memory") or {}
    family("node_cpu_usage_seconds_total", "counter", "CPU time the node has used, in core-seconds")
    if "usageCoreNanoSeconds" in ncpu:
        sample("node_cpu_usage_seconds_total", {}, ncpu["usageCoreNanoSeconds"] / 1e9, ncpu["time"])
    family(
        "node_memory_working_set_bytes",
        "gauge",
        "Memory the node is actively using (working set), in bytes",
    )
    if "workingSetBytes" in nmem:
        sample("node_memory_working_set_bytes", {}, nmem["workingSetBytes"], nmem["time"])
    family("pod_cpu_usage_seconds_total", "counter", "CPU time the pod has used, in core-seconds")
    for p in pods:
        cpu = p.get("cpu") or {}
        if "usageCoreNanoSeconds" in cpu:
            lab = {"namespace": p["podRef"]["namespace"], "pod": p["podRef"]["name"]}
            sample(
                "pod_cpu_usage_seconds_total", lab, cpu["usageCoreNanoSeconds"] / 1e9, cpu["time"]
            )
    family(
        "pod_memory_working_set_bytes",
        "gauge",
        "Memory the pod is actively using (working set), in bytes",
    )
    for p in pods:
        mem = p.get("memory") or {}
        if "workingSetBytes" in mem:
            lab = {"namespace": p["podRef"]["namespace"], "pod": p["podRef"]["name"]}
            sample("pod_memory_working_set_bytes", lab, mem["workingSetBytes"], mem["time"])
    lines.append(
        "# HELP resource_scrape_error [STABLE] 1 when collecting these metrics failed, else 0"
    )
    lines.append("# TYPE resource_scrape_error gauge")
    lines.append("resource_scrape_error 0")
    return "\n".join(lines) + "\n"
