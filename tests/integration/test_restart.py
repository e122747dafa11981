"""Durability: every write that got a 2xx survives ``kill -9`` of the server,
and resourceVersions keep increasing across restarts."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.cluster import RawClient, Server


def _cm(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"n": name},
    }


def test_kill9_during_write_burst_loses_no_acknowledged_write(tmp_path: Path) -> None:
    s = Server(tmp_path / "data").start()
    acked: list[tuple[str, int]] = []
    lock = threading.Lock()
    stop = threading.Event()
    try:
        raw = RawClient(s)

        def writer(wid: int) -> None:
            c = RawClient(s)
            for i in range(2000):  # bounded
                if stop.is_set():
                    return
                name = f"w{wid}-{i}"
                try:
                    status, body = c.json(
                        "POST", "/api/v1/namespaces/default/configmaps", _cm(name)
                    )
                except Exception:
                    return  # the server went away mid-request: not acknowledged
                if status == 201:
                    with lock:
                        acked.append((name, int(body["metadata"]["resourceVersion"])))

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if len(acked) >= 150:
                    break
            time.sleep(0.01)
        s.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        assert len(acked) >= 150
        max_rv = max(rv for _, rv in acked)

        s.start()
        raw = RawClient(s)
        status, body = raw.json("GET", "/api/v1/namespaces/default/configmaps")
        assert status == 200
        present = {i["metadata"]["name"] for i in body["items"]}
        missing = [n for n, _ in acked if n not in present]
        assert missing == [], f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        status, created = raw.json(
            "POST", "/api/v1/namespaces/default/configmaps", _cm("after-restart")
        )
        assert status == 201
        assert int(created["metadata"]["resourceVersion"]) > max_rv
    finally:
        stop.set()
        s.stop()


def test_clean_restart_resumes_state(tmp_path: Path) -> None:
    s = Server(tmp_path / "data").start()
    try:
        s.kubectl("create", "namespace", "keep")
        s.kubectl("create", "configmap", "c", "-n", "keep", "--from-literal=a=b")
        rv1 = int(
            s.kubectl(
                "get", "cm", "c", "-n", "keep", "-o", "jsonpath={.metadata.resourceVersion}"
            ).stdout
        )
        assert s.stop() == 0
        s.start()
        out = s.kubectl("get", "cm", "c", "-n", "keep", "-o", "jsonpath={.data.a}").stdout
        assert out == "b"
        s.kubectl("label", "cm", "c", "-n", "keep", "x=y")
        rv2 = int(
            s.kubectl(
                "get", "cm", "c", "-n", "keep", "-o", "jsonpath={.metadata.resourceVersion}"
            ).stdout
        )
        assert rv2 > rv1
    finally:
        s.stop()
