-- Fleet database, schema 7: the container image a host runs relaynode from, for hosts whose
-- container_engine is podman or docker (NULL otherwise: relaynode_path is run directly).

ALTER TABLE host ADD COLUMN container_image TEXT CHECK (container_image IS NULL OR length(container_image) > 0);
