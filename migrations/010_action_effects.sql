-- Did the action work? (close-the-loop issue; docs/prioritization.md,
-- "Effectiveness"). escucha-prioritize checks each closed plan once the K
-- days after its closure have passed: the topic's complaints per 1,000 of
-- the agency's feedback after vs before, an exact rate ratio with its 95%
-- interval, and a verdict. Not effective -> a new plan follows the old one.
-- Idempotent like 001.
CREATE TABLE IF NOT EXISTS action_effects (
  plan_id           text PRIMARY KEY REFERENCES action_plans (id),
  agency            text NOT NULL,
  topic             text NOT NULL,
  closed_at         timestamptz NOT NULL,
  window_days       integer NOT NULL,
  before_complaints bigint NOT NULL,
  before_total      bigint NOT NULL,
  after_complaints  bigint NOT NULL,
  after_total       bigint NOT NULL,
  rate_before       double precision,     -- per 1,000 feedback of the agency
  rate_after        double precision,
  rate_ratio        double precision,     -- NULL: undefined (no complaint before, or none at all)
  ci_low            double precision,
  ci_high           double precision,
  p_drop            double precision,     -- one-sided exact p-value of a drop
  verdict           text NOT NULL CHECK (verdict IN ('effective', 'not_effective', 'inconclusive')),
  followup_plan     text,                 -- the plan opened because this one did not work
  checked_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS action_effects_agency ON action_effects (agency, checked_at);

ALTER TABLE action_plans ADD COLUMN IF NOT EXISTS effect text;       -- action_effects.verdict, once checked
ALTER TABLE action_plans ADD COLUMN IF NOT EXISTS follows_plan text; -- the earlier plan that did not work

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'escucha_api') THEN
    GRANT SELECT ON action_effects TO escucha_api;
  END IF;
END $$;
