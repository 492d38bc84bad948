-- Fleet database, schema 1: fleetctl's inventory of hosts, relays and identities, and a log of
-- what fleetctl did. Append-only: a shipped migration is never edited; changes go in a new file.

CREATE TABLE host (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE CHECK (name GLOB '[A-Za-z0-9]*' AND name NOT GLOB '*[^A-Za-z0-9._-]*'
                                                    AND length(name) <= 64),
    transport        TEXT    NOT NULL CHECK (transport IN ('local', 'ssh')),
    ssh_target       TEXT    CHECK (ssh_target IS NULL OR length(ssh_target) > 0),  -- [user@]host or an ssh_config alias
    ssh_config       TEXT,                        -- an ssh_config file passed as ssh -F; NULL: the user's own
    address          TEXT    NOT NULL CHECK (length(address) > 0),   -- the public address relays on this host bind to
    container_engine TEXT    NOT NULL DEFAULT 'none' CHECK (container_engine IN ('none', 'podman', 'docker')),
    data_root        TEXT    NOT NULL CHECK (data_root GLOB '/*'),   -- absolute; each relay gets data_root/NICKNAME
    relaynode_path   TEXT    NOT NULL DEFAULT 'relaynode',          -- the relaynode binary on the host
    created_at       INTEGER NOT NULL,                                -- Unix seconds
    CHECK ((transport = 'ssh') = (ssh_target IS NOT NULL)),
    CHECK (transport = 'ssh' OR ssh_config IS NULL)
) STRICT;

CREATE TABLE relay (
    id             INTEGER PRIMARY KEY,
    nickname       TEXT    NOT NULL UNIQUE CHECK (length(nickname) BETWEEN 1 AND 19
                                                  AND nickname NOT GLOB '*[^A-Za-z0-9]*'),
    host_id        INTEGER NOT NULL REFERENCES host(id) ON DELETE RESTRICT,
    or_address     TEXT    NOT NULL CHECK (length(or_address) > 0),
    or_port        INTEGER NOT NULL CHECK (or_port BETWEEN 1 AND 65535),
    role           TEXT    NOT NULL CHECK (role IN ('exit', 'non-exit')),
    desired_state  TEXT    NOT NULL CHECK (desired_state IN ('running', 'stopped', 'retired')),
    family         TEXT,                                              -- family group name; NULL: none
    created_at     INTEGER NOT NULL,
    UNIQUE (host_id, or_address, or_port)
) STRICT;

CREATE TABLE identity (
    id              INTEGER PRIMARY KEY,
    relay_id        INTEGER NOT NULL UNIQUE REFERENCES relay(id) ON DELETE CASCADE,
    rsa_fingerprint TEXT    NOT NULL UNIQUE CHECK (length(rsa_fingerprint) = 40
                                                   AND rsa_fingerprint NOT GLOB '*[^0-9A-F]*'),
    ed25519_id      TEXT    NOT NULL UNIQUE CHECK (length(ed25519_id) = 43),
    live_host_id    INTEGER REFERENCES host(id) ON DELETE RESTRICT,  -- where it runs; NULL: nowhere
    epoch           INTEGER NOT NULL DEFAULT 1 CHECK (epoch >= 1),   -- bumped on every move of the identity
    master_in_vault INTEGER NOT NULL DEFAULT 0 CHECK (master_in_vault IN (0, 1)),
    signing_expires INTEGER                                          -- Unix seconds, last seen or issued
) STRICT;

CREATE TABLE event (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,                                        -- Unix seconds
    kind     TEXT    NOT NULL CHECK (kind IN ('host_added', 'host_removed', 'relay_created', 'relay_create_failed',
                                              'master_vaulted', 'relay_started', 'relay_verified',
                                              'cert_renewed', 'vault_initialized')),
    host_id  INTEGER REFERENCES host(id) ON DELETE SET NULL,
    relay_id INTEGER REFERENCES relay(id) ON DELETE SET NULL,
    detail   TEXT    NOT NULL DEFAULT ''                              -- never key material
) STRICT;

CREATE INDEX event_at ON event(at);
