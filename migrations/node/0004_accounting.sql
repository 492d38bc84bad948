-- Node database, schema 4: AccountingMax's byte counts per accounting interval, written every
-- few seconds by the running relay (a kill -9 loses at most that much), and when in the
-- interval the soft limit was reached (C tor's estimate of the rate for the next interval).

CREATE TABLE accounting_interval (
    interval_start  INTEGER PRIMARY KEY,                     -- Unix seconds, UTC
    interval_end    INTEGER NOT NULL CHECK (interval_end > interval_start),
    read            INTEGER NOT NULL DEFAULT 0 CHECK (read >= 0),
    written         INTEGER NOT NULL DEFAULT 0 CHECK (written >= 0),
    soft_limit_at   INTEGER,                                 -- when the soft limit was reached
    bytes_at_soft   INTEGER,
    updated_at      INTEGER NOT NULL
) STRICT;

-- Health events gain 'hibernation' (awake/soft/hard changes) and 'config_reload'; the kinds
-- are checked by relaynode from here on, so later kinds need no table rebuild.
CREATE TABLE health_event_new (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    kind   TEXT    NOT NULL CHECK (length(kind) BETWEEN 1 AND 64 AND kind NOT GLOB '*[^a-z_]*'),
    ok     INTEGER CHECK (ok IN (0, 1)),
    pid    INTEGER CHECK (pid > 0),
    detail TEXT    NOT NULL DEFAULT ''
) STRICT;
INSERT INTO health_event_new (id, at, kind, ok, pid, detail) SELECT id, at, kind, ok, pid, detail FROM health_event;
DROP TABLE health_event;
ALTER TABLE health_event_new RENAME TO health_event;
CREATE INDEX health_event_at ON health_event (at);
