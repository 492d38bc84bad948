-- Fleet database, schema 6: family keys (proposal 321, `FamilyId`), one or more per family
-- group (`relay.family`). Only the public id is here; the secret key is in the vault. A key
-- being rotated out keeps its row with retired_at set, so a later `fleetctl family sync` can
-- still take it off relays that were unreachable when it was retired.

CREATE TABLE family_key (
    id         INTEGER PRIMARY KEY,
    family     TEXT    NOT NULL CHECK (length(family) BETWEEN 1 AND 64),
    family_id  TEXT    NOT NULL UNIQUE CHECK (length(family_id) = 43),  -- unpadded base64 Ed25519 public key
    created_at INTEGER NOT NULL,
    retired_at INTEGER
) STRICT;

CREATE INDEX family_key_family ON family_key(family);
