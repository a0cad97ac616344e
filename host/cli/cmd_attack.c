/* foil attack: placeholder until the attacks land (issue 3). */
#include <stdio.h>

#include "cli.h"

int cmd_attack(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "foil: attack is not implemented yet\n");
    return 1;
}
