/* Fuzz target: the guard's jail configuration (jailconf.c on the fail2ban INI engine) and
 * the filter/action set-up that follows it. The input is jail.conf, optionally followed by
 * a NUL byte and jail.local; both are written to a private directory and loaded as the
 * daemon would (no host name resolution). */
#include "guard/core.h"
#include "guard/jailconf.h"
#include "util/msg.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void put(const char *name, const uint8_t *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/mw-fuzz-jail.XXXXXX");
        if (!mkdtemp(dir)) abort();
        guard_conf_set_resolve(false);
        msg_set_quiet(true);
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t n1 = nul ? (size_t)(nul - data) : size;
    put("jail.conf", data, n1);
    put("jail.local", nul ? nul + 1 : data, nul ? size - n1 - 1 : 0);
    char err[1024];
    struct guard_conf *c = guard_conf_load(dir, NULL, err, sizeof err);
    if (c) {
        struct core *core = core_new(c, NULL, err, sizeof err);
        core_free(core);
        guard_conf_free(c);
    }
    return 0;
}
