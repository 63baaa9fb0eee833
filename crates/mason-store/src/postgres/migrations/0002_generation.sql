-- Migration 2 (store schema v4): the fencing generation. Every grant and every end of a
-- lease sets a resource's generation to the next value of one sequence, shared by every
-- replica, so a value is never given out twice (see lease/transition.rs). 0 marks a
-- resource never granted.
ALTER TABLE resources ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
CREATE SEQUENCE resource_generation AS BIGINT;
