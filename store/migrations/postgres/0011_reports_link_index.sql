-- The same reports_link as SQLite's 0011 (why it is no longer partial there: docs/benchmarks.md#pages).
DROP INDEX reports_link;
CREATE INDEX reports_link ON reports (link_id, received_at);
