-- Migration 6 (store schema v4): lease holders and their kept counts, for per-user
-- quotas (see lease/quota.rs). `resources.holder` is the authenticated user a lease was
-- granted to (NULL without authentication, and whenever the resource is not leased).
-- `holder_counts` is how many rows each holder has per type, kept by the triggers below
-- whatever statement changes a row's holder or type, inserts a held row or deletes one.
-- Row triggers fire at the end of their statement, after its resource rows are locked.
ALTER TABLE resources ADD COLUMN holder TEXT;

CREATE TABLE holder_counts (
    holder  TEXT NOT NULL,
    type    TEXT NOT NULL,
    held    BIGINT NOT NULL,
    PRIMARY KEY (holder, type)
);

CREATE FUNCTION mason_count_holders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.holder IS NOT NULL THEN
            UPDATE holder_counts SET held = held - 1
            WHERE holder = OLD.holder AND type = OLD.type;
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        IF NEW.holder IS NOT NULL THEN
            INSERT INTO holder_counts AS c (holder, type, held) VALUES (NEW.holder, NEW.type, 1)
            ON CONFLICT (holder, type) DO UPDATE SET held = c.held + 1;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER holder_counts_insert AFTER INSERT ON resources
    FOR EACH ROW WHEN (NEW.holder IS NOT NULL) EXECUTE FUNCTION mason_count_holders();
CREATE TRIGGER holder_counts_delete AFTER DELETE ON resources
    FOR EACH ROW WHEN (OLD.holder IS NOT NULL) EXECUTE FUNCTION mason_count_holders();
CREATE TRIGGER holder_counts_update AFTER UPDATE OF holder, type ON resources
    FOR EACH ROW
    WHEN (OLD.holder IS DISTINCT FROM NEW.holder
          OR (OLD.holder IS NOT NULL AND OLD.type IS DISTINCT FROM NEW.type))
    EXECUTE FUNCTION mason_count_holders();
