/* SHA-256 against the FIPS 180-4 / NIST example vectors, hashed from files so
 * the streaming path (blocks straddling the 64 KiB read buffer) is covered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/data.h"
#include "testutil.h"

static void check_file(const char *name, const void *data, size_t len, const char *want) {
    char path[1024], hex[65];
    foil_err err = {{0}};
    tu_write_file(path, sizeof path, name, data, len);
    int rc = foil_sha256_file(path, hex, &err);
    TU_CHECK(rc == 0, "%s: %s", name, err.msg);
    if (rc == 0) TU_CHECK(strcmp(hex, want) == 0, "%s: got %s want %s", name, hex, want);
}

int main(void) {
    check_file("empty", "", 0,
               "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_file("abc", "abc", 3,
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_file("m448", m448, strlen(m448),
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    /* One million 'a': crosses many read-buffer boundaries. */
    size_t n = 1000000;
    char *a = malloc(n);
    TU_CHECK(a != NULL, "malloc");
    if (a) {
        memset(a, 'a', n);
        check_file("million_a", a, n,
                   "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
        free(a);
    }

    /* Runs of 'a' around the padding boundaries (55/56 bytes: the length still
     * fits / no longer fits in the last block; 64, 119, 120 likewise one block
     * on), checked against sha256sum. */
    static const struct { size_t len; const char *hex; } runs[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char run[128];
    memset(run, 'a', sizeof run);
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "run%zu", runs[i].len);
        check_file(name, run, runs[i].len, runs[i].hex);
    }

    char h1[65];
    foil_err err = {{0}};
    /* A missing file is an error naming the path. */
    char missing[1024];
    tu_path(missing, sizeof missing, "no_such_file");
    TU_CHECK(foil_sha256_file(missing, h1, &err) == -1, "missing file accepted");
    TU_CHECK(strstr(err.msg, missing) != NULL, "message lacks path: %s", err.msg);
    return tu_finish("test_sha256");
}
