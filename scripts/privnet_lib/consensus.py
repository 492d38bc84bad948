"""Parsing of consensus documents as authorities and relays cache them (cached-consensus, the
ns flavour; cached-microdesc-consensus also parses)."""
from __future__ import annotations

import base64
import calendar
import time
from dataclasses import dataclass, field


def b64_to_hex(s: str) -> str:
    return base64.b64decode(s + "=" * (-len(s) % 4)).hex().upper()


def _epoch(date: str, clock: str) -> float:
    return float(calendar.timegm(time.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S")))


@dataclass
class RouterStatus:
    nickname: str
    fingerprint: str
    published: float
    address: str
    orport: int
    dirport: int
    flags: set[str] = field(default_factory=set)
    version: str = ""
    proto: str = ""
    policy: str = ""
    bandwidth: str = ""
    lines: list[str] = field(default_factory=list)

    def exit_ports_accept(self, port: int) -> bool:
        """Whether the 'p' policy summary accepts this port."""
        words = self.policy.split()
        if len(words) != 2:
            return False
        inside = False
        for part in words[1].split(","):
            lo, _, hi = part.partition("-")
            if int(lo) <= port <= int(hi or lo):
                inside = True
        return inside if words[0] == "accept" else not inside


@dataclass
class Consensus:
    valid_after: float = 0
    fresh_until: float = 0
    valid_until: float = 0
    signatures: int = 0
    routers: dict[str, RouterStatus] = field(default_factory=dict)


def parse_consensus(text: str) -> Consensus:
    c = Consensus()
    cur: RouterStatus | None = None
    for line in text.splitlines():
        w = line.split()
        if not w:
            continue
        kw = w[0]
        if kw in ("valid-after", "fresh-until", "valid-until") and len(w) >= 3:
            setattr(c, kw.replace("-", "_"), _epoch(w[1], w[2]))
        elif kw == "r" and len(w) >= 8:
            # ns flavour: r nick identity digest date time ip orport dirport (9 words);
            # microdesc flavour has no digest (8 words).
            date_at = 4 if len(w) >= 9 else 3
            cur = RouterStatus(w[1], b64_to_hex(w[2]), _epoch(w[date_at], w[date_at + 1]),
                               w[date_at + 2], int(w[date_at + 3]), int(w[date_at + 4]))
            cur.lines.append(line)
            c.routers[cur.fingerprint] = cur
        elif cur is not None and kw in ("s", "v", "pr", "w", "p", "m", "a"):
            cur.lines.append(line)
            rest = line[len(kw) + 1:]
            if kw == "s":
                cur.flags = set(w[1:])
            elif kw == "v":
                cur.version = rest
            elif kw == "pr":
                cur.proto = rest
            elif kw == "p":
                cur.policy = rest
            elif kw == "w":
                cur.bandwidth = rest
        elif kw == "directory-footer":
            cur = None
        elif kw == "directory-signature":
            c.signatures += 1
    return c


def read_consensus(path: str) -> Consensus | None:
    """The parsed document, or None when it is missing or incomplete."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    if "directory-signature" not in text:
        return None
    try:
        return parse_consensus(text)
    except (ValueError, IndexError):
        return None
