-- Node database, schema 3: bandwidth history and health.
-- Append-only: a shipped migration is never edited; later changes go in a new numbered file.

-- Bytes read and written on the relay's connections in 15-minute bins, kept at least 90 days.
-- A restarted relay adds to the bin it was in (upsert); maxima keep the larger value.
CREATE TABLE bandwidth_bin (
    start          INTEGER PRIMARY KEY CHECK (start % 900 = 0),   -- Unix seconds, bin start
    read           INTEGER NOT NULL DEFAULT 0 CHECK (read >= 0),  -- all link bytes, below TLS
    written        INTEGER NOT NULL DEFAULT 0 CHECK (written >= 0),
    ipv6_read      INTEGER NOT NULL DEFAULT 0 CHECK (ipv6_read >= 0),     -- the IPv6 part of read
    ipv6_written   INTEGER NOT NULL DEFAULT 0 CHECK (ipv6_written >= 0),
    dir_read       INTEGER NOT NULL DEFAULT 0 CHECK (dir_read >= 0),      -- directory requests answered
    dir_written    INTEGER NOT NULL DEFAULT 0 CHECK (dir_written >= 0),
    max_read_rate  INTEGER NOT NULL DEFAULT 0 CHECK (max_read_rate >= 0), -- bytes/s, highest 10-second average
    max_write_rate INTEGER NOT NULL DEFAULT 0 CHECK (max_write_rate >= 0)
) STRICT;

-- What happened to the relay: starts and stops, key events, overload, directory results.
CREATE TABLE health_event (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,                  -- Unix seconds
    kind   TEXT    NOT NULL CHECK (kind IN ('start', 'stop', 'crash_recovered', 'onion_rotated',
                                            'signing_renewed', 'overload_ratelimits', 'overload_onionskin',
                                            'overload_memory', 'overload_fd', 'reachability',
                                            'descriptor_upload', 'consensus_flags', 'clock_skew')),
    ok     INTEGER CHECK (ok IN (0, 1)),      -- outcome where the kind has one (upload, reachability)
    pid    INTEGER CHECK (pid > 0),           -- the daemon's process, for start and stop
    detail TEXT    NOT NULL DEFAULT ''        -- never a client address or a secret
) STRICT;
CREATE INDEX health_event_at ON health_event (at);

-- The relay's state sampled every minute while it runs.
CREATE TABLE health_sample (
    at              INTEGER PRIMARY KEY,      -- Unix seconds
    links_open      INTEGER NOT NULL CHECK (links_open >= 0),
    circuits_open   INTEGER NOT NULL CHECK (circuits_open >= 0),
    queued_cells    INTEGER NOT NULL CHECK (queued_cells >= 0),
    onionskin_drops INTEGER NOT NULL CHECK (onionskin_drops >= 0),  -- since the daemon started
    rss_bytes       INTEGER CHECK (rss_bytes >= 0),                 -- NULL where unknown
    open_fds        INTEGER CHECK (open_fds >= 0)
) STRICT;
