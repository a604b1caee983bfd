-- The review queue in escucha-classify's own order (services/classify/review.c): an item's
-- uncertainty is 1 - its margin (confidence - runner_up: the two most probable subcategories'
-- calibrated probabilities) and its line is the model's most probable subcategory, also when it
-- was served as other/unclassified. Classify sends both (Classification.runner_up and
-- .predicted_subcategory), prioritize stores them here. Rows stored before have neither: their
-- margin is their confidence and their line their stored subcategory, exactly as under 017.
-- Adding nullable columns rewrites nothing. The predicate and the expressions must stay
-- identical to REVIEW_WORTHY, REVIEW_LINE and REVIEW_MARGIN in services/api/q_stats.c.
-- CREATE INDEX blocks writes to feedback while it builds (see 015's note: an operator may
-- build it first with CONCURRENTLY). Idempotent.
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS runner_up double precision,
  ADD COLUMN IF NOT EXISTS predicted text;
CREATE INDEX IF NOT EXISTS feedback_review_margin
  ON feedback (agency, (coalesce(predicted, subcategory, '')), (confidence - coalesce(runner_up, 0)),
               received_at DESC, id DESC)
  WHERE (confidence - coalesce(runner_up, 0) < 0.5 OR category = 'other' OR language NOT IN ('es', 'en'));
DROP INDEX IF EXISTS feedback_review_lines;
