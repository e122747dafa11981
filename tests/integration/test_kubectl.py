"""The real kubectl against a real ``pinnace server`` process."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from tests.cluster import Server

pytestmark = pytest.mark.kubectl

DEPLOYMENT = textwrap.dedent(
    """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app: web}
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: nginx
            image: nginx:1.25
            ports:
            - containerPort: 80
            - containerPort: 443
    """
)


def test_version_and_discovery(server: Server) -> None:
    out = server.kubectl("version", "-o", "json").stdout
    v = json.loads(out)
    assert v["serverVersion"]["minor"] == "32"
    res = server.kubectl("api-resources").stdout
    lines = res.splitlines()
    assert lines[0].split()[:2] == ["NAME", "SHORTNAMES"]
    names = {ln.split()[0] for ln in lines[1:]}
    for r in ("pods", "deployments", "configmaps", "namespaces", "jobs", "leases"):
        assert r in names
    assert any(ln.startswith("deployments") and "deploy" in ln and "apps/v1" in ln for ln in lines)
    versions = server.kubectl("api-versions").stdout.split()
    assert "v1" in versions and "apps/v1" in versions and "batch/v1" in versions


def test_namespaces_exist(server: Server) -> None:
    out = server.kubectl("get", "ns").stdout
    assert out.splitlines()[0].split() == ["NAME", "STATUS", "AGE"]
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert any(ln.split()[:2] == [ns, "Active"] for ln in out.splitlines())


def test_apply_edit_apply_removes_port(server: Server, tmp_path: Path) -> None:
    server.kubectl("create", "namespace", "apply-test")
    f = tmp_path / "deploy.yaml"
    f.write_text(DEPLOYMENT)
    out = server.kubectl("apply", "-n", "apply-test", "-f", str(f)).stdout
    assert "deployment.apps/web created" in out
    obj = json.loads(
        server.kubectl("get", "-n", "apply-test", "deploy", "web", "-o", "json").stdout
    )
    ports = obj["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert [p["containerPort"] for p in ports] == [80, 443]
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]
    # edit the file: drop port 443, change the image; apply again (strategic merge)
    edited = "".join(ln for ln in DEPLOYMENT.splitlines(keepends=True) if "443" not in ln)
    f.write_text(edited.replace("1.25", "1.26"))
    out = server.kubectl("apply", "-n", "apply-test", "-f", str(f)).stdout
    assert "deployment.apps/web configured" in out
    obj = json.loads(
        server.kubectl("get", "-n", "apply-test", "deploy", "web", "-o", "json").stdout
    )
    c = obj["spec"]["template"]["spec"]["containers"][0]
    assert [p["containerPort"] for p in c["ports"]] == [80]
    assert c["image"] == "nginx:1.26"
    assert obj["metadata"]["generation"] == 2
    # unchanged re-apply
    out = server.kubectl("apply", "-n", "apply-test", "-f", str(f)).stdout
    assert "deployment.apps/web unchanged" in out


def test_get_columns_and_wide(server: Server) -> None:
    server.kubectl("create", "namespace", "cols")
    server.kubectl(
        "create", "configmap", "cm1", "-n", "cols", "--from-literal=a=b", "--from-literal=c=d"
    )
    out = server.kubectl("get", "cm", "-n", "cols").stdout.splitlines()
    assert out[0].split() == ["NAME", "DATA", "AGE"]
    assert out[1].split()[:2] == ["cm1", "2"]
    server.kubectl("create", "deployment", "d1", "-n", "cols", "--image=busybox", "--replicas=3")
    out = server.kubectl("get", "deploy", "-n", "cols", "-o", "wide").stdout.splitlines()
    assert out[0].split() == [
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    assert out[1].split()[0] == "d1"
    assert "app=d1" in out[1]


def test_create_commands_protobuf(server: Server) -> None:
    server.kubectl("create", "namespace", "pb")
    server.kubectl(
        "create", "secret", "generic", "s1", "-n", "pb", "--from-literal=password=hunter2"
    )
    s = json.loads(server.kubectl("get", "secret", "s1", "-n", "pb", "-o", "json").stdout)
    assert s["type"] == "Opaque"
    assert s["data"]["password"] == "aHVudGVyMg=="
    server.kubectl("create", "service", "clusterip", "svc1", "-n", "pb", "--tcp=80:8080")
    svc = json.loads(server.kubectl("get", "svc", "svc1", "-n", "pb", "-o", "json").stdout)
    assert svc["spec"]["ports"][0]["port"] == 80
    assert svc["spec"]["ports"][0]["targetPort"] == 8080
    server.kubectl("create", "deployment", "d2", "-n", "pb", "--image=nginx", "--replicas=2")
    d = json.loads(server.kubectl("get", "deploy", "d2", "-n", "pb", "-o", "json").stdout)
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"


def test_label_annotate_patch(server: Server) -> None:
    server.kubectl("create", "namespace", "lp")
    server.kubectl("create", "configmap", "c", "-n", "lp", "--from-literal=k=v")
    server.kubectl("label", "cm", "c", "-n", "lp", "tier=backend")
    server.kubectl("annotate", "cm", "c", "-n", "lp", "note=hello")
    out = server.kubectl("get", "cm", "-n", "lp", "-l", "tier=backend", "-o", "name").stdout
    assert out.strip() == "configmap/c"
    others = server.kubectl("get", "cm", "-n", "lp", "-l", "tier!=backend", "-o", "name").stdout
    # every namespace gets kube-root-ca.crt (the root CA publisher), unlabelled
    assert set(others.split()) <= {"configmap/kube-root-ca.crt"}
    server.kubectl("patch", "cm", "c", "-n", "lp", "-p", '{"data":{"k2":"v2"}}')
    server.kubectl("patch", "cm", "c", "-n", "lp", "--type=merge", "-p", '{"data":{"k":null}}')
    server.kubectl(
        "patch",
        "cm",
        "c",
        "-n",
        "lp",
        "--type=json",
        "-p",
        '[{"op":"add","path":"/data/k3","value":"v3"}]',
    )
    cm = json.loads(server.kubectl("get", "cm", "c", "-n", "lp", "-o", "json").stdout)
    assert cm["data"] == {"k2": "v2", "k3": "v3"}
    assert cm["metadata"]["labels"]["tier"] == "backend"
    assert cm["metadata"]["annotations"]["note"] == "hello"
    bad = server.kubectl(
        "patch",
        "cm",
        "c",
        "-n",
        "lp",
        "--type=json",
        "-p",
        '[{"op":"test","path":"/data/k2","value":"x"}]',
        check=False,
    )
    assert bad.returncode != 0


def test_get_watch_sees_events(server: Server) -> None:
    server.kubectl("create", "namespace", "w")
    p = server.kubectl_popen("get", "cm", "-n", "w", "-w", "--output-watch-events")
    try:
        time.sleep(1.5)
        server.kubectl("create", "configmap", "wc", "-n", "w", "--from-literal=a=b")
        server.kubectl("label", "cm", "wc", "-n", "w", "x=y")
        server.kubectl("delete", "cm", "wc", "-n", "w")
        time.sleep(1.5)
    finally:
        p.terminate()
        out, err = p.communicate(timeout=10)
    kinds = [ln.split()[0] for ln in out.splitlines() if ln.strip() and not ln.startswith("EVENT")]
    assert "ADDED" in kinds and "MODIFIED" in kinds and "DELETED" in kinds, out + err


def test_delete_and_wait(server: Server) -> None:
    server.kubectl("create", "namespace", "del")
    server.kubectl("create", "configmap", "gone", "-n", "del", "--from-literal=a=b")
    out = server.kubectl("delete", "cm", "gone", "-n", "del").stdout
    assert 'configmap "gone" deleted' in out
    r = server.kubectl("get", "cm", "gone", "-n", "del", check=False)
    assert r.returncode != 0 and "NotFound" in r.stderr
    server.kubectl("create", "configmap", "w2", "-n", "del", "--from-literal=a=b")
    server.kubectl("delete", "cm", "w2", "-n", "del", "--wait=false")
    server.kubectl("wait", "--for=delete", "cm/w2", "-n", "del", "--timeout=10s")


def test_explain(server: Server) -> None:
    out = server.kubectl("explain", "deployment.spec").stdout
    assert "GROUP:      apps" in out and "replicas" in out and "template" in out
    out = server.kubectl("explain", "pods.spec.containers").stdout
    assert "image" in out


def test_diff(server: Server, tmp_path: Path) -> None:
    server.kubectl("create", "namespace", "diff")
    f = tmp_path / "cm.yaml"
    f.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dc, namespace: diff}\ndata: {a: '1'}\n"
    )
    server.kubectl("apply", "-f", str(f))
    f.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dc, namespace: diff}\ndata: {a: '2'}\n"
    )
    r = server.kubectl("diff", "-f", str(f), check=False)
    assert r.returncode == 1, r.stderr
    assert '-  a: "1"' in r.stdout and '+  a: "2"' in r.stdout


def test_server_side_apply(server: Server, tmp_path: Path) -> None:
    server.kubectl("create", "namespace", "ssa")
    f = tmp_path / "d.yaml"
    f.write_text(DEPLOYMENT)
    out = server.kubectl("apply", "--server-side", "-n", "ssa", "-f", str(f)).stdout
    assert "serverside-applied" in out
    obj = json.loads(
        server.kubectl(
            "get", "deploy", "web", "-n", "ssa", "-o", "json", "--show-managed-fields"
        ).stdout
    )
    managers = {m["manager"] for m in obj["metadata"]["managedFields"]}
    assert "kubectl" in managers
    # another manager changes replicas; re-apply without force conflicts
    server.kubectl("scale", "deploy", "web", "-n", "ssa", "--replicas=5")
    r = server.kubectl("apply", "--server-side", "-n", "ssa", "-f", str(f), check=False)
    assert r.returncode != 0 and "conflict" in r.stderr.lower()
    server.kubectl("apply", "--server-side", "--force-conflicts", "-n", "ssa", "-f", str(f))
    obj = json.loads(server.kubectl("get", "deploy", "web", "-n", "ssa", "-o", "json").stdout)
    assert obj["spec"]["replicas"] == 2


def test_describe(server: Server) -> None:
    server.kubectl("create", "namespace", "desc")
    server.kubectl("create", "configmap", "dd", "-n", "desc", "--from-literal=a=b")
    out = server.kubectl("describe", "cm", "dd", "-n", "desc").stdout
    assert "Name:" in out and "dd" in out and "Namespace:" in out


def test_edit(server: Server, tmp_path: Path) -> None:
    server.kubectl("create", "namespace", "edit")
    server.kubectl("create", "configmap", "ec", "-n", "edit", "--from-literal=a=b")
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/^  a: b$/  a: edited/' \"$1\"\n")
    editor.chmod(0o755)
    import os
    import subprocess

    env = {
        **os.environ,
        "KUBECONFIG": str(server.kubeconfig),
        "KUBE_EDITOR": str(editor),
        "KUBECACHEDIR": str(tmp_path / "cache"),
    }
    p = subprocess.run(
        ["/usr/bin/kubectl", "edit", "cm", "ec", "-n", "edit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    cm = json.loads(server.kubectl("get", "cm", "ec", "-n", "edit", "-o", "json").stdout)
    assert cm["data"]["a"] == "edited"


def test_apply_a_list_validates_with_openapi_v2(server: Server, tmp_path: Path) -> None:
    # kubectl validates kind: List against /openapi/v2 (protobuf)
    f = tmp_path / "list.yaml"
    f.write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: from-list, namespace: default}\n"
        "  data: {a: b}\n"
    )
    out = server.kubectl("apply", "-f", str(f)).stdout
    assert "configmap/from-list created" in out
