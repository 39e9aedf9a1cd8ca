/* fuzz_privsep - the privileged helper's decoder on arbitrary bytes, cut into records:
 * whatever decodes is one of the fixed messages with a canonical target and re-encodes to
 * the very same bytes (so nothing the decoder accepts is ambiguous); replies decode to a
 * terminated error text. */
#include "guard/privsep.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t off = 0; off + PS_REC <= size; off += PS_REC) {
        uint8_t rec[PS_REC], again[PS_REC];
        memcpy(rec, data + off, PS_REC);
        struct ps_msg m;
        char err[256];
        if (ps_decode(rec, &m, err, sizeof err) < 0) {
            if (!err[0]) abort();               /* a refusal always says why */
            continue;
        }
        if (m.type < PS_SETUP || m.type > PS_RELOAD) abort();
        if (m.type == PS_BAN || m.type == PS_UNBAN || m.type == PS_BLOCK || m.type == PS_UNBLOCK) {
            struct cidr c;
            char t[IPADDR_STRLEN + 8];
            if (!fw_target(&m.target, &c, t, sizeof t)) abort();
            if (c.prefix != m.target.prefix || memcmp(&c.addr, &m.target.addr, sizeof c.addr)) abort();
            if (m.timeout < 0 || m.bantime < -1) abort();
        }
        if (strlen(m.name) >= PS_NAME) abort();
        if (ps_encode(&m, again) < 0 || memcmp(rec, again, PS_REC)) abort();
    }
    if (size >= PS_REPLY) {
        int64_t res;
        uint64_t us;
        char err[512];
        if (ps_decode_reply(data, &res, &us, err, sizeof err) == 0 && strlen(err) >= PS_REPLY) abort();
    }
    return 0;
}
