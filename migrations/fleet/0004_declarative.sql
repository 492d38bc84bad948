-- Fleet database, schema 4: what `fleetctl apply` keeps per relay besides ports and role (its
-- bandwidth settings, written into its torrc), and an event log whose kinds are checked by
-- fleetctl itself rather than a fixed list here, so later features add kinds without rebuilding
-- the table again.

ALTER TABLE relay ADD COLUMN bandwidth_rate TEXT CHECK (bandwidth_rate IS NULL OR length(bandwidth_rate) > 0);
ALTER TABLE relay ADD COLUMN bandwidth_burst TEXT CHECK (bandwidth_burst IS NULL OR length(bandwidth_burst) > 0);

CREATE TABLE event_new (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,                                        -- Unix seconds
    kind     TEXT    NOT NULL CHECK (length(kind) BETWEEN 1 AND 64 AND kind NOT GLOB '*[^a-z_]*'),
    host_id  INTEGER REFERENCES host(id) ON DELETE SET NULL,
    relay_id INTEGER REFERENCES relay(id) ON DELETE SET NULL,
    detail   TEXT    NOT NULL DEFAULT ''                              -- never key material
) STRICT;
INSERT INTO event_new (id, at, kind, host_id, relay_id, detail) SELECT id, at, kind, host_id, relay_id, detail FROM event;
DROP TABLE event;
ALTER TABLE event_new RENAME TO event;
CREATE INDEX event_at ON event(at);
