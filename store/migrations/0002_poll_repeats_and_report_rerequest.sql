-- A poll that sees the same thing again does not add a line: the newest entry counts it (repeats) and
-- remembers when it last happened (last_at, NULL while it happened once).
ALTER TABLE timeline ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
ALTER TABLE timeline ADD COLUMN last_at INTEGER;

-- A consent whose reports never arrived is asked for again once (reliability.md §1 step 6): 1 once done.
ALTER TABLE consents ADD COLUMN reports_rerequested INTEGER NOT NULL DEFAULT 0;
