-- Why a done ticket closed (resolved, not_fixed, forwarded, duplicate) and the
-- tool's own word (escucha-actions, services/actions/notify.c): told to
-- reporters and shown as Open311 status_notes. Idempotent like 001.
ALTER TABLE actions ADD COLUMN IF NOT EXISTS closure text;
ALTER TABLE actions ADD COLUMN IF NOT EXISTS closure_note text;
