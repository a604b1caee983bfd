/* libFuzzer: es_redact invariants. Output length bound and termination, valid UTF-8 in ->
 * valid UTF-8 out, every placeholder accounted for by the counts, literal text kept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "../../services/ingest/redact.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static int valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (r < 0) return 0;
        i += (size_t)r;
    }
    return 1;
}

static unsigned occurrences(const char *s, size_t n, const char *pat)
{
    size_t pl = strlen(pat);
    unsigned k = 0;
    for (size_t i = 0; i + pl <= n; i++) k += memcmp(s + i, pat, pl) == 0;
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    es_redact_counts c;
    size_t n = 0;
    char *out = es_redact(in, size, &n, &c);
    CHECK(out && out[n] == '\0' && n <= size + size / 2 + 16);
    if (valid_utf8(data, size)) CHECK(valid_utf8((const uint8_t *)out, n));

    static const char *const P[] = {"[EMAIL]", "[PHONE]", "[RUT]", "[DNI]",
                                    "[CEDULA]", "[CARD]", "[IBAN]"};
    const unsigned got[] = {c.email, c.phone, c.rut, c.dni, c.cedula, c.card, c.iban};
    unsigned total = 0;
    for (int k = 0; k < 7; k++) {
        CHECK(occurrences(out, n, P[k]) == occurrences(in, size, P[k]) + got[k]);
        total += got[k];
    }
    if (total == 0) CHECK(n == size && memcmp(out, in, size) == 0);
    else CHECK(n != size || memcmp(out, in, size) != 0);
    free(out);
    return 0;
}
