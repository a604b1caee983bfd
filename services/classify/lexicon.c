#include "lexicon.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

static const char *const URGENT[] = {
    /* en: self-harm, violence, threats, danger to life */
    "kill myself", "killing myself", "suicid*", "self harm*", "end my life", "want to die", "take my own life",
    "overdos*", "threat*", "assault*", "violen*", "abus*", "rape*", "raped", "weapon*", "knife", "gun", "stab*",
    "beat me", "beaten", "hit me", "punched", "dangerous", "life threatening", "unsafe", "harass*", "not breathing",
    "unconscious", "chest pain", "bleeding heavily", "kidnap*",
    /* es (folded: accents stripped) */
    "suicid*", "quitarme la vida", "matarme", "me quiero morir", "quiero morir", "autolesion*", "hacerme dano",
    "amenaz*", "agredi*", "agresion*", "golpe*", "golpearon", "violen*", "abus*", "violacion", "violada", "violado",
    "arma", "armas", "cuchillo", "pistola", "peligro*", "apunal*", "acoso*", "acosa*", "no respira", "inconsciente",
    "dolor en el pecho", "riesgo vital", "secuestr*", "me pego", "me pegaron", "maltrato fisico", NULL};

static const char *const POSITIVE[] = {
    "good",     "great",  "excellent", "thank*",  "kind",       "helpful",      "quick*",     "brilliant",
    "amazing",  "lovely", "perfect*",  "satisf*", "friendly",   "professional", "best",       "fantastic",
    "happy",    "bueno",  "buena",     "buen",    "excelente*", "genial",       "gracias",    "agradec*",
    "amable*",  "rapid*", "feliz",     "encant*", "perfect*",   "maravillos*",  "satisfech*", "recomiend*",
    "eficien*", "atent*", "felicit*",  "mejor",   NULL};
static const char *const NEGATIVE[] = {
    "bad",         "poor",     "terrible",  "awful",      "rude",      "slow",     "worst",    "complain*", "unhappy",
    "disappoint*", "late",     "problem*",  "useless",    "dirty",     "horrible", "waited",   "ignored",   "malo",
    "mala",        "mal",      "pesim*",    "horrible",   "terrible",  "lent*",    "demora*",  "reclam*",   "queja*",
    "groser*",     "maltrat*", "insatisf*", "molest*",    "problema*", "peor",     "abandon*", "tard*",     "caro",
    "injust*",     "sucio*",   "nadie",     "decepcion*", "esperando", NULL};
static const char *const NEGATORS[] = {"no",   "not",  "never", "nunca", "sin", "nothing", "nada",
                                       "didn", "wasn", "don",   "isn",   "ni",  NULL};

static int word_match(const char *pat, size_t plen, const cl_span *w) {
  if (plen > 0 && pat[plen - 1] == '*') return w->len >= plen - 1 && memcmp(w->s, pat, plen - 1) == 0;
  return w->len == plen && memcmp(w->s, pat, plen) == 0;
}

/* The urgent lexicon compiled once into an index: a 64 Kbit filter on the
 * first two bytes of a pattern's first word (almost every document word
 * fails there), then the patterns sharing the first byte, in lexicon order
 * (so the phrase reported is the same as a linear scan's). */
#define MAX_URGENT 128 /* the lexicon has 64 entries */
#define MAX_PTOK 4
typedef struct {
  const char *text;
  uint8_t ntok;
  struct {
    const char *s;
    uint8_t len, prefix;
  } tok[MAX_PTOK];
} urgent_pat;

static struct {
  urgent_pat pat[MAX_URGENT];
  uint8_t by_first[256][MAX_URGENT]; /* pattern indices, lexicon order */
  uint8_t nfirst[256];
  uint64_t first2[65536 / 64]; /* bit (byte0 << 8 | byte1) */
} UX;
static pthread_once_t UX_once = PTHREAD_ONCE_INIT;

static void urgent_compile(void) {
  size_t np = 0;
  for (const char *const *u = URGENT; *u && np < MAX_URGENT; u++) {
    urgent_pat *p = &UX.pat[np];
    const char *q = *u;
    p->text = *u;
    while (*q && p->ntok < MAX_PTOK) {
      const char *e = strchr(q, ' ');
      size_t len = e ? (size_t)(e - q) : strlen(q);
      int prefix = len > 0 && q[len - 1] == '*';
      p->tok[p->ntok].s = q;
      p->tok[p->ntok].len = (uint8_t)(len - (size_t)prefix);
      p->tok[p->ntok].prefix = (uint8_t)prefix;
      p->ntok++;
      q += len + (e ? 1 : 0);
    }
    unsigned char b0 = (unsigned char)(*u)[0], b1 = (unsigned char)(*u)[1];
    UX.by_first[b0][UX.nfirst[b0]++] = (uint8_t)np;
    UX.first2[(b0 << 8 | b1) >> 6] |= 1ull << ((b0 << 8 | b1) & 63);
    np++;
  }
}

static int tok_match(const urgent_pat *p, int k, const cl_span *w) {
  if (p->tok[k].prefix) return w->len >= p->tok[k].len && memcmp(w->s, p->tok[k].s, p->tok[k].len) == 0;
  return w->len == p->tok[k].len && memcmp(w->s, p->tok[k].s, w->len) == 0;
}

const char *cl_urgent_match(const cl_text *t) {
  pthread_once(&UX_once, urgent_compile);
  const cl_span *w = t->words;
  size_t n = t->nwords;
  for (size_t i = 0; i < n; i++) {
    if (w[i].len < 2) continue; /* every pattern starts with 2+ letters */
    unsigned char b0 = (unsigned char)w[i].s[0], b1 = (unsigned char)w[i].s[1];
    unsigned key = (unsigned)b0 << 8 | b1;
    if (!(UX.first2[key >> 6] >> (key & 63) & 1)) continue;
    for (int j = 0; j < UX.nfirst[b0]; j++) {
      const urgent_pat *p = &UX.pat[UX.by_first[b0][j]];
      if ((unsigned char)p->text[1] != b1 || i + p->ntok > n) continue;
      int k = 0;
      while (k < p->ntok && tok_match(p, k, &w[i + k])) k++;
      if (k == p->ntok) return p->text;
    }
  }
  return NULL;
}

static int in_list(const char *const *list, const cl_span *w) {
  if (w->len == 0) return 0;
  for (; *list; list++) /* first byte first: it rejects almost every entry without a strlen */
    if ((*list)[0] == w->s[0] && word_match(*list, strlen(*list), w)) return 1;
  return 0;
}

void cl_polarity(const cl_text *t, int *pos, int *neg) {
  *pos = *neg = 0;
  for (size_t i = 0; i < t->nwords; i++) {
    int pol = in_list(POSITIVE, &t->words[i]) ? 1 : in_list(NEGATIVE, &t->words[i]) ? -1 : 0;
    if (!pol) continue;
    for (size_t k = 1; k <= 2 && k <= i; k++)
      if (in_list(NEGATORS, &t->words[i - k])) {
        pol = -pol;
        break;
      }
    if (pol > 0) (*pos)++;
    else (*neg)++;
  }
}
