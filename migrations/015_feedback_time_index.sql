-- One (agency, received_at) index on feedback instead of three (issue 15's freshness work,
-- docs/performance.md "Freshness"). 001's feedback_agency_received, 002's keyset
-- feedback_agency_page and 003's satisfaction feedback_agency_received_sat all start with
-- (agency, received_at); every row escucha-prioritize copies in paid for all three. The one
-- below serves each of their reads: range scans by agency and time, the keyset pages
-- (ORDER BY received_at DESC, id DESC is this index scanned backward) and the satisfaction
-- query from the index alone (INCLUDE). bench/api/run.sh prints each read's plan.
-- Idempotent; safe on existing data. CREATE INDEX (not CONCURRENTLY: migrations run in a
-- transaction) blocks writes to feedback while it builds (about 10 s per million rows on the
-- development VM; reads go on). On a large table an operator may build it first, outside
-- the migration, with the same statement and CONCURRENTLY: IF NOT EXISTS then skips it here.
CREATE INDEX IF NOT EXISTS feedback_agency_time
  ON feedback (agency, received_at, id) INCLUDE (channel, category, nps, csat);
DROP INDEX IF EXISTS feedback_agency_received;
DROP INDEX IF EXISTS feedback_agency_page;
DROP INDEX IF EXISTS feedback_agency_received_sat;
