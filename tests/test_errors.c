/* Bad input through the CLI: each case exits non-zero without crashing and
 * prints exactly one line on stderr that names the file and the problem. */
#include <string.h>

#include "synth.h"
#include "testutil.h"

static int stderr_lines(void) {
    char path[1024], line[4096];
    tu_path(path, sizeof path, "last_stderr.txt");
    FILE *f = fopen(path, "r");
    int n = 0;
    /* "foil: note:" lines (auto falling back to the CPU) are not errors */
    while (f && fgets(line, sizeof line, f)) n += line[0] != '\n' && !strstr(line, "foil: note:");
    if (f) fclose(f);
    return n;
}

/* Runs foil with args; expects exit code `code` and one stderr line holding
 * every one of the NULL-terminated words. */
static void expect(const char *what, const char *args, int code, const char *const *words) {
    char last[2048];
    int rc = tu_run_foil(args, last, sizeof last);
    TU_CHECK(rc == code, "%s: exit %d, expected %d (%s)", what, rc, code, last);
    TU_CHECK(stderr_lines() == 1, "%s: %d stderr lines, expected 1", what, stderr_lines());
    for (int i = 0; words[i]; i++)
        TU_CHECK(strstr(last, words[i]) != NULL, "%s: '%s' not in: %s", what, words[i], last);
    printf("%-28s -> %s\n", what, last);
}

static const char *recipe(const char *name, const char *train_body) {
    static char path[1024];
    char text[2048];
    snprintf(text, sizeof text,
             "name: bad\nmodel:\n  layers:\n    - flatten\n    - dense: {units: 10}\n"
             "train:\n%s",
             train_body);
    tu_write_file(path, sizeof path, name, text, strlen(text));
    return path;
}

static void config_errors(const char *data) {
    char args[4096];
    const char *p = recipe("unknown_key.yaml", "  epochs: 1\n  lr_decy: 0.5\n");
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/out' --data '%s'", p, tu_tmpdir(), data);
    expect("unknown key", args, 1, (const char *[]){"unknown_key.yaml:8", "train.lr_decy", NULL});

    p = recipe("wrong_type.yaml", "  epochs: three\n");
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/out' --data '%s'", p, tu_tmpdir(), data);
    expect("wrong type", args, 1, (const char *[]){"wrong_type.yaml:7", "train.epochs", "three", NULL});

    p = recipe("out_of_range.yaml", "  lr: -1\n");
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/out' --data '%s'", p, tu_tmpdir(), data);
    expect("out-of-range value", args, 1, (const char *[]){"out_of_range.yaml:7", "train.lr", "range", NULL});

    p = recipe("bad_enum.yaml", "  optimizer: rmsprop\n");
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/out' --data '%s'", p, tu_tmpdir(), data);
    expect("unknown optimizer", args, 1, (const char *[]){"bad_enum.yaml", "rmsprop", "adam", NULL});

    p = recipe("ok.yaml", "  epochs: 1\n");
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/out' --data '%s' train.batch_size=0", p,
             tu_tmpdir(), data);
    expect("bad override value", args, 1, (const char *[]){"train.batch_size", "range", NULL});
    snprintf(args, sizeof args, "train -q -c '%s/missing.yaml' -o '%s/out'", tu_tmpdir(), tu_tmpdir());
    expect("missing config", args, 1, (const char *[]){"missing.yaml", NULL});

    const char *model = "name: m\nmodel:\n  layers:\n    - conv3d: {filters: 2}\ntrain: {}\n";
    char path[1024];
    tu_write_file(path, sizeof path, "bad_layer.yaml", model, strlen(model));
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/out'", path, tu_tmpdir());
    expect("unknown layer", args, 1, (const char *[]){"bad_layer.yaml:4", "conv3d", NULL});

    const char *shape = "name: m\nmodel:\n  layers:\n    - dense: {units: 10}\ntrain: {}\n";
    tu_write_file(path, sizeof path, "bad_shape.yaml", shape, strlen(shape));
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/out'", path, tu_tmpdir());
    expect("dense before flatten", args, 1, (const char *[]){"bad_shape.yaml", "flatten", NULL});
}

static void checkpoint_errors(const char *data) {
    char args[4096], path[1024];
    snprintf(args, sizeof args, "eval -m '%s/nope.safetensors' --data '%s'", tu_tmpdir(), data);
    expect("missing checkpoint", args, 1, (const char *[]){"nope.safetensors", NULL});
    const unsigned char past_end[12] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    tu_write_file(path, sizeof path, "past_end.safetensors", past_end, sizeof past_end);
    snprintf(args, sizeof args, "eval -m '%s' --data '%s'", path, data);
    expect("header past end of file", args, 1, (const char *[]){"past_end.safetensors", NULL});
    const char *nometa = "{}      ";
    unsigned char buf[16] = {8, 0, 0, 0, 0, 0, 0, 0};
    memcpy(buf + 8, nometa, 8);
    tu_write_file(path, sizeof path, "not_foil.safetensors", buf, sizeof buf);
    snprintf(args, sizeof args, "eval -m '%s' --data '%s'", path, data);
    expect("not a foil checkpoint", args, 1, (const char *[]){"not_foil.safetensors", "model", NULL});
}

/* A training state whose numbers are impossible (edited, or from another
 * data set) is refused with one line, never read past its epoch. */
static void state_errors(const char *data) {
    char args[4096], dir[1024], state[1200];
    const char *p = recipe("state.yaml", "  epochs: 1\n  batch_size: 10\n");
    tu_path(dir, sizeof dir, "state");
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s' --data '%s'", p, dir, data);
    TU_CHECK(tu_run_foil(args, NULL, 0) == 0, "one epoch to resume from");
    snprintf(state, sizeof state, "%s/train_state.safetensors", dir);
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s' --data '%s' --resume train.epochs=2", p,
             dir, data);
    TU_CHECK(tu_set_meta(state, "epoch", "-3") == 0, "edit the epoch");
    expect("negative epoch in the state", args, 1,
           (const char *[]){"train_state.safetensors", "corrupt", "cannot resume", NULL});
    TU_CHECK(tu_set_meta(state, "epoch", "1") == 0 && tu_set_meta(state, "epoch_step", "999999") == 0,
             "edit the step");
    expect("step past the epoch's end", args, 1,
           (const char *[]){"train_state.safetensors", "999999", "5 steps", NULL});
}

static void data_errors(void) {
    char args[4096], path[1024], dir[1024];
    /* a folder whose t10k images have the labels' magic */
    synth_dataset("badmagic", 20, 20);
    tu_path(dir, sizeof dir, "badmagic");
    const unsigned char labels_hdr[8] = {0, 0, 8, 1, 0, 0, 0, 20};
    tu_write_gz(path, sizeof path, "badmagic/t10k-images-idx3-ubyte.gz", labels_hdr, 8);
    const char *cfg = "name: t\nmodel:\n  layers: [flatten, {dense: {units: 10}}]\ntrain: {epochs: 1}\n";
    char cfgp[1024];
    tu_write_file(cfgp, sizeof cfgp, "t.yaml", cfg, strlen(cfg));
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/out' --data '%s'", cfgp, tu_tmpdir(), dir);
    expect("IDX with the wrong magic", args, 1, (const char *[]){"t10k-images-idx3-ubyte.gz", NULL});

    synth_dataset("counts", 20, 20);
    synth_write_idx("counts", "t10k", 19, 5); /* images and labels rewritten with 19 */
    const unsigned char lab20[28] = {0, 0, 8, 1, 0, 0, 0, 20};
    tu_write_gz(path, sizeof path, "counts/t10k-labels-idx1-ubyte.gz", lab20, sizeof lab20);
    tu_path(dir, sizeof dir, "counts");
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/out' --data '%s'", cfgp, tu_tmpdir(), dir);
    expect("image/label count mismatch", args, 1, (const char *[]){"19", "20", NULL});

    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/out' --data '%s/none'", cfgp, tu_tmpdir(),
             tu_tmpdir());
    expect("missing data folder", args, 1, (const char *[]){"none", NULL});
}

static void usage_errors(const char *data) {
    char args[4096];
    expect("unknown command", "frobnicate", 2, (const char *[]){"frobnicate", NULL});
    /* command-line usage: exit 2 (docs/hardening.md) */
    expect("unknown option", "eval --frob", 2, (const char *[]){"--frob", NULL});
    expect("missing -m", "eval", 2, (const char *[]){"-m", NULL});
    snprintf(args, sizeof args, "eval -m x --limit -3 --data '%s'", data);
    expect("negative --limit", args, 2, (const char *[]){"--limit", NULL});
    expect("train without -o", "train -c x.yaml", 2, (const char *[]){"-o OUTDIR", NULL});
    expect("attack without -o", "attack -m x", 2, (const char *[]){"-o OUTDIR", NULL});
    expect("run without a config", "run", 2, (const char *[]){"CONFIG", NULL});
    expect("shift, unknown option", "shift --frob", 2, (const char *[]){"--frob", NULL});
    const char *cfg = "name: t\nmodel:\n  layers: [flatten, {dense: {units: 10}}]\ntrain: {}\n";
    char cfgp[1024];
    tu_write_file(cfgp, sizeof cfgp, "dev.yaml", cfg, strlen(cfg));
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/out' --device tpu --data '%s'", cfgp,
             tu_tmpdir(), data);
    expect("unknown device", args, 1, (const char *[]){"device", "tpu", NULL});
}

int main(void) {
    synth_dataset("good", 50, 20);
    char data[1024];
    tu_path(data, sizeof data, "good");
    config_errors(data);
    checkpoint_errors(data);
    state_errors(data);
    data_errors();
    usage_errors(data);
    return tu_finish("test_errors");
}
