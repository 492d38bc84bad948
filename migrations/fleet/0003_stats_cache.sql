-- Fleet database, schema 3: fleetctl's cache of what it read from the relays' own databases, so
-- statistics survive relay restarts, migrations and retirements, and hosts are asked only for
-- what is new. Keyed by the relay's RSA fingerprint: the history follows the identity wherever
-- it runs.

CREATE TABLE bandwidth_bin (
    rsa_fingerprint TEXT    NOT NULL CHECK (length(rsa_fingerprint) = 40 AND rsa_fingerprint NOT GLOB '*[^0-9A-F]*'),
    start           INTEGER NOT NULL,                                  -- Unix seconds, a multiple of seconds
    seconds         INTEGER NOT NULL CHECK (seconds > 0),              -- the relay's bin length (900)
    read            INTEGER NOT NULL CHECK (read >= 0),
    written         INTEGER NOT NULL CHECK (written >= 0),
    dir_read        INTEGER NOT NULL CHECK (dir_read >= 0),
    dir_written     INTEGER NOT NULL CHECK (dir_written >= 0),
    max_read_rate   INTEGER NOT NULL CHECK (max_read_rate >= 0),       -- bytes/s, highest 10-second rate
    max_write_rate  INTEGER NOT NULL CHECK (max_write_rate >= 0),
    fetched_at      INTEGER NOT NULL,
    PRIMARY KEY (rsa_fingerprint, start)
) STRICT, WITHOUT ROWID;

-- The last health report read from each relay (relaynode health --json).
CREATE TABLE relay_status (
    rsa_fingerprint TEXT    PRIMARY KEY CHECK (length(rsa_fingerprint) = 40),
    fetched_at      INTEGER NOT NULL,
    running         INTEGER NOT NULL CHECK (running IN (0, 1)),
    started_at      INTEGER,                                           -- Unix seconds of the running process's start
    listed          INTEGER CHECK (listed IS NULL OR listed IN (0, 1)),-- in the last consensus it fetched
    flags           TEXT    NOT NULL DEFAULT '',                       -- space-separated consensus flags
    signing_expires INTEGER,
    problems        TEXT    NOT NULL DEFAULT ''                        -- one per line, as relaynode health said
) STRICT;
