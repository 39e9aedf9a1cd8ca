/* summary_html - placeholder */
#include "report/summary_int.h"
void summary_print_html(const struct summary *s, FILE *f) { (void)s; (void)f; }
