"""The 413 for a body over the limit reaches a client that writes its whole body before
reading (RFC 9112 section 9.6), on a real `polyshop serve`: no connection reset."""

from __future__ import annotations

import socket

import pytest

from polyshop import bootstrap
from tests.e2e.test_api_server import SERVER_ENV
from tests.support.api_server import ApiServer

LIMIT = 64 * 1024


def _exchange(port: int, head: bytes, body_parts: list[bytes]) -> bytes:
    """Write the request head and the whole body, then read the answer: what a simple client
    (or a proxy) does. A reset surfaces here as ConnectionResetError/BrokenPipeError."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(head)
        for part in body_parts:
            conn.sendall(part)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        return answer


@pytest.mark.slow
def test_an_oversized_body_written_in_full_gets_the_413_not_a_reset(
    urls: bootstrap.StoreUrls,
) -> None:
    size = 20 * LIMIT  # 1.25 MiB: more than any socket buffer holds
    with ApiServer({**SERVER_ENV, "POLYSHOP_API_MAX_BODY_BYTES": str(LIMIT)}) as server:
        for _ in range(5):
            head = (
                f"POST /categories HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Tenant: nobody\r\n"
                f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
            ).encode()
            answer = _exchange(server.port, head, [b"x" * size])
            assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
            assert b"content_too_large" in answer
        # No declared length (chunked): refused once the limit is passed, body drained too.
        head = (
            b"POST /categories HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Tenant: nobody\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"y" * 65536
        parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)] + [b"0\r\n\r\n"]
        answer = _exchange(server.port, head, parts)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert "Traceback" not in server.log()
