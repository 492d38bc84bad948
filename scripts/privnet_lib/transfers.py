"""Downloads over pinned paths: build the circuit with EXTENDCIRCUIT, route our SOCKS stream onto
it, fetch a blob from the local web server and check it byte for byte."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from .control import CircuitFailed, Controller
from .httpserver import Blob
from .socks import Transfer, TransferError, socks_http_get


@dataclass
class PathResult:
    hops: list[str]                       # nicknames asked for
    built: bool = False                   # some attempt reached BUILT
    built_path: list[str] = field(default_factory=list)  # fingerprints of the BUILT circuit
    transfer: Transfer | None = None
    error: str = ""
    attempts: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.transfer is not None and not self.error


def check_blob(t: Transfer, blob: Blob) -> str:
    """'' when the transfer is byte-exact, else what differs."""
    if t.nbytes != blob.size:
        return f"got {t.nbytes} bytes, expected {blob.size}"
    if t.sha256 != blob.sha256:
        return f"CORRUPT: sha256 {t.sha256[:16]}… expected {blob.sha256[:16]}…"
    return ""


def download_over_path(ctrl: Controller, socks_port: int, http_port: int, blob: Blob, hops,
                       *, attempts: int = 3, build_timeout: float = 60, idle_timeout: float = 30,
                       deadline: float | None = None) -> PathResult:
    """Fetch blob over a circuit through exactly these hops (Node objects), retrying on a new
    circuit when the build or the stream fails; corrupt data fails at once."""
    res = PathResult([h.nickname for h in hops])
    t0 = time.monotonic()
    fps = [h.rsa_fingerprint for h in hops]
    for i in range(1, attempts + 1):
        if deadline is not None and time.monotonic() > deadline:
            res.attempts.append("scenario deadline passed")
            break
        try:
            cid = ctrl.build_circuit(fps, build_timeout)
        except CircuitFailed as e:
            res.attempts.append(f"attempt {i}: {e}")
            time.sleep(2)
            continue
        res.built = True
        res.built_path = ctrl.circuit_path(cid)
        try:
            t = socks_http_get(socks_port, http_port, blob.path,
                               before_request=lambda p, c=cid: ctrl.route(p, c),
                               idle_timeout=idle_timeout, deadline=deadline)
        except TransferError as e:
            res.attempts.append(f"attempt {i}: circuit {cid} built; transfer failed: {e}; "
                                f"{ctrl.stream_summary(e.src_port)}")
            time.sleep(2)
            continue
        finally:
            ctrl.close_circuit(cid)
        res.transfer = t
        res.error = check_blob(t, blob)
        break
    if res.transfer is None:
        res.error = "; ".join(res.attempts) or "no attempt made"
    res.seconds = time.monotonic() - t0
    return res
