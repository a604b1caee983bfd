-- feedback.top_terms is jsonb (escucha-prioritize writes it with binary COPY).
-- A pre-release 002_read_side.sql created it as text[]; convert such a column.
-- No-op on a database that got the released 002.
DO $$
BEGIN
  IF (SELECT data_type FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = 'feedback' AND column_name = 'top_terms') = 'ARRAY' THEN
    ALTER TABLE feedback ALTER COLUMN top_terms TYPE jsonb USING to_jsonb(top_terms);
  END IF;
END
$$;
