-- Node database, schema 2: the directory side of a relay. What we published and what each
-- authority answered, and the directory documents we fetched and serve as a directory cache.

CREATE TABLE published_descriptor (
    id           INTEGER PRIMARY KEY,
    published_at INTEGER NOT NULL,              -- Unix seconds, the descriptor's `published`
    digest       TEXT    NOT NULL CHECK (length(digest) = 40),  -- SHA-1 (hex) of the signed part
    descriptor   TEXT    NOT NULL,
    extra_info   TEXT,
    reason       TEXT    NOT NULL               -- why it was made: start, changed, periodic, manual
) STRICT;

CREATE TABLE descriptor_upload (
    id            INTEGER PRIMARY KEY,
    descriptor_id INTEGER REFERENCES published_descriptor(id) ON DELETE SET NULL,
    at            INTEGER NOT NULL,             -- Unix seconds
    authority     TEXT    NOT NULL,             -- nickname or address:dirport
    result        TEXT    NOT NULL CHECK (result IN ('accepted', 'rejected', 'failed')),
    status        INTEGER,                      -- HTTP status; NULL when no answer came
    message       TEXT    NOT NULL DEFAULT ''   -- the authority's reason phrase, or our error
) STRICT;
CREATE INDEX descriptor_upload_at ON descriptor_upload(at);

-- The latest verified documents of each kind, so a restarted cache serves at once.
CREATE TABLE directory_document (
    kind        TEXT    PRIMARY KEY CHECK (kind IN ('consensus-microdesc', 'consensus', 'authority-certificates')),
    body        BLOB    NOT NULL,
    valid_after INTEGER,                        -- Unix seconds (consensuses)
    fresh_until INTEGER,
    valid_until INTEGER,
    fetched_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE microdescriptor (
    digest      TEXT    PRIMARY KEY,            -- SHA-256, base64 without padding
    body        BLOB    NOT NULL,
    last_listed INTEGER NOT NULL                -- Unix seconds: last consensus that listed it
) STRICT;

-- How each consensus we accepted listed this relay.
CREATE TABLE consensus_listing (
    valid_after INTEGER PRIMARY KEY,            -- the consensus's valid-after, Unix seconds
    listed      INTEGER NOT NULL CHECK (listed IN (0, 1)),
    flags       TEXT    NOT NULL DEFAULT ''     -- space-separated, as in the `s` line
) STRICT;
