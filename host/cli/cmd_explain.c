/* foil explain: placeholder until the explanations land (issue 4). */
#include <stdio.h>

#include "cli.h"

int cmd_explain(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "foil: explain is not implemented yet\n");
    return 1;
}
