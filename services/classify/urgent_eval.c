#include "urgent_eval.h"

#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "urgent.h"

static const char *const SET_NAMES[CL_UE_NSETS] = {"positive", "look-alike", "ordinary"};
static const char *const RULE_NAMES[CL_UE_NRULES] = {"old: category flag (any sentiment)", "phrase detector alone",
                                                     "new: phrase, or urgent category when negative"};

/* Is label one of the '|'-separated labels of list? */
static int has_label(const char *list, const char *label) {
  size_t n = strlen(label);
  for (const char *p = list; p && *p;) {
    const char *e = strchr(p, '|');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && memcmp(p, label, n) == 0) return 1;
    p = e ? e + 1 : NULL;
  }
  return 0;
}

static int column(char **f, size_t nf, const char *name) {
  for (size_t i = 0; i < nf; i++)
    if (strcmp(f[i], name) == 0) return (int)i;
  return -1;
}

int cl_urgent_eval_nhs(const char *buf, size_t len, cl_classifier *c, cl_urgent_eval *ev, FILE *detail, char *err,
                       size_t errlen) {
  memset(ev, 0, sizeof *ev);
  ev->with_model = c != NULL;
  char **f = NULL, msg[256];
  size_t nf = 0, pos = 0, rec = 1;
  int rc = -1, ci, cs, cl, cid;
  cl_text *t = c ? NULL : cl_text_new();
  if (!c && !t) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (cl_csv_next(buf, len, &pos, &f, &nf, msg, sizeof msg) != 1) {
    snprintf(err, errlen, "missing header line");
    goto cleanup;
  }
  ci = column(f, nf, "text"), cs = column(f, nf, "sentiment"), cl = column(f, nf, "subcategories");
  cid = column(f, nf, "id");
  cl_csv_free_fields(f, nf);
  f = NULL;
  if (ci < 0 || cs < 0 || cl < 0) {
    snprintf(err, errlen, "the CSV needs the columns text, sentiment and subcategories");
    goto cleanup;
  }
  int maxc = ci > cs ? ci : cs;
  maxc = maxc > cl ? maxc : cl;
  for (;;) {
    int r = cl_csv_next(buf, len, &pos, &f, &nf, msg, sizeof msg);
    if (r == 0) break;
    rec++;
    if (r < 0) {
      snprintf(err, errlen, "record %zu: %s", rec, msg);
      goto cleanup;
    }
    if ((int)nf <= maxc) {
      cl_csv_free_fields(f, nf);
      f = NULL;
      continue;
    }
    const char *text = f[ci], *sent = f[cs], *labels = f[cl], *id = cid >= 0 && cid < (int)nf ? f[cid] : "?";
    int negative = strcmp(sent, "negative") == 0, set;
    if (has_label(labels, "Safeguarding concerns?") || (has_label(labels, "Feeling safe") && negative)) set = CL_UE_POS;
    else if (has_label(labels, "Feeling safe")) set = CL_UE_LOOK;
    else if (*sent) set = CL_UE_ORD;
    else set = -1; /* a survey non-answer */
    if (set >= 0) {
      int flag[CL_UE_NRULES] = {0};
      const char *reason = NULL;
      char phrase[96] = "";
      if (c) {
        cl_result res;
        if (cl_classify(c, text, strlen(text), "en", &res)) {
          snprintf(err, errlen, "out of memory");
          goto cleanup;
        }
        const es_taxonomy *T = cl_classifier_taxonomy(c);
        flag[CL_UE_CATEGORY] = res.sub >= 0 && T->subs[res.sub].urgent;
        flag[CL_UE_NEW] = res.urgent;
        flag[CL_UE_PHRASE] = res.urgent && strcmp(res.urgent_reason, "category") != 0;
        reason = res.urgent_reason;
        memcpy(phrase, res.urgent_phrase, sizeof phrase);
      } else {
        cl_urgent_hit h;
        if (cl_text_analyze(t, text, strlen(text), "en")) {
          snprintf(err, errlen, "out of memory");
          goto cleanup;
        }
        if ((flag[CL_UE_PHRASE] = cl_urgent_detect(t, &h)))
          reason = h.reason, cl_urgent_phrase(t, text, strlen(text), &h, phrase, sizeof phrase);
      }
      ev->n[set]++;
      for (int k = 0; k < CL_UE_NRULES; k++) ev->hit[k][set] += flag[k] != 0;
      if (detail && (set == CL_UE_POS || flag[CL_UE_PHRASE] || flag[CL_UE_NEW] || flag[CL_UE_CATEGORY]))
        fprintf(detail, "%-10s %-22s old=%d phrase=%d new=%d reason=%s phrase=\"%s\"\n", SET_NAMES[set], id,
                flag[CL_UE_CATEGORY], flag[CL_UE_PHRASE], flag[CL_UE_NEW], reason ? reason : "-", phrase);
    }
    cl_csv_free_fields(f, nf);
    f = NULL;
  }
  rc = 0;
cleanup:
  if (f) cl_csv_free_fields(f, nf);
  cl_text_free(t);
  return rc;
}

static double ratio(size_t a, size_t b) { return b ? (double)a / (double)b : 0; }

void cl_urgent_eval_report(const cl_urgent_eval *ev, FILE *out) {
  fprintf(out,
          "sets: %zu positives (Safeguarding concerns? + negative Feeling safe), %zu look-alikes (other "
          "Feeling safe), %zu ordinary comments\n",
          ev->n[CL_UE_POS], ev->n[CL_UE_LOOK], ev->n[CL_UE_ORD]);
  for (int k = 0; k < CL_UE_NRULES; k++) {
    if (!ev->with_model && k != CL_UE_PHRASE) continue;
    const size_t *h = ev->hit[k];
    size_t tp = h[CL_UE_POS], fp = h[CL_UE_LOOK] + h[CL_UE_ORD];
    fprintf(out, "%s:\n", RULE_NAMES[k]);
    fprintf(out, "  recall %zu/%zu = %.3f   precision %zu/%zu = %.3f\n", tp, ev->n[CL_UE_POS],
            ratio(tp, ev->n[CL_UE_POS]), tp, tp + fp, ratio(tp, tp + fp));
    fprintf(out, "  false-positive rate: ordinary %zu/%zu = %.4f   look-alikes %zu/%zu = %.3f\n", h[CL_UE_ORD],
            ev->n[CL_UE_ORD], ratio(h[CL_UE_ORD], ev->n[CL_UE_ORD]), h[CL_UE_LOOK], ev->n[CL_UE_LOOK],
            ratio(h[CL_UE_LOOK], ev->n[CL_UE_LOOK]));
    fprintf(out, "RESULT rule=%s recall=%.4f precision=%.4f fpr_ordinary=%.4f fpr_lookalike=%.4f\n",
            k == CL_UE_CATEGORY ? "category"
            : k == CL_UE_PHRASE ? "phrase"
                                : "new",
            ratio(tp, ev->n[CL_UE_POS]), ratio(tp, tp + fp), ratio(h[CL_UE_ORD], ev->n[CL_UE_ORD]),
            ratio(h[CL_UE_LOOK], ev->n[CL_UE_LOOK]));
  }
}
