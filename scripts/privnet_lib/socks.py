"""A SOCKS5 CONNECT to 127.0.0.1:PORT through a tor client, then an HTTP/1.0 GET whose body is
hashed (sha256) and counted as it streams in."""
from __future__ import annotations

import hashlib
import socket
import time
from dataclasses import dataclass

SOCKS_ERRORS = {
    1: "general failure", 2: "not allowed by ruleset", 3: "network unreachable",
    4: "host unreachable", 5: "connection refused", 6: "TTL expired",
    7: "command not supported", 8: "address type not supported",
}


class TransferError(Exception):
    """The SOCKS handshake, the HTTP exchange or the body failed; src_port names the stream."""

    def __init__(self, message: str, src_port: int | None = None, nbytes: int = 0):
        super().__init__(message)
        self.src_port = src_port
        self.nbytes = nbytes


@dataclass
class Transfer:
    nbytes: int
    sha256: str
    seconds: float       # from the SOCKS request to the last body byte
    src_port: int

    @property
    def mbps(self) -> float:
        return self.nbytes / max(self.seconds, 1e-9) / 1e6


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def socks_http_get(socks_port: int, dest_port: int, path: str, *, before_request=None,
                   username: str | None = None, idle_timeout: float = 30,
                   deadline: float | None = None) -> Transfer:
    """GET http://127.0.0.1:dest_port/path through the SOCKS5 port of a tor client.

    before_request(src_port) runs after the TCP connection to the SOCKS port exists and before
    the SOCKS request is sent (to route the stream to a circuit). deadline is a
    time.monotonic() value after which the transfer is abandoned."""
    sock = socket.create_connection(("127.0.0.1", socks_port), timeout=10)
    src_port = sock.getsockname()[1]
    nbytes = 0
    try:
        sock.settimeout(idle_timeout)
        if before_request:
            before_request(src_port)
        method = b"\x02" if username else b"\x00"
        sock.sendall(b"\x05\x01" + method)
        if _recv_exact(sock, 2) != b"\x05" + method:
            raise TransferError("SOCKS server refused the authentication method", src_port)
        if username:
            u = username.encode()
            sock.sendall(b"\x01" + bytes([len(u)]) + u + b"\x01x")
            if _recv_exact(sock, 2)[1] != 0:
                raise TransferError("SOCKS username/password refused", src_port)
        t0 = time.monotonic()
        sock.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + dest_port.to_bytes(2, "big"))
        head = _recv_exact(sock, 4)
        rest = {1: 6, 4: 18}.get(head[3])
        if rest is None:
            rest = _recv_exact(sock, 1)[0] + 2
        _recv_exact(sock, rest)
        if head[1] != 0:
            raise TransferError(f"SOCKS CONNECT failed: {SOCKS_ERRORS.get(head[1], head[1])}", src_port)
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{dest_port}\r\n\r\n".encode())
        header = b""
        while b"\r\n\r\n" not in header:
            chunk = sock.recv(65536)
            if not chunk:
                raise TransferError("connection closed before the HTTP header ended", src_port)
            header += chunk
            if len(header) > 65536:
                raise TransferError("HTTP header too long", src_port)
        header, body = header.split(b"\r\n\r\n", 1)
        lines = header.decode("latin-1").split("\r\n")
        if not lines[0].split()[1:2] == ["200"]:
            raise TransferError(f"HTTP status: {lines[0]}", src_port)
        length = None
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        h = hashlib.sha256(body)
        nbytes = len(body)
        buf = bytearray(1 << 18)
        view = memoryview(buf)
        while length is None or nbytes < length:
            if deadline is not None and time.monotonic() > deadline:
                raise TransferError(f"deadline passed after {nbytes} bytes", src_port, nbytes)
            k = sock.recv_into(buf)
            if k == 0:
                break
            h.update(view[:k])
            nbytes += k
        seconds = time.monotonic() - t0
        if length is not None and nbytes != length:
            raise TransferError(f"body ended after {nbytes} of {length} bytes", src_port, nbytes)
        return Transfer(nbytes, h.hexdigest(), seconds, src_port)
    except EOFError:
        raise TransferError("connection closed by the SOCKS port (stream refused or closed)",
                            src_port, nbytes)
    except socket.timeout:
        raise TransferError(f"no data for {idle_timeout:.0f} s after {nbytes} bytes", src_port, nbytes)
    except OSError as e:
        raise TransferError(f"socket error after {nbytes} bytes: {e}", src_port, nbytes)
    finally:
        sock.close()
