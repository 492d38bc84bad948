"""Tor control-port client.

ControlConnection speaks the line protocol (replies, data blocks, asynchronous 650 events) with a
reader thread and an event-dispatch thread, so event handlers may themselves send commands.
Controller adds CIRC/STREAM bookkeeping for one client: build a circuit over an explicit path
(EXTENDCIRCUIT), route our own SOCKS streams onto chosen circuits (ATTACHSTREAM), and answer
which circuit a stream used.
"""
from __future__ import annotations

import queue
import re
import socket
import threading
import time

from .util import say


class ControlError(Exception):
    """A control command failed, or the connection closed."""


def _tokens(line: str) -> list[str]:
    """Split an event line into words; KEY="quoted value" stays one word."""
    return re.findall(r'(?:[^\s"]+|"(?:\\.|[^"\\])*")+', line)


def _keywords(words: list[str]) -> dict[str, str]:
    kw = {}
    for w in words:
        if "=" in w:
            k, v = w.split("=", 1)
            if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
                v = v[1:-1]
            kw[k] = v
    return kw


class ControlConnection:
    """One authenticated control connection (cookie authentication) to a tor on 127.0.0.1."""

    def __init__(self, port: int, cookie_path: str, name: str = "tor", timeout: float = 10):
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(None)
        self._rfile = self.sock.makefile("rb")
        self._replies: queue.Queue = queue.Queue()
        self._events: queue.Queue = queue.Queue()
        self._listeners: list = []
        self._lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._read_loop, name=f"ctl-read-{name}", daemon=True).start()
        threading.Thread(target=self._dispatch_loop, name=f"ctl-events-{name}", daemon=True).start()
        with open(cookie_path, "rb") as f:
            cookie = f.read().hex()
        self.command(f"AUTHENTICATE {cookie}")

    # -- wire ---------------------------------------------------------------------------------
    def _readline(self) -> str:
        raw = self._rfile.readline()
        if not raw:
            raise EOFError
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    def _read_message(self) -> tuple[str, list[str]]:
        lines: list[str] = []
        while True:
            line = self._readline()
            code, sep, text = line[:3], line[3:4], line[4:]
            if sep == "+":
                block = [text]
                while True:
                    d = self._readline()
                    if d == ".":
                        break
                    block.append(d[1:] if d.startswith("..") else d)
                lines.append("\n".join(block))
            else:
                lines.append(text)
            if sep == " ":
                return code, lines

    def _read_loop(self) -> None:
        try:
            while True:
                code, lines = self._read_message()
                (self._events if code.startswith("6") else self._replies).put((code, lines))
        except (EOFError, OSError, ValueError):
            pass
        self.closed = True
        self._replies.put(None)
        self._events.put(None)

    def _dispatch_loop(self) -> None:
        while True:
            item = self._events.get()
            if item is None:
                return
            for fn in list(self._listeners):
                try:
                    fn(item[1])
                except Exception as e:  # a broken handler must not stop event delivery
                    say(f"privnet: {self.name}: event handler error: {e!r}")

    # -- API ----------------------------------------------------------------------------------
    def add_listener(self, fn) -> None:
        """fn(lines) is called (on the dispatch thread) for every asynchronous event."""
        self._listeners.append(fn)

    def command(self, line: str, timeout: float = 30) -> list[str]:
        """Send one command and return its reply lines; a non-2xx reply raises ControlError."""
        with self._lock:
            if self.closed:
                raise ControlError(f"{self.name}: control connection is closed")
            self.sock.sendall(line.encode() + b"\r\n")
            try:
                reply = self._replies.get(timeout=timeout)
            except queue.Empty:
                self.close()
                raise ControlError(f"{self.name}: no reply to {line.split()[0]} in {timeout:.0f} s")
            if reply is None:
                raise ControlError(f"{self.name}: control connection closed")
            code, lines = reply
            if not code.startswith("2"):
                raise ControlError(f"{self.name}: {line.split()[0]} -> {code} {' '.join(lines)}")
            return lines

    def getinfo(self, key: str) -> str:
        lines = self.command(f"GETINFO {key}")
        first = lines[0]
        prefix = key + "="
        return first[len(prefix):].lstrip("\n") if first.startswith(prefix) else first

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class CircuitFailed(Exception):
    """EXTENDCIRCUIT did not reach BUILT; hops lists the fingerprints that were built."""

    def __init__(self, message: str, hops: list[str]):
        super().__init__(message)
        self.hops = hops


def _path_fps(path: str) -> list[str]:
    """'$FP~nick,$FP~nick' -> [FP, FP]."""
    return [p[1:41].upper() for p in path.split(",") if p.startswith("$")]


class Controller:
    """CIRC/STREAM bookkeeping on one client's control connection."""

    def __init__(self, conn: ControlConnection):
        self.conn = conn
        self._cond = threading.Condition()
        self.circs: dict[str, dict] = {}
        self._routes: dict[int, str] = {}       # SOCKS source port -> circuit id
        self._stream_port: dict[str, int] = {}  # stream id -> SOCKS source port
        self.streams: dict[int, list[dict]] = {}  # SOCKS source port -> its STREAM events
        self.attach_others = False
        conn.add_listener(self._on_event)
        conn.command("SETEVENTS CIRC STREAM")

    def pin_streams(self) -> None:
        """From now on every new stream waits for us: ours go to the circuit routed for their
        source port, anything else is handed back to tor (ATTACHSTREAM id 0)."""
        self.conn.command("SETCONF __LeaveStreamsUnattached=1")
        self.attach_others = True

    # -- events -------------------------------------------------------------------------------
    def _on_event(self, lines: list[str]) -> None:
        words = _tokens(lines[0])
        if not words:
            return
        if words[0] == "CIRC" and len(words) >= 3:
            cid, status = words[1], words[2]
            path = words[3] if len(words) > 3 and "=" not in words[3] else ""
            kw = _keywords(words[3:])
            with self._cond:
                c = self.circs.setdefault(cid, {"status": "", "path": [], "history": []})
                c["status"] = status
                if path:
                    c["path"] = _path_fps(path)
                c["history"].append(status)
                for k in ("REASON", "REMOTE_REASON", "PURPOSE"):
                    if k in kw:
                        c[k.lower()] = kw[k]
                self._cond.notify_all()
        elif words[0] == "STREAM" and len(words) >= 5:
            sid, status, circ, target = words[1:5]
            kw = _keywords(words[5:])
            with self._cond:
                if status == "NEW" and "SOURCE_ADDR" in kw:
                    try:
                        self._stream_port[sid] = int(kw["SOURCE_ADDR"].rsplit(":", 1)[1])
                    except ValueError:
                        pass
                port = self._stream_port.get(sid)
                route = self._routes.get(port) if port is not None else None
                if port is not None:
                    self.streams.setdefault(port, []).append(
                        {"sid": sid, "status": status, "circ": circ, "target": target, **kw})
                self._cond.notify_all()
            purpose = kw.get("PURPOSE", "USER")
            if status == "NEW" and purpose == "USER":
                if route is not None:
                    self._quiet(f"ATTACHSTREAM {sid} {route}")
                elif self.attach_others:
                    self._quiet(f"ATTACHSTREAM {sid} 0")
            elif status == "DETACHED" and route is not None:
                # The exit refused or the circuit broke; fail this stream fast rather than
                # letting it wait for SocksTimeout. The caller retries on a new circuit.
                self._quiet(f"CLOSESTREAM {sid} 1")

    def _quiet(self, cmd: str) -> None:
        try:
            self.conn.command(cmd)
        except ControlError as e:
            say(f"privnet: {self.conn.name}: {e}")

    # -- circuits -----------------------------------------------------------------------------
    def build_circuit(self, fingerprints: list[str], timeout: float = 60) -> str:
        """EXTENDCIRCUIT over exactly these relays; returns the circuit id once BUILT."""
        path = ",".join("$" + fp for fp in fingerprints)
        reply = self.conn.command(f"EXTENDCIRCUIT 0 {path} purpose=general")
        cid = reply[0].split()[1]
        end = time.monotonic() + timeout
        with self._cond:
            while self.circs.get(cid, {}).get("status") not in ("BUILT", "FAILED", "CLOSED"):
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 1.0))
            c = dict(self.circs.get(cid, {"status": "?", "path": []}))
        if c["status"] == "BUILT":
            return cid
        if c["status"] not in ("FAILED", "CLOSED"):
            self.close_circuit(cid)
            raise CircuitFailed(f"circuit {cid} not built within {timeout:.0f} s "
                                f"({len(c['path'])} of {len(fingerprints)} hops)", c["path"])
        reason = c.get("reason", "?")
        if c.get("remote_reason"):
            reason += f" (remote: {c['remote_reason']})"
        raise CircuitFailed(f"circuit {cid} {c['status']}: {reason} after {len(c['path'])} of "
                            f"{len(fingerprints)} hops", c["path"])

    def close_circuit(self, cid: str) -> None:
        try:
            self.conn.command(f"CLOSECIRCUIT {cid}")
        except ControlError:
            pass

    def circuit_path(self, cid: str) -> list[str]:
        """Fingerprints of a circuit's hops (from events, else from GETINFO circuit-status)."""
        with self._cond:
            path = list(self.circs.get(cid, {}).get("path", []))
        if path:
            return path
        for line in self.conn.getinfo("circuit-status").splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == cid:
                return _path_fps(words[2])
        return []

    def built_circuits(self) -> dict[str, list[str]]:
        """GETINFO circuit-status: BUILT circuit id -> hop fingerprints."""
        out = {}
        for line in self.conn.getinfo("circuit-status").splitlines():
            words = line.split()
            if len(words) >= 3 and words[1] == "BUILT":
                out[words[0]] = _path_fps(words[2])
        return out

    # -- streams ------------------------------------------------------------------------------
    def route(self, source_port: int, cid: str) -> None:
        """Attach the stream that will come from this SOCKS source port to circuit cid."""
        with self._cond:
            self._routes[source_port] = cid

    def stream_circuit(self, source_port: int, timeout: float = 5) -> str | None:
        """The circuit id the stream from this source port succeeded on."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.streams.get(source_port, []):
                    if ev["status"] == "SUCCEEDED":
                        return ev["circ"]
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.5))

    def stream_summary(self, source_port: int | None) -> str:
        """The STREAM events seen for a source port, with reasons (for diagnostics)."""
        with self._cond:
            evs = list(self.streams.get(source_port, [])) if source_port else []
        parts = []
        for ev in evs:
            s = f"{ev['status']}"
            if ev.get("circ", "0") != "0":
                s += f"@circ{ev['circ']}"
            for k in ("REASON", "REMOTE_REASON"):
                if k in ev:
                    s += f" {k}={ev[k]}"
            parts.append(s)
        return "stream events: " + (", ".join(parts) if parts else "none")
