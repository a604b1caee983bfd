-- Indexes of escucha-api's read queries (services/api/q_read.c, q_stats.c; docs/api.md).
-- Idempotent like 001. Each one is checked with EXPLAIN on 1 million feedback rows
-- (bench/api/run.sh prints the plans).

-- Review queue: the review-worthy items of an agency, lowest confidence first.
-- The predicate must stay identical to REVIEW_WORTHY in services/api/q_stats.c.
CREATE INDEX IF NOT EXISTS feedback_review_queue
  ON feedback (agency, confidence, received_at DESC, id DESC)
  WHERE (confidence < 0.5 OR category = 'other' OR language NOT IN ('es', 'en'));

-- Satisfaction: one window's rows of an agency grouped by channel and category,
-- answered from the index alone (index-only scan).
CREATE INDEX IF NOT EXISTS feedback_agency_received_sat
  ON feedback (agency, received_at) INCLUDE (channel, category, nps, csat);

-- Action-plan list: newest first, keyset on (opened_at, id).
CREATE INDEX IF NOT EXISTS action_plans_list ON action_plans (agency, opened_at DESC, id DESC);
