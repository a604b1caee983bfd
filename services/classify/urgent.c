#include "urgent.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

/* lib's text.h by path: this directory's text.h (classify's) shadows it */
#include "../../lib/text.h"
#include "util.h"

/* Rule flags */
#define HYPER 1u   /* kill/die hyperbole: not when a waiting/comfort noun is in the clause */
#define NONVIOL 2u /* a threat: not when what is threatened is a fine, a cut-off, a complaint ... */

typedef struct {
  const char *pat; /* folded words; "a|b*" alternatives ('*' = prefix), "_" one word, "~" 0..2 words */
  const char *reason;
  float conf;
  unsigned flags;
} urule;

#define THR "threat"
#define GV "gender_violence"
#define SH "self_harm"
#define CHILD "child_at_risk"
#define MED "medical_emergency"
#define LIFE "danger_to_life"
#define ABU "abuse"
#define VIO "violence"

/* Word groups shared by several rules (string literal concatenation). */
#define ES_PARTNER                                                                                             \
  "pareja|expareja|ex|esposo|marido|pololo|expololo|conviviente|novio|exnovio|exesposo|exmarido|esposa|novia|" \
  "polola|exesposa"
#define ES_CHILD                                                                                              \
  "hija|hijo|hijas|hijos|nina|nino|ninas|ninos|guagua|guaguas|bebe|bebes|nieta|nieto|nietos|sobrina|sobrino|" \
  "menores|hijastra|hijastro"
#define EN_CHILD                                                                                                     \
  "child|children|son|daughter|baby|kid|kids|grandson|granddaughter|stepson|stepdaughter|toddler|infant|grandchild|" \
  "grandchildren"
#define EN_PARTNER "husband|partner|boyfriend|ex|wife|girlfriend|fiance|fiancee|stepfather|stepdad"

/* Confidence: 0.9+ for a phrase that says it outright, 0.8 for strong
 * phrases with a common innocent reading, 0.6-0.75 for weak signals. The
 * category rule (classifier.c) stays below every phrase. */
/* clang-format off */
static const urule RULES[] = {
    /* ---- es: amenazas ---- */
    {"amenaz* ~ matar*|muerte|cuchillo|arma|armas|pistola|revolver|machete|pegarme|golpearme|quemar*", THR, 0.95f, 0},
    {"me|nos|te amenaz*", THR, 0.85f, NONVIOL},
    {"amenazada|amenazado|amenazadas|amenazados", THR, 0.8f, NONVIOL},
    {"va|van|iba|iban|vas a matarme|matarnos|matarla|matarlo|matarte|matarlos|matarlas", THR, 0.95f, 0},
    {"me|nos|la|lo|te|los|las va|van|iba|iban|vas a matar", THR, 0.9f, HYPER},
    {"me|nos|la|lo|te quiere|quieren|queria|querian|intento|intentaron|trato|trataron matar", THR, 0.9f, HYPER},
    {"quiere|quieren|queria|intento|trato matarme|matarnos|matarla|matarlo", THR, 0.9f, 0},
    {"miedo de|a que me|nos|la|lo mate|maten|pegue|golpee|haga", THR, 0.9f, 0},
    {"tiene|tenia|saco|sacaron|trae|traia|porta|portaba|andaba|anda con? un|una arma|pistola|cuchillo|revolver|escopeta|machete", THR, 0.85f, 0},
    {"con un|una cuchillo|pistola|revolver|escopeta|machete|arma", THR, 0.75f, 0},
    {"me|nos apunto|apuntaron|apunta", THR, 0.8f, 0},
    {"me acosa|acosan|acosaba|persigue|persiguen|perseguia|hostiga", THR, 0.75f, 0},
    /* ---- es: violencia de genero ---- */
    {ES_PARTNER " ~ pega|pego|pegaba|golpea|golpeo|golpeaba|maltrata|maltrataba|agrede|agredio|violo|viola|ahorca|ahorco|estrangulo|empujo|amenaza|amenazo|amenazaba|encierra|encerro|quemo", GV, 0.95f, 0},
    {"violencia intrafamiliar|domestica|machista", GV, 0.9f, 0},
    {"violencia de genero", GV, 0.9f, 0},
    {"vif", GV, 0.75f, 0},
    {"femicid*|feminicid*", GV, 0.9f, 0},
    {"me|la violo|violaron|viola", GV, 0.9f, 0},
    {"fue|fui violada|violado", GV, 0.9f, 0},
    {"abuso|agresion|violencia sexual", GV, 0.85f, 0},
    {"violencia psicologica|fisica|economica", GV, 0.8f, 0},
    {"miedo de|a mi " ES_PARTNER, GV, 0.85f, 0},
    {"orden de alejamiento", GV, 0.75f, 0},
    /* ---- es: violencia, abuso ---- */
    {"me|nos pega|pego|pegaba|pegaron|golpea|golpeo|golpeaba|golpearon|agredio|agredieron|atacaron|ataco|asaltaron", VIO, 0.85f, 0},
    {"me|nos|la|lo ahorco|ahorca|estrangulo|apunalo|apunalaron", VIO, 0.9f, 0},
    {"apunal*|acuchill*|golpiza|paliza|baleado|baleada|balearon|dispararon|balacera", VIO, 0.8f, 0},
    {"agresion fisica", VIO, 0.8f, 0},
    {"me|nos|la|lo saco|sacaron la cresta", VIO, 0.85f, 0},
    {"constatar|constate|constato lesiones", VIO, 0.8f, 0},
    {"tocaciones|manose*", ABU, 0.85f, 0},
    {"abuso|abusaron|abusa|abusaba de mi|nosotros|ella", ABU, 0.85f, 0},
    {"maltrato fisico", ABU, 0.75f, 0},
    {"golpean|golpeaban|golpearon|pegan|pegaban|amarran|amarraban a ~ adultos|adulto|ancianos|anciana|anciano|abuelos|abuela|abuelo|residentes|pacientes", ABU, 0.85f, 0},
    /* ---- es: autolesion, suicidio ---- */
    {"me quiero|queria morir|matar|suicidar", SH, 0.95f, HYPER},
    {"quiero|queria morirme|matarme|suicidarme", SH, 0.95f, HYPER},
    {"me voy|iba a matar|suicidar", SH, 0.95f, HYPER},
    {"voy|iba a matarme|suicidarme|quitarme", SH, 0.95f, 0},
    {"quitarme|quitarse la vida", SH, 0.95f, 0},
    {"acabar con mi vida", SH, 0.95f, 0},
    {"no quiero vivir", SH, 0.85f, 0},
    {"no quiero seguir viviendo", SH, 0.85f, 0},
    {"sin|no tengo? ganas de vivir", SH, 0.85f, 0},
    {"ganas de morir|morirme|matarme", SH, 0.85f, HYPER},
    {"pensando|pienso|pense en matarme|suicidarme|quitarme|morirme|suicidio", SH, 0.9f, 0},
    {"suicid*", SH, 0.85f, 0},
    {"se quiere|queria matar|suicidar|morir", SH, 0.9f, HYPER},
    {"se va|iba a matar|suicidar", SH, 0.9f, HYPER},
    {"quiere|queria suicidarse|matarse", SH, 0.9f, 0},
    {"me quiero|queria|voy tirar|lanzar a|al|del|por metro|puente|ventana|balcon|edificio|tren", SH, 0.9f, 0},
    {"autolesion*|cortarme|hacerme dano", SH, 0.85f, 0},
    {"tomarme|tome|tomo todas las pastillas", SH, 0.8f, 0},
    /* ---- es: ninos en riesgo ---- */
    {"abus* de ~ " ES_CHILD, CHILD, 0.95f, 0},
    {"manose* a ~ " ES_CHILD, CHILD, 0.95f, 0},
    {"pega|pego|pegan|pegaba|golpea|golpeo|golpean|golpeaba|maltrata|maltrataba|maltratan a ~ " ES_CHILD, CHILD, 0.85f, 0},
    {"maltrato|abuso infantil", CHILD, 0.9f, 0},
    {"abuso|maltrato a|de menores", CHILD, 0.85f, 0},
    {ES_CHILD " ~ peligro|abusad*|golpead*", CHILD, 0.85f, 0},
    {ES_CHILD " sufre|sufren|sufria|vive|viven abuso|abusos|maltrato|violencia", CHILD, 0.9f, 0},
    /* ---- es: emergencia medica ---- */
    {"no respira|respiraba|reacciona", MED, 0.9f, 0},
    {"no puede|puedo|podia respirar", MED, 0.9f, 0},
    {"se esta desangrando|muriendo|ahogando|infartando", MED, 0.9f, HYPER},
    {"desangrando*|desangra", MED, 0.9f, 0},
    {"esta|quedo inconsciente", MED, 0.85f, 0},
    {"perdio|perdi el conocimiento", MED, 0.8f, 0},
    {"convulsion*", MED, 0.75f, 0},
    {"paro cardiaco|cardiorrespiratorio|respiratorio", MED, 0.85f, 0},
    {"le esta dando un infarto|ataque", MED, 0.85f, 0},
    {"tengo|tiene|siento dolor en|de el? pecho", MED, 0.7f, 0},
    {"sobredosis", MED, 0.8f, 0},
    /* ---- es: peligro de vida ---- */
    {"vida corre|esta en? peligro", LIFE, 0.9f, 0},
    {"estoy|estamos|esta|estan|siento|senti|sentia|sentimos en peligro", LIFE, 0.8f, 0},
    {"peligro de muerte", LIFE, 0.85f, 0},
    {"riesgo vital", LIFE, 0.85f, 0},
    {"se va|van a morir", LIFE, 0.85f, HYPER},
    {"me|nos voy|vamos a morir", LIFE, 0.75f, HYPER},
    {"secuestr*", LIFE, 0.8f, 0},
    {"fuga de gas", LIFE, 0.8f, 0},
    {"hay un incendio", LIFE, 0.8f, 0},
    {"no me siento|senti segura|seguro en mi|casa", LIFE, 0.75f, 0},
    /* ---- en: threats ---- */
    {"threaten*|threat* ~ kill|hurt|harm|stab|shoot|beat|burn|rape", THR, 0.95f, 0},
    {"threatened|threatening|threatens me|us|my|her|him", THR, 0.85f, NONVIOL},
    {"was|were|been|being|felt threatened", THR, 0.8f, NONVIOL},
    {"death threat*", THR, 0.95f, 0},
    {"threats from|against", THR, 0.75f, NONVIOL},
    {"going|gonna|want|wants|wanted|tried|trying to? kill me|us|her|him|you", THR, 0.9f, HYPER},
    {"will|would|d kill me|us|her|him", THR, 0.9f, HYPER},
    {"going|gonna|tried|trying to? hurt me|us", THR, 0.85f, HYPER},
    {"has|had|have|with|carrying|carries|pulled a|his gun|knife|weapon|firearm|machete", THR, 0.85f, 0},
    {"pointed a gun|knife", THR, 0.9f, 0},
    {"at gunpoint|knifepoint", THR, 0.9f, 0},
    {"stalking|stalks|harassing|harasses me|us|her", THR, 0.75f, 0},
    /* ---- en: gender violence ---- */
    {EN_PARTNER " ~ hits|hit|beats|beat|punched|punches|slapped|slaps|choked|chokes|strangled|strangles me|us|her|my|our|the", GV, 0.95f, 0},
    {EN_PARTNER " ~ raped|rapes|abuses|abused|abusing|threatens|threatened|threatening|beating", GV, 0.95f, 0},
    {"domestic violence|abuse", GV, 0.9f, 0},
    {"afraid|scared|terrified|frightened of my " EN_PARTNER, GV, 0.85f, 0},
    {"restraining order", GV, 0.75f, 0},
    {"abusive partner|relationship|husband|boyfriend|marriage|ex", GV, 0.85f, 0},
    {"femicide", GV, 0.9f, 0},
    {"rape|raped|rapist|raping", GV, 0.9f, 0},
    {"sexually assaulted|abused", GV, 0.9f, 0},
    {"sexual assault|abuse", GV, 0.85f, 0},
    /* ---- en: violence, abuse ---- */
    {"he|she|they|someone|somebody|man|woman|guy hit|hits|beat|beats|punched|slapped|choked|chokes|strangled|strangles me|us|her|him", VIO, 0.85f, 0},
    {"punched|slapped|attacked|assaulted|strangled|stabbed me|us", VIO, 0.85f, 0},
    {"beat|beaten me|us|her|him up", VIO, 0.85f, 0},
    {"attack|attacking me|us", VIO, 0.8f, 0},
    {"was|were|been|got stabbed|shot|attacked|assaulted|beaten", VIO, 0.85f, 0},
    {"violent towards|to me|us|her", VIO, 0.75f, 0},
    {"physically abused|assaulted|attacked", ABU, 0.85f, 0},
    {"abused|abusing|abuses me|us|her|him|patients|residents", ABU, 0.85f, 0},
    {"abused|abusing|abuses|hit|hits|beat|beats|hitting my|our|the mother|mum|mom|father|dad|grandmother|grandfather|gran|nan|grandad|patient|patients|resident|residents", ABU, 0.85f, 0},
    {"being abused", ABU, 0.85f, 0},
    {"physical|emotional|elder abuse", ABU, 0.8f, 0},
    {"verbal abuse", ABU, 0.7f, 0},
    /* ---- en: self-harm ---- */
    {"kill|killing myself", SH, 0.95f, 0},
    {"end|ending|take|taking my own? life", SH, 0.95f, 0},
    {"end it all", SH, 0.85f, 0},
    {"want|wanted|wanting|wants|wanna to? die", SH, 0.9f, HYPER},
    {"hurt|hurting|harm|harming|cut|cutting myself", SH, 0.85f, 0},
    {"harm|harming herself|himself|themselves", SH, 0.85f, 0},
    {"self harm*", SH, 0.85f, 0},
    {"selfharm*|suicid*", SH, 0.85f, 0},
    {"don|didn|not t? want to live|exist", SH, 0.85f, 0},
    {"don|didn|not t? want to be alive", SH, 0.85f, 0},
    {"no reason to live", SH, 0.85f, 0},
    {"better off dead", SH, 0.9f, 0},
    /* ---- en: children at risk ---- */
    {EN_CHILD " ~ in|at danger|risk", CHILD, 0.9f, 0},
    {EN_CHILD " ~ abused|beaten|molested", CHILD, 0.9f, 0},
    {EN_CHILD " is|are|was|were being hit|hurt", CHILD, 0.9f, 0},
    {"abus*|hits|beats|beat|hit my|her|his|their|a|the " EN_CHILD, CHILD, 0.9f, 0},
    {"child|children abuse", CHILD, 0.9f, 0},
    {EN_CHILD " ~ not safe", CHILD, 0.85f, 0},
    {"kidnap*|abduct*", LIFE, 0.8f, 0},
    /* ---- en: medical emergency ---- */
    {"not|stopped breathing", MED, 0.9f, 0},
    {"isn|wasn t breathing", MED, 0.9f, 0},
    {"can|couldn t breathe", MED, 0.85f, 0},
    {"cannot breathe", MED, 0.85f, 0},
    {"unable|struggling to breathe", MED, 0.85f, 0},
    {"bleeding heavily|badly|profusely", MED, 0.75f, 0},
    {"bleeding to death", MED, 0.9f, 0},
    {"heavy bleeding", MED, 0.7f, 0},
    {"is|s unconscious|unresponsive", MED, 0.85f, 0},
    {"having a heart attack", MED, 0.85f, 0},
    {"having a seizure|stroke", MED, 0.85f, 0},
    {"have|having|has chest pain*", MED, 0.7f, 0},
    {"overdos*", MED, 0.75f, 0},
    /* ---- en: danger to life ---- */
    {"life is|s in danger", LIFE, 0.9f, 0},
    {"am|are|is|was|were|be|m|re|s in danger", LIFE, 0.8f, 0},
    {"fear|feared|afraid|scared|fearing|fearful for my|our|her|his life", LIFE, 0.9f, 0},
    {"feel|felt|feeling unsafe", LIFE, 0.65f, 0},
    {"don|didn t feel safe", LIFE, 0.65f, 0},
    {"not feel|feeling safe", LIFE, 0.65f, 0},
    {"gas leak", LIFE, 0.8f, 0},
    {"going to die", LIFE, 0.85f, HYPER},
};
/* clang-format on */
#define NRULES (sizeof RULES / sizeof *RULES)

/* Negators; "bridge" words may stand between a negator and the match
 * (clitics, auxiliaries, subjects: "no me lo", "did not", "nunca me senti"). */
static const char *const NEGATORS[] = {"no",    "nunca", "jamas", "tampoco", "nadie", "ni",     "sin",     "not",
                                       "never", "didn",  "don",   "doesn",   "wasn",  "weren",  "isn",     "aren",
                                       "hasn",  "haven", "hadn",  "nobody",  "none",  "cannot", "without", NULL};
static const char *const BRIDGES[] = {"me",   "te",   "se",     "le",    "les",  "lo",    "la",     "los",    "las",
                                      "nos",  "ha",   "han",    "he",    "has",  "habia", "hubo",   "hay",    "fue",
                                      "fui",  "era",  "estaba", "estoy", "esta", "senti", "siento", "sentia", "sintio",
                                      "i",    "t",    "was",    "were",  "been", "be",    "ever",   "even",   "feel",
                                      "felt", "did",  "do",     "does",  "had",  "have",  "really", "one",    "longer",
                                      "she",  "they", "we",     "you",   "it",   "there", "any",    NULL};
/* Nouns that make "me va a matar" a complaint, not danger ("la espera me
 * va a matar", "this queue will kill me"). */
static const char *const HYPERBOLE[] = {
    "espera",   "esperar", "fila",      "filas",       "cola",          "colas",     "burocracia", "tramite",
    "tramites", "calor",   "frio",      "trafico",     "taco",          "papeleo",   "cuenta",     "cuentas",
    "precio",   "precios", "dolor",     "risa",        "queue",         "queues",    "wait",       "waiting",
    "traffic",  "heat",    "paperwork", "bureaucracy", "hold",          "suspense",  "bill",       "bills",
    "price",    "prices",  "boredom",   "laughing",    "embarrassment", "curiosity", NULL};
/* "<match> de risa", "<match> of embarrassment", "abuso de mi confianza":
 * idioms, right after the match or after a preposition. */
static const char *const IDIOM_TAIL[] = {
    "risa",   "ganas",    "hambre",   "sueno",         "frio",      "calor",     "verguenza", "aburrimiento", "envidia",
    "pena",   "nervios",  "amor",     "cansancio",     "confianza", "paciencia", "buena",     "extincion",    "quiebra",
    "cierre", "laughter", "laughing", "embarrassment", "boredom",   "shame",     "hunger",    "curiosity",    "envy",
    "fright", "trying",   "working",  "trust",         "patience",  "closing",   "closure",   "extinction",   NULL};
/* What a non-violent threat threatens: "me amenazaron con multarme". */
static const char *const NONVIOLENT[] = {
    "multa",     "multas",      "multarme",  "multarnos",   "cortar",     "corte",   "desalojo", "desalojarme",
    "demanda",   "demandarme",  "denunciar", "denunciarme", "despedirme", "despido", "cobrar",   "cobrarme",
    "embargo",   "cancelar",    "suspender", "cerrar",      "sacarme",    "echarme", "fine",     "fines",
    "evict",     "eviction",    "evicting",  "sue",         "suing",      "charge",  "charging", "cancel",
    "report",    "reporting",   "fire",      "sack",        "close",      "closing", "remove",   "removing",
    "discharge", "discharging", "legal",     "police",      NULL};

/* ---- compiled rules ---- */
enum { T_WORD = 0, T_ONE = 1, T_GAP = 2 };
#define MAX_TOK 10
#define MAX_ALT 4096
#define IDX_SLOTS 2048 /* power of two, > 2x the exact first-token alternatives */
#define PFX_MAX 128
typedef struct {
  const char *s;
  uint8_t len, prefix;
} ualt;
typedef struct {
  uint8_t kind, optional;
  uint16_t alt0, nalt;
} utok;
typedef struct {
  utok tok[MAX_TOK];
  uint8_t ntok;
} ucomp;

static struct {
  ucomp rule[NRULES];
  ualt alt[MAX_ALT];
  size_t nalt;
  /* First-word index: an exact first-token alternative -> the rules it
   * starts (open addressing on the word), and prefix alternatives
   * ("amenaz*") by their first two bytes. Almost every document word finds
   * nothing in either. */
  struct {
    const char *s;
    uint8_t len;
    uint16_t r0, nr; /* rules in pool[r0, r0 + nr) */
  } slot[IDX_SLOTS];
  uint16_t pool[MAX_ALT];
  size_t npool;
  uint16_t pfx[PFX_MAX][2]; /* (first two bytes, rule) */
  size_t npfx;
  uint64_t pfx2[65536 / 64]; /* bit (byte0 << 8 | byte1) of the prefix alternatives */
  uint64_t ex2[65536 / 64];  /* the same for the exact ones (byte1 = 0 for one-byte words) */
  int ok;
} UC;
static pthread_once_t UC_once = PTHREAD_ONCE_INIT;

static size_t idx_hash(const char *s, size_t len) {
  uint32_t h = es_fnv1a(ES_FNV1A_BASIS, s, len);
  return (h ^ h >> 15) & (IDX_SLOTS - 1);
}

static unsigned first2(const char *s, size_t len) {
  return (unsigned)(unsigned char)s[0] << 8 | (len > 1 ? (unsigned char)s[1] : 0u);
}

static void compile(void) {
  for (size_t r = 0; r < NRULES; r++) {
    const char *p = RULES[r].pat;
    ucomp *c = &UC.rule[r];
    while (*p) {
      const char *e = strchr(p, ' ');
      size_t len = e ? (size_t)(e - p) : strlen(p);
      if (c->ntok == MAX_TOK) return; /* UC.ok stays 0: the unit test fails */
      utok *t = &c->tok[c->ntok++];
      if (len > 0 && p[len - 1] == '?') t->optional = 1, len--;
      if (len == 1 && p[0] == '_') t->kind = T_ONE;
      else if (len == 1 && p[0] == '~') t->kind = T_GAP;
      else {
        t->kind = T_WORD;
        t->alt0 = (uint16_t)UC.nalt;
        const char *a = p, *end = p + len;
        while (a < end) {
          const char *bar = memchr(a, '|', (size_t)(end - a));
          size_t al = bar ? (size_t)(bar - a) : (size_t)(end - a);
          if (UC.nalt == MAX_ALT || al == 0 || al > 255) return;
          ualt *x = &UC.alt[UC.nalt++];
          x->prefix = a[al - 1] == '*';
          x->s = a;
          x->len = (uint8_t)(al - x->prefix);
          t->nalt++;
          a += al + (bar ? 1 : 0);
        }
      }
      p += len + (t->optional ? 1 : 0) + (e ? 1 : 0);
    }
    if (c->ntok == 0 || c->tok[0].kind != T_WORD || c->tok[0].optional) return;
  }
  /* the index: count rules per exact word, lay the lists out, fill them */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t r = 0; r < NRULES; r++) {
      const utok *t0 = &UC.rule[r].tok[0];
      for (uint16_t k = 0; k < t0->nalt; k++) {
        const ualt *a = &UC.alt[t0->alt0 + k];
        if (a->prefix) {
          if (pass == 1) continue;
          if (UC.npfx == PFX_MAX || a->len < 2) return;
          unsigned key = (unsigned)(unsigned char)a->s[0] << 8 | (unsigned char)a->s[1];
          UC.pfx2[key >> 6] |= 1ull << (key & 63);
          UC.pfx[UC.npfx][0] = (uint16_t)key;
          UC.pfx[UC.npfx++][1] = (uint16_t)r;
          continue;
        }
        unsigned key = first2(a->s, a->len);
        UC.ex2[key >> 6] |= 1ull << (key & 63);
        size_t h = idx_hash(a->s, a->len);
        while (UC.slot[h].s && (UC.slot[h].len != a->len || memcmp(UC.slot[h].s, a->s, a->len) != 0))
          h = (h + 1) & (IDX_SLOTS - 1);
        if (pass == 0) {
          if (!UC.slot[h].s) UC.slot[h].s = a->s, UC.slot[h].len = a->len;
          UC.slot[h].nr++;
        } else {
          size_t n = UC.slot[h].r0 + UC.slot[h].nr;
          if (UC.slot[h].nr > 0 && UC.pool[n - 1] == r) continue; /* a word listed twice in one token */
          UC.pool[n] = (uint16_t)r;
          UC.slot[h].nr++;
        }
      }
    }
    if (pass == 0) {
      for (size_t h = 0; h < IDX_SLOTS; h++) {
        if (UC.npool + UC.slot[h].nr > MAX_ALT) return;
        UC.slot[h].r0 = (uint16_t)UC.npool;
        UC.npool += UC.slot[h].nr;
        UC.slot[h].nr = 0;
      }
    }
  }
  UC.ok = 1;
}

static int alt_match(const ualt *a, const cl_span *w) {
  if (a->prefix) return w->len >= a->len && memcmp(w->s, a->s, a->len) == 0;
  return w->len == a->len && memcmp(w->s, a->s, a->len) == 0;
}

static int tok_match(const utok *t, const cl_span *w) {
  for (uint16_t k = 0; k < t->nalt; k++)
    if (alt_match(&UC.alt[t->alt0 + k], w)) return 1;
  return 0;
}

static int in_list(const char *const *list, const cl_span *w) {
  for (; *list; list++)
    if ((*list)[0] == w->s[0] && strlen(*list) == w->len && memcmp(*list, w->s, w->len) == 0) return 1;
  return 0;
}

/* A clause mark in the folded text between word a and word a + 1. */
static int boundary(const cl_text *t, size_t a) {
  const char *s = t->words[a].s + t->words[a].len, *e = t->words[a + 1].s;
  for (; s < e; s++)
    if (*s == '.' || *s == ',' || *s == ';' || *s == ':' || *s == '!' || *s == '?' || *s == '\n') return 1;
  return 0;
}

/* Matches rule tokens k.. at word i; the last matched word in *last.
 * Gaps skip 0..2 words within the clause and never a negator. */
static int match_from(const cl_text *t, const ucomp *c, int k, size_t i, size_t *last) {
  if (k == c->ntok) return 1;
  const utok *tk = &c->tok[k];
  size_t n = t->nwords;
  if (i > 0 && k > 0 && i < n && boundary(t, i - 1)) return 0; /* a match stays in its clause */
  if (tk->kind == T_GAP) {
    for (size_t skip = 0; skip <= 2 && i + skip <= n; skip++) {
      if (skip > 0) {
        size_t g = i + skip - 1;
        /* never over a negator ("mi hijo no esta en peligro") nor a
         * reflexive ("mi esposo se golpeo": he hit himself) */
        if (in_list(NEGATORS, &t->words[g]) || (t->words[g].len == 2 && memcmp(t->words[g].s, "se", 2) == 0) ||
            (g + 1 < n && boundary(t, g)))
          return 0;
      }
      if (match_from(t, c, k + 1, i + skip, last)) return 1;
    }
    return 0;
  }
  if (i < n && (tk->kind == T_ONE || tok_match(tk, &t->words[i]))) {
    size_t save = *last;
    *last = i;
    if (match_from(t, c, k + 1, i + 1, last)) return 1;
    *last = save;
  }
  if (tk->optional) return match_from(t, c, k + 1, i, last);
  return 0;
}

/* A negator before word i, across bridge words, within the clause. */
static int negated(const cl_text *t, size_t i) {
  for (size_t k = 1; k <= 3 && k <= i; k++) {
    size_t j = i - k;
    if (boundary(t, j)) return 0;
    if (in_list(NEGATORS, &t->words[j])) return 1;
    if (!in_list(BRIDGES, &t->words[j])) return 0;
  }
  return 0;
}

/* An idiom tail right after the match: "de (la) risa", "of embarrassment". */
static int idiom_tail(const cl_text *t, size_t last) {
  size_t n = t->nwords, j = last + 1;
  if (j >= n || boundary(t, last)) return 0;
  if (in_list(IDIOM_TAIL, &t->words[j])) return 1;
  static const char *const PREP[] = {"de", "of", "from", "with", "por", NULL};
  static const char *const ART[] = {"la", "el", "tanta", "tanto", "the", "pure", "sheer", NULL};
  if (!in_list(PREP, &t->words[j])) return 0;
  if (++j >= n || boundary(t, j - 1)) return 0;
  if (in_list(ART, &t->words[j]) && j + 1 < n && !boundary(t, j)) j++;
  return in_list(IDIOM_TAIL, &t->words[j]);
}

/* What the threat is about, within 3 words after the match ("amenazó con
 * cortarme el agua", "threatened to fine me"). */
static int nonviolent(const cl_text *t, size_t last) {
  for (size_t j = last + 1; j <= last + 3 && j < t->nwords; j++) {
    if (boundary(t, j - 1)) break;
    if (in_list(NONVIOLENT, &t->words[j])) return 1;
  }
  return 0;
}

/* A hyperbole noun within 4 words before or 3 after, in the same clause. */
static int hyperbole(const cl_text *t, size_t first, size_t last) {
  for (size_t k = 1; k <= 4 && k <= first; k++) {
    if (boundary(t, first - k)) break;
    if (in_list(HYPERBOLE, &t->words[first - k])) return 1;
  }
  for (size_t j = last + 1; j <= last + 3 && j < t->nwords; j++) {
    if (boundary(t, j - 1)) break;
    if (in_list(HYPERBOLE, &t->words[j])) return 1;
  }
  return 0;
}

/* Rule r at word i: a better hit than *hit (or the first) replaces it. */
static void try_rule(const cl_text *t, size_t r, size_t i, cl_urgent_hit *hit, int *found) {
  const urule *u = &RULES[r];
  if (*found && (u->conf < hit->conf || (u->conf == hit->conf && hit->first <= i))) return;
  size_t last = i;
  if (!match_from(t, &UC.rule[r], 0, i, &last)) return;
  if (negated(t, i) || idiom_tail(t, last)) return;
  if ((u->flags & HYPER) && hyperbole(t, i, last)) return;
  if ((u->flags & NONVIOL) && nonviolent(t, last)) return;
  *hit = (cl_urgent_hit){u->reason, u->conf, i, last, u->pat};
  *found = 1;
}

int cl_urgent_detect(const cl_text *t, cl_urgent_hit *hit) {
  pthread_once(&UC_once, compile);
  if (!UC.ok) return 0;
  int found = 0;
  for (size_t i = 0; i < t->nwords; i++) {
    const cl_span *w = &t->words[i];
    if (w->len == 0 || w->len > 255) continue;
    unsigned key = first2(w->s, w->len);
    if (UC.ex2[key >> 6] >> (key & 63) & 1)
      for (size_t h = idx_hash(w->s, w->len); UC.slot[h].s; h = (h + 1) & (IDX_SLOTS - 1))
        if (UC.slot[h].len == w->len && memcmp(UC.slot[h].s, w->s, w->len) == 0) {
          for (uint16_t j = 0; j < UC.slot[h].nr; j++) try_rule(t, UC.pool[UC.slot[h].r0 + j], i, hit, &found);
          break;
        }
    if (w->len < 2 || !(UC.pfx2[key >> 6] >> (key & 63) & 1)) continue;
    for (size_t j = 0; j < UC.npfx; j++)
      if (UC.pfx[j][0] == key) try_rule(t, UC.pfx[j][1], i, hit, &found);
  }
  return found;
}

/* Copies s[0, n) collapsing whitespace; -1 when it is not valid UTF-8. */
static int copy_clean(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0, i = 0;
  int space = 0;
  while (i < n) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (k <= 0) return -1;
    if (cp < 0x20 || cp == 0x7f || cp == ' ' || cp == 0x85 || cp == 0xa0 || cp == 0x2028 || cp == 0x2029) {
      space = 1;
      i += (size_t)k;
      continue;
    }
    size_t need = (size_t)k + (space && o > 0);
    if (o + need + 1 > cap) break; /* whole code points only */
    if (space && o > 0) out[o++] = ' ';
    space = 0;
    memcpy(out + o, s + i, (size_t)k);
    o += (size_t)k;
    i += (size_t)k;
  }
  out[o] = '\0';
  return 0;
}

void cl_urgent_phrase(const cl_text *t, const char *text, size_t len, const cl_urgent_hit *hit, char *out, size_t cap) {
  if (cap == 0) return;
  out[0] = '\0';
  if (hit->first > hit->last || hit->last >= t->nwords) return;
  /* the original's words, counted as the folded ones were; a text whose
   * folding changes the word count (NFKC "½" -> "1⁄2") falls back */
  size_t pos = 0, st, wl, nw = 0, from = 0, to = 0;
  while ((wl = es_text_next_word(text, len, &pos, &st)) > 0) {
    if (nw == hit->first) from = st;
    if (nw == hit->last) to = st + wl;
    nw++;
  }
  if (nw == t->nwords && to > from && copy_clean(text + from, to - from, out, cap) == 0) return;
  const char *a = t->words[hit->first].s, *b = t->words[hit->last].s + t->words[hit->last].len;
  if (copy_clean(a, (size_t)(b - a), out, cap) != 0) out[0] = '\0';
}

size_t cl_urgent_nrules(void) { return NRULES; }

const char *cl_urgent_rule(size_t i, const char **reason, float *conf) {
  if (i >= NRULES) return NULL;
  if (reason) *reason = RULES[i].reason;
  if (conf) *conf = RULES[i].conf;
  return RULES[i].pat;
}
