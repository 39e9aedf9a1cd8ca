/* libFuzzer target: the line model (syslog envelope + Postfix/Dovecot/sshd parsers) and the
 * Postfix field parser on arbitrary bytes. Invariants: every slice stays inside the input;
 * the offenders prefilter never refuses a line whose event offenders counts. */
#include "parse/event.h"
#include "report/offenders.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>

static void inside(struct str s, const char *base, size_t len)
{
    if (!s.len) return;
    assert(s.p >= base && s.p + s.len <= base + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);   /* exact-size copy so ASan sees overreads */
    memcpy(buf, data, size);
    struct syslog_ctx ctx = { .ref = 1795383000 };
    struct event ev;
    parse_line(&ctx, NULL, (struct str){ buf, size }, &ev);
    assert(ev.kind < EV_KIND_MAX);
    inside(ev.h.msg, buf, size);
    inside(ev.qid, buf, size);
    inside(ev.user, buf, size);
    inside(ev.text, buf, size);
    inside(ev.session, buf, size);
    inside(ev.f.to, buf, size);
    inside(ev.f.reply, buf, size);
    /* offenders never counts PAM's pam_unix line (offenders.c: another line reports that
     * attempt), so the prefilter may skip it */
    bool pam_unix = ev.stage.len == 8 && memcmp(ev.stage.p, "pam_unix", 8) == 0;
    if ((offenders_kinds() & EV_BIT(ev.kind)) && !pam_unix &&
        (ev.kind != EV_PS_OTHER || str_startswith(ev.h.msg, "COMMAND PIPELINING") ||
         str_startswith(ev.h.msg, "NON-SMTP COMMAND") || str_startswith(ev.h.msg, "BARE NEWLINE"))) {
        struct syslog_hdr h;
        assert(syslog_parse_lazy(&ctx, (struct str){ buf, size }, &h) == 0);
        assert(offenders_may_count(&h));
    }
    struct pf_fields f;
    memset(&f, 0, sizeof f);
    pf_fields_parse((struct str){ buf, size }, &f);
    inside(f.to, buf, size);
    inside(f.from, buf, size);
    inside(f.reply, buf, size);
    free(buf);
    return 0;
}
