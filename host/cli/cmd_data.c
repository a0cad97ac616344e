/* foil data fetch */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "foil/data.h"

static const char HELP[] =
    "usage: foil data fetch [--from DIR_OR_URL] [--data DIR]\n"
    "\n"
    "Fetches train/t10k images and labels (IDX, gzip) into DIR (default\n"
    "$FOIL_DATA, else data/raw/mnist) and verifies them against the SHA-256 sums\n"
    "in data/mnist.sha256. --from (or $FOIL_MIRROR) names a local folder or a URL\n"
    "prefix; without it the public mirrors are tried. Files already there with the\n"
    "right checksum are kept.\n";

int cmd_data(int argc, char **argv) {
    foil_err err = {{0}};
    cli_common c = {0};
    const char *from = getenv("FOIL_MIRROR");
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fputs(HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "fetch") != 0) {
        fprintf(stderr, "foil data: unknown subcommand '%s' (try foil data --help)\n", argv[1]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        int r = cli_common_option(&c, argc, argv, &i, &err);
        if (r < 0) return cli_usage_error(&err);
        if (r) continue;
        if (strcmp(argv[i], "--from") == 0) {
            if (cli_value(argc, argv, &i, &from, &err)) return cli_usage_error(&err);
        } else if (strcmp(argv[i], "--help") == 0) {
            fputs(HELP, stdout);
            return 0;
        } else {
            fprintf(stderr, "foil data fetch: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    const char *dest = cli_data_dir(&c, NULL);
    if (from && !*from) from = NULL;
    if (foil_data_fetch(dest, from, cli_checksums_path(), &err)) return cli_error(&err);
    printf("data: %s ready\n", dest);
    return 0;
}
