-- Read side (escucha-api, docs/api.md): full-text search, keyset pages, the
-- Open311/detail fields, and a database role that can only read (and write
-- the review audit rows). Idempotent like 001.

-- Full-text search: Spanish stemming for Spanish items, English otherwise.
-- Stored so the GIN index and the query use the same vector.
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS search tsvector
  GENERATED ALWAYS AS (to_tsvector(CASE WHEN language = 'es' THEN 'spanish'::regconfig
                                        ELSE 'english'::regconfig END, coalesce(text, ''))) STORED;
CREATE INDEX IF NOT EXISTS feedback_search ON feedback USING gin (search);

-- Keyset pagination: (received_at, id) descending within an agency.
CREATE INDEX IF NOT EXISTS feedback_agency_page ON feedback (agency, received_at DESC, id DESC);
-- Open311 reads list only items that came in through Open311.
CREATE INDEX IF NOT EXISTS feedback_open311 ON feedback (agency, received_at DESC) WHERE channel = 'OPEN311';

-- Fields the detail view and Open311 show, written by escucha-prioritize from
-- Feedback.location and Classification.top_terms (NULL when absent).
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS lat double precision;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS lon double precision;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS address text;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS top_terms jsonb;  -- ["term", ...]

-- escucha-api's role: SELECT on the read tables, INSERT into audit_log only.
-- Created here when the migrating user may create roles (Docker's superuser);
-- the local stack creates it as the postgres superuser first (scripts/stack.sh).
-- Login without a password where pg_hba trusts loopback (the local stack);
-- elsewhere set one: ALTER ROLE escucha_api PASSWORD '...'.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'escucha_api')
     AND (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
    CREATE ROLE escucha_api LOGIN PASSWORD 'escucha_api';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'escucha_api') THEN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO escucha_api', current_database());
    GRANT USAGE ON SCHEMA public TO escucha_api;
    GRANT SELECT ON feedback, topic_window_stats, priorities, action_plans, actions, audit_log,
      emerging_topics TO escucha_api;
    GRANT INSERT ON audit_log TO escucha_api;
    GRANT USAGE ON SEQUENCE audit_log_id_seq TO escucha_api;
  END IF;
END
$$;
