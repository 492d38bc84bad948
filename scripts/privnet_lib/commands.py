"""The subcommands: up, check, demo, bench. Each takes the parsed arguments and the run's
Supervisor (which stops every process afterwards) and returns an exit status."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from .consensus import read_consensus
from .control import CircuitFailed, ControlConnection, Controller, ControlError
from . import abuse
from .httpserver import BlobServer
from .plot import soak_svg
from .network import DIST_DELAY, VOTE_DELAY, VOTING_INTERVAL, Network, Node, prepare_root
from .procs import HardTimeout, Interrupted, Supervisor, cpu_seconds, run_helper
from .socks import TransferError, socks_http_get
from .transfers import check_blob, download_over_path
from .util import (HarnessError, file_size, indent, mb_per_s, note, read_from, say, step,
                   utc_stamp, write_file)

MiB = 1 << 20
GiB = 1 << 30


def standin_banner(net: Network) -> None:
    if net.standin and net.relaynodes:
        say("STAND-IN: CTor in relaynode roles (no --relaynode-bin given); "
            + " ".join(n.nickname for n in net.relaynodes)
            + (" is a C tor relay" if len(net.relaynodes) == 1 else " are C tor relays"))


def run_root(sup: Supervisor, keep: str | None, prefix: str) -> tuple[str, dict]:
    """The run directory: --keep DIR (kept), else a temporary one removed after a clean run."""
    state = {"remove": keep is None}
    root = prepare_root(keep) if keep else tempfile.mkdtemp(prefix=f"privnet-{prefix}-")
    if not keep:
        write_file(os.path.join(root, ".privnet"), "made by scripts/privnet\n")

    def cleanup():
        if state["remove"]:
            shutil.rmtree(root, ignore_errors=True)
        else:
            say(f"run directory kept: {root}")
    sup.after_stop(cleanup)
    return root, state


def hops_text(net: Network, fps: list[str]) -> str:
    return " → ".join(net.nick_of(fp) for fp in fps)


# ------------------------------------------------------------------------------------------------
# up
# ------------------------------------------------------------------------------------------------
def cmd_up(args, sup: Supervisor) -> int:
    root = prepare_root(args.dir)
    http = BlobServer()
    blob = http.add_blob("test", 16 * MiB)
    http.start()
    try:
        net = Network(root, sup, ctor_relays=args.ctor_relays, relaynodes=args.relaynodes,
                      relaynode_exits=min(args.exit_relaynodes, args.relaynodes),
                      relaynode_bin=args.relaynode_bin, http_port=http.port, info_logs=args.info_logs,
                      relaynode_log_level=args.relaynode_log_level)
        step(f"privnet up: {net.describe()} in {root}")
        standin_banner(net)
        note(f"web server http://127.0.0.1:{http.port}{blob.path} ({blob.size // MiB} MiB, sha256 {blob.sha256})")
        extra = [] if args.client_guards == "any" else None
        net.start(client_extra=extra)
        http_info = {"http": {"port": http.port, "url": f"http://127.0.0.1:{http.port}{blob.path}",
                              "path": blob.path, "size": blob.size, "sha256": blob.sha256},
                     # What a relay started outside the harness (a container, another host's
                     # relaynode) needs in its torrc to join; `privnet via` then checks it.
                     "join_torrc_lines": ["TestingTorNetwork 1"] + net.dirauthority_lines()}
        path = net.write_json(http_info)
        step("network up")
        say(net.table())
        client = net.clients[0]
        say(f"\n  network.json: {path}")
        say(f"  try: curl --socks5 127.0.0.1:{client.socksport} -o /dev/null "
            f"http://127.0.0.1:{http.port}{blob.path}")
        say(f"  control: 127.0.0.1:{client.controlport} (cookie {client.cookie})")
        say(f"  stays up until SIGTERM/SIGINT or {sup.remaining():.0f} s from now")
        reported = set()
        try:
            while True:
                time.sleep(1)
                for n in net.nodes:
                    if n.child and not n.child.alive() and n.nickname not in reported:
                        reported.add(n.nickname)
                        say("privnet: " + net.death_report(n))
        except Interrupted as e:  # the normal way to end `up`
            say(f"\nprivnet: {signal.Signals(e.signum).name} received; tearing down")
        except HardTimeout:
            say(f"\nprivnet: --timeout of {sup.timeout_s:.0f} s reached; tearing down")
        return 0
    finally:
        http.stop()


# ------------------------------------------------------------------------------------------------
# via: a relay started outside the harness joined a running `privnet up` network
# ------------------------------------------------------------------------------------------------
@dataclass
class _Hop:
    nickname: str
    rsa_fingerprint: str


@dataclass
class _RemoteBlob:
    path: str
    size: int
    sha256: str


def cmd_via(args, sup: Supervisor) -> int:
    """Wait until the network of `privnet up --dir DIR` lists the relay FINGERPRINT Running and
    Valid, then have its CTor client fetch the web server's file byte-exact over a pinned path
    with that relay in the asked role."""
    path = os.path.join(args.dir, "network.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise HarnessError(f"{path}: {e} (is `privnet up --dir {args.dir}` running?)")
    fp = args.fingerprint.upper().lstrip("$")
    if not re.fullmatch(r"[0-9A-F]{40}", fp):
        raise HarnessError(f"--fingerprint {args.fingerprint!r} is not 40 hex digits")
    if not os.path.isdir("/proc/" + str(doc.get("harness_pid", 0))):
        raise HarnessError(f"the `privnet up` of {args.dir} (PID {doc.get('harness_pid')}) is not running")
    nodes = doc["nodes"]
    auth = next(n for n in nodes if n["kind"] == "authority")
    client = next(n for n in nodes if n["kind"] == "client")
    relays = [n for n in nodes if n["kind"] in ("ctor-relay", "relaynode")]
    exits = [n for n in relays if n["exit"]]
    others = [n for n in relays if not n["exit"]]
    if not others or not exits:
        raise HarnessError("the network needs a non-exit relay and an exit besides the joining relay")
    want = {"Running", "Valid"} | ({"Guard"} if args.role == "guard" else set())
    step(f"privnet via: waiting for the consensus of {auth['nickname']} to list {fp} {'+'.join(sorted(want))}")
    end = time.monotonic() + args.wait
    cons_path = os.path.join(auth["datadir"], "cached-consensus")
    while True:
        c = read_consensus(cons_path)
        rs = c.routers.get(fp) if c else None
        if rs is not None and want <= rs.flags:
            note(f"consensus {utc_stamp(c.valid_after)}: " + " ".join(
                line for line in rs.lines if line.split()[0] in ("r", "s", "v")))
            break
        if time.monotonic() > end:
            flags = " ".join(sorted(rs.flags)) if rs else "not listed"
            raise HarnessError(f"{fp} not {'+'.join(sorted(want))} in a consensus within {args.wait:.0f} s "
                               f"(last: {flags})")
        time.sleep(1)
    conn = ControlConnection(client["controlport"], os.path.join(client["datadir"], "control_auth_cookie"),
                             client["nickname"])
    try:
        # The client must hold the relay's consensus entry and microdescriptor before a pinned
        # EXTENDCIRCUIT can name it.
        while True:
            try:
                conn.getinfo(f"ns/id/{fp}")
                conn.getinfo(f"md/id/{fp}")
                break
            except ControlError:
                if time.monotonic() > end:
                    raise HarnessError(f"{client['nickname']} has no consensus entry or microdescriptor for {fp} "
                                       f"within {args.wait:.0f} s")
                time.sleep(1)
        ctrl = Controller(conn)
        ctrl.pin_streams()
        joined = _Hop(args.nickname or fp[:8], fp)
        hop = lambda n: _Hop(n["nickname"], n["rsa_fingerprint"])  # noqa: E731
        hops = {"guard": [joined, hop(others[0]), hop(exits[0])],
                "middle": [hop(others[0]), joined, hop(exits[0])]}[args.role]
        http = doc["http"]
        blob = _RemoteBlob(http["path"], http["size"], http["sha256"])
        step(f"{args.role}: {' → '.join(h.nickname for h in hops)} → web server")
        r = download_over_path(ctrl, client["socksport"], http["port"], blob, hops,
                               deadline=time.monotonic() + max(30.0, end - time.monotonic()))
    finally:
        conn.close()
    if not r.ok:
        say(f"FAILED: {r.error}")
        return 1
    t = r.transfer
    say(f"PASS: {' → '.join(h.nickname for h in hops)}: {t.nbytes} bytes in {t.seconds:.2f} s = "
        f"{t.mbps:.1f} MB/s, sha256 matches")
    return 0


# ------------------------------------------------------------------------------------------------
# check
# ------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    key: str
    title: str
    status: str = "FAIL"   # PASS | FAIL | SKIP
    detail: str = ""
    seconds: float = 0.0


class Check:
    """The interop suite: one network, scenarios a–g, a PASS/FAIL line each."""

    ORDER = ["a", "b", "c", "c2", "d", "e", "f", "g"]
    TITLES = {
        "a": "consensus: relaynodes listed with the expected flags",
        "b": "guard: client with relaynode #1 as its only guard (and directory guard)",
        "c": "middle: CTor relay → relaynode → CTor exit",
        "c2": "relaynode extends to CTor",
        "d": "exit: CTor → CTor → relaynode exit",
        "e": "three relaynodes: relaynode → relaynode → relaynode exit",
        "f": "tampered descriptor rejected by every authority",
        "g": "restart: SIGTERM, clean exit, same identity, Running again",
    }

    def __init__(self, args, sup: Supervisor):
        self.args = args
        self.sup = sup
        self.results: dict[str, Outcome] = {}
        self._final: set[str] = set()
        self._lock = threading.Lock()

    def report(self, o: Outcome, final: bool = False) -> None:
        """Record and print an outcome; one marked final (a timeout) is never replaced."""
        with self._lock:
            if o.key in self._final:
                return
            if final:
                self._final.add(o.key)
            self.results[o.key] = o
        label = o.key if o.key != "c2" else "c'"
        say(f"{o.status}  {label}. {o.title} ({o.seconds:.1f} s)")
        if o.detail:
            say(indent(o.detail))

    def run_scenario(self, key: str, fn, *args) -> Outcome:
        o = Outcome(key, self.TITLES[key])
        t0 = time.monotonic()
        try:
            fn(o, *args)
        except (HarnessError, ControlError, TransferError, OSError) as e:
            o.status = "FAIL"
            o.detail = (o.detail + "\n" if o.detail else "") + str(e)
        except Exception as e:  # a scenario's bug must not take the suite (and teardown) with it
            o.status = "FAIL"
            o.detail = (o.detail + "\n" if o.detail else "") + f"{type(e).__name__}: {e}"
        o.seconds = time.monotonic() - t0
        self.report(o)
        return o

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> int:
        args = self.args
        root, rootstate = run_root(self.sup, args.keep, "check")
        self.root = root
        http = BlobServer()
        self.http = http
        self.blob = http.add_blob("check", args.size_mib * MiB)
        self.small = http.add_blob("small", 1 * MiB)
        http.start()
        try:
            net = Network(root, self.sup, ctor_relays=args.ctor_relays, relaynodes=3, relaynode_exits=1,
                          relaynode_bin=args.relaynode_bin, http_port=http.port, info_logs=args.info_logs,
                          relaynode_log_level=args.relaynode_log_level)
            self.net = net
            step(f"privnet check: {net.describe()}")
            standin_banner(net)
            note(f"run directory {root}; web server on 127.0.0.1:{http.port} serving "
                 f"{args.size_mib} MiB (sha256 {self.blob.sha256[:16]}…)")
            try:
                conn = net.start()
                net.write_json({"http": {"port": http.port}})
                self.ctrl = Controller(conn)
                self.ctrl.pin_streams()
                self.rn = net.relaynodes
                self.ctor = net.ctor_relays
                self.ctor_exit = next(n for n in self.ctor if n.exit)
                self.ctor_nonexit = [n for n in self.ctor if not n.exit]
                if len(self.ctor_nonexit) < 2:
                    raise HarnessError("check needs at least 3 CTor relays (2 non-exits and an exit)")
                # The guard-test client starts now (main thread) and bootstraps while a runs.
                self.client2 = net.add_client(
                    "client2", ["EntryNodes $" + self.rn[0].rsa_fingerprint, "StrictNodes 1",
                                "UseEntryGuards 1", "NumEntryGuards 1", "NumDirectoryGuards 1"],
                    info_log=True)
                net.start_client(self.client2)
                self.client2_started = time.monotonic()
                net.write_json({"http": {"port": http.port}})
            except (HarnessError, ControlError) as e:
                say(f"FAIL  network setup: {e}")
                rootstate["remove"] = False
                say(f"0 passed, {len(self.ORDER)} failed")
                return 1

            step("scenarios")
            stopped_by = None
            try:
                self.run_scenarios()
            except HardTimeout:
                stopped_by = 124
                say(f"\nprivnet: hard time limit of {self.sup.timeout_s:.0f} s reached; unfinished scenarios fail")
            except Interrupted as e:
                stopped_by = 128 + e.signum
                say(f"\nprivnet: {signal.Signals(e.signum).name} received; unfinished scenarios fail")
        finally:
            http.stop()
        rc = self.summary(rootstate)
        return stopped_by or rc

    def run_scenarios(self) -> None:
        """a, then b–e in parallel threads (each with --scenario-timeout), then f and g."""
        self.run_scenario("a", self.sc_consensus)
        parallel = [("b", self.sc_guard), ("c", self.sc_middle), ("d", self.sc_exit), ("e", self.sc_three)]
        threads = []
        for key, fn in parallel:
            t = threading.Thread(target=self.run_scenario, args=(key, fn), name=f"scenario-{key}", daemon=True)
            t.start()
            threads.append((key, t))
        end = time.monotonic() + self.args.scenario_timeout
        for key, t in threads:
            while t.is_alive() and time.monotonic() < end:
                t.join(0.5)
            if t.is_alive():
                self.report(Outcome(key, self.TITLES[key], "FAIL",
                                    f"did not finish within {self.args.scenario_timeout:.0f} s",
                                    self.args.scenario_timeout), final=True)
        self.run_scenario("f", self.sc_tamper)
        self.run_scenario("g", self.sc_restart)

    def summary(self, rootstate: dict) -> int:
        outs = [self.results.get(k) or Outcome(k, self.TITLES[k], "FAIL", "not run") for k in self.ORDER]
        passed = sum(o.status == "PASS" for o in outs)
        failed = sum(o.status == "FAIL" for o in outs)
        skipped = [o for o in outs if o.status == "SKIP"]
        step("summary")
        for o in outs:
            label = o.key if o.key != "c2" else "c'"
            say(f"  {o.status:4}  {label:2} {o.title}  ({o.seconds:.1f} s)")
        t = self.net.timings
        say(f"  network: keys {t.get('keys', 0):.1f} s; after start: consensus {t.get('consensus', 0):.1f} s, "
            f"client bootstrapped {t.get('bootstrap', 0):.1f} s, ready {t.get('ready', 0):.1f} s")
        if self.net.standin:
            say("  STAND-IN: CTor in relaynode roles; pass --relaynode-bin to test relaynode")
        if skipped:
            say(f"{len(skipped)} skipped ({', '.join(o.key for o in skipped)}); skipped is not passed")
        if failed:
            rootstate["remove"] = False
        say(f"{passed} passed, {failed} failed")
        return 1 if failed else 0

    # -- a. consensus ---------------------------------------------------------------------------
    def expected_flags(self, n: Node) -> tuple[set, set]:
        need = {"Running", "Valid", "Fast", "Guard", "V2Dir"} | ({"Exit"} if n.exit else set())
        forbidden = {"BadExit", "NoEdConsensus"} | (set() if n.exit else {"Exit"})
        return need, forbidden

    def sc_consensus(self, o: Outcome) -> None:
        end = time.monotonic() + 40
        while True:
            c = self.net.consensus()
            problems, lines = [], []
            for n in self.rn:
                rs = c.routers.get(n.rsa_fingerprint) if c else None
                if rs is None:
                    problems.append(f"{n.nickname} not listed")
                    continue
                need, forbidden = self.expected_flags(n)
                if need - rs.flags:
                    problems.append(f"{n.nickname} lacks {' '.join(sorted(need - rs.flags))}")
                if forbidden & rs.flags:
                    problems.append(f"{n.nickname} has {' '.join(sorted(forbidden & rs.flags))}")
                port_ok = rs.exit_ports_accept(self.http.port)
                if n.exit and not port_ok:
                    problems.append(f"{n.nickname}'s policy summary '{rs.policy}' rejects port {self.http.port}")
                if not n.exit and rs.policy and rs.policy != "reject 1-65535":
                    problems.append(f"{n.nickname} is not an exit but its policy summary is '{rs.policy}'")
                lines.append(f"{n.nickname}: s {' '.join(sorted(rs.flags))}; p {rs.policy}; "
                             f"w {rs.bandwidth}; v {rs.version}"
                             + (f"; md family-ids {' '.join(self.microdesc_family_ids(n)) or '-'}" if n.family_id else ""))
                if not self.microdesc_has_ed(n):
                    problems.append(f"{n.nickname}: no microdescriptor at auth1 carries 'id ed25519 "
                                    f"{n.ed25519_id}' (its keys show identity)")
                elif n.family_id and f"ed25519:{n.family_id}" not in self.microdesc_family_ids(n):
                    problems.append(f"{n.nickname}: its microdescriptor at auth1 lacks 'family-ids ed25519:{n.family_id}' "
                                    f"(the authorities did not accept its family-cert); it says "
                                    f"{self.microdesc_family_ids(n) or 'no family-ids'}")
            if not problems or time.monotonic() > end:
                break
            time.sleep(1)
        o.detail = (f"authority consensus valid-after {utc_stamp(c.valid_after)} ({c.signatures} signatures)\n"
                    if c else "") + "\n".join(lines + problems)
        o.status = "FAIL" if problems else "PASS"

    def microdesc_family_ids(self, n: Node) -> list[str]:
        """The family-ids of the microdescriptor auth1's microdesc consensus names for this relay
        (authorities add them after verifying the descriptor's family-certs; they also keep
        microdescriptors made by older consensus methods, without family-ids)."""
        auth = self.net.authorities[0].datadir
        cons = read_from(os.path.join(auth, "cached-microdesc-consensus"), 0) or ""
        ident = base64.b64encode(bytes.fromhex(n.rsa_fingerprint)).decode().rstrip("=")
        m = re.search(rf"(?m)^r \S+ {re.escape(ident)} .*\n(?:[^r].*\n)*?m (\S+)$", cons)
        if not m:
            return []
        for f in ("cached-microdescs", "cached-microdescs.new"):
            text = read_from(os.path.join(auth, f), 0) or ""
            for md in re.split(r"(?m)^(?=onion-key)", text):
                md = re.sub(r"(?m)^@.*\n", "", md)
                if base64.b64encode(hashlib.sha256(md.encode()).digest()).decode().rstrip("=") == m.group(1):
                    return [w for line in md.splitlines() if line.startswith("family-ids ") for w in line.split()[1:]]
        return []

    def microdesc_has_ed(self, n: Node) -> bool:
        """Whether auth1's microdescriptor cache has this relay's Ed25519 identity."""
        auth = self.net.authorities[0].datadir
        needle = f"\nid ed25519 {n.ed25519_id}\n"
        return any(needle in (read_from(os.path.join(auth, f), 0) or "")
                   for f in ("cached-microdescs", "cached-microdescs.new"))

    # -- b. guard -----------------------------------------------------------------------------
    def sc_guard(self, o: Outcome) -> None:
        rn1, net = self.rn[0], self.net
        conn = net.wait_bootstrapped(self.client2, timeout=min(180, self.args.scenario_timeout - 30))
        boot = time.monotonic() - self.client2_started
        ctrl = Controller(conn)
        last_err = ""
        for attempt in range(1, 3):
            ports: list[int] = []
            try:
                t = socks_http_get(self.client2.socksport, self.http.port, self.blob.path,
                                   before_request=ports.append, idle_timeout=30,
                                   deadline=time.monotonic() + 150)
            except TransferError as e:
                last_err = f"attempt {attempt}: {e}; {ctrl.stream_summary(e.src_port)}"
                time.sleep(2)
                continue
            bad = check_blob(t, self.blob)
            cid = ctrl.stream_circuit(t.src_port)
            path = ctrl.circuit_path(cid) if cid else []
            guards = self.guard_summary(conn.getinfo("entry-guards"))
            dirlines, md_answers = self.dir_fetches_via(self.client2, rn1)
            o.detail = (f"client2 (EntryNodes rn1, StrictNodes 1) bootstrapped in {boot:.1f} s; "
                        f"entry-guards: {guards}\n"
                        f"{t.nbytes // MiB} MiB in {t.seconds:.1f} s = {t.mbps:.1f} MB/s, sha256 "
                        f"{'match' if not bad else 'MISMATCH'}; circuit {cid}: {hops_text(net, path)}"
                        + f"\n{dirlines}")
            if bad:
                o.detail += f"\n{bad}"
            elif not path or path[0] != rn1.rsa_fingerprint:
                o.detail += f"\nfirst hop is not rn1 ({rn1.rsa_fingerprint})"
            elif md_answers == 0:
                o.detail += "\nno microdescriptors came from rn1, the only directory guard"
            else:
                o.status = "PASS"
            return
        o.detail = f"download through client2 failed: {last_err}"

    def guard_summary(self, text: str) -> str:
        """'rn1 up' plus a count of the sampled guards never used (EntryNodes filters them)."""
        used, unused = [], 0
        for line in text.strip().splitlines():
            words = line.split()
            if len(words) >= 2 and words[1] == "never-connected":
                unused += 1
            elif words:
                used.append(f"{self.net.nick_of(words[0][1:41].upper())} {' '.join(words[1:])}")
        return ", ".join(used) + (f" ({unused} sampled, never connected)" if unused else "")

    def dir_fetches_via(self, client: Node, guard: Node) -> tuple[str, int]:
        """What the client's info log says it got from the guard over BEGIN_DIR: a summary and
        the number of successful microdescriptor answers."""
        key = f"from server 127.0.0.1:{guard.orport}"
        md = cons = certs = errors = 0
        for line in read_from(client.info_log, 0).splitlines():
            if key not in line:
                continue
            if "microdescriptor request (status 200" in line:
                md += 1
            elif "consensus" in line and ("Received consensus" in line or "Applied consensus diff" in line):
                cons += 1
            elif "Received authority certificates" in line:
                certs += 1
            elif "status code" in line or "status 4" in line or "status 5" in line:
                errors += 1
        text = (f"directory answers from {guard.nickname} over BEGIN_DIR (client2's info log): "
                f"{md} microdescriptor, {cons} consensus, {certs} certificate, {errors} error")
        return text, md

    # -- c / c' / d / e: pinned paths ---------------------------------------------------------
    def pinned(self, o: Outcome, hops: list[Node]):
        r = download_over_path(self.ctrl, self.net.clients[0].socksport, self.http.port, self.blob, hops,
                               deadline=time.monotonic() + self.args.scenario_timeout - 10)
        if r.ok:
            t = r.transfer
            o.status = "PASS"
            o.detail = (f"{hops_text(self.net, r.built_path)}: {t.nbytes // MiB} MiB in {t.seconds:.1f} s = "
                        f"{t.mbps:.1f} MB/s, sha256 match")
            if len(r.attempts):
                o.detail += f" (after {len(r.attempts)} failed attempt(s): {'; '.join(r.attempts)})"
        else:
            o.detail = f"{' → '.join(r.hops)}: {r.error}"
        return r

    def sc_middle(self, o: Outcome) -> None:
        a, mid, x = self.ctor_nonexit[0], self.rn[1], self.ctor_exit
        t0 = time.monotonic()
        r = self.pinned(o, [a, mid, x])
        ext = Outcome("c2", self.TITLES["c2"], seconds=time.monotonic() - t0)
        if r.built:
            ext.status = "PASS"
            ext.detail = (f"{mid.nickname} extended the circuit to {x.nickname} (CTor exit): "
                          f"{a.nickname} → {mid.nickname} → {x.nickname} BUILT")
        else:
            ext.detail = f"no circuit {a.nickname} → {mid.nickname} → {x.nickname} was built: {r.error}"
        self.report(ext)

    def sc_exit(self, o: Outcome) -> None:
        self.pinned(o, [self.ctor_nonexit[0], self.ctor_nonexit[1], self.rn[2]])

    def sc_three(self, o: Outcome) -> None:
        self.pinned(o, [self.rn[0], self.rn[1], self.rn[2]])

    # -- f. tampered descriptor ---------------------------------------------------------------
    # CTor 0.4.9 authorities check a descriptor's signatures while parsing it and silently drop
    # one that fails: the POST is answered "HTTP/1.0 200 [None]" (nothing parsed, the handler's
    # initial message), and the authority logs "[warn] Incorrect ed25519 signature(s)". A 400
    # comes only for a descriptor that parses and is then refused. So relaynode must record
    # "200 [None]" (or "No descriptors found in your POST.") as rejected, and this scenario
    # also checks, independently of relaynode, that every authority logged the failure and
    # still serves the untampered descriptor.
    NOT_PARSED = ("[None]", "No descriptors found in your POST.")

    @classmethod
    def not_parsed(cls, msg: str) -> bool:
        """CTor's answer to a descriptor it could not parse or verify, possibly followed by
        relaynode's own note (after '; ') on checking whether the authority kept it."""
        return msg.split(";", 1)[0].strip() in cls.NOT_PARSED
    def sc_tamper(self, o: Outcome) -> None:
        net = self.net
        if net.standin:
            o.status = "SKIP"
            o.detail = "stand-in mode: needs relaynode's descriptor subcommands (--relaynode-bin)"
            return
        rn1 = self.rn[0]
        shown = net.cli.descriptor_show(rn1.torrc)
        if shown.returncode != 0 or "\nbandwidth " not in shown.stdout:
            o.detail = (f"relaynode descriptor show exited {shown.returncode}; output:\n"
                        + (shown.stdout[-800:] + shown.stderr[-800:]).strip())
            return
        doc = shown.stdout
        m = re.search(r"^bandwidth (\d+)", doc, re.M)
        if not m:
            o.detail = "descriptor has no parseable bandwidth line"
            return
        i = m.end(1) - 1  # last digit of the first bandwidth number
        tampered = doc[:i] + str((int(doc[i]) + 1) % 10) + doc[i + 1:]
        path = write_file(os.path.join(self.root, "rn1-tampered-descriptor"), tampered)
        offsets = {a.nickname: file_size(a.info_log) for a in net.authorities}
        t_upload = time.time()
        up = net.cli.descriptor_upload(rn1.torrc, path)
        st = net.cli.descriptor_status(rn1.torrc)
        lines = [f"bandwidth line changed: '{m.group(0)}' → "
                 f"'{tampered[m.start():m.end()]}'; relaynode descriptor upload exited {up.returncode}"]
        if up.stdout.strip() or up.stderr.strip():
            lines.append(indent((up.stdout + up.stderr).strip()[-600:], "  "))
        problems = []
        try:
            uploads = json.loads(st.stdout)["uploads"]
            if not isinstance(uploads, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            uploads = None
            problems.append(f"descriptor status --json exited {st.returncode}, output not in the contract "
                            f"shape {{\"uploads\": [...]}}:\n{(st.stdout + st.stderr)[-800:]}")
        time.sleep(0.5)  # let the authorities' logs catch up
        for a in net.authorities:
            # relaynode's own record of this authority's answer (newest first)
            if uploads is not None:
                names = {a.nickname, f"127.0.0.1:{a.dirport}"}
                entry = next((u for u in uploads if isinstance(u, dict) and u.get("authority") in names), None)
                if entry is None:
                    problems.append(f"{a.nickname}: no entry for '{a.nickname}' or '127.0.0.1:{a.dirport}' "
                                    "in descriptor status")
                else:
                    at = self.parse_iso(entry.get("at", ""))
                    result, code, msg = entry.get("result"), entry.get("status"), entry.get("message") or ""
                    lines.append(f"{a.nickname} per relaynode: {result} {code} \"{msg}\" at {entry.get('at')}")
                    if at is None or at < t_upload - 5:
                        problems.append(f"{a.nickname}: newest status entry is not from this upload")
                    if result != "rejected":
                        problems.append(f"{a.nickname}: result '{result}', expected 'rejected'"
                                        + (" (CTor answers 200 [None] when it drops an unverifiable "
                                           "descriptor: that is a rejection)" if self.not_parsed(msg) else ""))
                    elif not (code == 400 or (code == 200 and self.not_parsed(msg))):
                        problems.append(f"{a.nickname}: status {code} \"{msg}\" is neither a 400 nor CTor's "
                                        "200 [None] for an unparseable descriptor")
                    if not msg:
                        problems.append(f"{a.nickname}: no message recorded")
            # the authority's own view
            gained = read_from(a.info_log, offsets[a.nickname]).splitlines()
            posts = sum("New descriptor post" in l for l in gained)
            hits = [l for l in gained if re.search(r"signature|Rejected router descriptor|"
                                                   r"[Cc]ouldn't parse|Unable to parse", l)]
            served = self.served_descriptor(a, rn1)
            lines.append(f"{a.nickname} itself: {posts} POST(s) received; log: "
                         + (hits[-1].split("] ", 1)[-1].strip()[:160] if hits else "(no rejection logged)")
                         + "; serves " + ("the untampered descriptor" if served == doc else
                                          "the TAMPERED descriptor" if served == tampered else
                                          "another descriptor" if served else "nothing"))
            if posts == 0:
                problems.append(f"{a.nickname} received no descriptor POST after the upload started")
            elif not hits:
                problems.append(f"{a.nickname} logged no rejection of the tampered descriptor")
            if served == tampered:
                problems.append(f"{a.nickname} accepted the tampered descriptor")
        o.detail = "\n".join(lines + problems)
        o.status = "FAIL" if problems else "PASS"

    @staticmethod
    def served_descriptor(auth: Node, relay: Node) -> str | None:
        """The server descriptor an authority serves for a relay (its DirPort on 127.0.0.1)."""
        url = f"http://127.0.0.1:{auth.dirport}/tor/server/fp/{relay.rsa_fingerprint}"
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an http_proxy
        try:
            with no_proxy.open(url, timeout=10) as r:
                return r.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return None

    @staticmethod
    def parse_iso(s: str) -> float | None:
        try:
            return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
        except (ValueError, AttributeError):
            return None

    # -- g. restart ---------------------------------------------------------------------------
    def sc_restart(self, o: Outcome) -> None:
        net, rn2 = self.net, self.rn[1]
        fp_before = rn2.rsa_fingerprint
        old_pid = rn2.pid
        rc, secs, killed = net.stop_node(rn2, grace=10)
        problems = []
        lines = [f"SIGTERM to {rn2.nickname} (pid {old_pid}): "
                 + (f"killed after 10 s" if killed else f"exited with status {rc} after {secs:.1f} s")]
        if killed:
            problems.append("did not exit within 10 s of SIGTERM")
        elif rc != 0:
            problems.append(f"exit status {rc}, expected 0")
        t_restart = time.time()
        net.restart_node(rn2)
        rsa_after, _ = net.refresh_identity(rn2)
        lines.append(f"started again (pid {rn2.pid}); fingerprint "
                     + ("unchanged" if rsa_after == fp_before else f"CHANGED to {rsa_after}"))
        if rsa_after != fp_before:
            problems.append("fingerprint changed")
        # A consensus whose voting started after the restart (votes go out VoteDelay+DistDelay
        # before valid-after) must list it Running.
        c = net.wait_for_consensus(timeout=90, nodes=[rn2], after=t_restart + VOTE_DELAY + DIST_DELAY)
        rs = c.routers[rn2.rsa_fingerprint]
        # Informational: does a later consensus carry a descriptor published after the restart?
        end = time.monotonic() + 2 * VOTING_INTERVAL + 2
        while rs.published < int(t_restart) and time.monotonic() < end:
            time.sleep(1)
            later = net.consensus()
            if later and rn2.rsa_fingerprint in later.routers:
                rs = later.routers[rn2.rsa_fingerprint]
        lines.append(f"consensus valid-after {utc_stamp(c.valid_after)} (voted after the restart at "
                     f"{utc_stamp(t_restart)}): {' '.join(sorted(c.routers[rn2.rsa_fingerprint].flags))}; "
                     f"descriptor published {utc_stamp(rs.published)} "
                     + ("(republished after the restart)" if rs.published >= int(t_restart) else
                        "(no descriptor published after the restart reached the consensus yet)"))
        r = download_over_path(self.ctrl, net.clients[0].socksport, self.http.port, self.small,
                               [self.ctor_nonexit[0], rn2, self.ctor_exit], deadline=time.monotonic() + 90)
        if r.ok:
            lines.append(f"relays again: {hops_text(net, r.built_path)}, 1 MiB byte-exact")
        else:
            problems.append(f"no traffic through {rn2.nickname} after the restart: {r.error}")
        o.detail = "\n".join(lines + problems)
        o.status = "FAIL" if problems else "PASS"


def cmd_check(args, sup: Supervisor) -> int:
    return Check(args, sup).run()


# ------------------------------------------------------------------------------------------------
# demo
# ------------------------------------------------------------------------------------------------
def cmd_demo(args, sup: Supervisor) -> int:
    root, rootstate = run_root(sup, args.keep, "demo")
    http = BlobServer()
    blob = http.add_blob("demo", args.size_mib * MiB)
    http.start()
    try:
        net = Network(root, sup, ctor_relays=3, relaynodes=3, relaynode_exits=1,
                      relaynode_bin=args.relaynode_bin, http_port=http.port,
                      relaynode_log_level=args.relaynode_log_level)
        step(f"1. Build a private Tor network on 127.0.0.1: {net.describe()}")
        standin_banner(net)
        say(f"   run directory {root}; authorities vote every {10} s")
        conn = net.start()
        step("2. The authorities' consensus lists the relaynodes (from auth1's cached-consensus)")
        c = net.consensus()
        for n in net.relaynodes:
            rs = c.routers[n.rsa_fingerprint]
            for line in rs.lines:
                if line.split()[0] in ("r", "s", "v", "w", "p"):
                    say(f"   {line}")
        step("3. A CTor client bootstrapped; paths are now pinned through its control port")
        say(f"   client1: SOCKS 127.0.0.1:{net.clients[0].socksport}, "
            f"control 127.0.0.1:{net.clients[0].controlport}")
        ctrl = Controller(conn)
        ctrl.pin_streams()
        rn, ct = net.relaynodes, net.ctor_relays
        paths = [("relaynode as guard (first hop)", [rn[0], ct[0], ct[2]]),
                 ("relaynode as middle", [ct[0], rn[1], ct[2]]),
                 ("relaynode as exit", [ct[0], ct[1], rn[2]]),
                 ("three relaynodes", [rn[0], rn[1], rn[2]])]
        failures = 0
        for i, (title, hops) in enumerate(paths, start=4):
            step(f"{i}. {title}: {' → '.join(h.nickname for h in hops)} → web server")
            r = download_over_path(ctrl, net.clients[0].socksport, http.port, blob, hops,
                                   deadline=time.monotonic() + 60)
            if r.ok:
                t = r.transfer
                say(f"   circuit built: {hops_text(net, r.built_path)}")
                say(f"   {t.nbytes} bytes in {t.seconds:.2f} s = {t.mbps:.1f} MB/s; "
                    f"sha256 {t.sha256[:16]}… matches the served file")
            else:
                failures += 1
                say(f"   FAILED: {r.error}")
        step(f"{len(paths) + 4}. Tear down")
    finally:
        http.stop()
    if failures:
        rootstate["remove"] = False
    sup.stop_all()
    if failures:
        say(f"\ndemo FAILED: {failures} of {len(paths)} paths")
        return 1
    say("\ndemo ok: the consensus lists the relaynodes, and a real CTor client moved data byte-exact "
        "with relaynode as guard, middle and exit" + (" (STAND-IN: CTor in relaynode roles)" if net.standin else ""))
    return 0


# ------------------------------------------------------------------------------------------------
# bench
# ------------------------------------------------------------------------------------------------
def bench_round(net: Network, ctrl: Controller, http: BlobServer, blob, hops: list[Node], streams: int,
                deadline: float) -> dict:
    """streams parallel downloads, each on its own circuit over hops; bytes, wall time and the
    CPU seconds (utime+stime) each hop and the client spent meanwhile."""
    client = net.clients[0]
    cids = [ctrl.build_circuit([h.rsa_fingerprint for h in hops], 60) for _ in range(streams)]
    watched = {"guard": hops[0], "middle": hops[1], "exit": hops[2], "client": client}
    results: list = [None] * streams

    def worker(j: int) -> None:
        try:
            results[j] = socks_http_get(client.socksport, http.port, blob.path,
                                        before_request=lambda p, c=cids[j]: ctrl.route(p, c),
                                        idle_timeout=60, deadline=deadline)
        except TransferError as e:
            results[j] = e

    threads = [threading.Thread(target=worker, args=(j,), daemon=True) for j in range(streams)]
    cpu0 = {k: cpu_seconds(n.pid) for k, n in watched.items()}
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    wall = time.monotonic() - t0
    cpu1 = {k: cpu_seconds(n.pid) for k, n in watched.items()}
    for c in cids:
        ctrl.close_circuit(c)
    done = [r for r in results if not isinstance(r, Exception)]
    errors = [str(r) for r in results if isinstance(r, Exception)]
    errors += [msg for msg in (check_blob(r, blob) for r in done) if msg]
    total = sum(r.nbytes for r in done)
    row = {"bytes": total, "seconds": wall, "mbps": mb_per_s(total, wall), "errors": errors}
    for k in watched:
        row[f"{k}_cpu"] = cpu1[k] - cpu0[k]
        row[f"{k}_per_gib"] = (cpu1[k] - cpu0[k]) / (total / GiB) if total else float("nan")
    return row


def bench_table(rows: list[dict]) -> str:
    header = ("round", "middle", "MiB", "s", "MB/s", "mid CPU-s", "mid CPU-s/GiB", "guard /GiB",
              "exit /GiB", "client /GiB")
    table = [header]
    for r in rows:
        if "bytes" not in r:
            table.append((str(r["round"]), r["middle"]) + ("-",) * 8)
            continue
        table.append((str(r["round"]), r["middle"], f"{r['bytes'] / MiB:.0f}", f"{r['seconds']:.1f}",
                      f"{r['mbps']:.1f}", f"{r['middle_cpu']:.2f}", f"{r['middle_per_gib']:.2f}",
                      f"{r['guard_per_gib']:.2f}", f"{r['exit_per_gib']:.2f}", f"{r['client_per_gib']:.2f}"))
    widths = [max(len(row[k]) for row in table) for k in range(len(header))]
    return "\n".join("  " + "  ".join(c.ljust(w) if k == 1 else c.rjust(w) for k, (c, w) in
                                       enumerate(zip(row, widths))) for row in table)


def cmd_bench(args, sup: Supervisor) -> int:
    root, rootstate = run_root(sup, args.keep, "bench")
    http = BlobServer()
    blob = http.add_blob("bench", args.size_mib * MiB)
    http.start()
    try:
        net = Network(root, sup, ctor_relays=3, relaynodes=1, relaynode_exits=0,
                      relaynode_bin=args.relaynode_bin, http_port=http.port,
                      relaynode_log_level=args.relaynode_log_level)
        step(f"privnet bench: {net.describe()}")
        standin_banner(net)
        ctrl = Controller(net.start())
        ctrl.pin_streams()
        guard, ctor_mid, exit_ = net.ctor_relays
        rn_mid = net.relaynodes[0]
        schedule = [("relaynode", rn_mid), ("ctor", ctor_mid)] * args.rounds
        step(f"{args.streams} parallel downloads of {args.size_mib} MiB, one circuit each, over "
             f"{guard.nickname} → MIDDLE → {exit_.nickname}; MIDDLE alternates: "
             + ", ".join(m.nickname for _, m in schedule))
        rows = []
        for i, (label, mid) in enumerate(schedule, start=1):
            name = f"{mid.nickname} ({'ctor*' if mid.kind == 'relaynode' and net.standin else mid.impl})"
            try:
                row = bench_round(net, ctrl, http, blob, [guard, mid, exit_], args.streams,
                                  time.monotonic() + max(60.0, sup.remaining() - 20))
            except (CircuitFailed, ControlError, OSError) as e:
                row = {"errors": [f"{type(e).__name__}: {e}"]}
            row.update({"round": i, "middle": name, "label": label})
            rows.append(row)
            if "bytes" in row:
                note(f"round {i}: middle {name}: {row['bytes'] / MiB:.0f} MiB in {row['seconds']:.1f} s = "
                     f"{row['mbps']:.1f} MB/s; middle {row['middle_cpu']:.2f} CPU-s = "
                     f"{row['middle_per_gib']:.2f} CPU-s/GiB"
                     + (f"; {len(row['errors'])} FAILED: {row['errors'][0]}" if row["errors"] else ""))
            else:
                note(f"round {i}: middle {name}: FAILED: {row['errors'][0]}")
        step("results (MB = 10^6 bytes; CPU-s/GiB = utime+stime from /proc/PID/stat per 2^30 bytes)")
        say(bench_table(rows))
        good: dict[str, list[dict]] = {}
        for r in rows:
            if not r["errors"]:
                good.setdefault(r["label"], []).append(r)
        if "relaynode" in good and "ctor" in good:
            def mean(label: str, key: str) -> float:
                return sum(r[key] for r in good[label]) / len(good[label])
            rn_cpu, ct_cpu = mean("relaynode", "middle_per_gib"), mean("ctor", "middle_per_gib")
            rn_rate, ct_rate = mean("relaynode", "mbps"), mean("ctor", "mbps")
            say(f"\n  middle CPU-s/GiB: {rn_mid.nickname} {rn_cpu:.2f} vs {ctor_mid.nickname} {ct_cpu:.2f} "
                f"(ratio {rn_cpu / ct_cpu:.2f}); aggregate MB/s: {rn_rate:.1f} vs {ct_rate:.1f} "
                f"(ratio {rn_rate / ct_rate:.2f})")
        if net.standin:
            say("  STAND-IN: CTor in relaynode roles: both middles are C tor (a baseline for the noise)")
        failed = any(r["errors"] for r in rows)
        if failed:
            rootstate["remove"] = False
        return 1 if failed else 0
    finally:
        http.stop()


# ------------------------------------------------------------------------------------------------
# soak
# ------------------------------------------------------------------------------------------------
def proc_sample(pid: int) -> dict | None:
    """RSS (KiB), open descriptors, threads and CPU seconds of a live process."""
    try:
        status = read_from(f"/proc/{pid}/status", 0) or ""
        rss = int(re.search(r"(?m)^VmRSS:\s+(\d+)", status).group(1))
        threads = int(re.search(r"(?m)^Threads:\s+(\d+)", status).group(1))
        return {"rss_kib": rss, "fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": threads,
                "cpu": cpu_seconds(pid)}
    except (OSError, AttributeError, ValueError):
        return None


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else 0


def soak_verdict(name: str, stamps: list[float], samples: list[dict], warmup_s: float, fd_slack: int,
                 rss_growth: float) -> tuple[list[str], str]:
    """(problems, trend text) for one process. Problems: it died; its descriptors at the end (a
    quiet moment: no transfer, no abuse) exceed those at the start by more than fd_slack; or,
    after the warm-up, its RSS or descriptors grew: the median of the window's last tenth against
    its first tenth, RSS by more than rss_growth, descriptors by more than fd_slack. The trend
    text gives the least-squares slope of RSS after the warm-up in MiB per hour."""
    problems = []
    if any(s is None for s in samples):
        return [f"{name}: the process died during the soak"], ""
    first, last = samples[0], samples[-1]
    if last["fds"] > first["fds"] + fd_slack:
        problems.append(f"{name}: {first['fds']} → {last['fds']} open descriptors at quiet moments (more than {fd_slack} added)")
    window = [(t, s) for t, s in zip(stamps, samples) if t >= warmup_s]
    if len(window) < 10:  # a short run: judge its second half
        window = list(zip(stamps, samples))[len(samples) // 2:]
    if len(window) < 2:
        return problems, ""
    tenth = max(1, len(window) // 10)
    head, tail_ = [s for _, s in window[:tenth]], [s for _, s in window[-tenth:]]
    r0, r1 = _median([s["rss_kib"] for s in head]), _median([s["rss_kib"] for s in tail_])
    if r0 and r1 > r0 * (1 + rss_growth):
        problems.append(f"{name}: RSS grew {r0 // 1024} → {r1 // 1024} MiB after the warm-up (more than {rss_growth:.0%})")
    f0, f1 = _median([s["fds"] for s in head]), _median([s["fds"] for s in tail_])
    if f1 > f0 + fd_slack:
        problems.append(f"{name}: open descriptors grew {f0} → {f1} after the warm-up (more than {fd_slack})")
    ts = [t for t, _ in window]
    rs = [s["rss_kib"] / 1024 for _, s in window]
    mt, mr = sum(ts) / len(ts), sum(rs) / len(rs)
    var = sum((t - mt) ** 2 for t in ts)
    slope = (sum((t - mt) * (r - mr) for t, r in zip(ts, rs)) / var * 3600) if var else 0.0
    return problems, (f"{name}: after the warm-up RSS {r0 // 1024} → {r1 // 1024} MiB (slope {slope:+.1f} MiB/h), "
                      f"descriptors {f0} → {f1}")


def cmd_soak(args, sup: Supervisor) -> int:
    """Traffic through the relaynodes for --minutes: rounds of parallel downloads on fresh
    circuits with relaynode as guard, middle and exit (and all three), every byte checked; the
    relaynodes' and the C tor relays' RSS, descriptors, threads and CPU sampled throughout. Fails
    when a relay dies, a download is wrong, descriptors leak or RSS keeps growing."""
    root, rootstate = run_root(sup, args.keep, "soak")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if args.abuse:
        if args.relaynode_bin is None:
            raise HarnessError("the abusive clients need relaynodes (--relaynode-bin), or pass --no-abuse")
        abuse.require_sources()
        step("building the abusive clients (swift build --build-tests)")
        run_helper(["swift", "build", "--build-tests", "--package-path", repo], timeout=min(2400, sup.remaining() - 300))
    http = BlobServer()
    blob = http.add_blob("soak", args.size_mib * MiB)
    http.start()
    stuck = abuse.StuckServer().start()
    failures: list[str] = []
    observations: list[str] = []
    try:
        net = Network(root, sup, ctor_relays=3, relaynodes=3, relaynode_exits=1,
                      relaynode_bin=args.relaynode_bin, http_port=http.port,
                      relaynode_log_level=args.relaynode_log_level)
        step(f"privnet soak: {net.describe()}; {args.minutes:g} minutes")
        standin_banner(net)
        ctrl = Controller(net.start())
        ctrl.pin_streams()
        rn, ct = net.relaynodes, net.ctor_relays
        paths = [[rn[0], ct[0], ct[2]], [ct[0], rn[1], ct[2]], [ct[0], ct[1], rn[2]], [rn[0], rn[1], rn[2]]]
        watched = {n.nickname: n for n in rn + ct}
        series: dict[str, list] = {k: [] for k in watched}

        stamps: list[float] = []
        t_start = time.monotonic()

        def sample() -> None:
            stamps.append(time.monotonic() - t_start)
            for k, n in watched.items():
                s = proc_sample(n.pid) if n.pid else None
                if s is not None and n.impl == "relaynode":
                    # The relay's own latest health sample: open circuits and queued cells.
                    try:
                        h = json.loads(net.cli.run("health", "--json", "--events", "0", "--data-directory", n.datadir,
                                                   check=False).stdout or "{}").get("sample") or {}
                        s["circuits"], s["queued_cells"] = h.get("circuits_open", ""), h.get("queued_cells", "")
                    except (ValueError, HarnessError):
                        s["circuits"] = s["queued_cells"] = ""
                series[k].append(s)

        sample()
        end = time.monotonic() + args.minutes * 60
        half_open = abuse_child = None
        report_path = os.path.join(root, "abuse-report.json")
        if args.abuse:
            cfg = os.path.join(root, "abuse.json")
            abuse.write_abuse_config(cfg, relaynodes=rn, cli=net.cli, seconds=args.minutes * 60, http_port=http.port,
                                     blob_path=blob.path, stuck_port=stuck.port, report=report_path)
            os.environ["RELAYFLEET_ABUSE"] = cfg
            abuse_child = sup.spawn("abusive-clients", ["swift", "test", "--package-path", repo, "--skip-build",
                                                        "--filter", "SoakAbusiveClients"],
                                    stdout_path=os.path.join(root, "abusive-clients.log"))
            sup.after_stop(lambda pid=abuse_child.pid: abuse.stop_group(pid))
            targets, stop_at = [(n.nickname, n.orport) for n in rn], time.time() + args.minutes * 60
            half_open = [abuse.HalfOpenLinks(targets, stop_at, kinds=("tcp", "tls", "versions"), hold=60).start(),
                         abuse.HalfOpenLinks(targets, stop_at, kinds=("idle",), hold=300).start()]
            note(f"abusive clients: CREATE2 floods, slow readers, SENDME-less downloads and window overruns "
                 f"(SoakAbusiveClients, pid {abuse_child.pid}) and half-open links, from 127.0.0.66-70")
        rounds = moved = errors = 0
        done_at: list[float] = []   # when each byte-exact download finished (seconds into the soak)
        while time.monotonic() < end and sup.remaining() > 120:
            hops = paths[rounds % len(paths)]
            rounds += 1
            results: list = [None] * args.streams
            cids: list[str] = []
            try:
                cids = [ctrl.build_circuit([h.rsa_fingerprint for h in hops], 60) for _ in range(args.streams)]
            except (CircuitFailed, ControlError) as e:
                errors += 1
                failures.append(f"round {rounds}: building circuits over {'→'.join(h.nickname for h in hops)}: {e}")

            def worker(j: int) -> None:
                try:
                    results[j] = socks_http_get(net.clients[0].socksport, http.port, blob.path,
                                                before_request=lambda p, c=cids[j]: ctrl.route(p, c),
                                                idle_timeout=60, deadline=time.monotonic() + 300)
                except TransferError as e:
                    results[j] = e

            threads = [threading.Thread(target=worker, args=(j,), daemon=True) for j in range(len(cids))]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                time.sleep(min(args.sample_seconds, 2))
                if len(series[rn[0].nickname]) * args.sample_seconds < (time.monotonic() - (end - args.minutes * 60)):
                    sample()
            for c in cids:
                ctrl.close_circuit(c)
            for r in results[:len(cids)]:
                if isinstance(r, Exception):
                    errors += 1
                    failures.append(f"round {rounds}: {r}")
                elif r is not None:
                    bad = check_blob(r, blob)
                    if bad:
                        errors += 1
                        failures.append(f"round {rounds}: {bad}")
                    else:
                        moved += r.nbytes
                        done_at.append(time.monotonic() - t_start)
            net.check_alive()
        if args.abuse:
            # The abusive clients stop at the same deadline; wait for them so the last sample is quiet.
            try:
                abuse_child.popen.wait(max(1, min(120, sup.remaining() - 60)))
            except Exception:  # noqa: BLE001 (a child that overstays is stopped below, and said)
                observations.append("the abusive clients overstayed their deadline and were stopped")
            abuse.stop_group(abuse_child.pid)
            for h in half_open:
                h.join(90)
        time.sleep(5)   # circuits closed; let the relays settle before the last sample
        sample()
        step(f"{rounds} rounds, {moved / MiB:.0f} MiB moved byte-exact, {errors} failed downloads")
        # Every minute after the warm-up must see a byte-exact download finish.
        warmup_s = min(args.warmup_minutes * 60, args.minutes * 30)
        t_end = stamps[-1] - 5
        dry = [m for m in range(int(warmup_s // 60), int(t_end // 60))
               if not any(m * 60 <= t < (m + 1) * 60 for t in done_at)]
        if dry:
            failures.append(f"no byte-exact download finished in minute(s) {', '.join(str(m + 1) for m in dry)}")
        else:
            note(f"a byte-exact download finished in every minute after the warm-up "
                 f"(longest gap {max((b - a for a, b in zip(done_at, done_at[1:])), default=0):.0f} s)")
        header = ("process", "RSS start/peak/end MiB", "fds start/peak/end", "threads end", "CPU s")
        rows = [header]
        for k, ss in series.items():
            live = [s for s in ss if s]
            if not live:
                rows.append((k, "-", "-", "-", "-"))
                continue
            rows.append((f"{k} ({watched[k].impl})",
                         f"{live[0]['rss_kib'] // 1024}/{max(s['rss_kib'] for s in live) // 1024}/{live[-1]['rss_kib'] // 1024}",
                         f"{live[0]['fds']}/{max(s['fds'] for s in live)}/{live[-1]['fds']}",
                         str(live[-1]["threads"]), f"{live[-1]['cpu'] - live[0]['cpu']:.1f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        say("\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows))
        csv_path = os.path.join(root, "soak.csv")
        with open(csv_path, "w", encoding="ascii") as f:
            f.write("seconds,process,impl,rss_kib,fds,threads,cpu_s,circuits,queued_cells\n")
            for i, at in enumerate(stamps):
                for k, ss in series.items():
                    x = ss[i] if i < len(ss) else None
                    if x:
                        f.write(f"{at:.0f},{k},{watched[k].impl},{x['rss_kib']},{x['fds']},{x['threads']},{x['cpu']:.2f},"
                                f"{x.get('circuits', '')},{x.get('queued_cells', '')}\n")
        svg_path = os.path.join(root, "soak.svg")
        kib = 1024.0
        write_file(svg_path, soak_svg(
            stamps, {k: series[k] for k in (n.nickname for n in rn)},
            [("rss", "RSS (MiB); C tor relays dashed", lambda x: x["rss_kib"] / kib),
             ("fds", "open file descriptors", lambda x: x["fds"]),
             ("circuits", "open circuits (relaynode health)", lambda x: x.get("circuits") if x.get("circuits") != "" else None),
             ("queued", "queued cells (relaynode health)", lambda x: x.get("queued_cells") if x.get("queued_cells") != "" else None)],
            warmup_s, f"privnet soak: {args.minutes:g} min, {rounds} rounds, {moved / MiB:.0f} MiB byte-exact"
            + (", abusive clients on" if args.abuse else ""),
            ctor_in_first={k: series[k] for k in (n.nickname for n in ct)}), mode=0o644)
        note(f"samples every ~{args.sample_seconds:g} s in {csv_path}, plotted in {svg_path}"
             + ("" if args.keep else " (pass --keep DIR to keep them)"))
        for k in (n.nickname for n in rn):
            problems, trend = soak_verdict(k, stamps, series[k], warmup_s, args.fd_slack, args.rss_growth)
            failures += problems
            if trend:
                note(trend)
        if args.abuse:
            report = abuse.read_report(report_path)
            counts = dict(report.get("counts") or {})
            counts["last_error"] = report.get("last_error") or {}
            problems, seen = abuse.verdict(counts, {k: v for h in half_open for k, v in h.stats.items()})
            for line in seen + observations:
                note(line)
            if not report.get("final"):
                problems.append(f"the abusive clients did not finish their report (see {root}/abusive-clients.log)")
            failures += problems
        if errors > args.max_failed_downloads:
            failures.append(f"{errors} downloads failed (at most {args.max_failed_downloads} allowed)")
        elif errors:
            note(f"{errors} downloads failed, within the allowed {args.max_failed_downloads}")
            failures = [f for f in failures if not f.startswith("round ")]
    finally:
        http.stop()
        stuck.stop()
    sup.stop_all()
    if failures:
        rootstate["remove"] = False
        say("\nsoak FAILED:\n" + "\n".join("  " + f for f in failures))
        return 1
    say("\nsoak ok: every relaynode stayed up, every download was byte-exact, a download finished every minute, "
        "no descriptor leak, RSS flat after the warm-up" + (", every abusive client answered as it should" if args.abuse else ""))
    return 0
