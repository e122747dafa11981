"""containerd config rendering, CRI-plugin failure detection and start-up checks
of pinnace.kubelet.containerd (no containerd is started here)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from pinnace.kubelet.containerd import (
    CRI_PLUGIN,
    Containerd,
    ContainerdError,
    cri_plugin_error,
    render_config,
)


def _render(tmp_path: Path, **kwargs: Any) -> dict[str, Any]:
    text = render_config(
        tmp_path / "sd",
        sandbox_image="localhost/pinnace/pause:3.10",
        cni_conf_dir=tmp_path / "cni",
        **kwargs,
    )
    return tomllib.loads(text)


def test_everything_lives_under_the_state_dir(tmp_path: Path) -> None:
    cfg = _render(tmp_path)
    sd = tmp_path / "sd"
    assert cfg["version"] == 2
    assert cfg["root"] == str(sd / "root")
    assert cfg["state"] == str(sd / "state")
    assert cfg["grpc"]["address"] == str(sd / "containerd.sock")
    assert cfg["plugins"]["io.containerd.internal.v1.opt"]["path"] == str(sd / "opt")
    runc = cfg["plugins"][CRI_PLUGIN]["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"] == {"Root": str(sd / "runc"), "SystemdCgroup": False}


def test_cri_plugin_settings(tmp_path: Path) -> None:
    cfg = _render(tmp_path, cni_bin_dir=Path("/opt/cni/bin"))
    cri = cfg["plugins"][CRI_PLUGIN]
    assert cri["sandbox_image"] == "localhost/pinnace/pause:3.10"
    assert cri["restrict_oom_score_adj"] is True
    assert cri["stream_server_address"] == "127.0.0.1"
    assert cri["stream_server_port"] == "0"
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["cni"] == {
        "bin_dir": "/opt/cni/bin",
        "conf_dir": str(tmp_path / "cni"),
        "max_conf_num": 1,
    }
    # containerd must exit rather than run on without the CRI plugin.
    assert cfg["required_plugins"] == [CRI_PLUGIN]
    assert CRI_PLUGIN not in cfg["disabled_plugins"]
    assert "io.containerd.runtime.v1.linux" not in cfg["disabled_plugins"]


def test_stream_port_is_configurable(tmp_path: Path) -> None:
    cfg = _render(tmp_path, stream_port=10010)
    assert cfg["plugins"][CRI_PLUGIN]["stream_server_port"] == "10010"


def test_registry_config_path_only_when_given_and_never_mirrors(tmp_path: Path) -> None:
    assert "registry" not in _render(tmp_path)["plugins"][CRI_PLUGIN]
    certs = tmp_path / "certs.d"
    registry = _render(tmp_path, registry_config_dir=certs)["plugins"][CRI_PLUGIN]["registry"]
    assert registry == {"config_path": str(certs)}


def test_paths_with_quotes_survive_toml(tmp_path: Path) -> None:
    odd = tmp_path / 'we"ird\\dir'
    cfg = tomllib.loads(render_config(odd, sandbox_image="pause", cni_conf_dir=odd / "cni"))
    assert cfg["root"] == str(odd / "root")


def test_containerd_renders_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    c = Containerd(Path("sd"), sandbox_image="pause", cni_conf_dir=Path("cni"))
    cfg = tomllib.loads(c.render_config())
    assert cfg["root"] == str(tmp_path / "sd" / "root")
    assert c.address == str(tmp_path / "sd" / "containerd.sock")
    assert c.endpoint == "unix://" + c.address
    assert c.log_path == tmp_path / "sd" / "containerd.log"
    assert cfg["plugins"][CRI_PLUGIN]["cni"]["conf_dir"] == str(tmp_path / "cni")


# Lines as containerd 1.6.20 writes them (its own wording, quoted for the parser).
_FAILED_LOAD = (
    'time="2026-01-01T00:00:00Z" level=warning msg="failed to load plugin '
    'io.containerd.grpc.v1.cri" error="invalid plugin config: `mirrors` cannot be set '
    'when `config_path` is provided"'
)
_REQUIRED = (
    "containerd: load required plugin io.containerd.grpc.v1.cri: failed to get services: "
    'failed to get instance of service "tasks-service": not found'
)
_HARMLESS = (
    'time="2026-01-01T00:00:00Z" level=error msg="failed to load cni during init, please '
    'check CRI plugin status before setting up network for pods" error="cni config load '
    'failed: no network config found in /x: cni plugin not initialized"\n'
    'time="2026-01-01T00:00:00Z" level=warning msg="failed to load plugin '
    'io.containerd.snapshotter.v1.btrfs" error="path must be a btrfs filesystem"\n'
)


def test_cri_plugin_error_found_in_warning_line() -> None:
    reason = cri_plugin_error(_HARMLESS + _FAILED_LOAD + "\n")
    assert reason == (
        "invalid plugin config: `mirrors` cannot be set when `config_path` is provided"
    )


def test_cri_plugin_error_found_in_required_plugin_exit() -> None:
    reason = cri_plugin_error(_HARMLESS + _REQUIRED)
    assert reason is not None
    assert reason.startswith("failed to get services")


def test_other_plugin_failures_and_cni_errors_are_not_cri_failures() -> None:
    assert cri_plugin_error(_HARMLESS) is None
    assert cri_plugin_error("") is None


async def test_start_refuses_a_socket_path_too_long(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    c = Containerd(deep, sandbox_image="pause", cni_conf_dir=tmp_path / "cni")
    with pytest.raises(ContainerdError, match="shorter state directory"):
        await c.start()
    assert c.pid is None
    assert not deep.exists()


async def test_start_reports_a_missing_binary(tmp_path: Path) -> None:
    c = Containerd(
        tmp_path / "sd",
        sandbox_image="pause",
        cni_conf_dir=tmp_path / "cni",
        binary="containerd-not-installed-here",
    )
    with pytest.raises(ContainerdError, match="not found"):
        await c.start()
    assert c.pid is None
