/* The quickstart recipe on real MNIST (skipped without the data): one epoch
 * of the small CNN must reach >= 97% test accuracy, and `foil eval` on the
 * checkpoint must agree with the accuracy training reported. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static double json_number(const char *path, const char *key) {
    FILE *f = fopen(path, "rb");
    char buf[65536];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    cJSON *o = cJSON_Parse(buf);
    cJSON *v = o ? cJSON_GetObjectItem(o, key) : NULL;
    double r = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    cJSON_Delete(o);
    return r;
}

int main(void) {
    const char *data = tu_mnist_dir();
    if (!data) tu_skip("no MNIST data (set FOIL_TEST_DATA)");
    char cfg[1024], args[4096], last[2048], path[1200];
    tu_source_path(cfg, sizeof cfg, "configs/quickstart.yaml");
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/qs' --data '%s'", cfg, tu_tmpdir(), data);
    int rc = tu_run_foil(args, last, sizeof last);
    TU_CHECK(rc == 0, "foil train quickstart: exit %d: %s", rc, last);
    snprintf(path, sizeof path, "%s/qs/metrics.json", tu_tmpdir());
    double acc = json_number(path, "test_accuracy");
    printf("quickstart test accuracy: %.4f (%.1f s training)\n", acc,
           json_number(path, "train_seconds"));
    TU_CHECK(acc >= 0.97 && acc <= 1.0, "quickstart reaches 97%%: %g", acc);

    snprintf(args, sizeof args, "eval -m '%s/qs/model.safetensors' --data '%s' --json '%s/eval.json'",
             tu_tmpdir(), data, tu_tmpdir());
    rc = tu_run_foil(args, last, sizeof last);
    TU_CHECK(rc == 0, "foil eval: exit %d: %s", rc, last);
    snprintf(path, sizeof path, "%s/eval.json", tu_tmpdir());
    double eval_acc = json_number(path, "accuracy");
    TU_CHECK(fabs(eval_acc - acc) < 1e-9, "eval accuracy %g equals training's %g", eval_acc, acc);
    return tu_finish("test_quickstart");
}
