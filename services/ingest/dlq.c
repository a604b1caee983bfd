#include "dlq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#include "item.h"
#include "kafka.h"
#include "normalize.h"
#include "redact.h"
#include "seal.h"
#include "util.h"

int ing_dlq_read_key(const char *path, unsigned char key[32], char *err, size_t errlen) {
  return es_seal_read_key(path, key, err, errlen);
}

/* ---- rendering ----------------------------------------------------------------------- */

static int hex4(const char *p, unsigned *v) {
  *v = 0;
  for (int k = 0; k < 4; k++) {
    char c = p[k];
    unsigned d = c >= '0' && c <= '9'                     ? (unsigned)(c - '0')
                 : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (unsigned)((c | 0x20) - 'a' + 10)
                                                          : 16;
    if (d == 16) return -1;
    *v = *v << 4 | d;
  }
  return 0;
}

/* Copy of p[0..n) with JSON \uXXXX escapes (and surrogate pairs) resolved; others kept. */
static char *unescape_u(const char *p, size_t n) {
  char *o = malloc(n + 1);
  if (!o) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    unsigned v, lo;
    if (p[i] == '\\' && i + 6 <= n && p[i + 1] == 'u' && hex4(p + i + 2, &v) == 0 && v >= 0x20) {
      size_t step = 6;
      if (v >= 0xD800 && v <= 0xDBFF && i + 12 <= n && p[i + 6] == '\\' && p[i + 7] == 'u' &&
          hex4(p + i + 8, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
        v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        step = 12;
      }
      if (v < 0xD800 || v > 0xDFFF) { /* a lone surrogate stays as typed */
        unsigned char u[4];
        size_t ul = (size_t)utf8proc_encode_char((utf8proc_int32_t)v, u);
        if (ul <= step) { /* never longer than the escape it replaces */
          memcpy(o + k, u, ul);
          k += ul;
          i += step;
          continue;
        }
      }
    }
    o[k++] = p[i++];
  }
  o[k] = '\0';
  return o;
}

/* The Feedback fields a producer sets, as compact JSON. */
static char *feedback_json(const Escucha__V1__Feedback *fb) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  if (fb->agency) cJSON_AddStringToObject(o, "agency", fb->agency);
  if (fb->service) cJSON_AddStringToObject(o, "service", fb->service);
  if (fb->has_channel) {
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&escucha__v1__channel__descriptor, fb->channel);
    if (v) cJSON_AddStringToObject(o, "channel", v->name);
    else cJSON_AddNumberToObject(o, "channel", fb->channel);
  }
  if (fb->external_id) cJSON_AddStringToObject(o, "external_id", fb->external_id);
  if (fb->text) cJSON_AddStringToObject(o, "text", fb->text);
  if (fb->language) cJSON_AddStringToObject(o, "language", fb->language);
  if (fb->has_created_at) cJSON_AddNumberToObject(o, "created_at", (double)fb->created_at);
  if (fb->has_nps) cJSON_AddNumberToObject(o, "nps", fb->nps);
  if (fb->has_csat) cJSON_AddNumberToObject(o, "csat", fb->csat);
  if (fb->location) {
    cJSON *l = cJSON_AddObjectToObject(o, "location");
    if (l && fb->location->has_lat) cJSON_AddNumberToObject(l, "lat", fb->location->lat);
    if (l && fb->location->has_lon) cJSON_AddNumberToObject(l, "lon", fb->location->lon);
    if (l && fb->location->address) cJSON_AddStringToObject(l, "address", fb->location->address);
  }
  if (fb->n_attributes) {
    cJSON *a = cJSON_AddObjectToObject(o, "attributes");
    for (size_t i = 0; a && i < fb->n_attributes; i++) {
      const Escucha__V1__Feedback__AttributesEntry *e = fb->attributes[i];
      if (e->key) cJSON_AddStringToObject(a, e->key, e->value ? e->value : "");
    }
  }
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

char *ing_dlq_render(const void *orig, size_t n, size_t max) {
  const char *p = orig;
  char *text = NULL, *norm = NULL, *red = NULL;
  size_t i = 0, nn = 0, rn = 0;
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) i++;
  if (i < n && p[i] == '{') {
    cJSON *o = ing_json_parse(p, n, NULL);
    if (o) {
      text = cJSON_PrintUnformatted(o);
      cJSON_Delete(o);
    }
  } else if (n > 0) {
    Escucha__V1__Feedback *fb = escucha__v1__feedback__unpack(NULL, n, orig);
    if (fb) {
      text = feedback_json(fb);
      escucha__v1__feedback__free_unpacked(fb, NULL);
    }
  }
  if (!text && n > 0 && ing_utf8_invalid_at(p, n) < 0) text = unescape_u(p, n); /* malformed JSON, plain text */
  if (!text) goto cleanup;
  norm = ing_normalize_text(text, strlen(text), 1, &nn, NULL);
  if (!norm) goto cleanup;
  red = ing_redact(norm, nn, &rn, NULL);
  if (red && rn > max) { /* cut after redacting (a cut card would no longer be seen) */
    while (rn > max || (rn > 0 && ((unsigned char)red[rn] & 0xC0) == 0x80)) rn--;
    red[rn] = '\0';
  }
cleanup:
  cJSON_free(text);
  free(norm);
  return red;
}

/* ---- records ------------------------------------------------------------------------- */

uint8_t *ing_dlq_pack(const ing_dlq_seal_key *key, const char *reason, const char *topic, int32_t partition,
                      int64_t offset, const void *orig, size_t n, size_t *len) {
  Escucha__V1__DeadLetter dl = ESCUCHA__V1__DEAD_LETTER__INIT;
  uint8_t hash[32], *sealed = NULL, *buf = NULL;
  char *why = ing_redact(reason, strlen(reason), NULL, NULL);
  char *rendered = ing_dlq_render(orig, n, 16384);
  if (!why) goto cleanup;
  dl.stage = "ingest";
  dl.reason = why;
  dl.topic = (char *)topic;
  dl.has_partition = dl.has_offset = dl.has_failed_at = 1;
  dl.partition = partition;
  dl.offset = offset;
  dl.failed_at = es_now_ms();
  dl.has_original_size = 1;
  dl.original_size = n;
  crypto_generichash(hash, sizeof hash, orig, n, key ? key->pk : NULL, key ? sizeof key->pk : 0);
  dl.has_original_hash = 1;
  dl.original_hash.data = hash;
  dl.original_hash.len = sizeof hash;
  dl.original_redacted = rendered; /* NULL: absent */
  if (key) {
    sealed = malloc(n + crypto_box_SEALBYTES);
    if (!sealed || crypto_box_seal(sealed, orig, n, key->pk) != 0) goto cleanup;
    dl.has_original_sealed = 1;
    dl.original_sealed.data = sealed;
    dl.original_sealed.len = n + crypto_box_SEALBYTES;
  }
  *len = escucha__v1__dead_letter__get_packed_size(&dl);
  buf = malloc(*len ? *len : 1);
  if (buf) escucha__v1__dead_letter__pack(&dl, buf);
cleanup:
  free(why);
  free(rendered);
  free(sealed);
  return buf;
}

dlq_unseal_rc ing_dlq_unseal(const uint8_t *rec, size_t n, const unsigned char sk[crypto_box_SECRETKEYBYTES],
                             uint8_t **orig, size_t *olen) {
  dlq_unseal_rc rc = DLQ_NOT_SEALED;
  unsigned char pk[crypto_box_PUBLICKEYBYTES], hash[32];
  uint8_t *m = NULL;
  Escucha__V1__DeadLetter *dl = escucha__v1__dead_letter__unpack(NULL, n, rec);
  if (!dl || !dl->stage || strcmp(dl->stage, "ingest") != 0 || !dl->has_original_sealed ||
      dl->original_sealed.len < crypto_box_SEALBYTES)
    goto cleanup;
  rc = DLQ_SEAL_MISMATCH;
  size_t mlen = dl->original_sealed.len - crypto_box_SEALBYTES;
  crypto_scalarmult_base(pk, sk);
  m = malloc(mlen ? mlen : 1);
  if (!m || crypto_box_seal_open(m, dl->original_sealed.data, dl->original_sealed.len, pk, sk) != 0) goto cleanup;
  crypto_generichash(hash, sizeof hash, m, mlen, pk, sizeof pk);
  if (!dl->has_original_size || dl->original_size != mlen || !dl->has_original_hash ||
      dl->original_hash.len != sizeof hash || sodium_memcmp(hash, dl->original_hash.data, sizeof hash) != 0)
    goto cleanup;
  *orig = m;
  *olen = mlen;
  m = NULL;
  rc = DLQ_UNSEALED;
cleanup:
  free(m);
  if (dl) escucha__v1__dead_letter__free_unpacked(dl, NULL);
  return rc;
}

/* ---- subcommands ----------------------------------------------------------------------- */

int ing_dlq_keygen_main(const char *pub_path, const char *sec_path) {
  char err[300];
  if (es_seal_keygen(pub_path, sec_path, err, sizeof err) != 0) {
    fprintf(stderr, "dlq-keygen: %s\n", err);
    return 1;
  }
  printf(
      "public key %s (for the sealing side: --dlq-seal-public-key-file or --contact-public-key-file)\n"
      "secret key %s (keep it off the ingest hosts: dlq-open, or escucha-actions for contacts)\n",
      pub_path, sec_path);
  return 0;
}

int ing_dlq_open_main(const char *brokers, const char *secret_key_file, const char *dir) {
  unsigned char sk[crypto_box_SECRETKEYBYTES];
  char err[512];
  int rc = 1;
  long opened = 0, other = 0, plain = 0;
  rd_kafka_t *rk = NULL;
  rd_kafka_topic_partition_list_t *parts = NULL;
  const rd_kafka_metadata_t *md = NULL;
  int64_t *high = NULL; /* per partition: the end to read to, INT64_MAX once reached */
  if (sodium_init() < 0) return 1;
  if (!secret_key_file) {
    fprintf(stderr, "dlq-open: --dlq-secret-key-file is required\n");
    return 2;
  }
  if (ing_dlq_read_key(secret_key_file, sk, err, sizeof err) != 0) {
    fprintf(stderr, "dlq-open: %s\n", err);
    return 1;
  }
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "group.id", "escucha-dlq-open", err, sizeof err) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err) != RD_KAFKA_CONF_OK ||
      !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
    rd_kafka_conf_destroy(conf);
    fprintf(stderr, "dlq-open: %s\n", err);
    goto cleanup;
  }
  rd_kafka_poll_set_consumer(rk);
  /* every partition from its start to the end it has now */
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, ES_TOPIC_DLQ, NULL);
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  rd_kafka_topic_destroy(rkt);
  if (e || md->topic_cnt != 1 || md->topics[0].err) {
    fprintf(stderr, "dlq-open: metadata of %s: %s\n", ES_TOPIC_DLQ,
            rd_kafka_err2str(e                    ? e
                             : md->topic_cnt == 1 ? md->topics[0].err
                                                  : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
    goto cleanup;
  }
  int np = md->topics[0].partition_cnt, left = 0;
  parts = rd_kafka_topic_partition_list_new(np);
  high = calloc((size_t)np + 1, sizeof *high);
  if (!high) goto cleanup;
  for (int i = 0; i < np; i++) {
    int32_t p = md->topics[0].partitions[i].id;
    int64_t lo = 0, hi = 0;
    if ((e = rd_kafka_query_watermark_offsets(rk, ES_TOPIC_DLQ, p, &lo, &hi, 10000))) {
      fprintf(stderr, "dlq-open: offsets of partition %d: %s\n", p, rd_kafka_err2str(e));
      goto cleanup;
    }
    if (hi <= lo || p < 0 || p >= np) continue; /* partition ids are 0..np-1 */
    rd_kafka_topic_partition_list_add(parts, ES_TOPIC_DLQ, p)->offset = lo;
    high[p] = hi;
    left++;
  }
  if (left && (e = rd_kafka_assign(rk, parts))) {
    fprintf(stderr, "dlq-open: assign: %s\n", rd_kafka_err2str(e));
    goto cleanup;
  }
  int64_t deadline = es_now_ms() + 120000;
  while (left > 0) {
    if (es_now_ms() > deadline) {
      fprintf(stderr, "dlq-open: timed out reading %s\n", ES_TOPIC_DLQ);
      goto cleanup;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
    if (!m) continue;
    if (m->err) {
      /* the end (a last offset may be a transaction marker, never delivered) */
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->partition >= 0 && m->partition < np &&
          high[m->partition] != INT64_MAX) {
        left--;
        high[m->partition] = INT64_MAX;
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        fprintf(stderr, "dlq-open: %s\n", rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    uint8_t *orig = NULL;
    size_t olen = 0;
    dlq_unseal_rc r = ing_dlq_unseal(m->payload, m->len, sk, &orig, &olen);
    if (r == DLQ_UNSEALED) {
      Escucha__V1__DeadLetter *dl = escucha__v1__dead_letter__unpack(NULL, m->len, m->payload);
      char path[4096];
      snprintf(path, sizeof path, "%s/%s.%d.%lld", dir, dl && dl->topic ? dl->topic : "unknown",
               dl && dl->has_partition ? dl->partition : -1, dl && dl->has_offset ? (long long)dl->offset : -1LL);
      if (strchr(path + strlen(dir) + 1, '/'))
        snprintf(path, sizeof path, "%s/dlq.%d.%lld", dir, m->partition, (long long)m->offset);
      unlink(path); /* opening twice rewrites */
      if (es_write_new_file(path, orig, olen, 0600) != 0) {
        fprintf(stderr, "dlq-open: cannot write %s: %s\n", path, strerror(errno));
        free(orig);
        if (dl) escucha__v1__dead_letter__free_unpacked(dl, NULL);
        rd_kafka_message_destroy(m);
        goto cleanup;
      }
      printf("%s\t%zu bytes\t%s\n", path, olen, dl && dl->reason ? dl->reason : "");
      if (dl) escucha__v1__dead_letter__free_unpacked(dl, NULL);
      sodium_memzero(orig, olen);
      free(orig);
      opened++;
    } else {
      r == DLQ_SEAL_MISMATCH ? other++ : plain++;
    }
    if (m->partition >= 0 && m->partition < np && m->offset + 1 >= high[m->partition]) {
      left--;
      high[m->partition] = INT64_MAX; /* counted once */
    }
    rd_kafka_message_destroy(m);
  }
  printf("opened %ld; %ld sealed to another key or corrupt; %ld without a sealed ingest original\n", opened, other,
         plain);
  rc = 0;
cleanup:
  sodium_memzero(sk, sizeof sk);
  free(high);
  if (parts) rd_kafka_topic_partition_list_destroy(parts);
  if (md) rd_kafka_metadata_destroy(md);
  if (rk) {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
  return rc;
}
