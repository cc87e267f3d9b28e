/* perplexity.c — placeholder until the mode lands. */
#include <stdio.h>

#include "cli.h"

int run_perplexity(const struct options *o, struct session *s)
{
    (void)o;
    (void)s;
    fprintf(stderr, "infer: this mode is not available yet\n");
    return 2;
}
