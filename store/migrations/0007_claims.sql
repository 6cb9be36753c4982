-- Claims, so that several replicas share the background work: an inbox item is taken by one replica for a lease
-- (claimed_until, microseconds), which another may take over once it has run out (the claimer died); a consent due
-- for a poll is taken by pushing its next_poll_at forward in the same statement that selects it.
ALTER TABLE inbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE inbox ADD COLUMN claimed_until INTEGER;
