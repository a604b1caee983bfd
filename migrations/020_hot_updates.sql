-- Many agencies (issue 18 item 5): every transaction adds to the aggregates of each agency x
-- topic x window it touched, so with hundreds of agencies nearly every key it writes is an
-- update of an existing row. With full pages (fillfactor 100) each update put the new version
-- on another page and added an entry to both indexes; with room left on the page (and no
-- indexed column changed) it is a HOT update: same page, no index entries. 33k updates of a
-- batch at 1,000 agencies: 0.85-1.05 s at 100, 0.40 s at 70, 0.31-0.37 s at 50
-- (docs/performance.md, "Many agencies"); 70 costs 43 % more space on disk, not 100 %.
-- A fillfactor applies to pages written from now on (old windows are never updated again, so
-- old pages need no rewrite). Idempotent.
ALTER TABLE topic_window_stats SET (fillfactor = 70);
