-- Tamper-evident audit_log (ISO 9001 7.5, close-the-loop issue): every row
-- carries the SHA-256 of the previous row's hash and its own content, set by
-- a trigger whoever inserts (services, escucha-api). `escucha-actions
-- audit-verify` recomputes the chain and names the first row that does not
-- match (an UPDATE changes a row's digest; a DELETE breaks the next row's
-- link). Idempotent like 001.

ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS prev_hash bytea;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS hash bytea;

-- The row's content, each field length-prefixed (no two rows share an
-- encoding), times in UTC whatever the session's TimeZone.
CREATE OR REPLACE FUNCTION audit_log_digest(prev bytea, id bigint, at timestamptz, actor text, entity text,
                                            entity_id text, action text, detail jsonb)
RETURNS bytea LANGUAGE sql STABLE AS $$
  SELECT sha256(coalesce(prev, ''::bytea) || convert_to(
    concat_ws(E'\n', id::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
              length(actor) || ':' || actor, length(entity) || ':' || entity,
              length(entity_id) || ':' || entity_id, length(action) || ':' || action,
              coalesce(length(detail::text) || ':' || detail::text, '-')), 'UTF8'))
$$;

-- Inserts are chained one at a time (a transaction-scoped advisory lock),
-- and the id is taken under the lock so id order is chain order.
CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  p bytea;
BEGIN
  PERFORM pg_advisory_xact_lock(7358201946);  -- 'escucha.audit_log'
  NEW.id := nextval('audit_log_id_seq');
  SELECT a.hash INTO p FROM audit_log a ORDER BY a.id DESC LIMIT 1;
  NEW.prev_hash := p;
  NEW.hash := audit_log_digest(p, NEW.id, NEW.at, NEW.actor, NEW.entity, NEW.entity_id, NEW.action, NEW.detail);
  RETURN NEW;
END $$;

-- Rows written before this migration join the chain in id order.
DO $$
DECLARE
  r record;
  p bytea;
BEGIN
  IF EXISTS (SELECT 1 FROM audit_log WHERE hash IS NULL) THEN
    LOCK TABLE audit_log IN EXCLUSIVE MODE;
    FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
      UPDATE audit_log SET prev_hash = p,
        hash = audit_log_digest(p, r.id, r.at, r.actor, r.entity, r.entity_id, r.action, r.detail)
        WHERE id = r.id RETURNING hash INTO p;
    END LOOP;
  END IF;
END $$;

DROP TRIGGER IF EXISTS audit_log_chain ON audit_log;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
