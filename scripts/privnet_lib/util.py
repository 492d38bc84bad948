"""Shared helpers: timestamped output, user-facing errors, free ports, private directories."""
from __future__ import annotations

import os
import socket
import threading
import time

START = time.monotonic()
_out_lock = threading.Lock()


def elapsed() -> float:
    """Seconds since the harness started."""
    return time.monotonic() - START


def say(text: str = "") -> None:
    """Print a line (thread-safe, flushed)."""
    with _out_lock:
        print(text, flush=True)


def note(text: str) -> None:
    """Print a line prefixed with the time since start."""
    say(f"[{elapsed():6.1f}s] {text}")


def step(title: str) -> None:
    """Print a section heading in the style of scripts/demo."""
    say(f"\n== {title}")


def indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


class HarnessError(Exception):
    """A failure explained by its message; printed without a traceback."""


class PortCollision(HarnessError):
    """A node could not bind a port that was free when it was picked."""


_taken: set[int] = set()
_port_lock = threading.Lock()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the kernel just handed out (bind to port 0) and that this
    run has not handed out before; picks again on a repeat."""
    with _port_lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _taken:
                _taken.add(port)
                return port
    raise HarnessError("could not find a free TCP port on 127.0.0.1")


def port_accepts(port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def private_dir(path: str) -> str:
    """Create path (and parents) with mode 0700 and return it."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_file(path: str, text: str, mode: int = 0o600) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def read_text(path: str, default: str | None = None) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return default


def tail(path: str, lines: int = 25) -> str:
    """The last lines of a (log) file, or a note that it is missing."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(cannot read {path}: {e.strerror})"
    picked = data.splitlines()[-lines:]
    return "\n".join(picked) if picked else f"({path} is empty)"


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def read_from(path: str, offset: int) -> str:
    """File content after byte offset (for looking at what a log gained)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def mb_per_s(nbytes: int, seconds: float) -> float:
    return nbytes / max(seconds, 1e-9) / 1e6


def utc_stamp(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(epoch))
