"""Pod Security admission end to end: a real ``pinnace server`` and the real
kubectl. Restricted namespaces refuse privileged pods with upstream's message,
warn-mode namespaces answer with ``Warning:`` lines, workloads are only
warned about, labels are validated and raising the enforce level warns about
the pods already there.

Until ``server.py`` puts PodSecurity in its admission chain, the server is
started through a small launcher that appends the plugin (and does nothing
when the chain already has it)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.cluster
from tests.cluster import Server

pytestmark = pytest.mark.kubectl

LAUNCHER = textwrap.dedent(
    """\
    import sys

    from pinnace.apiserver import server as _server
    from pinnace.apiserver.admission.pod_security import PodSecurity

    _init = _server.ApiServer.__init__


    def _with_pod_security(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        if any(p.name == "PodSecurity" for p in self.admission.validating):
            return

        def list_pods(namespace):
            store = self.stores.get(("", "v1", "pods"))
            if store is None:
                return []
            return store.cache.list_objects(store.list_prefix(namespace))

        self.admission.validating.append(PodSecurity(self._get_namespace, list_pods))


    _server.ApiServer.__init__ = _with_pod_security

    from pinnace.cli.main import main

    sys.exit(main())
    """
)

PRIVILEGED_POD = textwrap.dedent(
    """\
    apiVersion: v1
    kind: Pod
    metadata:
      name: {name}
    spec:
      containers:
      - name: c
        image: nginx
        securityContext:
          privileged: true
    """
)

RESTRICTED_DETAIL = (
    'privileged (container "c" must not set securityContext.privileged=true), '
    "allowPrivilegeEscalation != false "
    '(container "c" must set securityContext.allowPrivilegeEscalation=false), '
    'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
    'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
    'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to '
    '"RuntimeDefault" or "Localhost")'
)


@pytest.fixture(scope="module")
def psa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("pinnace-psa")
    launcher = d / "launch_with_pod_security.py"
    launcher.write_text(LAUNCHER)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tests.cluster, "PINNACE", [sys.executable, str(launcher)])
        s = Server(
            d / "data",
            extra_args=["--disable", "scheduler", "--controllers", "namespace,serviceaccount"],
        ).start()
    try:
        yield s
    finally:
        s.stop()


def _namespace(server: Server, name: str, *labels: str) -> None:
    server.kubectl("create", "namespace", name)
    if labels:
        server.kubectl("label", "namespace", name, *labels)


def test_restricted_namespace_refuses_privileged_pod(psa_server: Server, tmp_path: Path) -> None:
    _namespace(psa_server, "psa-restricted", "pod-security.kubernetes.io/enforce=restricted")
    p = psa_server.kubectl(
        "apply", "-n", "psa-restricted", "-f", "-",
        input=PRIVILEGED_POD.format(name="priv"), check=False,
    )  # fmt: skip
    assert p.returncode != 0
    assert (
        'Error from server (Forbidden): error when creating "STDIN": pods "priv" is forbidden: '
        f'violates PodSecurity "restricted:latest": {RESTRICTED_DETAIL}'
    ) in p.stderr
    got = psa_server.kubectl("get", "pods", "-n", "psa-restricted", "-o", "name").stdout
    assert got.strip() == ""


def test_warn_namespace_admits_with_warning(psa_server: Server) -> None:
    _namespace(psa_server, "psa-warn", "pod-security.kubernetes.io/warn=baseline")
    p = psa_server.kubectl(
        "apply", "-n", "psa-warn", "-f", "-", input=PRIVILEGED_POD.format(name="priv")
    )
    assert "pod/priv created" in p.stdout
    assert (
        'Warning: would violate PodSecurity "baseline:latest": privileged '
        '(container "c" must not set securityContext.privileged=true)'
    ) in p.stderr.splitlines()


def test_deployment_in_restricted_namespace_only_warns(psa_server: Server) -> None:
    _namespace(psa_server, "psa-deploy", "pod-security.kubernetes.io/enforce=restricted")
    p = psa_server.kubectl("create", "deployment", "web", "-n", "psa-deploy", "--image", "nginx")
    assert "deployment.apps/web created" in p.stdout
    warnings = [ln for ln in p.stderr.splitlines() if ln.startswith("Warning:")]
    assert warnings == [
        'Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != '
        'false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "nginx" must set '
        'securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container '
        '"nginx" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container '
        '"nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
    ]


def test_namespace_labels_are_validated_and_raising_enforce_warns(psa_server: Server) -> None:
    _namespace(psa_server, "psa-label")
    psa_server.kubectl(
        "apply", "-n", "psa-label", "-f", "-", input=PRIVILEGED_POD.format(name="old")
    )
    bad = psa_server.kubectl(
        "label", "namespace", "psa-label", "pod-security.kubernetes.io/enforce=strict", check=False
    )
    assert bad.returncode != 0
    assert (
        'The Namespace "psa-label" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: '
        'Invalid value: "strict": must be one of privileged, baseline, restricted'
    ) in bad.stderr
    p = psa_server.kubectl(
        "label", "namespace", "psa-label", "pod-security.kubernetes.io/enforce=baseline"
    )
    assert "namespace/psa-label labeled" in p.stdout
    assert p.stderr.splitlines() == [
        'Warning: existing pods in namespace "psa-label" violate the new PodSecurity enforce '
        'level "baseline:latest"',
        "Warning: old: privileged",
    ]
