-- Many agencies (issue 18 item 5): a batch's aggregates and rankings off the rows' transaction.
-- With hundreds of agencies a batch's aggregates are ~6.6 upserts per row and its rankings
-- tens of priorities rows per agency, all on the one connection that also writes the rows.
-- Now the rows' transaction (feedback + its Kafka offsets' batch) stores the batch's summed
-- aggregates here as one row, and escucha-prioritize's derive thread, on a second connection,
-- applies up to 8 rows per transaction: the upserts into topic_window_stats, the rows' deletion
-- and the rankings they make due commit together, so every committed batch is counted exactly
-- once, even across a crash between the two (the row waits here for the next start).
-- batch (big-endian): version byte 1; u32 agency count; per agency its name (u32 length, bytes)
-- and newest received_at (i64 ms); u32 group count; per agency x category x subcategory x UTC
-- hour group: u32 index of its agency, category and subcategory (u32 length, bytes;
-- 0xffffffff: none), i64 hour (ms), ten u64 counts as topic_window_stats has them (total,
-- positive, neutral, negative, promoters, passives, detractors, CSAT answers, satisfied,
-- urgent). The thread expands the groups to topics x windows (services/prioritize/store.c).
-- queued_ms: when the rows committed (wall clock, ms), for the rankings' wait. Idempotent.
CREATE TABLE IF NOT EXISTS aggregate_queue (
  id        bigserial PRIMARY KEY,
  queued_ms bigint NOT NULL,
  batch     bytea NOT NULL
);
-- A batch's row is written once and read once: no compression (pglz's CPU for nothing).
ALTER TABLE aggregate_queue ALTER COLUMN batch SET STORAGE EXTERNAL;
