/* Unit tests for the danger detector (urgent.h): a table of Spanish and
 * English phrases that must be urgent with their reason, their negated or
 * harmless look-alikes that must not be, a table of paraphrases with a
 * documented minimum recall, the matched phrase as written, and the
 * false-positive rate on the NHS ordinary comments (docs/classification.md,
 * "Urgent: danger, not category"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <utf8proc.h>

#include "text.h"
#include "urgent.h"
#include "urgent_eval.h"
#include "util.h"

/* Documented in docs/classification.md. */
#define MIN_VARIANT_RECALL 0.75
#define MAX_ORDINARY_FPR 0.01

typedef struct {
  const char *text, *reason;
} urgent_case;

/* clang-format off */
static const urgent_case POSITIVE[] = {
    /* es */
    {"Mi expareja me amenazó con matarme", "gender_violence"},
    {"me amenazó con matarme", "threat"},
    {"mi pareja me pega", "gender_violence"},
    {"Mi marido me golpea todos los días", "gender_violence"},
    {"me quiero morir", "self_harm"},
    {"me voy a matar", "self_harm"},
    {"quiero quitarme la vida", "self_harm"},
    {"abusó de mi hija", "child_at_risk"},
    {"le pega a los niños", "child_at_risk"},
    {"mi papá no respira", "medical_emergency"},
    {"mi hermano se está desangrando", "medical_emergency"},
    {"el vecino tiene un arma", "threat"},
    {"dice que me va a matar", "threat"},
    {"sufro violencia intrafamiliar", "gender_violence"},
    {"fue un femicidio", "gender_violence"},
    {"mi hijo está en peligro", "child_at_risk"},
    {"Me amenazaron con un cuchillo en la fila", "threat"},
    {"ya no quiero vivir", "self_harm"},
    {"estoy pensando en suicidarme", "self_harm"},
    {"mi pololo me ahorcó", "gender_violence"},
    {"tengo miedo de que me mate", "threat"},
    {"me violaron", "gender_violence"},
    {"mi mamá está inconsciente", "medical_emergency"},
    {"mi vida corre peligro", "danger_to_life"},
    {"me golpearon afuera del consultorio", "violence"},
    {"no puedo respirar", "medical_emergency"},
    {"mi abuela no reacciona", "medical_emergency"},
    {"los cuidadores golpean a los ancianos", "abuse"},
    {"mi esposo abusa de mí", "abuse"},
    {"me quiero matar", "self_harm"},
    {"hay violencia de género en mi casa", "gender_violence"},
    {"mi hija sufre abuso sexual", "child_at_risk"},
    {"mi papá se está muriendo, ayuda", "medical_emergency"},
    {"me apuntó con una pistola", "threat"},
    {"secuestraron a mi hermano", "danger_to_life"},
    {"creo que hay una fuga de gas", "danger_to_life"},
    {"no me siento segura en mi casa", "danger_to_life"},
    {"ME AMENAZARON DE MUERTE", "threat"},
    {"anoche me sacó la cresta", "violence"},
    {"mi tío manoseó a mi hija", "child_at_risk"},
    {"sufro violencia psicológica", "gender_violence"},
    {"mi hijo se quiere matar", "self_harm"},
    {"mi hermana dice que se va a suicidar", "self_harm"},
    {"me quiero tirar al metro", "self_harm"},
    {"tengo miedo de mi expareja", "gender_violence"},
    /* en */
    {"He threatened to kill me", "threat"},
    {"I am going to hurt myself", "self_harm"},
    {"he hits me", "violence"},
    {"my husband hits me", "gender_violence"},
    {"my child is in danger", "child_at_risk"},
    {"I can't breathe", "medical_emergency"},
    {"I feel suicidal", "self_harm"},
    {"I want to kill myself", "self_harm"},
    {"I want to die", "self_harm"},
    {"my boyfriend beats me", "gender_violence"},
    {"she has a knife", "threat"},
    {"my partner threatened to kill me", "gender_violence"},
    {"my dad is not breathing", "medical_emergency"},
    {"he is bleeding to death", "medical_emergency"},
    {"I was raped", "gender_violence"},
    {"my daughter is being abused", "child_at_risk"},
    {"someone is stalking me", "threat"},
    {"my life is in danger", "danger_to_life"},
    {"I fear for my life", "danger_to_life"},
    {"my ex pointed a gun at me", "threat"},
    {"there is domestic violence at home", "gender_violence"},
    {"he abuses the children", "child_at_risk"},
    {"my mum is unconscious", "medical_emergency"},
    {"I took an overdose", "medical_emergency"},
    {"I don't want to live anymore", "self_harm"},
    {"she is having a seizure", "medical_emergency"},
    {"a man attacked me in the car park", "violence"},
    {"I was stabbed", "violence"},
    {"the carers abused my grandmother", "abuse"},
    {"I'm going to end my life", "self_harm"},
    {"my baby stopped breathing", "medical_emergency"},
    {"he said he would kill me", "threat"},
    {"I have been self-harming", "self_harm"},
    {"my son is at risk", "child_at_risk"},
    {"I keep getting death threats", "threat"},
    {"my partner strangled me", "gender_violence"},
    {"I feel unsafe at home", "danger_to_life"},
    {"There's a gas leak", "danger_to_life"},
    {"he was shot", "violence"},
    {"I'm scared of my husband", "gender_violence"},
    {"he is going to hurt me", "threat"},
    {"he has a restraining order but keeps coming", "gender_violence"},
    {"I'm better off dead", "self_harm"},
};

static const char *const NEGATIVE[] = {
    /* es: idioms, negation, safety, complaints */
    "me muero de ganas de volver",
    "me muero de risa con el guardia",
    "fuimos a matar el tiempo a la plaza",
    "me sentí segura en todo momento",
    "no me amenazó nadie",
    "nunca me sentí en peligro",
    "la espera me va a matar",
    "me mata la espera",
    "esta fila me va a matar",
    "me quiero morir de la vergüenza",
    "el maltrato del personal es horrible",
    "me amenazaron con multarme",
    "el doctor me cortó la llamada",
    "mi hijo no está en peligro",
    "no hubo violencia intrafamiliar",
    "el parque está en peligro de cierre",
    "me tocó esperar tres horas",
    "el niño de la recepción fue muy amable",
    "nadie me golpeó, todo bien",
    "la atención fue excelente, me sentí seguro",
    "quiero matricular a mi hija",
    "me voy a morir de hambre esperando",
    "abusó de mi confianza",
    "el calor me va a matar",
    "los niños juegan seguros en la plaza",
    "hay mucha violencia en la tele",
    "el trámite me quiere matar",
    "pensé que iba a esperar menos",
    "la doctora me sacó un lunar",
    "mi esposo se golpeó la cabeza",
    "se quiere morir de la risa",
    "tengo miedo de la aguja",
    "me va a pegar la gripe",
    "le tocó a mi hijo el último turno",
    /* en */
    "felt safe",
    "Happy with staff. Felt safe and comfortable.",
    "I did not feel unsafe at any point",
    "we were killing time in the waiting room",
    "this queue is killing me",
    "the wait will kill me",
    "nobody threatened me",
    "I was never in danger",
    "he did not hit me, he was lovely",
    "I was dying to see the doctor",
    "I could die of embarrassment",
    "the nurse took my blood pressure",
    "Didn't feel unsafe",
    "life threatening conditions are seen first",
    "dangerous levels of staffing",
    "I nearly died laughing",
    "my child is not in danger",
    "I am not suicidal",
    "they threatened to fine me",
    "I can breathe easily now",
    "killing myself laughing at the jokes",
    "the staff keep me safe",
    "no one attacked me",
    "we felt very safe and well cared for",
    "my son had a great time",
    "The paramedics made my little girl feel safe",
    "there was no abuse of any kind",
    "I want to thank the crew",
    "my husband hit his head when he fell",
    "I no longer have suicidal thoughts",
    "I'm scared of needles",
    "the injection is not going to hurt",
};

/* Paraphrases not used to write the rules: only their recall is asserted
 * (MIN_VARIANT_RECALL); the misses are the detector's known gaps. */
static const char *const VARIANTS[] = {
    "mi conviviente me agrede",
    "el papá de mis hijos me golpeaba",
    "me dijo que me iba a matar si lo denunciaba",
    "no aguanto más, me quiero morir",
    "estoy pensando en quitarme la vida",
    "mi hija de 5 años está sola y en peligro",
    "mi abuelo se desmayó y no reacciona",
    "el tipo sacó un cuchillo",
    "mi exesposo amenazó con llevarse a los niños",
    "a mi vecina la golpea el marido",
    "tengo ganas de morirme",
    "She punched me in the face",
    "My stepdad beats my little brother",
    "I keep thinking about killing myself",
    "my wife tried to stab me",
    "he threatened me with a knife",
    "I think I'm having a heart attack",
    "our daughter is being hurt at home",
    "someone broke in and attacked us",
    "I self-harm when I'm stressed",
    "my neighbour said he will shoot us",
    "he chokes me when he is drunk",
    "my baby isn't breathing",
    "the man next door has a gun",
};
/* clang-format on */

#define N(a) (sizeof(a) / sizeof *(a))

static int detect(cl_text *t, const char *s, cl_urgent_hit *h) {
  assert_int_equal(cl_text_analyze(t, s, strlen(s), NULL), 0);
  return cl_urgent_detect(t, h);
}

static void test_rules_compile(void **state) {
  (void)state;
  assert_true(cl_urgent_nrules() > 100);
  for (size_t i = 0; i < cl_urgent_nrules(); i++) {
    const char *reason;
    float conf;
    assert_non_null(cl_urgent_rule(i, &reason, &conf));
    assert_true(conf > 0.6f && conf <= 1.0f); /* every phrase outranks the category rule (<= 0.5) */
    static const char *const VOCAB[] = {"threat",        "gender_violence",   "self_harm",
                                        "child_at_risk", "medical_emergency", "danger_to_life",
                                        "abuse",         "violence"};
    int known = 0;
    for (size_t v = 0; v < N(VOCAB); v++) known |= strcmp(reason, VOCAB[v]) == 0;
    assert_true(known);
  }
  assert_null(cl_urgent_rule(cl_urgent_nrules(), NULL, NULL));
}

static void test_phrase_table(void **state) {
  (void)state;
  cl_text *t = cl_text_new();
  cl_urgent_hit h;
  size_t es = 0;
  for (size_t i = 0; i < N(POSITIVE); i++) {
    if (!detect(t, POSITIVE[i].text, &h)) fail_msg("not urgent: \"%s\"", POSITIVE[i].text);
    if (strcmp(h.reason, POSITIVE[i].reason) != 0)
      fail_msg("\"%s\": reason %s (rule \"%s\"), want %s", POSITIVE[i].text, h.reason, h.rule, POSITIVE[i].reason);
    assert_true(h.first <= h.last && h.last < t->nwords);
    es += t->lang == CL_LANG_ES;
  }
  for (size_t i = 0; i < N(NEGATIVE); i++)
    if (detect(t, NEGATIVE[i], &h)) fail_msg("urgent (%s, rule \"%s\"): \"%s\"", h.reason, h.rule, NEGATIVE[i]);
  assert_true(N(POSITIVE) >= 40 && N(NEGATIVE) >= 40);
  assert_true(es >= 20); /* both languages are covered */
  cl_text_free(t);
}

static void test_variant_recall(void **state) {
  (void)state;
  cl_text *t = cl_text_new();
  cl_urgent_hit h;
  size_t hit = 0;
  for (size_t i = 0; i < N(VARIANTS); i++) {
    int u = detect(t, VARIANTS[i], &h);
    hit += u;
    if (!u) printf("  variant missed: %s\n", VARIANTS[i]);
  }
  double recall = (double)hit / N(VARIANTS);
  printf("  variant recall %zu/%zu = %.3f (minimum %.2f)\n", hit, N(VARIANTS), recall, MIN_VARIANT_RECALL);
  assert_true(recall >= MIN_VARIANT_RECALL);
  cl_text_free(t);
}

static int valid_utf8(const char *s) {
  size_t n = strlen(s), i = 0;
  while (i < n) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (k <= 0) return 0;
    i += (size_t)k;
  }
  return 1;
}

static void test_phrase_as_written(void **state) {
  (void)state;
  cl_text *t = cl_text_new();
  cl_urgent_hit h;
  char out[96];
  const char *s = "Hola. Mi EXPAREJA  me amenazó\t con matarme!!";
  assert_true(detect(t, s, &h));
  cl_urgent_phrase(t, s, strlen(s), &h, out, sizeof out);
  assert_string_equal(out, "EXPAREJA me amenazó"); /* the partner rule: earliest of two at 0.95 */
  /* NFKC changes the word count ("½" -> "1⁄2"): the folded words instead */
  s = "½ Me amenazó con matarme";
  assert_true(detect(t, s, &h));
  cl_urgent_phrase(t, s, strlen(s), &h, out, sizeof out);
  assert_string_equal(out, "amenazo con matarme");
  /* a long match is cut to 95 bytes on a UTF-8 boundary */
  char longs[512];
  snprintf(longs, sizeof longs, "me amenazó con %s matarme",
           "ñññññññññññññññññññññññññññññññññññññññññññññññññññññññññññññññññññññ");
  assert_true(detect(t, longs, &h));
  assert_string_equal(h.reason, "threat");
  cl_urgent_phrase(t, longs, strlen(longs), &h, out, sizeof out);
  assert_true(strlen(out) <= 95 && strlen(out) >= 90);
  assert_true(valid_utf8(out));
  assert_int_equal(strncmp(out, "amenazó con ñ", strlen("amenazó con ñ")), 0);
  /* a small buffer, and invalid bytes between matched words */
  cl_urgent_phrase(t, longs, strlen(longs), &h, out, 4);
  assert_true(strlen(out) <= 3 && valid_utf8(out));
  s = "me amenazó \xff con matarme";
  assert_true(detect(t, s, &h));
  cl_urgent_phrase(t, s, strlen(s), &h, out, sizeof out);
  assert_true(valid_utf8(out));
  assert_string_equal(out, "amenazo con matarme");
  cl_text_free(t);
}

/* The NHS comments: no look-alike ("I felt safe") and under 1 % of the
 * ordinary comments are flagged by the phrase detector. */
static void test_nhs_false_positives(void **state) {
  (void)state;
  size_t len = 0;
  char *buf = es_read_file("data/nhs-patient-feedback/feedback.csv", &len);
  if (!buf) fail_msg("data/nhs-patient-feedback/feedback.csv: run the unit tests from the repository root");
  cl_urgent_eval ev;
  char err[256];
  assert_int_equal(cl_urgent_eval_nhs(buf, len, NULL, &ev, NULL, err, sizeof err), 0);
  cl_urgent_eval_report(&ev, stdout);
  assert_true(ev.n[CL_UE_ORD] >= 1000);
  assert_true(ev.n[CL_UE_POS] >= 1 && ev.n[CL_UE_LOOK] >= 1);
  assert_true((double)ev.hit[CL_UE_PHRASE][CL_UE_ORD] / (double)ev.n[CL_UE_ORD] < MAX_ORDINARY_FPR);
  assert_int_equal(ev.hit[CL_UE_PHRASE][CL_UE_LOOK], 0);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rules_compile),       cmocka_unit_test(test_phrase_table),
      cmocka_unit_test(test_variant_recall),      cmocka_unit_test(test_phrase_as_written),
      cmocka_unit_test(test_nhs_false_positives),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
