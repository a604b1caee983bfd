/* Full-text vectors of committed feedback (migrations/016_search_side_table.sql):
 * escucha-prioritize fills feedback_search on a connection of its own, after
 * each batch commits, without waiting for it, so the database computes the
 * vectors while the next batch is collected and copied. An item is searchable
 * a moment after it is visible.
 *
 * Every fill is a catch-up: it takes the rows above a mark (feedback.seq)
 * that have no vector yet, so rows whose fill never ran (a crash between the
 * batch's COMMIT and the fill, a lost connection, a row written by another
 * writer) are filled by the next one, here or in any other instance. The mark
 * (persisted in feedback_search_mark) only passes a seq once every
 * transaction that may still hold a row at or below it has ended. Only rows an
 * earlier fill of this connection could not see are probed for a vector, and
 * each fill holds the mark's row from before its snapshot to its commit, which
 * a delete of feedback waits for (migration 018: no vector outlives its row). */
#ifndef ESCUCHA_PRIORITIZE_SEARCH_H
#define ESCUCHA_PRIORITIZE_SEARCH_H
#include <libpq-fe.h>
#include <stdint.h>

#include "util.h" /* ES_MUST_CHECK */

typedef struct pz_search pz_search;
/* rows: vectors per fill at most (the rest go in the next one). Does not connect yet. */
ES_MUST_CHECK
pz_search *pz_search_new(const char *dsn, long rows);
/* After a commit, the next fill waits until ms have passed since the last one
 * was sent (0: at once); a fill that stopped at rows is followed at once. */
void pz_search_set_gap(pz_search *s, long ms);
/* Waits for a fill in flight (its vectors are committed), then disconnects. */
void pz_search_free(pz_search *s);
/* Never waits for the database: reads the result of the fill in flight if it
 * has finished, and sends the next one when due (poke: rows were just
 * committed; a fill is also due while behind, and now and then), connecting
 * first, at most once a second after a failure. Returns the vectors the
 * finished fill committed (0 if none finished), -1 when the connection failed
 * (logged; the rows are filled by a later step). */
long pz_search_step(pz_search *s, int poke);
/* Blocks until the fill in flight, if any, has finished; same return. */
long pz_search_wait(pz_search *s);
/* A vector the service made (vector.h) for a row it has committed: the next
 * fill uses it instead of having the database make one. 1 taken, 0 not
 * (enough are waiting, or a verifying fill found one that differed: from then
 * on the database makes every vector), -1 out of memory (not taken). */
int pz_search_give(pz_search *s, const char *id, const char *vec, size_t len);
/* Since the last call: vectors given that fills used, that verifying fills
 * compared with the database's instead, and that they found different. */
void pz_search_take(pz_search *s, long *used, long *verified, long *differ);
/* Every row with seq at or below it has its vector (-1: not known yet). */
int64_t pz_search_mark(const pz_search *s);
#endif
