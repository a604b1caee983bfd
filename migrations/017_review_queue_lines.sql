-- The review queue's class-balanced order (services/api/q_stats.c, cl_review_order in
-- services/classify/review.h): each stored subcategory is a line, lowest confidence first, and
-- the page takes at most `limit` items from each line. This index serves the walk over the
-- lines (one probe per subcategory) and each line's first items; it replaces 003's
-- feedback_review_queue (agency, confidence, ...), which only the previous order used, so
-- escucha-prioritize still writes one review index per queued row. The predicate must stay
-- identical to REVIEW_WORTHY in q_stats.c. Idempotent. CREATE INDEX blocks writes to feedback
-- while it builds (see 015's note: an operator may build it first with CONCURRENTLY).
CREATE INDEX IF NOT EXISTS feedback_review_lines
  ON feedback (agency, (coalesce(subcategory, '')), confidence, received_at DESC, id DESC)
  WHERE (confidence < 0.5 OR category = 'other' OR language NOT IN ('es', 'en'));
DROP INDEX IF EXISTS feedback_review_queue;
