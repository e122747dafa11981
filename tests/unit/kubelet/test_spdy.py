"""SPDY/3.1 framing and sessions (pinnace.kubelet.streaming.spdy)."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator

import pytest

from pinnace.kubelet.streaming import spdy
from pinnace.kubelet.streaming.upgrade import StreamPipe


def test_dictionary_matches_the_spdy3_dictionary() -> None:
    # Size and Adler-32 of the SPDY/3 header dictionary (the zlib header of
    # every compressed block carries this checksum as its dictionary id).
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options")
    assert spdy.DICTIONARY.endswith(b",*,enq=0.")


def roundtrip(frames: list[spdy.Frame]) -> list[spdy.Frame]:
    encoder, decoder = spdy.FrameEncoder(), spdy.FrameDecoder()
    out = []
    for frame in frames:
        raw = encoder.encode(frame)
        out.append(decoder.decode(raw[:8], raw[8:]))
    return out


def test_frames_round_trip() -> None:
    h = spdy.make_headers
    frames: list[spdy.Frame] = [
        spdy.SynStreamFrame(1, h({"streamtype": "error"}), priority=3),
        spdy.SynReplyFrame(1, {}),
        spdy.DataFrame(1, b"hello \x00\xff", spdy.FLAG_FIN),
        spdy.DataFrame(3, b""),
        spdy.HeadersFrame(3, h({"x": ["a", "b"]}), spdy.FLAG_FIN),
        spdy.RstStreamFrame(5, spdy.CANCEL),
        spdy.SettingsFrame([(0, 7, 65536), (1, 4, 100)]),
        spdy.PingFrame(7),
        spdy.GoAwayFrame(9, spdy.GOAWAY_OK),
        spdy.WindowUpdateFrame(1, 1000),
    ]
    assert roundtrip(frames) == frames


def test_header_compression_context_spans_frames() -> None:
    """Later blocks refer back to earlier ones: they only decode in order, in one context."""
    encoder = spdy.FrameEncoder()
    headers = spdy.make_headers({"streamtype": "stdout", "port": "8080", "requestid": "0"})
    first = encoder.encode(spdy.SynStreamFrame(1, headers))
    second = encoder.encode(spdy.SynStreamFrame(3, headers))
    # The repeated block compresses to less than the first one did.
    assert len(second) < len(first)
    decoder = spdy.FrameDecoder()
    assert decoder.decode(first[:8], first[8:]) == spdy.SynStreamFrame(1, headers)
    assert decoder.decode(second[:8], second[8:]) == spdy.SynStreamFrame(3, headers)
    # A fresh context cannot decode the second block alone.
    with pytest.raises(spdy.SpdyError):
        spdy.FrameDecoder().decode(second[:8], second[8:])


def test_wire_layout_of_control_and_data_frames() -> None:
    raw = spdy.FrameEncoder().encode(spdy.RstStreamFrame(5, spdy.CANCEL))
    assert raw == struct.pack(">HHIII", 0x8003, 3, 8, 5, 5)
    raw = spdy.FrameEncoder().encode(spdy.DataFrame(3, b"ab", spdy.FLAG_FIN))
    assert raw == struct.pack(">II", 3, 0x01000002) + b"ab"
    raw = spdy.FrameEncoder().encode(spdy.SynStreamFrame(1, {"a": ["b"]}, spdy.FLAG_FIN))
    version, ftype, flags_len = struct.unpack(">HHI", raw[:8])
    assert (version, ftype, flags_len >> 24) == (0x8003, 1, 1)
    assert flags_len & 0xFFFFFF == len(raw) - 8
    # The header block is a zlib stream using the dictionary (FDICT set, its Adler-32 id).
    block = raw[18:]
    assert block[1] & 0x20
    assert struct.unpack(">I", block[2:6])[0] == zlib.adler32(spdy.DICTIONARY)


def test_header_block_multiple_values_and_lowercasing() -> None:
    block = spdy.encode_header_block({"X-Multi": ["a", "b"], "one": ["1"]})
    assert spdy.decode_header_block(block) == {"x-multi": ["a", "b"], "one": ["1"]}


def test_unsupported_version_is_an_error() -> None:
    raw = bytearray(spdy.FrameEncoder().encode(spdy.PingFrame(1)))
    raw[1] = 2
    with pytest.raises(spdy.SpdyError):
        spdy.FrameDecoder().decode(bytes(raw[:8]), bytes(raw[8:]))


Pair = tuple[spdy.SpdySession, spdy.SpdySession]


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    accepted: asyncio.Queue[spdy.SpdySession] = asyncio.Queue()

    async def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        session = spdy.SpdySession(r, StreamPipe(r, w), server=True)
        session.start()
        await accepted.put(session)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = spdy.SpdySession(reader, StreamPipe(reader, writer), server=False)
    client.start()
    srv = await accepted.get()
    try:
        yield client, srv
    finally:
        await client.close()
        await srv.close()
        server.close()
        await server.wait_closed()


async def test_stream_open_reply_data_and_half_close(pair: Pair) -> None:
    client, server = pair

    async def serve() -> bytes:
        stream = await server.accept()
        assert stream is not None
        assert stream.headers == {"streamtype": ["stdin"]}
        await stream.reply({"ok": ["yes"]})
        data = await stream.read_all()
        await stream.write(data.upper())
        await stream.close()
        return data

    task = asyncio.ensure_future(serve())
    stream = await client.open_stream(spdy.make_headers({"streamType": "stdin"}))
    assert stream.reply_headers == {"ok": ["yes"]}
    assert stream.id == 1
    payload = bytes(range(256)) * 400  # several data frames
    await stream.write(payload)
    await stream.close()
    assert await task == payload
    assert await stream.read_all() == payload.upper()
    second = asyncio.ensure_future(client.open_stream({}))
    accepted = await server.accept()
    assert accepted is not None and accepted.id == 3
    await accepted.reply()
    assert (await second).id == 3


async def test_reset_ends_reads_after_buffered_data(pair: Pair) -> None:
    client, server = pair
    opening = asyncio.ensure_future(client.open_stream({}))
    stream = await server.accept()
    assert stream is not None
    await stream.reply()
    mine = await opening
    await stream.write(b"before reset")
    await stream.reset()
    assert await mine.read_all() == b"before reset"
    assert mine.reset_status == spdy.CANCEL
    with pytest.raises(spdy.StreamReset):
        await mine.write(b"x")


async def test_refused_stream_fails_wait_reply(pair: Pair) -> None:
    client, server = pair
    opening = asyncio.ensure_future(client.open_stream({}))
    stream = await server.accept()
    assert stream is not None
    await stream.reset(spdy.REFUSED_STREAM)
    with pytest.raises(spdy.StreamReset):
        await opening


async def test_ping_both_ways(pair: Pair) -> None:
    client, server = pair
    await client.ping()
    await server.ping()


async def test_goaway_and_close_end_the_session(pair: Pair) -> None:
    client, server = pair
    opening = asyncio.ensure_future(client.open_stream({}))
    stream = await server.accept()
    assert stream is not None
    await stream.reply()
    mine = await opening
    await server.close()
    await client.done.wait()
    assert client.went_away
    assert await mine.read() == b""
    assert await client.accept() is None


async def test_settings_and_window_update_are_ignored(pair: Pair) -> None:
    client, server = pair
    await client._send(spdy.SettingsFrame([(0, 7, 1024)]))
    await client._send(spdy.WindowUpdateFrame(1, 10))
    await client._send(spdy.UnknownControlFrame(0x77, b"zz"))
    await server.ping()  # the session still works


async def test_no_flow_control_window_stalls_large_writes(pair: Pair) -> None:
    """Go's spdystream never sends WINDOW_UPDATE: more than 64 KiB must flow without one."""
    client, server = pair
    opening = asyncio.ensure_future(client.open_stream({}))
    stream = await server.accept()
    assert stream is not None
    await stream.reply()
    mine = await opening
    payload = b"z" * (3 * 1024 * 1024)
    writer = asyncio.ensure_future(stream.write(payload))
    received = bytearray()
    while len(received) < len(payload):
        received += await mine.read()
    await writer
    assert bytes(received) == payload


async def test_on_stream_handler_and_stream_ids_from_the_server(pair: Pair) -> None:
    client, server = pair
    opening = asyncio.ensure_future(server.open_stream(spdy.make_headers({"a": "b"})))
    stream = await client.accept()
    assert stream is not None and stream.id == 2 and stream.headers == {"a": ["b"]}
    await stream.reply()
    assert (await opening).id == 2


async def test_wrong_parity_stream_is_refused(pair: Pair) -> None:
    client, _server = pair
    # A client must use odd ids; an even id from it is a protocol error.
    await client._send(spdy.SynStreamFrame(2, {}))
    # Track the reset by registering a local stream object under id 2.
    stream = spdy.SpdyStream(client, 2, {})
    client._streams[2] = stream
    await stream._readable.wait()
    assert stream.reset_status == spdy.PROTOCOL_ERROR
