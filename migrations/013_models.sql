-- Classifier model versions (escucha-classify retrain / rollback, docs/classification.md
-- "Learning from reviewers"). One row per candidate: accepted ones keep their file under the
-- models folder (path), refused ones record why. Exactly one row is active: the model every
-- classify worker serves (published to the workers' --model file, which they watch).
CREATE TABLE IF NOT EXISTS models (
  id bigserial PRIMARY KEY,
  version text NOT NULL,                         -- the workers' model_version (v1-<checksum prefix>)
  created_at timestamptz NOT NULL DEFAULT now(),
  status text NOT NULL CHECK (status IN ('active', 'retired', 'refused', 'rolled_back')),
  active boolean NOT NULL DEFAULT false,
  activated_at timestamptz,
  training_rows jsonb NOT NULL DEFAULT '{}',     -- labelled rows per language, corrections used
  metrics jsonb NOT NULL DEFAULT '{}',           -- per evaluation set and head: macro-F1 of this and the active model
  reason text,                                   -- why it was refused (no feedback text)
  path text,                                     -- the model file; NULL when refused
  CHECK (active = (status = 'active'))
);
CREATE UNIQUE INDEX IF NOT EXISTS models_one_active ON models (active) WHERE active;
CREATE INDEX IF NOT EXISTS models_created ON models (created_at DESC);
