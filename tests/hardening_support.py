"""Raw-socket helpers for the hardening tests: HTTP and WebSocket written byte by byte.

No client library sits in between, so a test can send what a library would refuse to
(an unmasked frame, a forbidden close code, a Host header of its choice) and see exactly
what the server answers. Every read has a timeout: a test can fail, never hang.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import time

TIMEOUT = 20.0


def open_socket(port: int, *, rcvbuf: int | None = None, timeout: float = TIMEOUT) -> socket.socket:
    """A TCP connection to 127.0.0.1:port; ``rcvbuf`` shrinks the receive buffer (a slow reader)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: sets the window
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def read_until(sock: socket.socket, marker: bytes, limit: int = 1 << 20) -> bytes:
    data = b""
    while marker not in data and len(data) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def read_all(sock: socket.socket, limit: int = 16 << 20) -> bytes:
    """Everything until the server closes (or ``limit`` bytes)."""
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def request(port: int, target: str, *headers: str, host: str | None = None,
            timeout: float = TIMEOUT) -> tuple[int, dict[str, str], bytes]:
    """One ``GET`` on a fresh connection with ``Connection: close``: (status, headers, body).

    ``host=None`` sends ``Host: 127.0.0.1:<port>``; any other string is sent as given.
    """
    host = f"127.0.0.1:{port}" if host is None else host
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Connection: close", *headers]
    with open_socket(port, timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        raw = read_all(sock)
    return parse_response(raw)


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1]) if lines and lines[0].startswith("HTTP/") else 0
    found: dict[str, str] = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        found[key.strip().lower()] = value.strip()
    if "chunked" in found.get("transfer-encoding", ""):
        body = dechunk(body)
    return status, found, body


def dechunk(wire: bytes) -> bytes:
    body, pos = b"", 0
    while (eol := wire.find(b"\r\n", pos)) >= 0:
        size = int(wire[pos:eol].split(b";")[0] or b"0", 16)
        body += wire[eol + 2:eol + 2 + size]
        if size == 0 or eol + 2 + size + 2 > len(wire):
            break
        pos = eol + 2 + size + 2
    return body


# -- WebSocket, by hand ----------------------------------------------------------------------------
def ws_open(port: int, target: str = "/ws", *headers: str, host: str | None = None,
            rcvbuf: int | None = None) -> tuple[socket.socket, bytes]:
    """Do the upgrade handshake; return the socket and the response head (status line first)."""
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    host = f"127.0.0.1:{port}" if host is None else host
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", *headers]
    sock = open_socket(port, rcvbuf=rcvbuf)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    head = b""
    while b"\r\n\r\n" not in head:  # byte by byte, so no frame after the head is swallowed
        byte = sock.recv(1)
        if not byte:
            break
        head += byte
    return sock, head


def ws_frame(opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True) -> bytes:
    """One RFC 6455 frame; clients must mask (``masked=False`` is the protocol error)."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n <= 125:
        header = struct.pack("!BB", first, mask_bit | n)
    elif n <= 0xFFFF:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_close_frame(code: int | None, reason: bytes = b"") -> bytes:
    return ws_frame(0x8, b"" if code is None else struct.pack("!H", code) + reason)


def ws_read_frame(sock: socket.socket) -> tuple[int, bytes] | None:
    """The next frame from the server (opcode, payload), or ``None`` if the connection ended."""
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    try:
        first, second = exactly(2)
        n = second & 0x7F
        if n == 126:
            n = struct.unpack("!H", exactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", exactly(8))[0]
        key = exactly(4) if second & 0x80 else b""
        payload = exactly(n)
    except (ConnectionError, TimeoutError, OSError):
        return None
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return first & 0x0F, payload


def ws_close_code(sock: socket.socket, timeout: float = TIMEOUT) -> int | None:
    """Read frames until the server's close frame; its code (``None``: the socket just ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = ws_read_frame(sock)
        if frame is None:
            return None
        opcode, payload = frame
        if opcode == 0x8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    return None


def closed_by_server(sock: socket.socket, timeout: float = TIMEOUT) -> bool:
    """Drain until the server ends the connection; ``False`` if it is still open after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(min(left, 1.0))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False
