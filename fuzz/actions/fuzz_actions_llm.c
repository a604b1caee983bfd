/* Chat-completions responses from the optional LLM endpoint: JSON, the
 * content's embedded JSON object, the number-grounding check. */
#include <stdint.h>
#include <stdlib.h>

#include "llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *es = NULL, *en = NULL, why[200];
  const char *src_es = "«Tiempos de espera»: 8 comentarios en la ventana (day); 75% negativos (IC 95% 41–93%).";
  const char *src_en = "\"Waiting times\": 8 comments in the window (day); 75% negative (95% CI 41–93%).";
  if (ac_llm_parse_response((const char *)data, size, src_es, src_en, &es, &en, why, sizeof why) == 0) {
    if (!es || !en) abort();
    free(es);
    free(en);
  }
  return 0;
}
