/* fsutil - see fsutil.h. */
#include "util/fsutil.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void fs_mkparents(const char *path, mode_t mode)
{
    char *d = xstrdup(path);
    char *slash = strrchr(d, '/');
    if (slash && slash != d) {
        *slash = 0;
        for (char *p = d + 1; *p; p++) {
            if (*p != '/') continue;
            *p = 0;
            mkdir(d, 0755);
            *p = '/';
        }
        mkdir(d, mode);
    }
    free(d);
}
