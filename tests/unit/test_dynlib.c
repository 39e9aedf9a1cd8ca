/* test_dynlib - optional libraries are loaded on demand, with a clear error when absent. */
#include "check.h"
#include "util/dynlib.h"
#include "guard/action.h"
#include <stdbool.h>

static bool mapped(const char *soname)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return false;
    char line[4096];
    bool hit = false;
    while (fgets(line, sizeof line, f))
        if (strstr(line, soname)) hit = true;
    fclose(f);
    return hit;
}

static void t_missing_library(void)
{
    static const char *const names[] = { "whatever" };
    void *fns[1] = { NULL };
    char err[512] = "";
    CHECK_INT(dynlib_load("libmw-does-not-exist.so.9", "libmw-nothing1", names, fns, 1, err, sizeof err), -1);
    CHECK(strstr(err, "libmw-does-not-exist.so.9") != NULL);
    CHECK(strstr(err, "install libmw-nothing1") != NULL);
    CHECK(fns[0] == NULL);
}

static void t_missing_symbol(void)
{
    static const char *const names[] = { "nft_ctx_new", "nft_no_such_function" };
    void *fns[2] = { NULL, NULL };
    char err[512] = "";
    CHECK_INT(dynlib_load(MW_SONAME_NFTABLES, "libnftables1", names, fns, 2, err, sizeof err), -1);
    CHECK(strstr(err, "nft_no_such_function") != NULL);
}

/* The nftables action maps libnftables when it is created, not before: a daemon that only
 * runs command actions never pays for it. */
static void t_nft_on_demand(void)
{
    CHECK(!mapped("libnftables.so"));
    CHECK(!mapped("libmariadb.so"));
    char err[512] = "";
    struct action *a = action_nft_new("mwtest", err, sizeof err);
    CHECK(a != NULL);
    CHECK(mapped("libnftables.so"));
    action_free(a);
    /* a second instance reuses the loaded library */
    a = action_nft_new("mwtest", err, sizeof err);
    CHECK(a != NULL);
    action_free(a);
}

int main(void)
{
    RUN(t_nft_on_demand);          /* first: nothing loaded yet */
    RUN(t_missing_library);
    RUN(t_missing_symbol);
    return check_done();
}
