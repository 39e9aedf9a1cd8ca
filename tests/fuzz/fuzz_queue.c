/* fuzz_queue - libFuzzer target over both queue parsers (postqueue -j lines, mailq text) and
 * the reports. The first byte picks the parser: even = auto-detect (queue_feed), odd =
 * mailq text forced; every input is also run through the reason normaliser. */
#include "report/queue.h"
#include "util/msg.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null;
    if (!null) {
        null = fopen("/dev/null", "w");
        msg_set_quiet(true);
        setenv("TZ", "UTC", 1);
    }
    if (size == 0) return 0;
    bool force_mailq = data[0] & 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;

    char out[QUEUE_REASON_MAX];
    queue_normalise_reason(str_make(p, n), out, sizeof out);

    struct queue q;
    queue_init(&q, "fuzz", 1795382074);
    unsigned long lineno = 0;
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(p + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (p + i)) : n - i;
        struct str line = str_make(p + i, len);
        if (force_mailq) queue_parse_mailq(&q, line, ++lineno);
        else queue_feed(&q, line, ++lineno);
        i += len + 1;
    }
    queue_finish(&q);
    queue_report_text(&q, null, 5);
    queue_report_json(&q, null, 5);
    queue_free(&q);
    return 0;
}
