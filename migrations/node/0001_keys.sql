-- Node database, schema 1: the relay's keys and certificates, and a log of what happened to them.
-- Append-only: a shipped migration is never edited; later changes go in a new numbered file.

CREATE TABLE relay_key (
    id          INTEGER PRIMARY KEY,
    role        TEXT    NOT NULL CHECK (role IN ('rsa_identity', 'ed25519_master', 'ed25519_signing',
                                                 'ntor_onion', 'tap_onion', 'family')),
    slot        TEXT    NOT NULL CHECK (slot IN ('current', 'previous')),
    label       TEXT    NOT NULL DEFAULT '',   -- the family key's name; '' for every other role
    public_key  BLOB    NOT NULL,              -- raw key (Ed25519/Curve25519) or PKCS#1 DER (RSA)
    secret_key  BLOB,                          -- NULL when the secret is held elsewhere (offline master)
    certificate BLOB,                          -- ed25519_signing: its type-4 certificate from the master
    created_at  INTEGER NOT NULL,              -- Unix seconds
    expires_at  INTEGER,                       -- Unix seconds; NULL for keys that do not expire
    UNIQUE (role, slot, label),
    CHECK (role <> 'ed25519_signing' OR certificate IS NOT NULL),
    CHECK (role = 'ed25519_master' OR secret_key IS NOT NULL)
) STRICT;

CREATE TABLE key_event (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,                   -- Unix seconds
    kind   TEXT    NOT NULL CHECK (kind IN ('generated', 'imported', 'exported', 'rotated',
                                            'installed', 'master_offline', 'renewed')),
    role   TEXT    NOT NULL,
    detail TEXT    NOT NULL DEFAULT ''
) STRICT;
