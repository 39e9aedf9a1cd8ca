/*
 * fsutil - small file-system helpers shared by the daemon and the stores.
 */
#ifndef MW_FSUTIL_H
#define MW_FSUTIL_H
#include <sys/types.h>

/* Create the directories leading to `path` (not path itself): intermediate ones with mode
 * 0755, the last one (the file's own directory) with `mode`. Existing directories are left
 * as they are; errors are ignored here and show up when the file is opened. */
void fs_mkparents(const char *path, mode_t mode);

#endif
