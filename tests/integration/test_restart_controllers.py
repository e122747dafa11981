"""Controllers pick up where they left off after a server restart: no pod is
duplicated or lost."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.cluster import Server


def _pods(s: Server, selector: str) -> list[str]:
    out = s.kubectl("get", "pods", "-l", selector, "-o", "json").stdout
    return sorted(p["metadata"]["name"] for p in json.loads(out)["items"])


def _wait_available(s: Server, name: str, replicas: int, timeout: float = 60) -> None:
    s.kubectl(
        "rollout",
        "status",
        f"deployment/{name}",
        f"--timeout={int(timeout)}s",
        timeout=timeout + 10,
    )
    d = json.loads(s.kubectl("get", "deploy", name, "-o", "json").stdout)
    assert d["status"].get("availableReplicas") == replicas, d["status"]


def test_restart_keeps_workloads_intact(tmp_path: Path) -> None:
    s = Server(tmp_path / "data", extra_args=["--sim-nodes", "2"]).start()
    try:
        s.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=5")
        _wait_available(s, "web", 5)
        s.kubectl("create", "job", "once", "--image=busybox")
        s.kubectl("wait", "--for=condition=complete", "job/once", "--timeout=60s", timeout=70)
        before = _pods(s, "app=web")
        assert len(before) == 5
        rs_before = s.kubectl("get", "rs", "-l", "app=web", "-o", "name").stdout.split()
        assert s.stop() == 0
        s.start()
        # give the controllers time to resync from the restarted server
        time.sleep(3)
        _wait_available(s, "web", 5)
        assert _pods(s, "app=web") == before, "pods were replaced or duplicated"
        assert s.kubectl("get", "rs", "-l", "app=web", "-o", "name").stdout.split() == rs_before
        job_pods = json.loads(s.kubectl("get", "pods", "-l", "job-name=once", "-o", "json").stdout)[
            "items"
        ]
        assert len(job_pods) == 1, "the completed Job must not run again"
        # and they still act: scaling works after the restart
        s.kubectl("scale", "deployment", "web", "--replicas=3")
        _wait_available(s, "web", 3)
        assert len(_pods(s, "app=web")) == 3
    finally:
        s.stop()
