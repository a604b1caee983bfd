-- bench/api: the tables escucha-prioritize and escucha-actions would have written for the
-- feedback rows just loaded (run by bench/api/run.sh after the COPY).
-- Aggregates: the same expansion as prioritize (topic '*', category, category/subcategory;
-- windows hour/day/week on received_at in UTC).
INSERT INTO topic_window_stats (agency, topic, window_kind, window_start, total, positive, neutral,
  negative, nps_promoters, nps_passives, nps_detractors, csat_responses, csat_satisfied, urgent)
SELECT agency, topic, w.kind, date_trunc(w.kind, received_at, 'UTC'),
  count(*), count(*) FILTER (WHERE sentiment = 'POSITIVE'), count(*) FILTER (WHERE sentiment = 'NEUTRAL'),
  count(*) FILTER (WHERE sentiment = 'NEGATIVE'), count(*) FILTER (WHERE nps >= 9),
  count(*) FILTER (WHERE nps BETWEEN 7 AND 8), count(*) FILTER (WHERE nps <= 6), count(csat),
  count(*) FILTER (WHERE csat >= 4), count(*) FILTER (WHERE urgent)
FROM feedback f CROSS JOIN LATERAL (VALUES ('*'), (f.category),
  (CASE WHEN strpos(coalesce(f.subcategory, ''), '/') > 0 THEN f.subcategory END)) x(topic)
CROSS JOIN (VALUES ('hour'), ('day'), ('week')) w(kind)
WHERE x.topic IS NOT NULL
GROUP BY 1, 2, 3, 4;

-- Rankings of the last 14 windows of each kind (score: half volume share, half the negative
-- share's Wilson lower bound; the api only reads them).
INSERT INTO priorities (agency, topic, window_kind, window_start, computed_at, level, rank, score,
  volume, negative_share, negative_low, negative_high, spike_z, nps, nps_impact, csat, csat_impact,
  urgent_share, factors, explanation_es, explanation_en)
SELECT agency, topic, window_kind, window_start, window_start + interval '5 minutes', level,
  rank() OVER (PARTITION BY agency, window_kind, window_start, level ORDER BY score DESC, total DESC, topic),
  score, total, neg, low, high, NULL,
  CASE WHEN np > 0 THEN 100.0 * (pr - de) / np END, NULL,
  CASE WHEN cr > 0 THEN 100.0 * cs / cr END, NULL, urg,
  jsonb_build_object('volume_share', vshare, 'negative_low', low),
  initcap(replace(topic, '_', ' ')) || ': ' || total || ' comentarios, ' || round(100 * neg) || '% negativos',
  initcap(replace(topic, '_', ' ')) || ': ' || total || ' comments, ' || round(100 * neg) || '% negative'
FROM (
  SELECT s.*, CASE WHEN strpos(s.topic, '/') > 0 THEN 2 ELSE 1 END AS level,
    s.negative::float8 / s.total AS neg, s.total::float8 / a.total AS vshare,
    s.nps_promoters AS pr, s.nps_detractors AS de,
    s.nps_promoters + s.nps_passives + s.nps_detractors AS np,
    s.csat_responses AS cr, s.csat_satisfied AS cs, s.urgent::float8 / s.total AS urg,
    wl.low, wl.high, 0.5 * s.total::float8 / a.total + 0.5 * wl.low AS score
  FROM topic_window_stats s
  JOIN topic_window_stats a ON a.agency = s.agency AND a.topic = '*' AND a.window_kind = s.window_kind
    AND a.window_start = s.window_start
  CROSS JOIN LATERAL (SELECT s.negative::float8 / s.total AS p, 3.841458820694124 / s.total AS zn) q
  CROSS JOIN LATERAL (SELECT
    greatest(0, ((q.p + q.zn / 2) - 1.959963984540054 * sqrt(q.p * (1 - q.p) / s.total + q.zn / (4 * s.total))) / (1 + q.zn)) AS low,
    least(1, ((q.p + q.zn / 2) + 1.959963984540054 * sqrt(q.p * (1 - q.p) / s.total + q.zn / (4 * s.total))) / (1 + q.zn)) AS high) wl
  WHERE s.topic <> '*' AND s.window_start > (SELECT max(window_start) FROM topic_window_stats m
    WHERE m.agency = s.agency AND m.topic = '*' AND m.window_kind = s.window_kind)
    - 14 * CASE s.window_kind WHEN 'hour' THEN interval '1 hour' WHEN 'day' THEN interval '24 hours'
                              ELSE interval '168 hours' END
) r;

-- Action plans: the agency's top category topics of the latest day ranking are open (with a
-- ticket each), and 40 older plans per agency are closed.
INSERT INTO action_plans (id, agency, topic, status, opened_at, priority, summary, recommendations, quotes)
SELECT 'PLAN-' || p.agency || '-' || p.topic, p.agency, p.topic, 'open', p.window_start,
  to_jsonb(p) - 'factors', 'Plan: ' || p.topic, '[{"text":"Revisar el proceso"}]', '[]'
FROM priorities p WHERE p.window_kind = 'day' AND p.level = 1 AND p.rank <= 3
  AND p.window_start = (SELECT max(window_start) FROM priorities m WHERE m.agency = p.agency AND m.window_kind = 'day');
INSERT INTO action_plans (id, agency, topic, status, opened_at, closed_at, summary)
SELECT 'PLAN-' || a.agency || '-old-' || g, a.agency, 'procedures', 'closed',
  now() - g * interval '2 days', now() - g * interval '2 days' + interval '5 hours', 'Plan cerrado ' || g
FROM (VALUES ('bench'), ('otra')) a(agency) CROSS JOIN generate_series(1, 40) g;
INSERT INTO actions (plan_id, tool, external_key, url, status, idempotency_key)
SELECT id, 'redmine', 'R-' || row_number() OVER (), 'http://tickets.example/R-' || row_number() OVER (),
  CASE WHEN status = 'open' THEN 'open' ELSE 'done' END, 'bench-' || id FROM action_plans;
INSERT INTO audit_log (actor, entity, entity_id, action, detail)
SELECT 'escucha-prioritize', 'action_plan', id, 'open', '{}' FROM action_plans;
-- The rows' search vectors, as escucha-prioritize's search fill writes them after each commit
-- (migrations/016, services/prioritize/search.c); the mark then covers every loaded row.
INSERT INTO feedback_search (id, agency, received_at, language, search)
SELECT id, agency, received_at, language, feedback_search_vector(language, text) FROM feedback
ON CONFLICT (id) DO NOTHING;
UPDATE feedback_search_mark SET seq = (SELECT coalesce(max(seq), 0) FROM feedback);
