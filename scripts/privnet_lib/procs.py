"""Child processes: start them with a parent-death signal, stop exactly the ones started, and
own the run's hard time limit.

Every long-running child (tor, relaynode) is started by Supervisor.spawn from the main thread:
PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, so children started from a
short-lived worker thread would be killed early. Children get their own session, so a Ctrl-C in
the terminal reaches only the harness, which then tears everything down in order.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from .util import HarnessError, note, say

PR_SET_PDEATHSIG = 1
_HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_MASKED = {*_HANDLED, signal.SIGALRM}

try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
    _prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    _prctl.restype = ctypes.c_int
except (OSError, AttributeError):  # not Linux: children then rely on the watchdog and teardown
    _prctl = None


def _child_setup(parent_pid: int):
    """preexec_fn: default signal handling, SIGKILL when the harness dies, and a check that it
    has not died already (between fork and prctl)."""
    def setup() -> None:
        for sig in _MASKED:
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (ValueError, OSError):
                pass
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _MASKED)
        if _prctl is not None:
            _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)
    return setup


def run_helper(argv: list[str], *, timeout: float = 60, input_text: str | None = None,
               check: bool = True) -> subprocess.CompletedProcess:
    """Run a short helper command (tor-gencert, tor --list-fingerprint, relaynode keys ...) and
    capture its output; a failure raises HarnessError with its stderr."""
    try:
        cp = subprocess.run(argv, input=input_text, capture_output=True, text=True, timeout=timeout,
                            preexec_fn=_child_setup(os.getpid()), stdin=None if input_text is not None
                            else subprocess.DEVNULL)
    except FileNotFoundError:
        raise HarnessError(f"{argv[0]}: not found")
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{' '.join(argv[:3])} ... did not finish within {timeout:.0f} s")
    if check and cp.returncode != 0:
        msg = (cp.stderr or cp.stdout or "").strip()[-2000:]
        raise HarnessError(f"{' '.join(argv)} exited with {cp.returncode}:\n{msg}")
    return cp


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # fields 14 and 15 of the whole line


class Interrupted(Exception):
    """SIGTERM, SIGINT or SIGHUP reached the harness."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class HardTimeout(Exception):
    """The run's --timeout passed."""


@dataclass
class Child:
    name: str
    argv: list[str]
    popen: subprocess.Popen
    log: str
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


class Supervisor:
    """Starts, records and stops child processes; enforces the hard deadline."""

    def __init__(self, timeout_s: float):
        self.timeout_s = float(timeout_s)
        self.deadline = time.monotonic() + self.timeout_s
        self.children: list[Child] = []
        self.tearing_down = False
        self._raised = False
        self._finished = threading.Event()
        self._after_stop: list = []

    # -- signals, deadline, watchdog ---------------------------------------------------------
    def arm(self) -> None:
        """Install the signal handlers, the SIGALRM deadline and the watchdog thread."""
        for sig in _HANDLED:
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGALRM, self._on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        threading.Thread(target=self._watchdog, name="watchdog", daemon=True).start()

    # Only the first signal (or the deadline) raises; later ones must not interrupt the teardown
    # that the first one started.
    def _on_signal(self, signum, _frame):
        if not self.tearing_down and not self._raised:
            self._raised = True
            raise Interrupted(signum)

    def _on_alarm(self, _signum, _frame):
        if not self.tearing_down and not self._raised:
            self._raised = True
            raise HardTimeout()

    def _watchdog(self) -> None:
        """Once a second: if the harness's parent died (we were re-parented), SIGTERM ourselves
        so the normal teardown runs; if the main thread is still stuck 45 s past the deadline,
        SIGKILL the children and exit."""
        parent = os.getppid()
        told = False
        hard_end = self.deadline + 45
        while not self._finished.wait(1.0):
            if not told and os.getppid() != parent:
                told = True
                say("privnet: the parent process went away; tearing down")
                os.kill(os.getpid(), signal.SIGTERM)
            if time.monotonic() > hard_end:
                say("privnet: watchdog: the hard time limit passed and teardown did not finish; "
                    "killing the started processes")
                for c in list(self.children):
                    if c.alive():
                        try:
                            c.popen.send_signal(signal.SIGKILL)
                        except OSError:
                            pass
                os._exit(124)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def after_stop(self, fn) -> None:
        """Run fn after every child has stopped (e.g. remove the run directory)."""
        self._after_stop.append(fn)

    # -- children ----------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], *, stdout_path: str,
              stderr_path: str | None = None, cwd: str | None = None) -> Child:
        """Start a long-running child; its output goes to files. Main thread only."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("children must be started from the main thread")
        if self.tearing_down:
            raise HarnessError("not starting a process during teardown")
        out = open(stdout_path, "ab")
        err = open(stderr_path, "ab") if stderr_path else None
        # Block the handled signals so a signal cannot land between the fork and the record.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _MASKED)
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=err if err else subprocess.STDOUT, cwd=cwd,
                                 preexec_fn=_child_setup(os.getpid()), start_new_session=True,
                                 close_fds=True)
            child = Child(name, argv, p, stderr_path or stdout_path)
            self.children.append(child)
        except FileNotFoundError:
            raise HarnessError(f"{argv[0]}: not found")
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
            out.close()
            if err:
                err.close()
        return child

    def stop(self, child: Child, grace: float = 5.0) -> tuple[int | None, float, bool]:
        """SIGTERM one child, SIGKILL after grace seconds.
        Returns (exit status, seconds until it exited, whether it had to be killed)."""
        t0 = time.monotonic()
        killed = False
        if child.popen.poll() is None:
            child.popen.send_signal(signal.SIGTERM)  # only signals a child not yet reaped
            try:
                child.popen.wait(grace)
            except subprocess.TimeoutExpired:
                killed = True
                child.popen.send_signal(signal.SIGKILL)
                child.popen.wait(10)
        return child.popen.returncode, time.monotonic() - t0, killed

    def stop_all(self, grace: float = 5.0) -> None:
        """Stop every child this run started (newest first): SIGTERM, then SIGKILL after grace.
        Then run the after_stop callbacks (once)."""
        self.tearing_down = True
        signal.setitimer(signal.ITIMER_REAL, 0)
        live = [c for c in reversed(self.children) if c.alive()]
        for c in live:
            try:
                c.popen.send_signal(signal.SIGTERM)
            except OSError:
                pass
        end = time.monotonic() + grace
        for c in live:
            try:
                c.popen.wait(max(0.05, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        stubborn = [c for c in live if c.alive()]
        for c in stubborn:
            note(f"{c.name} (pid {c.pid}) ignored SIGTERM for {grace:.0f} s; sending SIGKILL")
            try:
                c.popen.send_signal(signal.SIGKILL)
            except OSError:
                pass
        for c in stubborn:
            try:
                c.popen.wait(10)
            except subprocess.TimeoutExpired:
                note(f"{c.name} (pid {c.pid}) survived SIGKILL?")
        if live:
            note(f"stopped {len(live)} processes (pids {' '.join(str(c.pid) for c in live)})")
        callbacks, self._after_stop = self._after_stop, []
        for fn in callbacks:
            try:
                fn()
            except Exception as e:  # cleanup must not hide the run's result
                say(f"privnet: cleanup: {e}")
        self._finished.set()
