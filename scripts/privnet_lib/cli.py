"""Command line: privnet up | check | demo | bench."""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess

from . import commands
from .procs import HardTimeout, Interrupted, Supervisor
from .util import HarnessError, say

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def resolve_relaynode(value: str | None) -> str | None:
    """None: stand-in mode. 'auto': $(swift build --show-bin-path)/relaynode. Else a path."""
    if value is None:
        return None
    if value == "auto":
        try:
            out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPO, capture_output=True,
                                 text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise HarnessError(f"--relaynode-bin auto: swift build --show-bin-path failed: {e}")
        value = os.path.join(out.stdout.strip(), "relaynode")
    path = os.path.abspath(value)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise HarnessError(f"relaynode binary {path} does not exist or is not executable (run make build)")
    return path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="privnet",
        description="A private Tor network on 127.0.0.1 (3 CTor authorities, CTor relays, relaynodes, "
                    "CTor clients) for interop tests, the demo and benchmarks. Without --relaynode-bin, "
                    "C tor relays stand in for relaynode (STAND-IN mode).")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, timeout: int):
        sp.add_argument("--relaynode-bin", metavar="PATH",
                        help="relaynode executable ('auto': $(swift build --show-bin-path)/relaynode); "
                             "omitted: CTor relays stand in for relaynodes")
        sp.add_argument("--timeout", type=float, default=timeout, metavar="S",
                        help=f"hard limit for the whole run, enforced by the harness (default {timeout})")
        sp.add_argument("--relaynode-log-level", default=None, metavar="LEVEL",
                        help="relaynode --log-level (default info; bench: notice)")

    up = sub.add_parser("up", help="start a network and keep it up until SIGTERM/SIGINT or --timeout")
    common(up, 1800)
    up.add_argument("--dir", required=True, help="run directory (new, empty, or an earlier privnet one)")
    up.add_argument("--relaynodes", type=int, default=0, metavar="N")
    up.add_argument("--ctor-relays", type=int, default=3, metavar="M", help="the last one is an exit")
    up.add_argument("--exit-relaynodes", type=int, default=0, metavar="K", help="the last K relaynodes are exits")
    up.add_argument("--client-guards", choices=("ctor", "any"), default="ctor",
                    help="client1's guards: only CTor relays (default) or any router")
    up.add_argument("--info-logs", action="store_true", help="info-level logs on CTor relays and clients")

    ck = sub.add_parser("check", help="the interop suite (exit status 0 only if all pass)")
    common(ck, 900)
    ck.add_argument("--size-mib", type=int, default=32, metavar="N", help="download size per path")
    ck.add_argument("--keep", metavar="DIR", help="run in DIR and keep it (default: a temp dir, kept on failure)")
    ck.add_argument("--ctor-relays", type=int, default=3, metavar="M")
    ck.add_argument("--scenario-timeout", type=float, default=240, metavar="S",
                    help="limit for each of the parallel scenarios b-e (default 240)")
    ck.add_argument("--info-logs", action="store_true", help="info-level logs on CTor relays and client1")

    via = sub.add_parser("via", help="check a relay started outside the harness (a container, say) that "
                                     "joined a running `privnet up` network: listed, then carries a "
                                     "client's download")
    common(via, 300)
    via.add_argument("--dir", required=True, help="the run directory of a running `privnet up`")
    via.add_argument("--fingerprint", required=True, help="the joining relay's RSA fingerprint")
    via.add_argument("--nickname", help="its nickname, for the output")
    via.add_argument("--role", choices=("guard", "middle"), default="middle",
                     help="its place on the path (exit is not offered: the authorities hand out the Exit "
                          "flag only to the exits configured at `up`)")
    via.add_argument("--wait", type=float, default=180, metavar="S",
                     help="how long the relay may take to be listed and used (default 180)")

    dm = sub.add_parser("demo", help="readable walk-through: relaynode as guard, middle and exit")
    common(dm, 300)
    dm.add_argument("--size-mib", type=int, default=8, metavar="N")
    dm.add_argument("--keep", metavar="DIR")

    bn = sub.add_parser("bench", help="bulk throughput and middle-hop CPU, relaynode vs CTor middle")
    common(bn, 900)
    bn.add_argument("--streams", type=int, default=8, metavar="N", help="parallel downloads, one circuit each")
    bn.add_argument("--size-mib", type=int, default=64, metavar="N", help="MiB per download")
    bn.add_argument("--rounds", type=int, default=2, metavar="R", help="R relaynode rounds and R CTor rounds, alternating")
    bn.add_argument("--keep", metavar="DIR")
    sk = sub.add_parser("soak", help="long-running traffic through the relaynodes; RSS, descriptors and CPU sampled")
    common(sk, 3600)
    sk.add_argument("--minutes", type=float, default=30, metavar="M", help="how long to keep traffic flowing")
    sk.add_argument("--streams", type=int, default=4, metavar="N", help="parallel downloads per round, one circuit each")
    sk.add_argument("--size-mib", type=int, default=8, metavar="N", help="MiB per download")
    sk.add_argument("--sample-seconds", type=float, default=10, metavar="S", help="sampling interval")
    sk.add_argument("--fd-slack", type=int, default=16, metavar="N", help="descriptors a relaynode may hold more at the end")
    sk.add_argument("--rss-growth", type=float, default=0.25, metavar="F",
                    help="largest RSS growth in the second half, as a fraction (0.25: 25%%)")
    sk.add_argument("--max-failed-downloads", type=int, default=0, metavar="N")
    sk.add_argument("--warmup-minutes", type=float, default=5, metavar="M",
                    help="growth is judged after this (at most half the run)")
    sk.add_argument("--no-abuse", dest="abuse", action="store_false",
                    help="no abusive clients (CREATE floods, half-open links, slow readers, SENDME-less and "
                         "window-overrunning clients)")
    sk.add_argument("--keep", metavar="DIR")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.relaynode_log_level is None:
        args.relaynode_log_level = "notice" if args.cmd == "bench" else "info"
    for tool in ("tor", "tor-gencert"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}") and not os.path.exists(f"/usr/bin/{tool}"):
            say(f"privnet: {tool} is not installed (apt-get install tor)")
            return 2
    sup = Supervisor(args.timeout)
    sup.arm()
    fn = {"up": commands.cmd_up, "check": commands.cmd_check, "demo": commands.cmd_demo,
          "bench": commands.cmd_bench, "via": commands.cmd_via,
          "soak": commands.cmd_soak}[args.cmd]
    try:
        args.relaynode_bin = resolve_relaynode(args.relaynode_bin)
        return fn(args, sup)
    except Interrupted as e:
        say(f"\nprivnet: {signal.Signals(e.signum).name} received; tearing down")
        return 128 + e.signum
    except HardTimeout:
        say(f"\nprivnet: hard time limit of {args.timeout:.0f} s reached; tearing down")
        return 124
    except HarnessError as e:
        say(f"privnet: error: {e}")
        return 2
    finally:
        sup.stop_all()
