-- Reporters' contacts (close-the-loop issue): kept only sealed to the
-- notifier's key (crypto_box_seal, done by ingest), apart from the feedback
-- row, until they expire or the reporter has been told the final outcome
-- (escucha-prioritize purges both). Idempotent like 001.
CREATE TABLE IF NOT EXISTS contacts (
  feedback_id       text PRIMARY KEY,
  agency            text NOT NULL,
  via               text NOT NULL CHECK (via IN ('email', 'whatsapp', 'sms')),
  sealed            bytea NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  expires_at        timestamptz NOT NULL,
  opted_out_at      timestamptz,          -- the reporter said stop: nothing more is sent
  final_notified_at timestamptz           -- told the final outcome: purged
);
CREATE INDEX IF NOT EXISTS contacts_expires ON contacts (expires_at);
CREATE INDEX IF NOT EXISTS contacts_told ON contacts (final_notified_at) WHERE final_notified_at IS NOT NULL;
