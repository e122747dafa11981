from __future__ import annotations

import pytest

from pinnace.apiserver.requestinfo import parse_request


@pytest.mark.parametrize(
    ("method", "path", "watch", "expect"),
    [
        ("GET", "/api/v1/pods", False, ("list", "", "v1", "", "pods", "", "")),
        ("GET", "/api/v1/namespaces/ns/pods", False, ("list", "", "v1", "ns", "pods", "", "")),
        ("GET", "/api/v1/namespaces/ns/pods/p", False, ("get", "", "v1", "ns", "pods", "p", "")),
        ("GET", "/api/v1/namespaces/ns/pods", True, ("watch", "", "v1", "ns", "pods", "", "")),
        (
            "GET",
            "/api/v1/watch/namespaces/ns/pods",
            False,
            ("watch", "", "v1", "ns", "pods", "", ""),
        ),
        (
            "POST",
            "/api/v1/namespaces/ns/pods/p/binding",
            False,
            ("create", "", "v1", "ns", "pods", "p", "binding"),
        ),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/d/deployments/x/scale",
            False,
            ("patch", "apps", "v1", "d", "deployments", "x", "scale"),
        ),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/d/deployments",
            False,
            ("deletecollection", "apps", "v1", "d", "deployments", "", ""),
        ),
        ("GET", "/api/v1/namespaces", False, ("list", "", "v1", "", "namespaces", "", "")),
        ("GET", "/api/v1/namespaces/x", False, ("get", "", "v1", "", "namespaces", "x", "")),
        (
            "PUT",
            "/api/v1/namespaces/x/finalize",
            False,
            ("update", "", "v1", "", "namespaces", "x", "finalize"),
        ),
        (
            "PUT",
            "/api/v1/namespaces/x/status",
            False,
            ("update", "", "v1", "", "namespaces", "x", "status"),
        ),
        ("GET", "/api/v1/nodes/n1", False, ("get", "", "v1", "", "nodes", "n1", "")),
    ],
)
def test_resource_requests(method: str, path: str, watch: bool, expect: tuple[str, ...]) -> None:
    info = parse_request(method, path, watch)
    assert info.is_resource
    assert (
        info.verb,
        info.group,
        info.version,
        info.namespace,
        info.resource,
        info.name,
        info.subresource,
    ) == expect


@pytest.mark.parametrize(
    "path",
    ["/", "/api", "/apis", "/apis/apps", "/apis/apps/v1", "/api/v1", "/version", "/openapi/v3"],
)
def test_non_resource_requests(path: str) -> None:
    assert not parse_request("GET", path, False).is_resource
