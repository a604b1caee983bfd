/* OpenAI-compatible summary rewrite (see llm.h). */
#include "llm.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define LLM_MAX_CHARS 1500

static const char SYSTEM_PROMPT[] =
    "You rewrite short problem summaries for public-service managers. "
    "Keep every fact and number exactly as given; add no new facts, numbers, names or causes. "
    "Write plain, neutral sentences (at most 4 per language). "
    "Answer with only a JSON object: {\"es\": \"<Spanish summary>\", \"en\": \"<English summary>\"}.";

void ac_llm_init(ac_llm *l, const char *url, const char *model, const char *token, long timeout_ms) {
  memset(l, 0, sizeof *l);
  l->url = url;
  l->model = model && *model ? model : "gpt-4o-mini";
  l->token = token && *token ? token : NULL;
  l->timeout_ms = timeout_ms > 0 ? timeout_ms : 20000;
  ac_retry_defaults(&l->retry);
  l->retry.max_attempts = 1; /* optional feature: never hold the pipeline for it */
  l->retry.timeout_ms = l->timeout_ms;
  l->retry.connect_timeout_ms = l->timeout_ms < 5000 ? l->timeout_ms : 5000;
}

char *ac_llm_request_json(const ac_llm *l, const ac_plan *p) {
  es_buf u = {0};
  es_buf_printf(&u, "Topic: %s / %s\nSpanish summary: %s\nEnglish summary: %s\n", p->label_es, p->label_en,
                p->summary_es ? p->summary_es : "", p->summary_en ? p->summary_en : "");
  if (p->nterms) {
    es_buf_puts(&u, "Distinctive terms:");
    for (int i = 0; i < p->nterms; i++) es_buf_printf(&u, "%s %s", i ? "," : "", p->terms[i].term);
    es_buf_puts(&u, "\n");
  }
  for (int i = 0; i < p->nrecs; i++) es_buf_printf(&u, "Recommended action: %s\n", p->recs[i]);
  if (!u.data) return NULL;
  json_t *req = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:f, s:i, s:b}", "model", l->model, "messages", "role",
                          "system", "content", SYSTEM_PROMPT, "role", "user", "content", u.data, "temperature", 0.0,
                          "max_tokens", 600, "stream", 0);
  es_buf_free(&u);
  char *s = req ? json_dumps(req, JSON_COMPACT) : NULL;
  json_decref(req);
  return s;
}

/* Numbers (digits with at most one inner '.' or ','), normalised to '.'. */
static int next_number(const char **pp, char *out, size_t n) {
  const char *p = *pp;
  while (*p && !isdigit((unsigned char)*p)) p++;
  if (!*p) return 0;
  size_t j = 0;
  int sep = 0;
  while (*p) {
    if (isdigit((unsigned char)*p)) {
      if (j + 1 < n) out[j++] = *p;
    } else if ((*p == '.' || *p == ',') && !sep && isdigit((unsigned char)p[1])) {
      sep = 1;
      if (j + 1 < n) out[j++] = '.';
    } else break;
    p++;
  }
  out[j] = 0;
  *pp = p;
  return 1;
}

static int number_in(const char *num, const char *src) {
  char tmp[64];
  const char *p = src;
  while (p && next_number(&p, tmp, sizeof tmp))
    if (strcmp(tmp, num) == 0) return 1;
  return 0;
}

/* Every number of text appears in one of the sources. */
static int numbers_grounded(const char *text, const char *s1, const char *s2, char *bad, size_t badlen) {
  char num[64];
  const char *p = text;
  while (next_number(&p, num, sizeof num)) {
    if (!number_in(num, s1 ? s1 : "") && !number_in(num, s2 ? s2 : "")) {
      snprintf(bad, badlen, "%s", num);
      return 0;
    }
  }
  return 1;
}

static int check_text(const char *t, const char *s1, const char *s2, const char *lang, char *why, size_t wl) {
  char bad[64];
  size_t n = t ? strlen(t) : 0;
  if (n < 10 || n > LLM_MAX_CHARS) {
    snprintf(why, wl, "llm: %s summary empty or too long (%zu chars)", lang, n);
    return -1;
  }
  if (!numbers_grounded(t, s1, s2, bad, sizeof bad)) {
    snprintf(why, wl, "llm: %s summary has a number not in the evidence (%s)", lang, bad);
    return -1;
  }
  return 0;
}

int ac_llm_parse_response(const char *body, size_t len, const char *src_es, const char *src_en, char **es, char **en,
                          char *why, size_t wl) {
  *es = *en = NULL;
  int rc = -1;
  json_t *inner = NULL, *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
  json_t *choice = json_array_get(json_object_get(j, "choices"), 0);
  const char *content = json_string_value(json_object_get(json_object_get(choice, "message"), "content"));
  if (!content) {
    snprintf(why, wl, "llm: no choices[0].message.content");
    goto cleanup;
  }
  /* Models like to wrap JSON in prose or ``` fences: take the outermost {…}. */
  const char *a = strchr(content, '{'), *b = strrchr(content, '}');
  if (!a || !b || b < a || !(inner = json_loadb(a, (size_t)(b - a + 1), 0, NULL)) || !json_is_object(inner)) {
    snprintf(why, wl, "llm: content is not a JSON object");
    goto cleanup;
  }
  const char *tes = json_string_value(json_object_get(inner, "es"));
  const char *ten = json_string_value(json_object_get(inner, "en"));
  if (check_text(tes, src_es, src_en, "es", why, wl) != 0 || check_text(ten, src_es, src_en, "en", why, wl) != 0)
    goto cleanup;
  *es = es_strdup(tes);
  *en = es_strdup(ten);
  if (!*es || !*en) {
    free(*es);
    free(*en);
    *es = *en = NULL;
    snprintf(why, wl, "llm: out of memory");
    goto cleanup;
  }
  rc = 0;
cleanup:
  json_decref(inner);
  json_decref(j);
  return rc;
}

int ac_llm_rewrite(const ac_llm *l, ac_plan *p, char *why, size_t wl) {
  int rc = -1;
  char *payload = NULL, *auth = NULL;
  ac_http_resp resp = {0};
  if (!l || !l->url || !*l->url) {
    snprintf(why, wl, "llm: not configured");
    return -1;
  }
  if (!(payload = ac_llm_request_json(l, p))) {
    snprintf(why, wl, "llm: cannot build request");
    return -1;
  }
  if (l->token && asprintf(&auth, "Authorization: Bearer %s", l->token) < 0) auth = NULL;
  const char *h[] = {"Content-Type: application/json", "Accept: application/json", auth, NULL};
  /* A chat completion is not idempotent in cost, but repeating it is harmless;
   * still one attempt: the extractive plan is good enough. */
  ac_http_req req = {"POST", l->url, h, payload, strlen(payload), 0};
  char err[256] = "";
  int hr = ac_http_do(&l->retry, NULL, &req, &resp, err, sizeof err);
  if (hr != AC_HTTP_OK) {
    snprintf(why, wl, "llm: %s", err[0] ? err : "request failed");
    goto cleanup;
  }
  if (resp.status < 200 || resp.status >= 300) {
    snprintf(why, wl, "llm: HTTP %ld", resp.status);
    goto cleanup;
  }
  char *es = NULL, *en = NULL;
  if (ac_llm_parse_response(resp.body.data, resp.body.len, p->summary_es, p->summary_en, &es, &en, why, wl) != 0)
    goto cleanup;
  free(p->summary_es);
  free(p->summary_en);
  p->summary_es = es;
  p->summary_en = en;
  rc = 0;
cleanup:
  ac_http_resp_free(&resp);
  if (auth) {
    memset(auth, 0, strlen(auth));
    free(auth);
  }
  free(payload);
  return rc;
}
