"""registries.yaml -> containerd hosts.toml, credentials for images, pull secrets."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pinnace.image.registries import (
    HOSTS_HEADER,
    AuthConfig,
    RegistriesConfig,
    RegistriesError,
    auth_from_pull_secrets,
    auths_from_pull_secrets,
    normalize_endpoint,
)

YAML = """
mirrors:
  docker.io:
    endpoint:
      - "127.0.0.1:5000"
      - "https://mirror.example.com"
    rewrite:
      "^rancher/(.*)": "mirrored/$1"
  "*":
    endpoint: ["http://127.0.0.1:5001"]
  quay.io:
    endpoint: ["https://quay-mirror.example.com/some/path"]
configs:
  "127.0.0.1:5000":
    auth:
      username: alice
      password: s3cret
  mirror.example.com:
    auth:
      auth: Ym9iOmh1bnRlcjI=
    tls:
      ca_file: /etc/pinnace/ca.pem
      cert_file: /etc/pinnace/client.pem
      key_file: /etc/pinnace/client-key.pem
  private.example.com:5443:
    tls:
      insecure_skip_verify: true
  tokens.example.com:
    auth:
      identity_token: tok
  onlyauth.example.com:
    auth:
      username: u
      password: p
"""


@pytest.fixture
def cfg(tmp_path: Path) -> RegistriesConfig:
    path = tmp_path / "registries.yaml"
    path.write_text(YAML)
    return RegistriesConfig.load(path)


def test_load(cfg: RegistriesConfig) -> None:
    assert cfg.mirrors["docker.io"].endpoints == ["127.0.0.1:5000", "https://mirror.example.com"]
    assert cfg.mirrors["docker.io"].rewrites == {"^rancher/(.*)": "mirrored/$1"}
    assert cfg.configs["127.0.0.1:5000"].auth == AuthConfig(username="alice", password="s3cret")
    tls = cfg.configs["mirror.example.com"].tls
    assert tls is not None and tls.ca_file == "/etc/pinnace/ca.pem"
    assert cfg.configs["private.example.com:5443"].tls is not None
    auth = cfg.configs["tokens.example.com"].auth
    assert auth is not None and auth.identity_token == "tok"


def test_load_missing_file_is_empty(tmp_path: Path) -> None:
    assert RegistriesConfig.load(tmp_path / "none.yaml") == RegistriesConfig()


def test_identitytoken_spelling_is_accepted() -> None:
    cfg = RegistriesConfig.from_dict({"configs": {"r.io": {"auth": {"identitytoken": "t"}}}})
    auth = cfg.configs["r.io"].auth
    assert auth is not None and auth.identity_token == "t"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"mirrors": []}, "mirrors: expected a mapping"),
        ({"mirrors": {"docker.io": {"endpoint": [1]}}}, r"mirrors\[docker.io\].endpoint"),
        ({"configs": {"r": {"tls": {"insecure_skip_verify": "yes"}}}}, "insecure_skip_verify"),
        ({"configs": {"r": {"tls": {"cert_file": "c"}}}}, "cert_file and key_file"),
    ],
)
def test_load_errors(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistriesError, match=message):
        RegistriesConfig.from_dict(doc)


@pytest.mark.parametrize(
    ("endpoint", "url", "registry", "override"),
    [
        ("127.0.0.1:5000", "http://127.0.0.1:5000/v2", "127.0.0.1:5000", False),
        ("localhost:5000", "http://localhost:5000/v2", "localhost:5000", False),
        ("127.0.0.1:443", "https://127.0.0.1:443/v2", "127.0.0.1:443", False),
        ("127.0.0.1", "https://127.0.0.1/v2", "127.0.0.1", False),
        (
            "mirror.example.com:5000",
            "https://mirror.example.com:5000/v2",
            "mirror.example.com:5000",
            False,
        ),
        ("http://mirror.example.com/", "http://mirror.example.com/v2", "mirror.example.com", False),
        ("docker.io", "https://registry-1.docker.io/v2", "docker.io", False),
        ("https://registry-1.docker.io", "https://registry-1.docker.io/v2", "docker.io", False),
        ("https://m.example.com/a/b", "https://m.example.com/a/b", "m.example.com", True),
    ],
)
def test_normalize_endpoint(endpoint: str, url: str, registry: str, override: bool) -> None:
    ep = normalize_endpoint(endpoint)
    assert (ep.url, ep.registry, ep.override_path) == (url, registry, override)


def test_hosts_files(cfg: RegistriesConfig) -> None:
    files = cfg.hosts_files()
    # registries with mirrors or TLS settings get a file; auth-only ones do not
    assert sorted(files) == [
        "_default", "docker.io", "mirror.example.com", "private.example.com:5443", "quay.io",
    ]  # fmt: skip
    assert all(text.startswith(HOSTS_HEADER) for text in files.values())

    docker = tomllib.loads(files["docker.io"])
    assert docker["server"] == "https://registry-1.docker.io/v2"
    assert list(docker["host"]) == ["http://127.0.0.1:5000/v2", "https://mirror.example.com/v2"]
    assert docker["host"]["http://127.0.0.1:5000/v2"] == {"capabilities": ["pull", "resolve"]}
    assert docker["host"]["https://mirror.example.com/v2"] == {
        "capabilities": ["pull", "resolve"],
        "ca": ["/etc/pinnace/ca.pem"],
        "client": [["/etc/pinnace/client.pem", "/etc/pinnace/client-key.pem"]],
    }
    assert "rewrite" not in files["docker.io"]  # containerd 1.6 has no rewrites

    default = tomllib.loads(files["_default"])
    assert "server" not in default
    assert list(default["host"]) == ["http://127.0.0.1:5001/v2"]

    quay = tomllib.loads(files["quay.io"])
    assert quay["server"] == "https://quay.io/v2"
    assert quay["host"]["https://quay-mirror.example.com/some/path"]["override_path"] is True

    # a registry with only TLS settings: server plus the same URL as a [host]
    # table, because containerd 1.6 rejects a hosts.toml without one
    private = tomllib.loads(files["private.example.com:5443"])
    assert private["server"] == "https://private.example.com:5443/v2"
    assert private["skip_verify"] is True
    assert private["host"]["https://private.example.com:5443/v2"] == {
        "capabilities": ["pull", "resolve"],
        "skip_verify": True,
    }


def test_mirror_listing_the_registry_itself_adds_no_host(tmp_path: Path) -> None:
    cfg = RegistriesConfig.from_dict(
        {
            "mirrors": {
                "r.example.com": {"endpoint": ["https://r.example.com", "https://r.example.com/v2"]}
            }
        }
    )
    assert cfg.hosts_files() == {}


def test_write_hosts_dir_replaces_only_its_own_dirs(cfg: RegistriesConfig, tmp_path: Path) -> None:
    d = tmp_path / "certs.d"
    (d / "stale.example.com").mkdir(parents=True)
    (d / "stale.example.com" / "hosts.toml").write_text(HOSTS_HEADER + 'server = "x"\n')
    (d / "foreign.example.com").mkdir()
    (d / "foreign.example.com" / "hosts.toml").write_text(
        'server = "https://foreign.example.com"\n'
    )
    written = cfg.write_hosts_dir(d)
    assert sorted(p.parent.name for p in written) == sorted(cfg.hosts_files())
    assert not (d / "stale.example.com").exists()
    assert (d / "foreign.example.com" / "hosts.toml").exists()
    assert (d / "docker.io" / "hosts.toml").read_text() == cfg.hosts_files()["docker.io"]
    RegistriesConfig().write_hosts_dir(d)
    assert sorted(p.name for p in d.iterdir()) == ["foreign.example.com"]


def test_auth_for_follows_the_first_mirror(cfg: RegistriesConfig) -> None:
    auth = cfg.auth_for("busybox")
    assert auth == AuthConfig(
        username="alice", password="s3cret", server_address="http://127.0.0.1:5000"
    )
    # the "*" mirror (no credentials configured for it)
    assert cfg.auth_for("ghcr.io/x/y:1") is None
    assert cfg.auth_for("quay.io/x/y") is None


def test_auth_for_registry_without_mirror() -> None:
    cfg = RegistriesConfig.from_dict(
        {
            "configs": {
                "r.example.com": {"auth": {"auth": base64.b64encode(b"bob:pw").decode()}},
                "registry-1.docker.io": {"auth": {"username": "hub", "password": "x"}},
            }
        }
    )
    auth = cfg.auth_for("r.example.com/team/app:v1")
    assert auth is not None
    assert auth.server_address == "https://r.example.com"
    assert auth.credentials() == ("bob", "pw")
    hub = cfg.auth_for("library/busybox")
    assert hub is not None and hub.username == "hub"
    assert hub.server_address == "https://registry-1.docker.io"
    assert cfg.auth_for("other.example.com/x") is None


# --------------------------------------------------------------------------
# pull secrets


def _dockerconfigjson(auths: dict[str, Any], name: str = "s") -> dict[str, Any]:
    data = base64.b64encode(json.dumps({"auths": auths}).encode()).decode()
    return {
        "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": data},
    }


def _dockercfg(entries: dict[str, Any]) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(entries).encode()).decode()
    return {"type": "kubernetes.io/dockercfg", "data": {".dockercfg": data}}


def test_dockerconfigjson_for_docker_hub() -> None:
    s = _dockerconfigjson(
        {"https://index.docker.io/v1/": {"auth": base64.b64encode(b"hubuser:hubpw").decode()}}
    )
    for image in ("busybox", "library/busybox:1", "docker.io/foo/bar", "index.docker.io/x/y"):
        auth = auth_from_pull_secrets([s], image)
        assert auth is not None, image
        assert (auth.username, auth.password) == ("hubuser", "hubpw")
    assert auth_from_pull_secrets([s], "quay.io/x/y") is None
    assert auth_from_pull_secrets([s], "127.0.0.1:5000/library/busybox") is None


def test_dockercfg_and_username_password() -> None:
    s = _dockercfg({"127.0.0.1:5000": {"username": "u", "password": "p", "email": "e@x"}})
    auth = auth_from_pull_secrets([s], "127.0.0.1:5000/library/busybox:latest")
    assert auth == AuthConfig(username="u", password="p")
    assert auth_from_pull_secrets([s], "127.0.0.1:5001/library/busybox") is None  # port differs
    assert auth_from_pull_secrets([s], "127.0.0.1/library/busybox") is None


def test_glob_hosts_and_most_specific_path_first() -> None:
    s = _dockerconfigjson(
        {
            "*.example.com": {"username": "glob", "password": "1"},
            "r.example.com/team": {"username": "team", "password": "2"},
            "https://r.example.com": {"username": "host", "password": "3"},
        }
    )
    found = auths_from_pull_secrets([s], "r.example.com/team/app:v1")
    assert [a.username for a in found] == ["team", "host", "glob"]
    found = auths_from_pull_secrets([s], "r.example.com/other/app")
    assert [a.username for a in found] == ["host", "glob"]
    assert [a.username for a in auths_from_pull_secrets([s], "a.b.example.com/x")] == []


def test_secrets_of_other_types_and_bad_data_are_ignored() -> None:
    opaque = {"type": "Opaque", "data": {".dockerconfigjson": "e30="}}
    broken = {
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "bm90IGpzb24="},
    }
    bad_auth = _dockerconfigjson({"r.io": {"auth": "bm9jb2xvbg=="}})  # "nocolon"
    good = _dockerconfigjson({"r.io": {"username": "u", "password": "p"}})
    auth = auth_from_pull_secrets([opaque, broken, bad_auth, good], "r.io/x")
    assert auth == AuthConfig(username="u", password="p")
    assert auth_from_pull_secrets([], "r.io/x") is None


def test_auth_field_overrides_username() -> None:
    s = _dockerconfigjson(
        {"r.io": {"username": "x", "password": "y", "auth": base64.b64encode(b"a:b:c").decode()}}
    )
    auth = auth_from_pull_secrets([s], "r.io/app")
    assert auth is not None and (auth.username, auth.password) == ("a", "b:c")
