"""AddonReconciler's sweep of other servers' kube-dns slices, read from a cache."""

from __future__ import annotations

from typing import Any, cast

from pinnace.client import Client, Conflict, Obj
from pinnace.dns.addon import AddonReconciler

NOW = 1_900_000_000.0  # 2030-03-17T17:46:40Z
RESYNC = 60.0


def kube_dns_slice(name: str, renewed: str, rv: str, *, namespace: str = "kube-system") -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": rv,
            "labels": {
                "kubernetes.io/service-name": "kube-dns",
                "endpointslice.kubernetes.io/managed-by": "dns.pinnace.io",
            },
            "annotations": {"dns.pinnace.io/renew-time": renewed},
        }
    }


class FakeClient:
    """Deletes honour a resourceVersion precondition against ``current``."""

    def __init__(self, current: dict[str, str]) -> None:
        self.current = current  # name -> resourceVersion in the "API"
        self.deleted: list[str] = []
        self.lists = 0

    async def list(self, *args: Any, **kwargs: Any) -> Obj:
        self.lists += 1
        return {"items": []}

    async def delete(
        self,
        resource: Any,
        name: str,
        *,
        namespace: str | None = None,
        preconditions: dict[str, str] | None = None,
    ) -> Obj:
        want = (preconditions or {}).get("resourceVersion")
        if want is not None and self.current.get(name) != want:
            raise Conflict({"code": 409, "reason": "Conflict", "message": "precondition failed"})
        self.deleted.append(name)
        return {}


def reconciler(client: FakeClient, cached: list[Obj]) -> AddonReconciler:
    return AddonReconciler(
        cast(Client, client),
        service_ip="10.43.0.10",
        advertise_ip="127.0.0.1",
        dns_port=5353,
        metrics_port=9153,
        resync=RESYNC,
        now=lambda: NOW,
        cached_slices=lambda: cached,
    )


async def test_stale_slices_from_the_cache_are_deleted_without_a_list() -> None:
    ours = "kube-dns-127-0-0-1-5353"
    cached = [
        kube_dns_slice(ours, "2020-01-01T00:00:00Z", "1"),  # ours: never swept
        kube_dns_slice("kube-dns-10-0-0-8-53", "2020-01-01T00:00:00Z", "2"),  # gone
        kube_dns_slice("kube-dns-10-0-0-9-53", "2030-03-17T17:46:00Z", "3"),  # live
        kube_dns_slice("kube-dns", "2030-03-17T17:46:00Z", "4"),  # the legacy slice
        kube_dns_slice("kube-dns-10-0-0-7-53", "2020-01-01T00:00:00Z", "5", namespace="other"),
    ]
    client = FakeClient({s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in cached})
    await reconciler(client, cached)._remove_stale_slices()
    assert sorted(client.deleted) == ["kube-dns", "kube-dns-10-0-0-8-53"]
    assert client.lists == 0


async def test_a_slice_renewed_since_the_cache_saw_it_is_kept() -> None:
    cached = [kube_dns_slice("kube-dns-10-0-0-8-53", "2020-01-01T00:00:00Z", "2")]
    client = FakeClient({"kube-dns-10-0-0-8-53": "7"})  # renewed: a newer version
    await reconciler(client, cached)._remove_stale_slices()
    assert client.deleted == []
