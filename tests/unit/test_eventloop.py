"""pinnace.eventloop: which loop the long-running processes run on."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import uvloop

from pinnace import eventloop


def test_uvloop_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert eventloop.loop_factory() is uvloop.new_event_loop

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert issubclass(eventloop.run(loop_type()), uvloop.Loop)


def test_the_standard_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, "asyncio")
    assert eventloop.loop_factory() is None

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert not issubclass(eventloop.run(loop_type()), uvloop.Loop)


def test_an_unknown_choice_warns_and_uses_uvloop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(eventloop.ENV, "trio")
    with caplog.at_level(logging.WARNING, logger="pinnace.eventloop"):
        assert eventloop.loop_factory() is uvloop.new_event_loop
    assert "'trio'" in caplog.text


def test_run_returns_the_result_and_raises_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENV, raising=False)

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def fail() -> None:
        raise ValueError("bad")

    assert eventloop.run(answer()) == 42
    with pytest.raises(ValueError, match="bad"):
        eventloop.run(fail())


def test_what_pinnace_relies_on_works_on_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop features pinnace's processes use beyond plain sockets: a
    pidfd read through add_reader (containerd's supervisor), an asyncio
    subprocess (the scheduler child, kube-proxy's restore) next to a
    subprocess.run in a thread (CNI masquerade rules), and TLS peer
    certificates (client-certificate authentication)."""
    monkeypatch.delenv(eventloop.ENV, raising=False)

    proc = subprocess.Popen([sys.executable, "-c", "pass"])

    async def main() -> tuple[int, int, str]:
        loop = asyncio.get_running_loop()
        pidfd = os.pidfd_open(proc.pid)
        exited = loop.create_future()

        def readable() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(pidfd, readable)
        try:
            await asyncio.wait_for(exited, 30)
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "print('hi')", stdout=asyncio.subprocess.PIPE
        )
        threaded = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", "raise SystemExit(3)"]
        )
        out, _ = await child.communicate()
        return child.returncode or 0, threaded.returncode, out.decode().strip()

    assert eventloop.run(main()) == (0, 3, "hi")
    assert proc.wait(timeout=30) == 0


def test_tls_peer_certificate_on_uvloop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Client-certificate authentication reads the peer certificate from the
    transport; uvloop's TLS transport must give it."""
    from pinnace.apiserver.certs import ensure_pki, issue_client_cert

    monkeypatch.delenv(eventloop.ENV, raising=False)
    pki = ensure_pki(tmp_path / "pki", hosts=["127.0.0.1"])
    cert, key = issue_client_cert(pki, "alice", ["devs"])
    (tmp_path / "alice.crt").write_bytes(cert)
    (tmp_path / "alice.key").write_bytes(key)

    async def main() -> object:
        sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        sctx.load_cert_chain(pki.server_cert, pki.server_key)
        sctx.load_verify_locations(pki.ca_cert)
        sctx.verify_mode = ssl.CERT_OPTIONAL
        seen: asyncio.Future[object] = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.set_result(writer.get_extra_info("peercert"))
            writer.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=sctx)
        port = srv.sockets[0].getsockname()[1]
        cctx = ssl.create_default_context(cafile=pki.ca_cert)
        cctx.load_cert_chain(tmp_path / "alice.crt", tmp_path / "alice.key")
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=cctx)
        peer = await asyncio.wait_for(seen, 30)
        writer.close()
        srv.close()
        return peer

    peer = eventloop.run(main())
    assert isinstance(peer, dict)
    subject = dict(x[0] for x in peer["subject"])
    assert subject["commonName"] == "alice"
    assert subject["organizationName"] == "devs"
