"""privnet: a private Tor network on 127.0.0.1 for relaynode interop tests, the demo and benchmarks.

Modules:
  util        output, user-facing errors, ports, private directories
  procs       the Supervisor: starts children with a parent-death signal, stops exactly them,
              owns the hard time limit (SIGALRM plus a watchdog thread)
  control     Tor control-port client (ControlConnection) and circuit/stream steering (Controller)
  socks       SOCKS5 + HTTP/1.0 download with streaming sha256
  httpserver  BlobServer: http.server in a thread on 127.0.0.1 serving random blobs
  consensus   parsing of cached-consensus documents
  network     Node, Network (keys, torrcs, start, readiness), RelaynodeCLI
  transfers   download over a pinned path, with retries and diagnostics
  commands    up, check, demo, bench
  cli         argument parsing and the run wrapper
"""
