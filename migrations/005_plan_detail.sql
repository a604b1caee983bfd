-- Action plans worth acting on (docs/actions.md "Plan content"): what the
-- plan stands on, written by escucha-actions with the plan —
--   drivers        subcategories holding the topic's negatives, with shares
--   concentrations services, channels, places, weekdays, hours with lift and
--                  95 % interval over the agency's negative rate
--   counts         agency / topic / baseline counts the numbers come from
--   success        the measure that counts as fixed (negative share below the
--                  agency's rate for 2 weeks; volume back to baseline)
--   owner, sla_days, due_date, urgent_items, counter_example, new_terms
ALTER TABLE action_plans ADD COLUMN IF NOT EXISTS detail jsonb;
