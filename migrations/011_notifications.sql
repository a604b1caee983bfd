-- Telling reporters what happened (close-the-loop issue; docs/actions.md,
-- "Telling the reporter"). escucha-actions queues one row per reporter and
-- status when a plan's ticket moves (the unique key makes it once), then
-- sends them over e-mail, WhatsApp or SMS with backoff. Idempotent like 001.
CREATE TABLE IF NOT EXISTS notifications (
  id          bigserial PRIMARY KEY,
  feedback_id text NOT NULL,
  agency      text NOT NULL,
  plan_id     text NOT NULL,
  status      text NOT NULL CHECK (status IN ('opened', 'in_progress', 'resolved', 'not_fixed', 'forwarded',
                                              'duplicate')),
  note        text,                      -- the tool's own status word (why not fixed, to whom)
  via         text NOT NULL CHECK (via IN ('email', 'whatsapp', 'sms')),
  language    text,
  state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
  attempts    integer NOT NULL DEFAULT 0,
  next_at     timestamptz NOT NULL DEFAULT now(),  -- due (pending), or the lease of a claimed send
  sent_at     timestamptz,
  error       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (feedback_id, status)
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notifications_plan ON notifications (plan_id);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'escucha_api') THEN
    -- receipts and Open311 show the latest status told; the opt-out link stops the messages
    GRANT SELECT ON notifications TO escucha_api;
    GRANT SELECT (feedback_id, opted_out_at), UPDATE (opted_out_at) ON contacts TO escucha_api;
  END IF;
END $$;
