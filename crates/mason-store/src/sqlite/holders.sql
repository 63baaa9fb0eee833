-- Version 4: lease holders and their kept counts, for per-user quotas (see
-- lease/quota.rs). Idempotent; applied after the `holder` column exists (migrate.rs).
-- `resources.holder` is the authenticated user a lease was granted to (NULL without
-- authentication, and whenever the resource is not leased). `holder_counts` is how many
-- rows each holder has per type, kept by the triggers below whatever statement changes
-- a row's holder or type, inserts a held row or deletes one.
CREATE TABLE IF NOT EXISTS holder_counts (
    holder  TEXT NOT NULL,
    type    TEXT NOT NULL,
    held    INTEGER NOT NULL,
    PRIMARY KEY (holder, type)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS holder_counts_insert AFTER INSERT ON resources
WHEN NEW.holder IS NOT NULL
BEGIN
    INSERT INTO holder_counts (holder, type, held) VALUES (NEW.holder, NEW.type, 1)
    ON CONFLICT (holder, type) DO UPDATE SET held = held + 1;
END;

CREATE TRIGGER IF NOT EXISTS holder_counts_delete AFTER DELETE ON resources
WHEN OLD.holder IS NOT NULL
BEGIN
    UPDATE holder_counts SET held = held - 1 WHERE holder = OLD.holder AND type = OLD.type;
END;

CREATE TRIGGER IF NOT EXISTS holder_counts_update AFTER UPDATE OF holder, type ON resources
WHEN OLD.holder IS NOT NEW.holder OR (OLD.holder IS NOT NULL AND OLD.type IS NOT NEW.type)
BEGIN
    UPDATE holder_counts SET held = held - 1
    WHERE OLD.holder IS NOT NULL AND holder = OLD.holder AND type = OLD.type;
    INSERT INTO holder_counts (holder, type, held)
    SELECT NEW.holder, NEW.type, 1 WHERE NEW.holder IS NOT NULL
    ON CONFLICT (holder, type) DO UPDATE SET held = held + 1;
END;
