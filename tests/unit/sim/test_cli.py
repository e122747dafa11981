"""``pinnace sim`` refuses bad input with one clear line and exit code 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.cli.main import main

KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    f = tmp_path / "kubeconfig"
    f.write_text(KUBECONFIG)
    return f


def test_needs_nodes_or_a_profile(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--kubeconfig", str(kubeconfig)]) == 1
    assert "--nodes" in capsys.readouterr().err


def test_bad_profile(kubeconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("- count: 2\n  taints: [{key: a, effect: Often}]\n")
    assert main(["sim", "--kubeconfig", str(kubeconfig), "--profile", str(profile)]) == 1
    err = capsys.readouterr().err
    assert "p.yaml" in err and "effect" in err


def test_missing_kubeconfig(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--kubeconfig", str(tmp_path / "nope"), "--nodes", "1"]) == 1
    assert "cannot read kubeconfig" in capsys.readouterr().err


def test_bad_cluster_cidr(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sim", "--kubeconfig", str(kubeconfig), "--nodes", "1", "--cluster-cidr", "fd00::/8"]
    assert main(args) == 1
    assert "cluster CIDR" in capsys.readouterr().err


def test_bad_interval(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sim", "--kubeconfig", str(kubeconfig), "--nodes", "1", "--lease-renew-interval", "0"]
    assert main(args) == 1
    assert "renew interval" in capsys.readouterr().err
