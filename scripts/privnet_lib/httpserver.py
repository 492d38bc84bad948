"""The local web server the exits fetch from: http.server in a thread on 127.0.0.1, serving
random blobs held in memory (GET /blob/NAME), each with a known sha256."""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Blob:
    name: str
    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def path(self) -> str:
        return f"/blob/{self.name}"


class BlobServer:
    """HTTP/1.0 on 127.0.0.1 (a free port picked by the kernel); counts bytes served."""

    def __init__(self):
        self.blobs: dict[str, Blob] = {}
        self.bytes_served = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):  # noqa: N802 (http.server's naming)
                blob = server.blobs.get(self.path[len("/blob/"):]) if self.path.startswith("/blob/") else None
                if blob is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(blob.size))
                self.end_headers()
                view = memoryview(blob.data)
                sent = 0
                try:
                    for off in range(0, blob.size, 1 << 20):
                        chunk = view[off:off + (1 << 20)]
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except OSError:
                    pass  # the client went away (e.g. a failed transfer); nothing to do
                with server._lock:
                    server.bytes_served += sent

            def log_message(self, *_args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="http", daemon=True)

    def add_blob(self, name: str, size: int) -> Blob:
        """Generate size random bytes once and serve them at /blob/name."""
        data = os.urandom(size)
        blob = Blob(name, data, hashlib.sha256(data).hexdigest())
        self.blobs[name] = blob
        return blob

    def start(self) -> "BlobServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()
