"""Log formats and verbosity (pinnace.cli.logs)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from pinnace.cli.logs import (
    DETAIL,
    TRACE,
    LogFormat,
    component_of,
    level_for_verbosity,
    setup_logging,
)


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    access_level = logging.getLogger("aiohttp.access").level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(access_level)
    logging.captureWarnings(False)


def capture(verbosity: int = 0, log_format: LogFormat = "text") -> io.StringIO:
    out = io.StringIO()
    setup_logging(verbosity=verbosity, log_format=log_format, stream=out)
    return out


def test_component_of() -> None:
    assert component_of("pinnace.apiserver.cache") == "apiserver"
    assert component_of("pinnace.storage") == "storage"
    assert component_of("pinnace") == "pinnace"
    assert component_of("aiohttp.access") == "aiohttp"
    assert component_of("") == "root"


@pytest.mark.parametrize(
    ("v", "level"),
    [
        (0, logging.INFO),
        (1, logging.INFO),
        (2, DETAIL),
        (3, DETAIL),
        (4, logging.DEBUG),
        (6, TRACE),
    ],
)
def test_verbosity_levels(v: int, level: int) -> None:
    assert level_for_verbosity(v) == level


def test_text_lines_look_like_klog_with_the_component() -> None:
    out = capture()
    log = logging.getLogger("pinnace.scheduler.queue")
    log.info("pod unschedulable", extra={"pod": "default/web-1", "attempts": 3})
    log.warning("careful")
    lines = out.getvalue().splitlines()
    assert re.fullmatch(
        r'I\d{4} \d\d:\d\d:\d\d\.\d{6} scheduler\] pod unschedulable pod="default/web-1" attempts=3',
        lines[0],
    ), lines[0]
    assert lines[1].startswith("W") and lines[1].endswith("scheduler] careful")


def test_verbosity_filters_detail_and_debug() -> None:
    out = capture(verbosity=0)
    log = logging.getLogger("pinnace.apiserver")
    log.log(DETAIL, "detail")
    log.debug("debug")
    log.info("info")
    assert [line.split("] ")[1] for line in out.getvalue().splitlines()] == ["info"]

    out = capture(verbosity=2)
    log.log(DETAIL, "detail")
    log.debug("debug")
    assert [line.split("] ")[1] for line in out.getvalue().splitlines()] == ["detail"]

    out = capture(verbosity=4)
    log.debug("debug")
    log.log(TRACE, "trace")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("D")


def test_json_lines() -> None:
    out = capture(log_format="json")
    log = logging.getLogger("pinnace.storage.sqlite")
    log.error("disk full", extra={"path": "/var/lib/pinnace/db"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines() if line[:1] == "{")
    assert first["level"] == "error"
    assert first["component"] == "storage"
    assert first["logger"] == "pinnace.storage.sqlite"
    assert first["msg"] == "disk full"
    assert first["path"] == "/var/lib/pinnace/db"
    assert first["time"].endswith("+00:00")
    assert "ValueError: boom" in second["exc"]


def test_setup_replaces_earlier_handlers() -> None:
    first = capture()
    second = capture()
    logging.getLogger("pinnace.cli").info("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1
