"""The private network: plan the nodes, make their keys, write their torrcs, start them, and
wait until the network is usable (complete consensus, relays holding it, client bootstrapped).

Node kinds: authority (CTor, 10 s voting), ctor-relay, relaynode (the Swift relay, or a CTor
relay standing in for it when no relaynode binary is given), client (CTor).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

from .consensus import Consensus, read_consensus
from .control import ControlConnection, ControlError
from .procs import Supervisor, run_helper
from .util import (HarnessError, PortCollision, file_size, free_port, indent, note, port_accepts,
                   private_dir, read_from, read_text, tail, utc_stamp, write_file)

TOR = shutil.which("tor") or "/usr/sbin/tor"
TOR_GENCERT = shutil.which("tor-gencert") or "/usr/bin/tor-gencert"

VOTING_INTERVAL = 10   # seconds; vote and distribution delays of 2 s each
VOTE_DELAY = 2
DIST_DELAY = 2
MARKER = ".privnet"    # marks a directory this harness made (safe to wipe and reuse)


class Node:
    """One process of the network and everything a test needs to reach it."""

    def __init__(self, kind: str, nickname: str, datadir: str, impl: str = "ctor", exit: bool = False):
        self.kind = kind            # authority | ctor-relay | relaynode | client
        self.nickname = nickname
        self.datadir = datadir
        self.impl = impl            # ctor | relaynode
        self.exit = exit
        self.orport = self.dirport = self.controlport = self.socksport = None
        self.rsa_fingerprint: str | None = None
        self.ed25519_id: str | None = None
        self.v3ident: str | None = None
        self.torrc = os.path.join(datadir, "torrc")
        self.log = os.path.join(datadir, "relaynode.log" if impl == "relaynode" else "notice.log")
        self.info_log = os.path.join(datadir, "info.log")
        self.extra: list[str] = []  # extra torrc lines (clients)
        self.family_id: str | None = None  # FamilyId (relaynode roles share one family key)
        self.info_logging = False
        self.child = None
        self.expected_down = False
        self.log_mark = 0

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child else None

    @property
    def cookie(self) -> str:
        return os.path.join(self.datadir, "control_auth_cookie")

    def ports(self) -> list[int]:
        return [p for p in (self.orport, self.dirport, self.controlport, self.socksport) if p]

    def to_json(self, standin: bool) -> dict:
        impl = self.impl
        if self.kind == "relaynode" and standin:
            impl = "ctor (stand-in for relaynode)"
        d = {
            "kind": self.kind, "nickname": self.nickname, "implementation": impl,
            "exit": self.exit, "rsa_fingerprint": self.rsa_fingerprint,
            "ed25519_identity": self.ed25519_id, "orport": self.orport, "dirport": self.dirport,
            "controlport": self.controlport, "socksport": self.socksport,
            "datadir": self.datadir, "torrc": self.torrc, "pid": self.pid, "log": self.log,
        }
        if self.v3ident:
            d["v3ident"] = self.v3ident
        if self.info_logging and self.impl == "ctor":
            d["info_log"] = self.info_log
        return d


class RelaynodeCLI:
    """The relaynode command-line contract the harness relies on."""

    def __init__(self, path: str):
        self.path = path

    def run(self, *args: str, timeout: float = 60, check: bool = True):
        return run_helper([self.path, *args], timeout=timeout, check=check)

    def keys_generate(self, datadir: str) -> None:
        self.run("keys", "generate", "--data-directory", datadir)

    def keys_show(self, datadir: str) -> dict:
        out = self.run("keys", "show", "--json", "--data-directory", datadir).stdout
        try:
            return json.loads(out)
        except ValueError:
            raise HarnessError(f"relaynode keys show --json printed no JSON:\n{out[:500]}")

    def descriptor_show(self, torrc: str):
        return self.run("descriptor", "show", "--config", torrc, check=False)

    def descriptor_upload(self, torrc: str, path: str):
        return self.run("descriptor", "upload", "--config", torrc, "--file", path, timeout=90, check=False)

    def descriptor_status(self, torrc: str):
        return self.run("descriptor", "status", "--config", torrc, "--json", check=False)


def ctor_identity(datadir: str) -> tuple[str, str]:
    """(RSA fingerprint, Ed25519 id) from the files CTor writes into its DataDirectory."""
    rsa = (read_text(os.path.join(datadir, "fingerprint")) or "").split()
    ed = (read_text(os.path.join(datadir, "fingerprint-ed25519")) or "").split()
    if len(rsa) < 2:
        raise HarnessError(f"no fingerprint file in {datadir}")
    return rsa[1], (ed[1] if len(ed) >= 2 else None)


def prepare_root(path: str) -> str:
    """Use path as the run directory: it must be new, empty, or one this harness made."""
    path = os.path.abspath(path)
    if os.path.isdir(path) and os.listdir(path):
        if not os.path.exists(os.path.join(path, MARKER)):
            raise HarnessError(f"{path} exists, is not empty and was not made by privnet; "
                               "choose a new directory")
        shutil.rmtree(path)
    private_dir(path)
    write_file(os.path.join(path, MARKER), "made by scripts/privnet; safe to delete\n")
    return path


class Network:
    """3 CTor authorities, CTor relays, relaynodes and CTor clients on 127.0.0.1."""

    def __init__(self, root: str, sup: Supervisor, *, ctor_relays: int = 3, relaynodes: int = 0,
                 relaynode_exits: int = 0, relaynode_bin: str | None = None, http_port: int,
                 info_logs: bool = False, relaynode_log_level: str = "info"):
        if ctor_relays < 1:
            raise HarnessError("at least one CTor relay (the exit) is needed")
        self.root = root
        self.sup = sup
        self.cli = RelaynodeCLI(relaynode_bin) if relaynode_bin else None
        self.standin = relaynode_bin is None
        self.http_port = http_port
        self.info_logs = info_logs
        self.relaynode_log_level = relaynode_log_level
        self.empty_torrc = write_file(os.path.join(root, "empty-torrc"), "")
        # Exits never resolve names here (clients ask for 127.0.0.1, hijack checks are off); if
        # they did, the only nameserver they know is on loopback.
        self.resolv_conf = write_file(os.path.join(root, "resolv.conf"), "nameserver 127.0.0.1\n")
        self.authorities: list[Node] = []
        self.ctor_relays: list[Node] = []
        self.relaynodes: list[Node] = []
        self.clients: list[Node] = []
        for i in range(1, 4):
            n = Node("authority", f"auth{i}", os.path.join(root, f"auth{i}"))
            n.orport, n.dirport, n.controlport = free_port(), free_port(), free_port()
            n.info_logging = True  # light; their reachability and rejection messages are info
            self.authorities.append(n)
        for i in range(1, ctor_relays + 1):
            n = Node("ctor-relay", f"ctor{i}", os.path.join(root, f"ctor{i}"), exit=(i == ctor_relays))
            n.orport, n.controlport = free_port(), free_port()
            n.info_logging = info_logs
            self.ctor_relays.append(n)
        for i in range(1, relaynodes + 1):
            n = Node("relaynode", f"rn{i}", os.path.join(root, f"rn{i}"),
                     impl="ctor" if self.standin else "relaynode", exit=(i > relaynodes - relaynode_exits))
            n.orport = free_port()
            if n.impl == "ctor":
                n.controlport = free_port()
            n.info_logging = info_logs
            self.relaynodes.append(n)
        self.t_start = 0.0
        self.timings: dict[str, float] = {}

    # -- views --------------------------------------------------------------------------------
    @property
    def routers(self) -> list[Node]:
        return self.authorities + self.ctor_relays + self.relaynodes

    @property
    def nodes(self) -> list[Node]:
        return self.routers + self.clients

    def nick_of(self, fp: str) -> str:
        for n in self.routers:
            if n.rsa_fingerprint == fp:
                return n.nickname
        return fp[:8]

    def describe(self) -> str:
        rn = f"{len(self.relaynodes)} relaynode" + ("" if len(self.relaynodes) == 1 else "s")
        if self.relaynodes and self.standin:
            rn += " (STAND-IN: CTor in relaynode roles)"
        return f"3 CTor authorities, {len(self.ctor_relays)} CTor relays, {rn}"

    # -- keys ---------------------------------------------------------------------------------
    def generate_keys(self) -> None:
        """Authority keys (tor-gencert), CTor relay keys (tor --list-fingerprint), relaynode keys
        (relaynode keys generate); in parallel."""
        t0 = time.monotonic()
        jobs = [(self._keys_authority, n) for n in self.authorities]
        for n in self.ctor_relays + self.relaynodes:
            jobs.append((self._keys_ctor if n.impl == "ctor" else self._keys_relaynode, n))
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(fn, n) for fn, n in jobs]
            for f in futures:
                f.result()
        if self.relaynodes:
            self._family_key()
        self.timings["keys"] = time.monotonic() - t0
        note(f"keys for {len(jobs)} routers made in {self.timings['keys']:.1f} s")

    def _family_key(self) -> None:
        """One family key for the relaynode roles, made by C tor (tor --keygen-family) and
        installed with relaynode keys family-install (a stand-in CTor gets it in keys/)."""
        base = os.path.join(private_dir(os.path.join(self.root, "family")), "relayfleet")
        cp = run_helper([TOR, "--keygen-family", base, "--Log", "err stderr"])
        m = re.search(r"^FamilyId (\S+)$", cp.stdout, re.M)
        if not m:
            raise HarnessError(f"tor --keygen-family printed no FamilyId line:\n{cp.stdout[:300]}")
        secret = base + ".secret_family_key"
        for n in self.relaynodes:
            n.family_id = m.group(1)
            if n.impl == "relaynode":
                self.cli.run("keys", "family-install", secret, "--data-directory", n.datadir)
            else:
                dst = os.path.join(private_dir(os.path.join(n.datadir, "keys")), "relayfleet.secret_family_key")
                shutil.copyfile(secret, dst)
                os.chmod(dst, 0o600)

    def _keys_authority(self, n: Node) -> None:
        keys = private_dir(os.path.join(private_dir(n.datadir), "keys"))
        run_helper([TOR_GENCERT, "--create-identity-key", "--passphrase-fd", "0",
                    "-i", os.path.join(keys, "authority_identity_key"),
                    "-s", os.path.join(keys, "authority_signing_key"),
                    "-c", os.path.join(keys, "authority_certificate"),
                    "-m", "12", "-a", f"127.0.0.1:{n.dirport}"], input_text="\n", timeout=120)
        cert = read_text(os.path.join(keys, "authority_certificate")) or ""
        m = re.search(r"^fingerprint ([0-9A-Fa-f]{40})", cert, re.M)
        if not m:
            raise HarnessError(f"no fingerprint line in {n.nickname}'s authority_certificate")
        n.v3ident = m.group(1).upper()
        self._keys_ctor(n)

    def _keys_ctor(self, n: Node) -> None:
        private_dir(n.datadir)
        run_helper([TOR, "--list-fingerprint", "--DataDirectory", n.datadir, "--ORPort", "1",
                    "--Nickname", n.nickname, "--defaults-torrc", self.empty_torrc,
                    "-f", self.empty_torrc, "--Log", "err stderr"])
        n.rsa_fingerprint, n.ed25519_id = ctor_identity(n.datadir)

    def _keys_relaynode(self, n: Node) -> None:
        self.cli.keys_generate(n.datadir)  # relaynode creates the directory 0700
        self.refresh_identity(n)

    def refresh_identity(self, n: Node) -> tuple[str, str | None]:
        """Read the node's identity again (relaynode: keys show --json; CTor: its files)."""
        if n.impl == "relaynode":
            info = self.cli.keys_show(n.datadir)
            rsa, ed = info.get("rsa_fingerprint"), info.get("ed25519_identity")
            if not rsa or not re.fullmatch(r"[0-9A-Fa-f]{40}", rsa):
                raise HarnessError(f"relaynode keys show --json: bad rsa_fingerprint {rsa!r}")
            rsa = rsa.upper()
        else:
            rsa, ed = ctor_identity(n.datadir)
        if n.rsa_fingerprint is None:
            n.rsa_fingerprint, n.ed25519_id = rsa, ed
        return rsa, ed

    # -- torrcs -------------------------------------------------------------------------------
    def dirauthority_lines(self) -> list[str]:
        return [f"DirAuthority {a.nickname} orport={a.orport} no-v2 v3ident={a.v3ident} "
                f"127.0.0.1:{a.dirport} {a.rsa_fingerprint}" for a in self.authorities]

    def exit_policy_lines(self) -> list[str]:
        # 'accept *:PORT' keeps the microdescriptor summary from reading "reject 1-65535"
        # (narrower accept lines are ignored there); the client only ever asks for 127.0.0.1.
        return ["ExitRelay 1", "ExitPolicyRejectPrivate 0", "ExitPolicy accept 127.0.0.1:*",
                f"ExitPolicy accept *:{self.http_port}", "ExitPolicy reject *:*"]

    def _ctor_common(self, n: Node) -> list[str]:
        d = n.datadir
        lines = ["TestingTorNetwork 1", f"DataDirectory {d}", f"Nickname {n.nickname}",
                 "RunAsDaemon 0", "Sandbox 0", "SafeLogging 0", "LogTimeGranularity 1",
                 "ProtocolWarnings 1", f"Log notice file {d}/notice.log"]
        if n.info_logging:
            lines.append(f"Log info file {d}/info.log")
        lines += [f"ControlPort 127.0.0.1:{n.controlport}", "CookieAuthentication 1",
                  f"__OwningControllerProcess {os.getpid()}", "OutboundBindAddress 127.0.0.1"]
        return lines + self.dirauthority_lines()

    def _authority_torrc(self, n: Node) -> list[str]:
        everyone = "*"
        exits = ",".join("$" + r.rsa_fingerprint for r in self.ctor_relays + self.relaynodes if r.exit)
        return self._ctor_common(n) + [
            "Address 127.0.0.1", f"ORPort 127.0.0.1:{n.orport}", f"DirPort 127.0.0.1:{n.dirport}",
            "SocksPort 0", "ExitRelay 0", "AuthoritativeDirectory 1", "V3AuthoritativeDirectory 1",
            f"ContactInfo {n.nickname}@test.test", "AssumeReachable 1",
            f"V3AuthVotingInterval {VOTING_INTERVAL}", f"V3AuthVoteDelay {VOTE_DELAY}",
            f"V3AuthDistDelay {DIST_DELAY}",
            f"TestingV3AuthInitialVotingInterval {VOTING_INTERVAL}",
            f"TestingV3AuthInitialVoteDelay {VOTE_DELAY}", f"TestingV3AuthInitialDistDelay {DIST_DELAY}",
            "V3AuthNIntervalsValid 2",
            # Flags a young network hands out at random, forced: Guard for everyone, Exit for
            # exactly the configured exits, Stable for everyone (clients need it on guards).
            f"TestingDirAuthVoteGuard {everyone}", "TestingDirAuthVoteGuardIsStrict 1",
            f"TestingDirAuthVoteExit {exits}" if exits else "TestingDirAuthVoteExit $" + "0" * 40,
            "TestingDirAuthVoteExitIsStrict 1",
            "AuthDirVoteStableGuaranteeMinUptime 0", "AuthDirVoteStableGuaranteeMTBF 0",
            # Fast for everyone: the Fast threshold is capped at AuthDirFastGuarantee (1 byte/s
            # rounds to 0 KB/s), so even a relay advertising no observed bandwidth yet gets it.
            "AuthDirFastGuarantee 1", "TestingMinFastFlagThreshold 0", "TestingMinExitFlagThreshold 0",
        ]

    def _relay_torrc(self, n: Node) -> list[str]:
        lines = self._ctor_common(n) + [
            "Address 127.0.0.1", f"ORPort 127.0.0.1:{n.orport}", "SocksPort 0", "AssumeReachable 1",
            f"ContactInfo {n.nickname}@test.test", "ServerDNSDetectHijacking 0",
            "ServerDNSAllowBrokenConfig 1", f"ServerDNSResolvConfFile {self.resolv_conf}",
        ]
        if n.family_id:
            lines.append(f"FamilyId {n.family_id}")
        return lines + (self.exit_policy_lines() if n.exit else ["ExitRelay 0"])

    def _relaynode_torrc(self, n: Node) -> list[str]:
        lines = [f"DataDirectory {n.datadir}", f"Nickname {n.nickname}",
                 f"ORPort 127.0.0.1:{n.orport}", "Address 127.0.0.1",
                 f"ContactInfo {n.nickname}@test.test", "TestingTorNetwork 1"]
        lines += self.dirauthority_lines()
        if n.family_id:
            lines.append(f"FamilyId {n.family_id}")
        return lines + (self.exit_policy_lines() if n.exit else [])

    def _client_torrc(self, n: Node) -> list[str]:
        return self._ctor_common(n) + [
            f"SocksPort 127.0.0.1:{n.socksport}", "ConfluxEnabled 0", "LearnCircuitBuildTimeout 0",
            "CircuitBuildTimeout 60", "PathsNeededToBuildCircuits 0.67",
        ] + n.extra

    def write_torrc(self, n: Node) -> None:
        if n.kind == "authority":
            lines = self._authority_torrc(n)
        elif n.kind == "client":
            lines = self._client_torrc(n)
        elif n.impl == "relaynode":
            lines = self._relaynode_torrc(n)
        else:
            lines = self._relay_torrc(n)
        write_file(n.torrc, "\n".join(lines) + "\n")

    # -- processes ----------------------------------------------------------------------------
    def launch(self, n: Node) -> None:
        """Write the node's torrc and start its process (no waiting)."""
        private_dir(n.datadir)
        self.write_torrc(n)
        n.expected_down = False
        n.log_mark = file_size(n.log)  # look only at what this start writes
        if n.impl == "relaynode":
            argv = [self.cli.path, "run", "--config", n.torrc, "--log-level",
                    self.relaynode_log_level, "--unsafe-logging"]
            n.child = self.sup.spawn(n.nickname, argv, stdout_path=os.path.join(n.datadir, "relaynode.stdout"),
                                     stderr_path=n.log)
        else:
            argv = [TOR, "-f", n.torrc, "--defaults-torrc", self.empty_torrc]
            n.child = self.sup.spawn(n.nickname, argv, stdout_path=os.path.join(n.datadir, "tor.stdout"))

    def _listening(self, n: Node) -> bool:
        """True once every port of the node listens; PortCollision / HarnessError if it died."""
        log = read_from(n.log, n.log_mark)
        if not n.child.alive():
            if "Address already in use" in log or "errno: 98" in log:
                raise PortCollision(f"{n.nickname}: a port was taken by someone else")
            raise HarnessError(self.death_report(n))
        if n.impl == "ctor":
            return all(f"listener connection (ready) on 127.0.0.1:{p}" in log for p in n.ports())
        return all(port_accepts(p) for p in n.ports())

    def await_listening(self, nodes: list[Node], timeout: float = 45) -> None:
        """Wait until the nodes listen on all their ports; a relay or client whose port was
        taken meanwhile gets new ports and is started again (up to 3 times)."""
        pending = list(nodes)
        retries: dict[str, int] = {}
        end = time.monotonic() + timeout
        while pending:
            for n in list(pending):
                try:
                    if self._listening(n):
                        pending.remove(n)
                except PortCollision:
                    if n.kind == "authority" or retries.get(n.nickname, 0) >= 3:
                        raise HarnessError(f"{n.nickname} could not bind its ports (taken by another "
                                           f"process); run again.\n{indent(tail(n.log, 8))}")
                    retries[n.nickname] = retries.get(n.nickname, 0) + 1
                    for attr in ("orport", "controlport", "socksport"):
                        if getattr(n, attr):
                            setattr(n, attr, free_port())
                    note(f"{n.nickname}: port collision; starting again on new ports")
                    self.launch(n)
            if pending and time.monotonic() > end:
                raise HarnessError("not listening after %.0f s: %s\n%s" % (
                    timeout, ", ".join(n.nickname for n in pending),
                    "\n".join(f"  {n.nickname} log:\n{indent(tail(n.log, 10))}" for n in pending)))
            if pending:
                time.sleep(0.2)

    def death_report(self, n: Node) -> str:
        rc = n.child.popen.returncode if n.child else None
        return (f"{n.nickname} ({n.kind}, pid {n.pid}) exited with status {rc}; "
                f"last lines of {n.log}:\n{indent(tail(n.log, 25))}")

    def check_alive(self) -> None:
        """Raise if a node died that nobody stopped on purpose."""
        for n in self.nodes:
            if n.child and not n.expected_down and not n.child.alive():
                raise HarnessError(self.death_report(n))

    def stop_node(self, n: Node, grace: float = 10) -> tuple[int | None, float, bool]:
        n.expected_down = True
        return self.sup.stop(n.child, grace)

    def restart_node(self, n: Node) -> None:
        self.launch(n)
        self.await_listening([n])

    # -- readiness ----------------------------------------------------------------------------
    def consensus(self, auth: Node | None = None) -> Consensus | None:
        """The newest consensus an authority has (its cached-consensus)."""
        a = auth or self.authorities[0]
        return read_consensus(os.path.join(a.datadir, "cached-consensus"))

    @staticmethod
    def missing_from(c: Consensus | None, nodes: list[Node], flags=("Running", "Valid")) -> list[Node]:
        if c is None:
            return list(nodes)
        out = []
        for n in nodes:
            rs = c.routers.get(n.rsa_fingerprint)
            if rs is None or not set(flags) <= rs.flags:
                out.append(n)
        return out

    def wait_for_consensus(self, timeout: float = 120, nodes: list[Node] | None = None,
                           after: float | None = None) -> Consensus:
        """Wait for an authority consensus listing the nodes (default: every router) Running and
        Valid; with after, only a consensus whose valid-after is later counts."""
        nodes = nodes if nodes is not None else self.routers
        end = time.monotonic() + timeout
        last, last_print = None, 0.0
        while True:
            self.check_alive()
            c = self.consensus()
            fresh = c if c and (after is None or c.valid_after > after) else None
            missing = self.missing_from(fresh, nodes)
            if fresh and not missing:
                return fresh
            state = (bool(fresh), tuple(n.nickname for n in missing))
            if state != last or time.monotonic() - last_print > 30:
                if fresh:
                    note(f"consensus {utc_stamp(c.valid_after)} lists {len(nodes) - len(missing)}/{len(nodes)} "
                         f"Running+Valid (missing: {' '.join(state[1])})")
                else:
                    note("waiting for a consensus" + (f" with valid-after later than {utc_stamp(after)}" if after else ""))
                last, last_print = state, time.monotonic()
            if time.monotonic() > end:
                raise HarnessError(f"no consensus listing {', '.join(n.nickname for n in missing)} "
                                   f"Running+Valid within {timeout:.0f} s\n" + self.diagnose(missing))
            time.sleep(0.5)

    def diagnose(self, nodes: list[Node]) -> str:
        """For routers missing from the consensus: their log tails, auth1's log lines that name
        them, and auth1's warnings about descriptors (unparseable ones carry no name)."""
        a = self.authorities[0]
        text = read_text(a.info_log, "") or read_text(a.log, "") or ""
        out = []
        for n in nodes:
            out.append(f"  {n.nickname} ({n.impl}, {n.rsa_fingerprint}) log {n.log}:\n{indent(tail(n.log, 15))}")
            keys = [n.nickname, n.rsa_fingerprint or "-", f":{n.orport}"]
            hits = [l for l in text.splitlines() if any(k in l for k in keys)
                    and not re.search(r"padding|keepalive", l)][-12:]
            out.append(f"  {a.nickname} log lines about {n.nickname}:\n" +
                       (indent("\n".join(hits)) if hits else "      (none: no upload reached it?)"))
        warns = [l for l in text.splitlines() if "[warn]" in l and "approved-routers" not in l
                 and re.search(r"descriptor|signature|router", l, re.I)][-8:]
        if warns:
            out.append(f"  {a.nickname} warnings about descriptors:\n" + indent("\n".join(warns)))
        return "\n".join(out)

    def wait_relays_have(self, c: Consensus, timeout: float = 60) -> None:
        """Wait until every CTor relay's own cached consensus lists every router (exits refuse
        streams from previous hops missing from their consensus). A relay still lagging a few
        seconds on gets SIGNAL RELOAD, which makes tor retry its consensus download at once
        (after the 404s of the first seconds its retry delay can grow to tens of seconds)."""
        want = [n.rsa_fingerprint for n in self.routers]
        relays = [n for n in self.ctor_relays + self.relaynodes if n.impl == "ctor"]
        t0 = time.monotonic()
        end = t0 + timeout
        nudged: dict[str, float] = {}
        while True:
            self.check_alive()
            lagging = []
            for n in relays:
                rc = read_consensus(os.path.join(n.datadir, "cached-consensus"))
                if rc is None or any(fp not in rc.routers for fp in want):
                    lagging.append(n)
            if not lagging:
                return
            now = time.monotonic()
            for n in lagging:
                if now - t0 > 3 and now - nudged.get(n.nickname, 0) > 6:
                    nudged[n.nickname] = now
                    self.signal(n, "RELOAD")
            if now > end:
                raise HarnessError(f"CTor relays without a complete consensus after {timeout:.0f} s: "
                                   + " ".join(n.nickname for n in lagging))
            time.sleep(0.5)

    def signal(self, n: Node, name: str) -> None:
        """Send a control-port SIGNAL to a CTor node (best effort)."""
        try:
            conn = ControlConnection(n.controlport, n.cookie, n.nickname)
            try:
                conn.command(f"SIGNAL {name}")
            finally:
                conn.close()
        except (OSError, ControlError):
            pass

    def add_client(self, nickname: str, extra: list[str] | None = None, info_log: bool = False) -> Node:
        n = Node("client", nickname, os.path.join(self.root, nickname))
        n.socksport, n.controlport = free_port(), free_port()
        n.extra = list(extra or [])
        n.info_logging = info_log or self.info_logs
        self.clients.append(n)
        return n

    def start_client(self, n: Node) -> None:
        self.launch(n)
        self.await_listening([n])

    def wait_bootstrapped(self, n: Node, timeout: float = 120) -> ControlConnection:
        """Connect to the client's control port and wait for bootstrap PROGRESS=100."""
        conn = ControlConnection(n.controlport, n.cookie, n.nickname)
        end = time.monotonic() + timeout
        last = -1
        while True:
            if n.child and not n.child.alive():
                raise HarnessError(self.death_report(n))
            phase = conn.getinfo("status/bootstrap-phase")
            m = re.search(r"PROGRESS=(\d+)", phase)
            progress = int(m.group(1)) if m else 0
            if progress == 100:
                return conn
            if progress != last and progress >= 50:
                summary = re.search(r'SUMMARY="([^"]*)"', phase)
                note(f"{n.nickname}: bootstrapped {progress}%" + (f" ({summary.group(1)})" if summary else ""))
            last = progress
            if time.monotonic() > end:
                raise HarnessError(f"{n.nickname} not bootstrapped after {timeout:.0f} s "
                                   f"({phase}); last log lines:\n{indent(tail(n.log, 20))}")
            time.sleep(0.5)

    def wait_client_knows(self, conn: ControlConnection, nodes: list[Node], timeout: float = 90) -> None:
        """Wait until the client has a consensus entry and a microdescriptor for every node."""
        end = time.monotonic() + timeout
        while True:
            missing = []
            for n in nodes:
                try:
                    conn.getinfo(f"ns/id/{n.rsa_fingerprint}")
                    conn.getinfo(f"md/id/{n.rsa_fingerprint}")
                except ControlError:
                    missing.append(n.nickname)
            if not missing:
                return
            if time.monotonic() > end:
                raise HarnessError(f"{conn.name} lacks consensus entries or microdescriptors for "
                                   f"{' '.join(missing)} after {timeout:.0f} s")
            time.sleep(0.5)

    # -- the whole sequence -------------------------------------------------------------------
    def start(self, client_extra: list[str] | None = None) -> ControlConnection:
        """Keys, routers, complete consensus, relays holding it, then client1 bootstrapped and
        knowing every router. Returns client1's control connection."""
        self.generate_keys()
        self.t_start = time.monotonic()
        for n in self.routers:
            self.launch(n)
        note("started " + " ".join(f"{n.nickname}" for n in self.routers))
        self.await_listening(self.routers)
        c = self.wait_for_consensus()
        self.timings["consensus"] = time.monotonic() - self.t_start
        note(f"consensus (valid-after {utc_stamp(c.valid_after)}) lists all {len(self.routers)} "
             f"routers Running+Valid, {self.timings['consensus']:.1f} s after start")
        self.wait_relays_have(c)
        self.timings["relays"] = time.monotonic() - self.t_start
        note(f"every CTor relay holds a complete consensus ({self.timings['relays']:.1f} s)")
        if client_extra is None:
            client_extra = ["EntryNodes " + ",".join("$" + r.rsa_fingerprint for r in self.ctor_relays)]
        client = self.add_client("client1", client_extra)
        self.start_client(client)
        conn = self.wait_bootstrapped(client)
        self.timings["bootstrap"] = time.monotonic() - self.t_start
        note(f"client1 bootstrapped 100% ({self.timings['bootstrap']:.1f} s after the first router started)")
        self.wait_client_knows(conn, self.routers)
        self.timings["ready"] = time.monotonic() - self.t_start
        note(f"client1 has descriptors of all {len(self.routers)} routers; network ready "
             f"{self.timings['ready']:.1f} s after start")
        return conn

    def write_json(self, extra: dict | None = None) -> str:
        doc = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "root": self.root,
            "mode": "stand-in (CTor in relaynode roles)" if self.standin else "relaynode",
            "relaynode_bin": self.cli.path if self.cli else None,
            "voting_interval_s": VOTING_INTERVAL,
            "harness_pid": os.getpid(),
            "nodes": [n.to_json(self.standin) for n in self.nodes],
        }
        doc.update(extra or {})
        path = os.path.join(self.root, "network.json")
        write_file(path, json.dumps(doc, indent=2) + "\n")
        return path

    def table(self) -> str:
        rows = [("kind", "nick", "impl", "exit", "orport", "dirport", "ctrl", "socks", "pid", "rsa fingerprint")]
        for n in self.nodes:
            impl = "ctor*" if (n.kind == "relaynode" and self.standin) else n.impl
            rows.append((n.kind, n.nickname, impl, "exit" if n.exit else "", str(n.orport or ""),
                         str(n.dirport or ""), str(n.controlport or ""), str(n.socksport or ""),
                         str(n.pid or ""), n.rsa_fingerprint or ""))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        text = "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
        if self.standin and self.relaynodes:
            text += "\n  ctor* = STAND-IN: CTor in relaynode roles"
        return text
