"""--admission-control-config-file: PodSecurity defaults and exemptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.apiserver.admission.config_file import pod_security_config
from pinnace.apiserver.errors import StartupError

INLINE = """
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults: {enforce: baseline, warn: restricted}
    exemptions: {namespaces: [kube-system]}
"""


def test_inline_and_path(tmp_path: Path) -> None:
    f = tmp_path / "admission.yaml"
    f.write_text(INLINE)
    conf = pod_security_config(str(f))
    assert conf.defaults.enforce.level == "baseline"
    assert conf.defaults.warn.level == "restricted"
    assert conf.exempt_namespaces == frozenset({"kube-system"})
    (tmp_path / "psa.yaml").write_text(
        "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\n"
        "exemptions: {usernames: [ci-bot]}\n"
    )
    f.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n"
        "plugins: [{name: PodSecurity, path: psa.yaml}]\n"
    )
    assert pod_security_config(str(f)).exempt_usernames == frozenset({"ci-bot"})


def test_no_file_or_no_plugin_gives_upstream_defaults(tmp_path: Path) -> None:
    assert pod_security_config("").exempt_namespaces == frozenset()
    f = tmp_path / "a.yaml"
    f.write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n")
    assert pod_security_config(str(f)).exempt_usernames == frozenset()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Nope\n", "is not an AdmissionConfiguration"),
        ("apiVersion: v9\nkind: AdmissionConfiguration\n", "unsupported apiVersion"),
        (
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n"
            "plugins: [{name: PodSecurity}]\n",
            "needs a configuration or a path",
        ),
        (
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n"
            "plugins: [{name: PodSecurity, configuration: {defaults: {enforce: strict}}}]\n",
            "defaults.enforce",
        ),
        ("{{{", "is not YAML"),
    ],
)
def test_bad_files_stop_the_start(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(text)
    with pytest.raises(StartupError, match=message):
        pod_security_config(str(f))
