"""The coalescing HTTP protocol: a response's head and body in one socket write, nothing else delayed."""

from __future__ import annotations

import asyncio
import socket

import pytest

from aimds.server.protocol import CoalescingTransport
from server_support import ServerProcess, new_key

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.paused = 0

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused += 1


def run(steps) -> FakeTransport:  # noqa: ANN001
    async def main() -> FakeTransport:
        raw = FakeTransport()
        steps(CoalescingTransport(raw, asyncio.get_running_loop()))
        await asyncio.sleep(0)  # the end of this loop pass
        await asyncio.sleep(0)
        return raw

    return asyncio.run(main())


def test_head_and_body_go_out_in_one_write() -> None:
    def steps(t: CoalescingTransport) -> None:
        t.write(HEAD)
        t.write(b"{}")

    assert run(steps).writes == [HEAD + b"{}"]


def test_a_head_without_a_body_yet_goes_out_at_the_end_of_the_pass() -> None:
    async def main() -> list[bytes]:
        raw = FakeTransport()
        t = CoalescingTransport(raw, asyncio.get_running_loop())
        t.write(HEAD)
        assert raw.writes == []
        await asyncio.sleep(0)
        assert raw.writes == [HEAD]
        t.write(b"{}")  # a later chunk is not held
        return raw.writes

    assert asyncio.run(main()) == [HEAD, b"{}"]


def test_continue_and_other_writes_are_not_held() -> None:
    def steps(t: CoalescingTransport) -> None:
        t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        t.write(b"5\r\nhello\r\n")

    assert run(steps).writes == [b"HTTP/1.1 100 Continue\r\n\r\n", b"5\r\nhello\r\n"]


def test_close_sends_what_is_held_first() -> None:
    def steps(t: CoalescingTransport) -> None:
        t.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
        t.close()

    raw = run(steps)
    assert raw.writes == [b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"] and raw.closed


def test_other_attributes_are_the_transports() -> None:
    def steps(t: CoalescingTransport) -> None:
        t.pause_reading()
        t.pause_reading()
        assert not t.is_closing()

    assert run(steps).paused == 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # noqa: ANN001, ANN201
    env = {"AIMDS_DATA_DIR": str(tmp_path_factory.mktemp("protocol"))}
    key = new_key("checker", env)
    proc = ServerProcess(env)
    yield proc, key
    proc.stop()


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_real_server_answers_keep_alive_requests_and_100_continue(server) -> None:  # noqa: ANN001
    proc, key = server
    body = b'{"text": "hello there"}'
    with socket.create_connection(("127.0.0.1", proc.port), timeout=10) as sock:
        # The client waits for `100 Continue` before it sends the body: it must not be held.
        sock.sendall(b"POST /v1/check HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"authorization: Bearer " + key.encode() + b"\r\nexpect: 100-continue\r\n"
                     b"content-length: " + str(len(body)).encode() + b"\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        first = _read_response(sock)
        assert first.startswith(b"HTTP/1.1 200 OK") and b'"action":"allow"' in first
        for _ in range(3):  # the same connection goes on answering, one whole response each
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            assert _read_response(sock).endswith(b'{"status":"ok"}')
