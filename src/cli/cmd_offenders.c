/* placeholder, replaced by the offenders command */
#include "cli/cli.h"
static int run(int argc, char **argv) { (void)argc; (void)argv; return EXIT_FAIL; }
const struct command cmd_offenders = { "offenders", run, "which client IPs keep failing", "usage: mailwarden offenders\n" };
