/* Language identification for short citizen feedback (es / en / pt).
 * One pass: words are lower-cased (ASCII + Latin-1) and looked up in a small hashed table of
 * function words and complaint vocabulary weighted per language; characters add evidence
 * (ñ ¿ ¡ -> es, ã õ ç ê ô -> pt). No allocation; the word table's hash index is built once
 * (pthread_once) and only read after. */
#include "lang.h"

#include <pthread.h>
#include <string.h>

#include "util.h"

#define MAX_SCAN 4096 /* evidence saturates long before this */
#define MAX_WORD 16
#define MIN_SCORE 2

enum { L_ES, L_EN, L_PT, L_N };

typedef struct {
  const char *w;
  signed char es, en, pt;
} lang_word;

/* Generated, sorted bytewise (kept sorted for review); weights 0-3: 2 = mostly one language. */
/* A table laid out by hand: */
/* clang-format off */
static const lang_word WORDS[] = {
    {"about", 0, 2, 0}, {"además", 2, 0, 0}, {"after", 0, 2, 0}, {"again", 0, 2, 0},
    {"agora", 0, 0, 2}, {"agua", 2, 0, 0}, {"ahora", 1, 0, 0}, {"ainda", 0, 0, 2},
    {"al", 1, 0, 0}, {"all", 0, 1, 0}, {"an", 0, 1, 0}, {"and", 0, 2, 0}, {"any", 0, 1, 0},
    {"ao", 0, 0, 2}, {"aos", 0, 0, 2}, {"appointment", 0, 2, 0}, {"aqui", 0, 0, 1},
    {"aquí", 2, 0, 0}, {"are", 0, 2, 0}, {"así", 2, 0, 0}, {"at", 0, 1, 0}, {"atención", 2, 0, 0},
    {"atendieron", 2, 0, 0}, {"atendimento", 0, 0, 2}, {"atienden", 2, 0, 0}, {"até", 0, 0, 2},
    {"años", 2, 0, 0}, {"aún", 2, 0, 0}, {"bairro", 0, 0, 2}, {"basura", 2, 0, 0},
    {"be", 0, 2, 0}, {"because", 0, 2, 0}, {"been", 0, 2, 0}, {"being", 0, 2, 0},
    {"bem", 0, 0, 2}, {"bien", 1, 0, 0}, {"bin", 0, 1, 0}, {"bus", 0, 1, 0}, {"but", 0, 2, 0},
    {"calle", 2, 0, 0}, {"called", 0, 2, 0}, {"calles", 2, 0, 0}, {"can", 0, 1, 0},
    {"can't", 0, 2, 0}, {"cannot", 0, 2, 0}, {"can’t", 0, 2, 0}, {"cita", 2, 0, 0},
    {"cobrança", 0, 0, 2}, {"cobro", 2, 0, 0}, {"coisa", 0, 0, 2}, {"colectivo", 2, 0, 0},
    {"com", 0, 0, 1}, {"con", 1, 0, 0}, {"consegui", 0, 0, 2}, {"conseguir", 0, 0, 2},
    {"consulta", 0, 0, 1}, {"consultorio", 2, 0, 0}, {"could", 0, 2, 0}, {"council", 0, 2, 0},
    {"cuadra", 2, 0, 0}, {"cuando", 2, 0, 0}, {"cuenta", 2, 0, 0}, {"cuál", 2, 0, 0},
    {"cómo", 2, 0, 0}, {"da", 0, 0, 2}, {"das", 0, 0, 2}, {"days", 0, 2, 0}, {"del", 2, 0, 0},
    {"depois", 0, 0, 2}, {"desde", 1, 0, 0}, {"después", 2, 0, 0}, {"dia", 0, 0, 1},
    {"dias", 0, 0, 1}, {"dicen", 2, 0, 0}, {"did", 0, 2, 0}, {"didn't", 0, 2, 0},
    {"didn’t", 0, 2, 0}, {"dijeron", 2, 0, 0}, {"do", 0, 1, 1}, {"doctor", 0, 1, 0},
    {"don't", 0, 2, 0}, {"donde", 2, 0, 0}, {"don’t", 0, 2, 0}, {"día", 2, 0, 0},
    {"días", 2, 0, 0}, {"e", 0, 0, 2}, {"el", 2, 0, 0}, {"ela", 0, 0, 2}, {"elas", 0, 0, 2},
    {"ele", 0, 0, 1}, {"eles", 0, 0, 2}, {"em", 0, 0, 2}, {"en", 2, 0, 0}, {"entonces", 2, 0, 0},
    {"então", 0, 0, 2}, {"es", 1, 0, 0}, {"esa", 2, 0, 0}, {"ese", 2, 0, 0}, {"eso", 2, 0, 0},
    {"espera", 1, 0, 1}, {"esperando", 0, 0, 2}, {"essa", 0, 0, 2}, {"esse", 0, 0, 2},
    {"esta", 1, 0, 0}, {"estaba", 2, 0, 0}, {"estamos", 0, 0, 1}, {"estas", 2, 0, 0},
    {"estava", 0, 0, 1}, {"este", 1, 0, 0}, {"esto", 2, 0, 0}, {"estos", 2, 0, 0},
    {"estou", 0, 0, 2}, {"estoy", 2, 0, 0}, {"está", 1, 0, 1}, {"están", 1, 0, 0},
    {"estão", 0, 0, 2}, {"eu", 0, 0, 2}, {"even", 0, 1, 0}, {"every", 0, 1, 0},
    {"falta", 0, 0, 1}, {"favor", 1, 0, 1}, {"faz", 0, 0, 2}, {"fazer", 0, 0, 2},
    {"fila", 0, 0, 1}, {"fiquei", 0, 0, 2}, {"foi", 0, 0, 2}, {"for", 0, 2, 0}, {"from", 0, 2, 0},
    {"fue", 2, 0, 0}, {"fueron", 2, 0, 0}, {"funcionario", 2, 0, 0}, {"funcionarios", 2, 0, 0},
    {"get", 0, 2, 0}, {"got", 0, 2, 0}, {"gracias", 2, 0, 0}, {"ha", 1, 0, 0}, {"hace", 2, 0, 0},
    {"hacer", 1, 0, 0}, {"had", 0, 2, 0}, {"han", 1, 0, 0}, {"has", 0, 2, 0}, {"hasta", 2, 0, 0},
    {"have", 0, 2, 0}, {"hay", 2, 0, 0}, {"he", 1, 0, 0}, {"help", 0, 1, 0}, {"hemos", 2, 0, 0},
    {"her", 0, 2, 0}, {"here", 0, 1, 0}, {"hija", 2, 0, 0}, {"hijo", 2, 0, 0}, {"his", 0, 2, 0},
    {"hizo", 2, 0, 0}, {"hoje", 0, 0, 2}, {"horas", 1, 0, 1}, {"horário", 0, 0, 1},
    {"hospital", 0, 0, 0}, {"hours", 0, 2, 0}, {"how", 0, 1, 0}, {"hoy", 2, 0, 0},
    {"há", 0, 0, 2}, {"i", 0, 2, 0}, {"i'm", 0, 2, 0}, {"if", 0, 1, 0}, {"in", 0, 2, 0},
    {"is", 0, 2, 0}, {"isn't", 0, 2, 0}, {"isn’t", 0, 2, 0}, {"isso", 0, 0, 2}, {"isto", 0, 0, 2},
    {"it", 0, 2, 0}, {"it's", 0, 2, 0}, {"it’s", 0, 2, 0}, {"i’m", 0, 2, 0}, {"just", 0, 1, 0},
    {"já", 0, 0, 2}, {"la", 1, 0, 0}, {"las", 2, 0, 0}, {"le", 1, 0, 0}, {"les", 2, 0, 0},
    {"liguei", 0, 0, 2}, {"lixo", 0, 0, 2}, {"llamar", 2, 0, 0}, {"llamé", 2, 0, 0},
    {"llevamos", 2, 0, 0}, {"llevo", 2, 0, 0}, {"lo", 2, 0, 0}, {"los", 2, 0, 0},
    {"luz", 1, 0, 1}, {"lá", 0, 0, 2}, {"mais", 0, 0, 2}, {"make", 0, 1, 0}, {"mas", 0, 0, 1},
    {"mañana", 2, 0, 0}, {"me", 0, 1, 0}, {"meses", 1, 0, 1}, {"meu", 0, 0, 2}, {"mi", 1, 0, 0},
    {"micro", 1, 0, 0}, {"minha", 0, 0, 2}, {"minutos", 0, 0, 1}, {"moradores", 0, 0, 2},
    {"more", 0, 1, 0}, {"mucha", 2, 0, 0}, {"mucho", 2, 0, 0}, {"muchos", 2, 0, 0},
    {"muita", 0, 0, 2}, {"muito", 0, 0, 2}, {"muitos", 0, 0, 2}, {"municipalidad", 2, 0, 0},
    {"muy", 2, 0, 0}, {"my", 0, 2, 0}, {"más", 1, 0, 0}, {"médico", 1, 0, 1}, {"na", 0, 0, 2},
    {"nadie", 2, 0, 0}, {"nao", 0, 0, 2}, {"nas", 0, 0, 2}, {"necesito", 2, 0, 0},
    {"need", 0, 1, 0}, {"nem", 0, 0, 2}, {"nenhum", 0, 0, 2}, {"nenhuma", 0, 0, 2},
    {"never", 0, 1, 0}, {"ni", 1, 0, 0}, {"ningun", 2, 0, 0}, {"ninguna", 2, 0, 0},
    {"ninguém", 0, 0, 2}, {"ningún", 2, 0, 0}, {"no", 0, 1, 0}, {"nobody", 0, 2, 0},
    {"noche", 2, 0, 0}, {"nos", 1, 0, 0}, {"not", 0, 2, 0}, {"now", 0, 1, 0},
    {"nuestra", 2, 0, 0}, {"nuestro", 2, 0, 0}, {"num", 0, 0, 2}, {"numa", 0, 0, 2},
    {"nunca", 1, 0, 1}, {"nurse", 0, 2, 0}, {"não", 0, 0, 3}, {"nós", 0, 0, 2}, {"o", 0, 0, 1},
    {"obrigada", 0, 0, 2}, {"obrigado", 0, 0, 2}, {"of", 0, 2, 0}, {"on", 0, 2, 0},
    {"onde", 0, 0, 2}, {"only", 0, 1, 0}, {"or", 0, 1, 0}, {"os", 0, 0, 2}, {"other", 0, 1, 0},
    {"otra", 1, 0, 0}, {"otro", 1, 0, 0}, {"our", 0, 2, 0}, {"out", 0, 1, 0}, {"over", 0, 1, 0},
    {"pela", 0, 0, 2}, {"pelo", 0, 0, 2}, {"pero", 2, 0, 0}, {"pessoas", 0, 0, 2},
    {"phone", 0, 1, 0}, {"plaza", 1, 0, 0}, {"please", 0, 2, 0}, {"por", 1, 0, 0},
    {"porém", 0, 0, 2}, {"posto", 0, 0, 2}, {"pra", 0, 0, 2}, {"preciso", 0, 0, 2},
    {"prefeitura", 0, 0, 2}, {"pro", 0, 0, 2}, {"pueden", 2, 0, 0}, {"puedo", 2, 0, 0},
    {"pésima", 2, 0, 0}, {"pésimo", 2, 0, 0}, {"péssima", 0, 0, 2}, {"péssimo", 0, 0, 2},
    {"quando", 0, 0, 2}, {"queja", 2, 0, 0}, {"qué", 2, 0, 0}, {"reclamação", 0, 0, 2},
    {"reclamo", 2, 0, 0}, {"resposta", 0, 0, 2}, {"respuesta", 2, 0, 0}, {"road", 0, 1, 0},
    {"rua", 0, 0, 2}, {"rubbish", 0, 2, 0}, {"saúde", 0, 0, 2}, {"sem", 0, 0, 2},
    {"semana", 1, 0, 0}, {"semanas", 0, 0, 1}, {"sempre", 0, 0, 2}, {"service", 0, 1, 0},
    {"servicio", 2, 0, 0}, {"serviço", 0, 0, 2}, {"seu", 0, 0, 2}, {"she", 0, 2, 0},
    {"should", 0, 2, 0}, {"sido", 0, 0, 1}, {"siempre", 2, 0, 0}, {"sigue", 2, 0, 0},
    {"sin", 1, 0, 0}, {"since", 0, 2, 0}, {"so", 0, 1, 0}, {"solo", 1, 0, 0}, {"some", 0, 1, 0},
    {"son", 1, 0, 0}, {"staff", 0, 2, 0}, {"still", 0, 2, 0}, {"street", 0, 1, 0},
    {"su", 1, 0, 0}, {"sua", 0, 0, 2}, {"sus", 1, 0, 0}, {"são", 0, 0, 2}, {"só", 0, 0, 2},
    {"sólo", 2, 0, 0}, {"taken", 0, 1, 0}, {"también", 2, 0, 0}, {"também", 0, 0, 2},
    {"tampoco", 2, 0, 0}, {"tarde", 1, 0, 0}, {"tem", 0, 0, 2}, {"tengo", 2, 0, 0},
    {"tenho", 0, 0, 2}, {"than", 0, 2, 0}, {"thank", 0, 2, 0}, {"thanks", 0, 2, 0},
    {"that", 0, 2, 0}, {"the", 0, 3, 0}, {"their", 0, 2, 0}, {"them", 0, 2, 0},
    {"there", 0, 2, 0}, {"they", 0, 2, 0}, {"this", 0, 2, 0}, {"tiene", 2, 0, 0},
    {"tienen", 2, 0, 0}, {"time", 0, 1, 0}, {"to", 0, 2, 0}, {"told", 0, 2, 0},
    {"trámite", 2, 0, 0}, {"trámites", 2, 0, 0}, {"tá", 0, 0, 2}, {"têm", 0, 0, 2},
    {"um", 0, 0, 2}, {"uma", 0, 0, 2}, {"un", 1, 0, 0}, {"una", 1, 0, 0}, {"up", 0, 1, 0},
    {"usted", 2, 0, 0}, {"ustedes", 2, 0, 0}, {"vc", 0, 0, 2}, {"veces", 2, 0, 0},
    {"vecinos", 2, 0, 0}, {"very", 0, 2, 0}, {"vezes", 0, 0, 2}, {"você", 0, 0, 3},
    {"vocês", 0, 0, 3}, {"wait", 0, 2, 0}, {"waiting", 0, 2, 0}, {"want", 0, 1, 0},
    {"was", 0, 2, 0}, {"we", 0, 2, 0}, {"weeks", 0, 2, 0}, {"well", 0, 1, 0}, {"were", 0, 2, 0},
    {"what", 0, 2, 0}, {"when", 0, 2, 0}, {"which", 0, 2, 0}, {"who", 0, 2, 0}, {"why", 0, 1, 0},
    {"will", 0, 2, 0}, {"with", 0, 2, 0}, {"won't", 0, 2, 0}, {"won’t", 0, 2, 0},
    {"would", 0, 2, 0}, {"y", 2, 0, 0}, {"ya", 1, 0, 0}, {"yo", 2, 0, 0}, {"you", 0, 2, 0},
    {"your", 0, 2, 0}, {"à", 0, 0, 2}, {"às", 0, 0, 2}, {"água", 0, 0, 2}, {"é", 0, 0, 2},
    {"ônibus", 0, 0, 2},
};
/* clang-format on */

/* Open-addressing hash table over WORDS, built once: a word costs one hash and usually one
 * memcmp (a binary search with strcmp was 14% of ingest's CPU on the batch benchmark). */
#define HT_BITS 11 /* 2048 slots for ~350 words: short probe runs */
#define HT_MASK ((1u << HT_BITS) - 1)
static unsigned short HT[1u << HT_BITS]; /* WORDS index + 1; 0 = empty */
static unsigned char HT_LEN[sizeof WORDS / sizeof WORDS[0]];
static pthread_once_t ht_once = PTHREAD_ONCE_INIT;

static unsigned word_hash(const char *w, size_t n) { return es_fnv1a(ES_FNV1A_BASIS, w, n); }

static void ht_build(void) {
  for (size_t i = 0; i < sizeof WORDS / sizeof WORDS[0]; i++) {
    size_t n = strlen(WORDS[i].w);
    unsigned h = word_hash(WORDS[i].w, n) & HT_MASK;
    while (HT[h]) h = (h + 1) & HT_MASK;
    HT[h] = (unsigned short)(i + 1);
    HT_LEN[i] = (unsigned char)n;
  }
}

static const lang_word *find_word(const char *w, size_t n) {
  for (unsigned h = word_hash(w, n) & HT_MASK; HT[h]; h = (h + 1) & HT_MASK) {
    size_t i = HT[h] - 1u;
    if (HT_LEN[i] == n && memcmp(WORDS[i].w, w, n) == 0) return &WORDS[i];
  }
  return NULL;
}

static void score_word(const char *w, size_t n, int score[L_N]) {
  const lang_word *e = find_word(w, n);
  if (e) {
    score[L_ES] += e->es;
    score[L_EN] += e->en;
    score[L_PT] += e->pt;
  }
}

/* Suffix evidence for words not (or also) in the table. */
static void score_suffix(const char *w, size_t n, int score[L_N]) {
  if (n >= 5 && memcmp(w + n - 5, "ci\xc3\xb3n", 5) == 0) score[L_ES] += 1;
  else if (n >= 6 && memcmp(w + n - 6, "ciones", 6) == 0) score[L_ES] += 1;
  else if (n >= 5 && memcmp(w + n - 4, "tion", 4) == 0) score[L_EN] += 1;
  else if (n >= 5 && memcmp(w + n - 3, "ing", 3) == 0) score[L_EN] += 1;
}

static inline int is_alpha(unsigned char c) { return (unsigned)((c | 0x20) - 'a') < 26; }

/* Latin-1 letter in a 0xC3 sequence (excludes the multiplication and division signs). */
static int latin1_letter(unsigned char b) { return b >= 0x80 && b <= 0xBF && b != 0x97 && b != 0xB7; }

/* Evidence from one Latin-1 letter (second byte, lower-cased). */
static void score_char(unsigned char b, int score[L_N]) {
  switch (b) {
    case 0xB1: score[L_ES] += 2; break; /* ñ */
    case 0xA3:
    case 0xB5: score[L_PT] += 2; break; /* ã õ */
    case 0xA7:
    case 0xAA:
    case 0xB4: score[L_PT] += 1; break; /* ç ê ô */
    default: break;
  }
}

/* Reads one word starting at s[i] into w (lower-cased, truncated flag via *len > MAX_WORD-1).
 * Returns the index after the word. */
static size_t read_word(const unsigned char *s, size_t n, size_t i, char *w, size_t *len, int score[L_N]) {
  size_t k = 0;
  int too_long = 0;
  while (i < n) {
    unsigned char c = s[i];
    char tmp[2];
    size_t m;
    if (is_alpha(c)) {
      tmp[0] = (char)(c | 0x20);
      m = 1;
    } else if (c == 0xC3 && i + 1 < n && latin1_letter(s[i + 1])) {
      unsigned char b = s[i + 1];
      if (b < 0xA0) b += 0x20; /* upper -> lower */
      score_char(b, score);
      tmp[0] = (char)0xC3;
      tmp[1] = (char)b;
      m = 2;
    } else if (k > 0 && c == '\'' && i + 1 < n && is_alpha(s[i + 1])) {
      tmp[0] = '\'';
      m = 1;
    } else if (k > 0 && c == 0xE2 && i + 3 < n && s[i + 1] == 0x80 && s[i + 2] == 0x99 && is_alpha(s[i + 3])) {
      if (k + 3 < MAX_WORD) memcpy(w + k, "\xe2\x80\x99", 3), k += 3;
      else too_long = 1;
      i += 3;
      continue;
    } else {
      break;
    }
    if (k + m < MAX_WORD) memcpy(w + k, tmp, m), k += m;
    else too_long = 1;
    i += m;
  }
  w[k] = '\0';
  *len = too_long ? MAX_WORD : k;
  return i;
}

const char *ing_detect_language(const char *text, size_t len) {
  static const char *const names[L_N] = {"es", "en", "pt"};
  const unsigned char *s = (const unsigned char *)text;
  int score[L_N] = {0, 0, 0};
  if (!text) return "und";
  pthread_once(&ht_once, ht_build);
  if (len > MAX_SCAN) len = MAX_SCAN;
  for (size_t i = 0; i < len;) {
    unsigned char c = s[i];
    if (c == 0xC2 && i + 1 < len && (s[i + 1] == 0xBF || s[i + 1] == 0xA1)) {
      score[L_ES] += 2; /* ¿ ¡ */
      i += 2;
      continue;
    }
    if (is_alpha(c) || (c == 0xC3 && i + 1 < len && latin1_letter(s[i + 1]))) {
      char w[MAX_WORD + 4];
      size_t wl;
      i = read_word(s, len, i, w, &wl, score);
      if (wl < MAX_WORD) score_word(w, wl, score);
      score_suffix(w, wl < MAX_WORD ? wl : strlen(w), score);
      continue;
    }
    i++;
  }
  int best = 0, second = -1;
  for (int l = 1; l < L_N; l++) {
    if (score[l] > score[best]) best = l;
  }
  for (int l = 0; l < L_N; l++) {
    if (l != best && (second < 0 || score[l] > score[second])) second = l;
  }
  if (score[best] < MIN_SCORE || score[best] <= score[second]) return "und";
  return names[best];
}
