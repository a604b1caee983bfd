-- Escucha core schema (owned by escucha-prioritize; see docs/prioritization.md).
-- Idempotent: every statement is IF NOT EXISTS so `make up` and es_pg_migrate
-- can both run it. Times are timestamptz (UTC); ids are ULIDs from ingest.
-- Column name "window_kind" (not "window", a reserved word in SQL).

-- One row per classified feedback, for drill-down and traceability.
-- No CHECK constraints on values: the service validates before writing, and
-- one bad row must never block a whole batch (poison pill).
CREATE TABLE IF NOT EXISTS feedback (
  id              text PRIMARY KEY,
  agency          text NOT NULL,
  service         text,
  channel         text,
  external_id     text,
  text            text,
  language        text,
  created_at      timestamptz,
  received_at     timestamptz NOT NULL,
  nps             smallint,            -- 0..10
  csat            smallint,            -- 1..5
  category        text NOT NULL,
  subcategory     text,
  confidence      double precision,
  sentiment       text,                -- POSITIVE / NEUTRAL / NEGATIVE
  sentiment_score double precision,
  journey_stage   text,
  urgent          boolean NOT NULL DEFAULT false,
  model_version   text,
  content_hash    text,
  redactions      jsonb,
  classified_at   timestamptz,
  inserted_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS feedback_agency_received ON feedback (agency, received_at);
CREATE INDEX IF NOT EXISTS feedback_agency_category ON feedback (agency, category, received_at);

-- Aggregates per agency x topic x window. topic is a category, a
-- "category/subcategory", or '*' (all feedback of the agency: the overall
-- numbers NPS/CSAT impact is measured against).
CREATE TABLE IF NOT EXISTS topic_window_stats (
  agency          text NOT NULL,
  topic           text NOT NULL,
  window_kind     text NOT NULL CHECK (window_kind IN ('hour', 'day', 'week')),
  window_start    timestamptz NOT NULL,
  total           bigint NOT NULL DEFAULT 0,
  positive        bigint NOT NULL DEFAULT 0,
  neutral         bigint NOT NULL DEFAULT 0,
  negative        bigint NOT NULL DEFAULT 0,
  nps_promoters   bigint NOT NULL DEFAULT 0,
  nps_passives    bigint NOT NULL DEFAULT 0,
  nps_detractors  bigint NOT NULL DEFAULT 0,
  csat_responses  bigint NOT NULL DEFAULT 0,
  csat_satisfied  bigint NOT NULL DEFAULT 0,
  urgent          bigint NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agency, topic, window_kind, window_start)
);
-- Ranking reads every topic of one agency x window kind over recent windows.
CREATE INDEX IF NOT EXISTS topic_window_stats_rank
  ON topic_window_stats (agency, window_kind, window_start);

-- Ranked topics; the latest computation per window (history kept across windows).
CREATE TABLE IF NOT EXISTS priorities (
  agency          text NOT NULL,
  topic           text NOT NULL,
  window_kind     text NOT NULL CHECK (window_kind IN ('hour', 'day', 'week')),
  window_start    timestamptz NOT NULL,
  computed_at     timestamptz NOT NULL DEFAULT now(),
  level           smallint NOT NULL,   -- 1 category, 2 category/subcategory (ranked separately)
  rank            integer NOT NULL,
  score           double precision NOT NULL,
  volume          bigint NOT NULL,
  negative_share  double precision,
  negative_low    double precision,
  negative_high   double precision,
  spike_z         double precision,
  spike_p         double precision,
  baseline        double precision,
  nps             double precision,
  nps_impact      double precision,
  csat            double precision,
  csat_impact     double precision,
  urgent_share    double precision,
  factors         jsonb NOT NULL,
  explanation_es  text NOT NULL,
  explanation_en  text NOT NULL,
  PRIMARY KEY (agency, topic, window_kind, window_start)
);
CREATE INDEX IF NOT EXISTS priorities_latest
  ON priorities (agency, window_kind, window_start DESC, level, rank);

-- Action plans: at most one open plan per agency + topic (partial unique index).
CREATE TABLE IF NOT EXISTS action_plans (
  id               text PRIMARY KEY,
  agency           text NOT NULL,
  topic            text NOT NULL,
  status           text NOT NULL CHECK (status IN ('open', 'closed')),
  opened_at        timestamptz NOT NULL,
  closed_at        timestamptz,
  last_hot_at      timestamptz,          -- last time the score was >= the close threshold
  priority         jsonb,                -- snapshot of the priorities row that opened it
  summary          text,
  recommendations  jsonb,
  quotes           jsonb,
  request_id       text UNIQUE,          -- ActionRequest idempotency key
  request_sent_at  timestamptz,          -- outbox: NULL until the request was delivered
  request_pb       bytea,                -- serialized ActionRequest (outbox payload)
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS action_plans_one_open
  ON action_plans (agency, topic) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS action_plans_topic ON action_plans (agency, topic, closed_at);
CREATE INDEX IF NOT EXISTS action_plans_outbox ON action_plans (opened_at)
  WHERE request_sent_at IS NULL;

-- Tickets and other actions taken for a plan.
CREATE TABLE IF NOT EXISTS actions (
  id               bigserial PRIMARY KEY,
  plan_id          text NOT NULL REFERENCES action_plans (id),
  tool             text NOT NULL,
  external_key     text,
  url              text,
  status           text NOT NULL,
  idempotency_key  text NOT NULL UNIQUE,
  opened_at        timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  closed_at        timestamptz,
  detail           jsonb
);
CREATE INDEX IF NOT EXISTS actions_plan ON actions (plan_id);

-- Who did what when (ISO 9001 traceability: complaint -> priority -> action -> resolution).
CREATE TABLE IF NOT EXISTS audit_log (
  id         bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  actor      text NOT NULL,
  entity     text NOT NULL,
  entity_id  text NOT NULL,
  action     text NOT NULL,
  detail     jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_entity ON audit_log (entity, entity_id, at);

-- Candidate topics outside the taxonomy: the Space-Saving sketch's top
-- n-grams (count is an upper bound, count - error a lower bound).
CREATE TABLE IF NOT EXISTS emerging_topics (
  agency      text NOT NULL,
  term        text NOT NULL,
  count       bigint NOT NULL,
  error       bigint NOT NULL,
  rank        integer NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agency, term)
);
