-- Urgent cases (issue 16): why an item is urgent, and cases as action plans
-- of kind 'case' (one per urgent item, opened at once whatever the volume),
-- so they share the ticket machinery (idempotency key, pending retries,
-- status pass). Idempotent like 001.

ALTER TABLE feedback ADD COLUMN IF NOT EXISTS urgent_reason text;      -- Classification.urgent_reason
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS urgent_confidence double precision;  -- 0..1

ALTER TABLE action_plans ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'plan';
ALTER TABLE action_plans ADD COLUMN IF NOT EXISTS feedback_id text;    -- kind 'case': the urgent item
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'action_plans_kind_check') THEN
    ALTER TABLE action_plans ADD CONSTRAINT action_plans_kind_check
      CHECK (kind IN ('plan', 'case') AND (kind = 'plan') = (feedback_id IS NULL));
  END IF;
END $$;

-- The dashboard's case list: an agency's cases, newest first.
CREATE INDEX IF NOT EXISTS action_plans_cases
  ON action_plans (agency, opened_at DESC, id DESC) WHERE kind = 'case';
