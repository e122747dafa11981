from pinnace.scheduler.quantity import parse_quantity, pod_requests, quantity_value
from tests.unit.scheduler.helpers import pod


def test_parse_quantities() -> None:
    assert quantity_value("cpu", "100m") == 100
    assert quantity_value("cpu", "1.5") == 1500
    assert quantity_value("cpu", "1") == 1000
    assert quantity_value("memory", "1Gi") == 2**30
    assert quantity_value("memory", "200M") == 200_000_000
    assert quantity_value("memory", "1e3") == 1000
    assert quantity_value("cpu", "1n") == 1  # rounded up like MilliValue
    assert parse_quantity("2Ki") == 2048


def test_init_containers_take_the_max() -> None:
    p = pod(
        "p",
        "500m",
        "1Gi",
        init=[
            {"name": "i1", "resources": {"requests": {"cpu": "2", "memory": "512Mi"}}},
            {"name": "i2", "resources": {"requests": {"cpu": "1", "memory": "3Gi"}}},
        ],
    )
    assert pod_requests(p) == {"cpu": 2000, "memory": 3 * 2**30}


def test_sidecars_add_up_and_count_for_later_init_containers() -> None:
    p = pod(
        "p",
        "1",
        None,
        init=[
            {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
            {"name": "init", "resources": {"requests": {"cpu": "1"}}},
        ],
    )
    # app 1 + sidecar 0.5 = 1.5; init 1 + sidecar 0.5 = 1.5 → max 1.5
    assert pod_requests(p)["cpu"] == 1500


def test_overhead_is_added_and_limits_default_requests() -> None:
    p = pod("p", "1", None, overhead={"cpu": "250m", "memory": "120Mi"})
    p["spec"]["containers"].append(
        {"name": "b", "resources": {"limits": {"cpu": "2", "memory": "1Gi"}}}
    )
    r = pod_requests(p)
    assert r["cpu"] == 1000 + 2000 + 250
    assert r["memory"] == 2**30 + 120 * 2**20


def test_non_zero_defaults_only_for_scoring() -> None:
    p = pod("p")
    assert pod_requests(p) == {}
    assert pod_requests(p, non_zero=True) == {"cpu": 100, "memory": 200 * 2**20}
