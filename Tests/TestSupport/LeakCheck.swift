#if canImport(Glibc)
import Glibc
#endif

/// LeakSanitizer asks this (a hook it declares weak) at exit whether to skip its leak check.
///
/// Under `make test-asan` the leak check is for the processes relaynode really runs as: every
/// relaynode child the tests start is checked, and fails the run on any leak. The test runner
/// itself is not checked by default: its fixtures (test relays with their worker threads,
/// embedded channels, event loop groups shared by suites) live until the process ends by design,
/// and LeakSanitizer cannot tell those from leaks. `RELAYFLEET_LSAN_RUNNER=1` checks the runner
/// too, to hunt a leak in code the tests call in-process (that is how a retain cycle in every
/// link's circuit switch was found); expect the fixtures in its report.
/// Has no effect in builds without AddressSanitizer.
@_cdecl("__lsan_is_turned_off")
public func lsanIsTurnedOff() -> Int32 {
    getenv("RELAYFLEET_LSAN_RUNNER").map { String(cString: $0) == "1" } == true ? 0 : 1
}
