-- The full-text vector off feedback's hot insert (issue 15's freshness work, docs/performance.md
-- "Freshness"). 002's generated search column and its GIN index were 40-50 % of every COPY
-- escucha-prioritize makes into feedback; the vector now lives in feedback_search, which
-- prioritize fills on a second connection after each batch commits (an item is searchable a
-- moment after it is visible). What finds the rows still without a vector, even after a crash
-- between the two: feedback.seq, an insertion counter (btree index), and
-- feedback_search_mark, below which every row is known to have its vector
-- (services/prioritize/search.c). Idempotent; safe on existing data: the vectors already stored
-- are moved, not recomputed. The whole migration took 51 s on 1.06M rows on the development VM
-- (adding seq rewrites feedback and its indexes); writes and reads of feedback wait meanwhile.

-- The one definition of an item's vector: Spanish stemming for Spanish items, English otherwise.
CREATE OR REPLACE FUNCTION feedback_search_vector(language text, body text) RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT to_tsvector(CASE WHEN language = 'es' THEN 'spanish'::regconfig ELSE 'english'::regconfig END,
                      coalesce(body, '')) $$;

ALTER TABLE feedback ADD COLUMN IF NOT EXISTS seq bigint GENERATED ALWAYS AS IDENTITY;
-- A btree, not BRIN: rows written into space freed by deletions widen BRIN ranges, and a fill
-- then rechecked a third of the table (measured: 1 s per fill after the bench's deletions).
-- Appending to its rightmost page costs the COPY a few µs per row.
CREATE INDEX IF NOT EXISTS feedback_seq ON feedback (seq);

DO $$
BEGIN
  -- 002's GIN index has the name the table takes.
  IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 'feedback_search' AND relkind = 'i'
             AND relnamespace = current_schema()::regnamespace) THEN
    DROP INDEX feedback_search;
  END IF;
  -- agency, received_at and language are copies (never updated in feedback): a search walks
  -- this table's own (agency, received_at, id) index newest first and reads only the matches'
  -- feedback rows, as the search column once let it walk feedback's.
  CREATE TABLE IF NOT EXISTS feedback_search (
    id          text PRIMARY KEY REFERENCES feedback (id) ON DELETE CASCADE,
    agency      text NOT NULL,
    received_at timestamptz NOT NULL,
    language    text,
    search      tsvector NOT NULL
  );
  CREATE TABLE IF NOT EXISTS feedback_search_mark (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq bigint NOT NULL
  );
  IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
             AND table_name = 'feedback' AND column_name = 'search') THEN
    INSERT INTO feedback_search (id, agency, received_at, language, search)
      SELECT id, agency, received_at, language, search FROM feedback ON CONFLICT (id) DO NOTHING;
    ALTER TABLE feedback DROP COLUMN search;
  END IF;
  -- The mark: every row at or below it has its vector.
  INSERT INTO feedback_search_mark (seq)
    SELECT coalesce((SELECT min(f.seq) - 1 FROM feedback f
                     WHERE NOT EXISTS (SELECT 1 FROM feedback_search s WHERE s.id = f.id)),
                    (SELECT max(seq) FROM feedback), 0)
  ON CONFLICT (one) DO NOTHING;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'escucha_api') THEN
    GRANT SELECT ON feedback_search TO escucha_api;
  END IF;
END
$$;
CREATE INDEX IF NOT EXISTS feedback_search_gin ON feedback_search USING gin (search);
CREATE INDEX IF NOT EXISTS feedback_search_agency_time ON feedback_search (agency, received_at, id);
