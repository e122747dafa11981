"""Channel framing, negotiation and option parsing (pinnace.kubelet.streaming)."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from multidict import MultiDict

from pinnace.kubelet.streaming import channels
from pinnace.kubelet.streaming.portforward import parse_ports
from pinnace.kubelet.streaming.remotecommand import (
    ExecOptions,
    internal_error_status,
    parse_exec_options,
    status_for,
)

V5 = channels.PROTOCOLS[channels.V5]
V4 = channels.PROTOCOLS[channels.V4]
V4_B64 = channels.PROTOCOLS[channels.V4_BASE64]
V1 = channels.PROTOCOLS[channels.V1]


def test_binary_framing_round_trip() -> None:
    data = bytes(range(256))
    message = channels.encode(V4, channels.STDOUT, data)
    assert message == b"\x01" + data
    assert channels.decode(V4, message) == (1, data)
    assert channels.decode(V4, b"") is None


def test_v5_close_signal() -> None:
    assert channels.decode(V5, b"\xff\x00") == (channels.CLOSE, b"\x00")
    with pytest.raises(channels.ProtocolError):
        channels.decode(V5, b"\xff\x00\x01")
    # Before v5 there is no close signal: 255 is just a channel number.
    assert channels.decode(V4, b"\xff\x00") == (255, b"\x00")


def test_base64_framing() -> None:
    message = channels.encode(V4_B64, channels.STDERR, b"\x00\xffhi")
    assert message == "2AP9oaQ=="
    assert channels.decode(V4_B64, message) == (2, b"\x00\xffhi")
    assert channels.decode(V4_B64, b"0aGk=") == (0, b"hi")
    with pytest.raises(channels.ProtocolError):
        channels.decode(V4_B64, "0!!!")
    with pytest.raises(channels.ProtocolError):
        channels.decode(V4, "1text on a binary protocol")


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (["v5.channel.k8s.io", "v4.channel.k8s.io"], "v5.channel.k8s.io"),
        (["v9.channel.k8s.io", "v4.channel.k8s.io"], "v4.channel.k8s.io"),
        (["channel.k8s.io"], "channel.k8s.io"),
        ([], ""),
        (["v9.channel.k8s.io"], None),
    ],
)
def test_negotiation_takes_the_clients_first_supported(
    requested: list[str], expected: str | None
) -> None:
    assert channels.negotiate(requested, ["v4.channel.k8s.io", "", *channels.PROTOCOLS]) == (
        expected
    )


def test_negotiation_without_empty_protocol() -> None:
    assert channels.negotiate([], [channels.V4]) is None


def q(**items: str | list[str]) -> MultiDict[str]:
    out: MultiDict[str] = MultiDict()
    for key, value in items.items():
        for v in [value] if isinstance(value, str) else value:
            out.add(key, v)
    return out


def test_exec_options_api_and_kubelet_spellings() -> None:
    api = parse_exec_options(
        q(command=["sh", "-c", "x"], stdin="true", stdout="true", stderr="false", tty="false")
    )
    assert api == ExecOptions(["sh", "-c", "x"], stdin=True, stdout=True, stderr=False, tty=False)
    kubelet = parse_exec_options(q(command="ls", input="1", output="1", error="1"))
    assert kubelet == ExecOptions(["ls"], stdin=True, stdout=True, stderr=True, tty=False)


def test_exec_options_tty_drops_stderr() -> None:
    options = parse_exec_options(q(command="sh", stdout="1", stderr="1", tty="1"))
    assert options.tty and options.stdout and not options.stderr


def test_exec_options_errors() -> None:
    with pytest.raises(web.HTTPBadRequest) as err:
        parse_exec_options(q(command="ls", stdout="false"))
    assert err.value.text == "you must specify at least 1 of stdin, stdout, stderr"
    with pytest.raises(web.HTTPBadRequest) as err:
        parse_exec_options(q(stdout="true"))
    assert err.value.text == "you must specify at least one command for the container"
    # Attach needs no command.
    assert parse_exec_options(q(stdout="true"), exec_=False).command == []


def test_ports() -> None:
    assert parse_ports(q(ports="80,8080")) == [80, 8080]
    assert parse_ports(q(port=["80", "443"])) == [80, 443]
    for bad in ("x", "0", "70000", ""):
        with pytest.raises(web.HTTPBadRequest):
            parse_ports(q(ports=bad))
    with pytest.raises(web.HTTPBadRequest) as err:
        parse_ports(q())
    assert err.value.text == 'query parameter "port" is required'


def test_status_for_old_protocols() -> None:
    failure = json.dumps(
        {"status": "Failure", "message": "command terminated with non-zero exit code: 3"}
    ).encode()
    success = b'{"metadata":{},"status":"Success"}'
    assert status_for(V4, failure) == failure
    assert status_for(V1, failure) == b"command terminated with non-zero exit code: 3"
    assert status_for(V1, success) == b""
    status = json.loads(internal_error_status("boom"))
    assert (status["status"], status["reason"], status["code"]) == ("Failure", "InternalError", 500)
