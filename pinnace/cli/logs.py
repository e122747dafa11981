"""Logging for every pinnace process: one line per record, on stderr.

Two formats:

* ``text`` (default), klog's header so that anyone who has read kube-apiserver
  or kubelet logs can read these, with the component where klog puts the
  source file::

      I1126 14:35:56.123456 apiserver] serving on https://127.0.0.1:6443
      W1126 14:35:57.000001 scheduler] pod unschedulable pod="default/web-1"

  The first letter is the severity (D debug, I info, W warning, E error,
  F fatal/critical). Extra fields passed with ``extra={...}`` follow the
  message as ``key="value"`` pairs, as in klog's structured logging.
* ``json``: one JSON object per line with ``ts`` (Unix seconds), ``time``
  (RFC 3339, UTC), ``level``, ``component``, ``logger``, ``msg``, the extra
  fields and ``exc`` when there is a traceback.

Verbosity follows upstream's ``--v``: 0-1 show info and above; 2-3 also show
:data:`DETAIL` (what upstream logs at V(2): useful steady-state detail);
4-5 show debug; 6 and up show :data:`TRACE` (request and response detail).

The component of a record is the first part of its logger name after
``pinnace.`` (``pinnace.apiserver.cache`` -> ``apiserver``), or the first part
of a foreign logger's name (``aiohttp.access`` -> ``aiohttp``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, Literal, TextIO

__all__ = [
    "DETAIL",
    "TRACE",
    "JsonFormatter",
    "KlogFormatter",
    "LogFormat",
    "component_of",
    "level_for_verbosity",
    "setup_logging",
]

LogFormat = Literal["text", "json"]

DETAIL = 15  # between DEBUG and INFO: upstream's V(2)
TRACE = 5  # below DEBUG: upstream's V(6) and up
logging.addLevelName(DETAIL, "DETAIL")
logging.addLevelName(TRACE, "TRACE")

# Attributes every LogRecord has; anything else came in through ``extra``.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}


def level_for_verbosity(v: int) -> int:
    """The logging level that shows what upstream shows at ``--v=v``."""
    if v >= 6:
        return TRACE
    if v >= 4:
        return logging.DEBUG
    if v >= 2:
        return DETAIL
    return logging.INFO


def component_of(logger_name: str) -> str:
    parts = logger_name.split(".")
    if parts[0] == "pinnace" and len(parts) > 1:
        return parts[1]
    return parts[0] or "root"


def _severity_letter(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "F"
    if levelno >= logging.ERROR:
        return "E"
    if levelno >= logging.WARNING:
        return "W"
    if levelno >= DETAIL:
        return "I"
    return "D"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS}


class KlogFormatter(logging.Formatter):
    """``I1126 14:35:56.123456 component] message key="value"``."""

    def format(self, record: logging.LogRecord) -> str:
        t = dt.datetime.fromtimestamp(record.created)
        head = (
            f"{_severity_letter(record.levelno)}{t:%m%d %H:%M:%S.%f} {component_of(record.name)}] "
        )
        line = head + record.getMessage()
        for key, value in _extras(record).items():
            line += f" {key}={json.dumps(value, default=str)}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 6),
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="microseconds"
            ),
            "level": record.levelname.lower(),
            "component": component_of(record.name),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            doc.setdefault(key, value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def setup_logging(
    *, verbosity: int = 0, log_format: LogFormat = "text", stream: TextIO | None = None
) -> None:
    """Configure the root logger for this process (replacing earlier setup)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else KlogFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    level = level_for_verbosity(verbosity)
    root.setLevel(level)
    # Per-request access lines are upstream's --v=3 httplog; keep them out of
    # the default output.
    logging.getLogger("aiohttp.access").setLevel(
        logging.INFO if verbosity >= 3 else logging.WARNING
    )
    logging.captureWarnings(True)
