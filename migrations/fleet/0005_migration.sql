-- Fleet database, schema 5: moves of a relay's identity between hosts (`fleetctl migrate`).
-- One row per move, its last completed step recorded after each step, so an interrupted move
-- is completed or rolled back by running fleetctl again. At most one unfinished move per relay.
-- The move's sealing key pair: only the public half is here; the secret half is in the vault.
-- The sealed bundle is a file (bundle_path, 0600) beside this database, never plaintext.

CREATE TABLE migration (
    id            INTEGER PRIMARY KEY,
    relay_id      INTEGER NOT NULL REFERENCES relay(id) ON DELETE CASCADE,
    from_host_id  INTEGER NOT NULL REFERENCES host(id) ON DELETE RESTRICT,
    to_host_id    INTEGER NOT NULL REFERENCES host(id) ON DELETE RESTRICT,
    to_or_address TEXT    NOT NULL CHECK (length(to_or_address) > 0),
    epoch         INTEGER NOT NULL CHECK (epoch >= 2),            -- the identity's epoch once moved
    step          TEXT    NOT NULL CHECK (step IN ('planned', 'fenced', 'exported', 'imported', 'started',
                                                   'verified', 'done', 'rolled_back')),
    op_public     BLOB    NOT NULL CHECK (length(op_public) = 32),
    bundle_path   TEXT,
    bundle_kept   INTEGER NOT NULL DEFAULT 0 CHECK (bundle_kept IN (0, 1)),
    started_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    CHECK (from_host_id <> to_host_id),
    CHECK ((step IN ('done', 'rolled_back')) = (finished_at IS NOT NULL))
) STRICT;

CREATE UNIQUE INDEX migration_unfinished ON migration(relay_id) WHERE finished_at IS NULL;
