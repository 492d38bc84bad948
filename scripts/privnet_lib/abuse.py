"""Abusive clients for `privnet soak` (issue 9).

Half-open links are made here (plain sockets and Python's ssl): TCP connections that never start
TLS, TLS connections that never send VERSIONS, VERSIONS without NETINFO, and finished handshakes
that then sit idle. The rest (CREATE floods, slow readers, SENDME-less downloads, window overruns)
need Tor's circuit crypto and run in the test suite's client: the SoakAbusiveClients suite of
RelayCoreTests, started as a `swift test` child with RELAYFLEET_ABUSE naming a JSON file that
this module writes. Every abusive kind connects from its own 127.0.0.x source address.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import ssl
import struct
import threading
import time

from .util import HarnessError, write_file

# Source addresses: the Swift kinds (flood, slow readers, SENDME-less, overruns), then half-open.
SWIFT_SOURCES = ["127.0.0.66", "127.0.0.67", "127.0.0.68", "127.0.0.69"]
HALF_OPEN_SOURCE = "127.0.0.70"
HALF_OPEN_KINDS = ("tcp", "tls", "versions", "idle")

VERSIONS_CELL = b"\x00\x00\x07\x00\x06\x00\x03\x00\x04\x00\x05"


def netinfo_cell() -> bytes:
    """A link-protocol 4+ NETINFO from a client: its clock, the relay's address 127.0.0.1, no
    addresses of its own (tor-spec §4.5)."""
    body = struct.pack(">IBB4sB", int(time.time()), 4, 4, socket.inet_aton("127.0.0.1"), 0)
    return struct.pack(">IB", 0, 8) + body + b"\x00" * (509 - len(body))


class StuckServer:
    """A TCP server on 127.0.0.1 that accepts and never reads (small receive buffer), for uploads
    that must be held back by the exit's stream window."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="stuck-server", daemon=True)

    def _run(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)
            # Keep the most recent ones; the relay closes the others' streams with their circuits.
            while len(self.accepted) > 64:
                self.accepted.pop(0).close()

    def start(self) -> "StuckServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.accepted:
            c.close()


class HalfOpenLinks:
    """In rounds until `end`: 10 connections of each of `kinds` to every relay, held for `hold`
    seconds, watching which the relay closes and when; then the rest are closed by us. Unfinished
    handshakes must be closed by the relay within its handshake timeout (30 s); finished ones
    without a circuit within its idle time for clients (180-270 s)."""

    def __init__(self, relays: list[tuple[str, int]], end: float, kinds=HALF_OPEN_KINDS, hold: float = 60,
                 per_kind: int = 10):
        self.relays, self.end, self.kinds, self.hold, self.per_kind = relays, end, kinds, hold, per_kind
        self.stats = {k: {"opened": 0, "closed_by_relay": 0, "open_at_end_of_hold": 0, "connect_failed": 0,
                          "slowest_close_s": 0.0, "full_holds": 0, "hold_s": hold} for k in kinds}
        self.rounds = 0
        self.thread = threading.Thread(target=self._run, name="half-open", daemon=True)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.tls.check_hostname = False
        self.tls.verify_mode = ssl.CERT_NONE

    def start(self) -> "HalfOpenLinks":
        self.thread.start()
        return self

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def _open(self, kind: str, port: int):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(HALF_OPEN_SOURCE, 0))
        if kind == "tcp":
            return raw
        s = self.tls.wrap_socket(raw, server_hostname=None)
        if kind in ("versions", "idle"):
            s.sendall(VERSIONS_CELL)
        if kind == "idle":
            s.sendall(netinfo_cell())
        return s

    def _run(self) -> None:
        while time.time() + 10 < self.end:
            self.rounds += 1
            live: list[tuple[str, socket.socket, float]] = []
            for _, port in self.relays:
                for kind in self.kinds:
                    for _ in range(self.per_kind):
                        try:
                            live.append((kind, self._open(kind, port), time.monotonic()))
                            self.stats[kind]["opened"] += 1
                        except (OSError, ssl.SSLError):
                            self.stats[kind]["connect_failed"] += 1
            hold = min(self.hold, max(1.0, self.end - time.time()))
            until = time.monotonic() + hold
            while live and time.monotonic() < until:
                ready, _, _ = select.select([s for _, s, _ in live], [], [], 1.0)
                for entry in [e for e in live if e[1] in ready]:
                    kind, s, opened = entry
                    try:
                        closed = s.recv(65536) == b""
                    except (ssl.SSLWantReadError, BlockingIOError):
                        closed = False
                    except (OSError, ssl.SSLError):
                        closed = True
                    if closed:
                        st = self.stats[kind]
                        st["closed_by_relay"] += 1
                        st["slowest_close_s"] = max(st["slowest_close_s"], round(time.monotonic() - opened, 1))
                        live.remove(entry)
                        s.close()
            for kind in self.kinds:
                if hold >= self.hold:
                    self.stats[kind]["full_holds"] += 1
            for kind, s, _ in live:
                # Only a full hold judges the relay; a round cut short by the end of the soak does not.
                if hold >= self.hold:
                    self.stats[kind]["open_at_end_of_hold"] += 1
                s.close()
            time.sleep(2)


def write_abuse_config(path: str, *, relaynodes, cli, seconds: float, http_port: int, blob_path: str,
                       stuck_port: int, report: str) -> None:
    """The JSON file the SoakAbusiveClients suite reads."""
    relays = []
    for n in relaynodes:
        keys = cli.keys_show(n.datadir)
        relays.append({"nickname": n.nickname, "port": n.orport, "rsa_fingerprint": keys["rsa_fingerprint"],
                       "ed25519_identity": keys["ed25519_identity"], "ntor_onion_key": keys["ntor_onion_key"],
                       "exit": bool(n.exit)})
    write_file(path, json.dumps({"seconds": seconds, "relays": relays, "http_port": http_port,
                                 "blob_path": blob_path, "stuck_port": stuck_port, "report": report,
                                 "sources": SWIFT_SOURCES}, indent=1))


def read_report(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def stop_group(pid: int) -> None:
    """SIGTERM, then SIGKILL, to the abusive clients' process group (swift test and its runner)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        time.sleep(2)


def verdict(counts: dict, half_open: dict, stream_window: int = 500) -> tuple[list[str], list[str]]:
    """(problems, observations) from what the abusive clients saw."""
    problems, seen = [], []
    c = counts

    def n(key: str) -> int:
        return int(c.get(key, 0))

    if n("flood_rounds") == 0:
        problems.append("flood: no CREATE2 flood round completed" + _err(c, "flood"))
    else:
        limited = n("flood_destroy_reason_5")
        seen.append(f"flood: {n('flood_rounds')} rounds, {n('flood_creates')} CREATE2 sent, {n('flood_created')} "
                    f"CREATED2, {limited} DESTROY RESOURCELIMIT, other answers "
                    + str({k[len('flood_destroy_reason_'):]: v for k, v in c.items()
                           if k.startswith("flood_destroy_reason_") and k != "flood_destroy_reason_5"}))
        if limited == 0:
            problems.append("flood: no CREATE2 was refused with RESOURCELIMIT (the per-address limit never acted)")
    if n("slow_reader_links") == 0:
        problems.append("slow readers: no slow-reading link was set up" + _err(c, "slow_reader"))
    else:
        seen.append(f"slow readers: {n('slow_reader_links')} links with {n('slow_reader_circuits')} streams left unread")
    if n("sendmeless_streams") == 0:
        problems.append("SENDME-less: no download was tried" + _err(c, "sendmeless"))
    else:
        most = n("sendmeless_max_data_cells")
        seen.append(f"SENDME-less: {n('sendmeless_streams')} streams, at most {most} DATA cells each before the exit stopped")
        if most > stream_window:
            problems.append(f"SENDME-less: a stream delivered {most} DATA cells without a SENDME (window {stream_window})")
    if n("overrun_circuits") == 0:
        problems.append("overrun: no upload overran a window" + _err(c, "overrun"))
    else:
        def by(prefix: str) -> dict:
            return {k[len(prefix):]: v for k, v in c.items() if k.startswith(prefix)}
        seen.append(f"overrun: {n('overrun_circuits')} circuits; the exit's destroy came back as TRUNCATED "
                    f"{by('overrun_truncated_reason_')} or DESTROY {by('overrun_destroy_reason_')} (by reason); "
                    f"END first {by('overrun_end_reason_')}; no answer within 60 s {n('overrun_not_destroyed')}; "
                    f"at most {n('overrun_most_sendmes')} SENDMEs seen on one")
        if n("overrun_not_destroyed"):
            problems.append(f"overrun: {n('overrun_not_destroyed')} circuits took 12,000 DATA cells past the window "
                            "and were neither destroyed nor truncated within 60 s")
    for kind in HALF_OPEN_KINDS:
        st = half_open.get(kind, {})
        if st.get("opened", 0) == 0:
            problems.append(f"half-open {kind}: no connection was opened")
        elif st.get("open_at_end_of_hold", 0):
            problems.append(f"half-open {kind}: {st['open_at_end_of_hold']} connections were still open after "
                            f"{st['hold_s']:g} s (the relay must close unfinished handshakes after 30 s and links "
                            "without circuits after at most 270 s)")
        seen.append(f"half-open {kind}: {st.get('opened', 0)} opened, {st.get('closed_by_relay', 0)} closed by the relay "
                    f"(slowest after {st.get('slowest_close_s', 0)} s), {st.get('open_at_end_of_hold', 0)} open at the "
                    f"end of {st.get('full_holds', 0)} full holds of {st.get('hold_s', 0):g} s, "
                    f"{st.get('connect_failed', 0)} failed to connect")
    for kind in ("flood", "slow_reader", "sendmeless", "overrun"):
        if n(f"{kind}_errors"):
            seen.append(f"{kind}: {n(kind + '_errors')} rounds ended in an error (last: {c.get('last_error', {}).get(kind, '?')})")
    return problems, seen


def _err(counts: dict, kind: str) -> str:
    last = (counts.get("last_error") or {}).get(kind)
    return f" (last error: {last})" if last else ""


def require_sources() -> None:
    """Every source address must be bindable (Linux routes all of 127.0.0.0/8 to lo)."""
    for a in SWIFT_SOURCES + [HALF_OPEN_SOURCE]:
        s = socket.socket()
        try:
            s.bind((a, 0))
        except OSError as e:
            raise HarnessError(f"cannot bind {a} for the abusive clients: {e}")
        finally:
            s.close()

