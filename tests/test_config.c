/* YAML configs: parsing (lines, quoting, rejected features), typed getters and
 * their messages, defaults, unknown keys, overrides, and emit -> parse round
 * trips. */
#include "foil/config.h"

#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define NAME "t.yaml"

/* A failure whose one-line message contains want. */
#define CHECK_FAIL(expr, err, want)                                                       \
    do {                                                                                  \
        int rc_ = (expr);                                                                 \
        TU_CHECK(rc_ == -1, "expected failure, got rc=%d", rc_);                          \
        TU_CHECK(strstr((err).msg, (want)) != NULL, "message '%s' lacks '%s'", (err).msg, \
                 (want));                                                                 \
        TU_CHECK(strchr((err).msg, '\n') == NULL, "message is not one line: '%s'",         \
                 (err).msg);                                                              \
    } while (0)

static int parse(foil_config *cfg, const char *text, foil_err *err) {
    return foil_config_parse(cfg, NAME, text, strlen(text), err);
}

/* Parsing text must fail with want in the message and leave nothing behind. */
#define PARSE_FAILS(text, want)                                                  \
    do {                                                                         \
        foil_config c_;                                                          \
        foil_err e_ = {{0}};                                                     \
        CHECK_FAIL(parse(&c_, (text), &e_), e_, (want));                         \
        TU_CHECK(c_.root == NULL && c_.path == NULL, "config not cleared");      \
        foil_config_free(&c_);                                                   \
    } while (0)

static int tree_equal(const foil_node *a, const foil_node *b) {
    if (a->kind != b->kind || a->quoted != b->quoted) return 0;
    if ((a->key == NULL) != (b->key == NULL) || (a->key && strcmp(a->key, b->key) != 0))
        return 0;
    if (a->kind == FOIL_NODE_SCALAR && strcmp(a->value, b->value) != 0) return 0;
    const foil_node *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next)
        if (!tree_equal(x, y)) return 0;
    return x == NULL && y == NULL;
}

/* Emits cfg, parses the text back, and checks the trees match and that
 * emitting again gives the same text. */
static void check_round_trip(const foil_config *cfg, const char *what) {
    char *text = foil_config_emit_string(cfg->root);
    TU_CHECK(text != NULL, "%s: emit failed", what);
    if (!text) return;
    foil_config back;
    foil_err err = {{0}};
    int rc = parse(&back, text, &err);
    TU_CHECK(rc == 0, "%s: emitted text does not parse: %s\n%s", what, err.msg, text);
    if (rc == 0) {
        TU_CHECK(tree_equal(cfg->root, back.root), "%s: round trip differs:\n%s", what, text);
        char *again = foil_config_emit_string(back.root);
        TU_CHECK(again && strcmp(text, again) == 0, "%s: second emit differs:\n%s\n---\n%s",
                 what, text, again ? again : "(null)");
        free(again);
        foil_config_free(&back);
    }
    free(text);
}

/* ---- a realistic file ------------------------------------------------------------ */

static const char REALISTIC[] =
    "# quickstart: a small LeNet on MNIST\n" /* 1 */
    "name: quickstart\n"                     /* 2 */
    "model:\n"                               /* 3 */
    "  input: [1, 28, 28]\n"                 /* 4 */
    "  layers:\n"                            /* 5 */
    "    - conv2d: {filters: 32, kernel: 5}\n"
    "    - relu\n" /* 7 */
    "    - maxpool: {size: 2}\n"
    "    - conv2d:\n"
    "        filters: 64   # more filters\n" /* 10 */
    "        kernel: 5\n"
    "    - flatten\n"
    "    - dense: {units: 10}\n"
    "train:\n" /* 14 */
    "  epochs: 3\n"
    "  lr: 1e-3\n"
    "  momentum: .9\n" /* 17 */
    "  nesterov: Yes\n"
    "  optimizer: adam\n"
    "  seed: \"42\"\n" /* 20 */
    "attack:\n"
    "  eps: [0, 0.05, 0.1, 0.3]\n"
    "  method: 'pgd'\n"
    "  note: >\n"
    "    folded\n"
    "    text\n";

static const char *const OPTS[] = {"adam", "sgd", "rmsprop", NULL};

static void check_structure(foil_config *cfg) {
    foil_node *root = cfg->root;
    TU_CHECK(root->kind == FOIL_NODE_MAP && foil_node_count(root) == 4, "root count %d",
             foil_node_count(root));
    foil_node *layers = foil_node_get(foil_node_get(root, "model"), "layers");
    TU_CHECK(layers && layers->kind == FOIL_NODE_SEQ && foil_node_count(layers) == 6,
             "layers");
    if (!layers || foil_node_count(layers) != 6) return;
    foil_node *relu = layers->child->next;
    TU_CHECK(relu->kind == FOIL_NODE_SCALAR && strcmp(relu->value, "relu") == 0 &&
                 relu->line == 7 && relu->key == NULL,
             "relu item: line %d", relu->line);
    foil_node *conv = foil_node_get(relu->next->next, "conv2d");
    foil_node *filters = foil_node_get(conv, "filters");
    TU_CHECK(filters && strcmp(filters->value, "64") == 0 && filters->line == 10 &&
                 !filters->quoted,
             "filters");
    char path[128];
    foil_node_path(filters, path, sizeof path);
    TU_CHECK(strcmp(path, "model.layers[3].conv2d.filters") == 0, "path '%s'", path);
    foil_node_path(relu, path, sizeof path);
    TU_CHECK(strcmp(path, "model.layers[1]") == 0, "path '%s'", path);
    foil_node_path(root, path, sizeof path);
    TU_CHECK(path[0] == 0, "root path '%s'", path);
    foil_node *train = foil_node_get(root, "train");
    TU_CHECK(train && train->line == 14 && train->child->line == 15, "train lines");
}

static void read_model(foil_config *cfg, foil_err *err) {
    foil_node *model = foil_node_get(cfg->root, "model");
    foil_node *layers = foil_node_get(model, "layers");
    foil_node *input = foil_node_get(model, "input");
    long v;
    for (foil_node *c = input->child; c; c = c->next)
        TU_CHECK(foil_node_as_int(cfg, c, 1, 4096, &v, err) == 0, "%s", err->msg);
    CHECK_FAIL(foil_config_check_used(cfg, cfg->root, err), *err,
               ":6: unused item 'model.layers[0]'");
    for (foil_node *item = layers->child; item; item = item->next) {
        item->used = 1;
        if (item->kind != FOIL_NODE_MAP) continue;
        foil_node *args = foil_node_get(item, item->child->key);
        for (foil_node *a = args->child; a; a = a->next)
            TU_CHECK(foil_node_as_int(cfg, a, 1, 4096, &v, err) == 0, "%s", err->msg);
    }
}

static void read_train(foil_config *cfg, foil_err *err) {
    foil_node *train = foil_node_get(cfg->root, "train");
    long epochs = 0;
    double lr = 0, momentum = 0;
    int nesterov = 0, opt = -1;
    const char *seed = NULL;
    TU_CHECK(foil_cfg_int(cfg, train, "epochs", 1, 1, 1000, &epochs, err) == 0 && epochs == 3,
             "epochs %ld %s", epochs, err->msg);
    TU_CHECK(foil_cfg_float(cfg, train, "lr", 0.1, 0, 10, &lr, err) == 0 && lr == 1e-3,
             "lr %g", lr);
    TU_CHECK(foil_cfg_bool(cfg, train, "nesterov", 0, &nesterov, err) == 0 && nesterov == 1,
             "nesterov");
    TU_CHECK(foil_cfg_enum(cfg, train, "optimizer", 1, OPTS, &opt, err) == 0 && opt == 0,
             "optimizer %d", opt);
    TU_CHECK(foil_cfg_string(cfg, train, "seed", NULL, &seed, err) == 0 && seed &&
                 strcmp(seed, "42") == 0,
             "seed");
    char want[1200];
    snprintf(want, sizeof want, "%s:17: unknown key 'train.momentum'", cfg->path);
    CHECK_FAIL(foil_config_check_used(cfg, cfg->root, err), *err, want);
    snprintf(want, sizeof want,
             "%s:20: train.seed: expected an integer, got the quoted string '42'", cfg->path);
    CHECK_FAIL(foil_cfg_int(cfg, train, "seed", 0, 0, 100, &epochs, err), *err, want);
    TU_CHECK(foil_cfg_float(cfg, train, "momentum", 0, 0, 1, &momentum, err) == 0 &&
                 momentum == 0.9,
             "momentum");
}

static void read_attack(foil_config *cfg, foil_err *err) {
    foil_node *attack = foil_node_get(cfg->root, "attack");
    foil_node *eps = foil_node_get(attack, "eps");
    double want[] = {0, 0.05, 0.1, 0.3}, d;
    int i = 0;
    for (foil_node *c = eps->child; c; c = c->next, i++)
        TU_CHECK(foil_node_as_float(cfg, c, 0, 1, &d, err) == 0 && d == want[i], "eps[%d]", i);
    const char *method = NULL, *note = NULL;
    TU_CHECK(foil_cfg_string(cfg, attack, "method", "fgsm", &method, err) == 0 &&
                 strcmp(method, "pgd") == 0 && foil_node_get(attack, "method")->quoted,
             "method");
    TU_CHECK(foil_cfg_string(cfg, attack, "note", NULL, &note, err) == 0 &&
                 strcmp(note, "folded text\n") == 0,
             "note '%s'", note ? note : "");
}

static void test_realistic(void) {
    char path[1024];
    tu_write_file(path, sizeof path, "quickstart.yaml", REALISTIC, strlen(REALISTIC));
    foil_config cfg;
    foil_err err = {{0}};
    int rc = foil_config_load(&cfg, path, &err);
    TU_CHECK(rc == 0, "load: %s", err.msg);
    if (rc) return;
    TU_CHECK(strcmp(cfg.path, path) == 0, "path");
    check_round_trip(&cfg, "realistic");
    check_structure(&cfg);
    foil_config_free(&cfg);

    foil_config_load(&cfg, path, &err);
    char want[1200];
    snprintf(want, sizeof want, "%s:2: unknown key 'name'", path);
    CHECK_FAIL(foil_config_check_used(&cfg, cfg.root, &err), err, want);
    const char *name;
    foil_cfg_string(&cfg, cfg.root, "name", NULL, &name, &err);
    snprintf(want, sizeof want, "%s:3: unknown key 'model'", path);
    CHECK_FAIL(foil_config_check_used(&cfg, cfg.root, &err), err, want);
    read_model(&cfg, &err);
    read_train(&cfg, &err);
    read_attack(&cfg, &err);
    TU_CHECK(foil_config_check_used(&cfg, cfg.root, &err) == 0, "all used: %s", err.msg);

    char *text = foil_config_emit_string(cfg.root);
    TU_CHECK(text && strstr(text, "  layers:\n  - conv2d:\n      filters: 32\n") &&
                 strstr(text, "  input: [1, 28, 28]\n") && strstr(text, "  seed: '42'\n") &&
                 strstr(text, "  - relu\n") && strstr(text, "  note: \"folded text\\n\"\n"),
             "emitted:\n%s", text ? text : "");
    free(text);
    foil_config_free(&cfg);
    foil_config_free(&cfg); /* freeing twice is harmless */

    CHECK_FAIL(foil_config_load(&cfg, "/nonexistent/x.yaml", &err), err,
               "/nonexistent/x.yaml: cannot open");
}

/* ---- getters ---------------------------------------------------------------------- */

static const char GETTERS[] =
    "a:\n"
    "  i: 12\n"
    "  neg: -5\n"
    "  frac: 1.5\n"
    "  empty:\n" /* 5 */
    "  hex: 0x10\n"
    "  big: 99999999999999999999\n"
    "  qi: \"5\"\n"
    "  map: {x: 1}\n"
    "  f1: 1e-3\n" /* 10 */
    "  f2: .5\n"
    "  f3: 7\n"
    "  nan: nan\n"
    "  inf: .inf\n"
    "  qf: '0.5'\n" /* 15 */
    "  b1: TRUE\n"
    "  b2: off\n"
    "  b3: maybe\n"
    "  s: hello world\n"
    "  n: 123\n" /* 20 */
    "  seq: [1, 2]\n"
    "  e: sgd\n"
    "  e2: SGD\n"
    "  text: |\n"
    "    two\n"
    "    lines\n"
    "  huge: 1e999\n"; /* 27 */

static void test_int_getter(foil_config *cfg, foil_node *a, foil_err *err) {
    long v = 0;
    TU_CHECK(foil_cfg_int(cfg, a, "i", 0, 0, 100, &v, err) == 0 && v == 12, "i");
    TU_CHECK(foil_cfg_int(cfg, a, "neg", 0, -10, 10, &v, err) == 0 && v == -5, "neg");
    CHECK_FAIL(foil_cfg_int(cfg, a, "neg", 0, 0, 10, &v, err), *err,
               "t.yaml:3: a.neg: -5 is out of range [0, 10]");
    CHECK_FAIL(foil_cfg_int(cfg, a, "frac", 0, 0, 10, &v, err), *err,
               "t.yaml:4: a.frac: expected an integer, got '1.5'");
    CHECK_FAIL(foil_cfg_int(cfg, a, "empty", 0, 0, 10, &v, err), *err,
               "t.yaml:5: a.empty: expected an integer, got an empty value");
    CHECK_FAIL(foil_cfg_int(cfg, a, "hex", 0, 0, 100, &v, err), *err, "got '0x10'");
    CHECK_FAIL(foil_cfg_int(cfg, a, "big", 0, 0, 100, &v, err), *err,
               "t.yaml:7: a.big: 99999999999999999999 is out of range [0, 100]");
    CHECK_FAIL(foil_cfg_int(cfg, a, "qi", 0, 0, 10, &v, err), *err,
               "t.yaml:8: a.qi: expected an integer, got the quoted string '5'");
    CHECK_FAIL(foil_cfg_int(cfg, a, "map", 0, 0, 10, &v, err), *err,
               "t.yaml:9: a.map: expected an integer, got a mapping");
    CHECK_FAIL(foil_cfg_int(cfg, a, "text", 0, 0, 10, &v, err), *err,
               "t.yaml:24: a.text: expected an integer, got the quoted string 'two lines '");
}

static void test_float_getter(foil_config *cfg, foil_node *a, foil_err *err) {
    double d = 0;
    TU_CHECK(foil_cfg_float(cfg, a, "f1", 0, 0, 1, &d, err) == 0 && d == 1e-3, "f1");
    TU_CHECK(foil_cfg_float(cfg, a, "f2", 0, 0, 1, &d, err) == 0 && d == 0.5, "f2");
    TU_CHECK(foil_cfg_float(cfg, a, "f3", 0, 0, 10, &d, err) == 0 && d == 7.0, "f3");
    CHECK_FAIL(foil_cfg_float(cfg, a, "f1", 0, 0.01, 1, &d, err), *err,
               "t.yaml:10: a.f1: 1e-3 is out of range [0.01, 1]");
    CHECK_FAIL(foil_cfg_float(cfg, a, "nan", 0, 0, 1, &d, err), *err,
               "t.yaml:13: a.nan: expected a number, got 'nan'");
    CHECK_FAIL(foil_cfg_float(cfg, a, "inf", 0, 0, 1, &d, err), *err,
               "t.yaml:14: a.inf: expected a number, got '.inf'");
    CHECK_FAIL(foil_cfg_float(cfg, a, "qf", 0, 0, 1, &d, err), *err,
               "t.yaml:15: a.qf: expected a number, got the quoted string '0.5'");
    CHECK_FAIL(foil_cfg_float(cfg, a, "s", 0, 0, 1, &d, err), *err,
               "t.yaml:19: a.s: expected a number, got 'hello world'");
    CHECK_FAIL(foil_cfg_float(cfg, a, "huge", 0, 0, 1, &d, err), *err,
               "t.yaml:27: a.huge: 1e999 is out of range [0, 1]");
    CHECK_FAIL(foil_cfg_float(cfg, a, "seq", 0, 0, 1, &d, err), *err,
               "t.yaml:21: a.seq: expected a number, got a sequence");
}

static void test_other_getters(foil_config *cfg, foil_node *a, foil_err *err) {
    int b = -1, e = -1;
    const char *s = NULL;
    TU_CHECK(foil_cfg_bool(cfg, a, "b1", 0, &b, err) == 0 && b == 1, "b1");
    TU_CHECK(foil_cfg_bool(cfg, a, "b2", 1, &b, err) == 0 && b == 0, "b2");
    CHECK_FAIL(foil_cfg_bool(cfg, a, "b3", 0, &b, err), *err,
               "t.yaml:18: a.b3: expected true or false, got 'maybe'");
    TU_CHECK(foil_cfg_string(cfg, a, "s", NULL, &s, err) == 0 && strcmp(s, "hello world") == 0,
             "s");
    TU_CHECK(foil_cfg_string(cfg, a, "n", NULL, &s, err) == 0 && strcmp(s, "123") == 0, "n");
    TU_CHECK(foil_cfg_string(cfg, a, "text", NULL, &s, err) == 0 &&
                 strcmp(s, "two\nlines\n") == 0, "text");
    CHECK_FAIL(foil_cfg_string(cfg, a, "map", NULL, &s, err), *err,
               "t.yaml:9: a.map: expected a string, got a mapping");
    CHECK_FAIL(foil_cfg_string(cfg, a, "seq", NULL, &s, err), *err,
               "t.yaml:21: a.seq: expected a string, got a sequence");
    TU_CHECK(foil_cfg_enum(cfg, a, "e", 0, OPTS, &e, err) == 0 && e == 1, "e");
    CHECK_FAIL(foil_cfg_enum(cfg, a, "e2", 0, OPTS, &e, err), *err,
               "t.yaml:23: a.e2: unknown value 'SGD' (choose one of: adam, sgd, rmsprop)");
    foil_node *n = NULL;
    TU_CHECK(foil_cfg_require(cfg, a, "i", &n, err) == 0 && n && n->line == 2, "require");
    CHECK_FAIL(foil_cfg_require(cfg, a, "nope", &n, err), *err,
               "t.yaml:1: a: missing required key 'nope'");
    CHECK_FAIL(foil_cfg_require(cfg, cfg->root, "nope", &n, err), *err,
               "t.yaml: missing required key 'nope'");
    long v;
    CHECK_FAIL(foil_cfg_int(cfg, foil_node_get(a, "s"), "x", 0, 0, 1, &v, err), *err,
               "t.yaml:19: a.s: expected a mapping, got 'hello world'");
    /* a missing section: defaults come back, nothing to record them in */
    TU_CHECK(foil_cfg_int(cfg, NULL, "x", 7, 0, 10, &v, err) == 0 && v == 7, "NULL map");
    CHECK_FAIL(foil_cfg_fail(cfg, foil_node_get(a, "e"), err, "custom %d", 5), *err,
               "t.yaml:22: a.e: custom 5");
}

static void test_getters(void) {
    foil_config cfg;
    foil_err err = {{0}};
    int rc = parse(&cfg, GETTERS, &err);
    TU_CHECK(rc == 0, "parse: %s", err.msg);
    if (rc) return;
    foil_node *a = foil_node_get(cfg.root, "a");
    test_int_getter(&cfg, a, &err);
    test_float_getter(&cfg, a, &err);
    test_other_getters(&cfg, a, &err);
    TU_CHECK(foil_node_count(a) == 24, "getters must not add keys that exist: %d",
             foil_node_count(a));
    foil_config_free(&cfg);
}

/* ---- defaults --------------------------------------------------------------------- */

static const char *const DEFAULTS_EMITTED =
    "train:\n"
    "  epochs: 3\n"
    "  lr: 0.001\n"
    "  batch: 64\n"
    "  shuffle: true\n"
    "  opt: sgd\n"
    "  tag: '1'\n"
    "  dir: data/raw\n"
    "  wd: 0\n"
    "  eps: 1e-08\n"
    "  note: 'a: b'\n";

static void test_defaults(void) {
    foil_config cfg;
    foil_err err = {{0}};
    parse(&cfg, "train:\n  epochs: 3\n", &err);
    foil_node *t = foil_node_get(cfg.root, "train");
    long epochs, batch;
    double lr, wd, eps;
    int shuffle, opt;
    const char *tag, *dir, *nothing = "x", *note;
    int rc = foil_cfg_int(&cfg, t, "epochs", 1, 1, 100, &epochs, &err) |
             foil_cfg_float(&cfg, t, "lr", 1e-3, 0, 1, &lr, &err) |
             foil_cfg_int(&cfg, t, "batch", 64, 1, 1024, &batch, &err) |
             foil_cfg_bool(&cfg, t, "shuffle", 1, &shuffle, &err) |
             foil_cfg_enum(&cfg, t, "opt", 1, OPTS, &opt, &err) |
             foil_cfg_string(&cfg, t, "tag", "1", &tag, &err) |
             foil_cfg_string(&cfg, t, "dir", "data/raw", &dir, &err) |
             foil_cfg_string(&cfg, t, "nothing", NULL, &nothing, &err) |
             foil_cfg_float(&cfg, t, "wd", 0.0, 0, 1, &wd, &err) |
             foil_cfg_float(&cfg, t, "eps", 1e-8, 0, 1, &eps, &err) |
             foil_cfg_string(&cfg, t, "note", "a: b", &note, &err);
    TU_CHECK(rc == 0, "defaults: %s", err.msg);
    TU_CHECK(epochs == 3 && lr == 1e-3 && batch == 64 && shuffle == 1 && opt == 1 &&
                 strcmp(tag, "1") == 0 && nothing == NULL && wd == 0 && eps == 1e-8,
             "default values");
    foil_node *lr_node = foil_node_get(t, "lr");
    TU_CHECK(lr_node && lr_node->line == 0 && lr_node->used, "default node");
    TU_CHECK(foil_cfg_float(&cfg, t, "lr", 0.5, 0, 1, &lr, &err) == 0 && lr == 1e-3,
             "second read gives the recorded default");
    TU_CHECK(foil_config_check_used(&cfg, cfg.root, &err) == 0, "used: %s", err.msg);
    char *text = foil_config_emit_string(cfg.root);
    TU_CHECK(text && strcmp(text, DEFAULTS_EMITTED) == 0, "emitted:\n%s", text ? text : "");
    free(text);
    check_round_trip(&cfg, "defaults");
    foil_config_free(&cfg);
}

/* ---- unknown keys ------------------------------------------------------------------- */

static void test_unknown_keys(void) {
    foil_config cfg;
    foil_err err = {{0}};
    long v;
    parse(&cfg, "train:\n  epochs: 3\n  lr_decay: 0.5\n", &err);
    foil_cfg_int(&cfg, foil_node_get(cfg.root, "train"), "epochs", 1, 1, 9, &v, &err);
    CHECK_FAIL(foil_config_check_used(&cfg, cfg.root, &err), err,
               "t.yaml:3: unknown key 'train.lr_decay'");
    foil_config_free(&cfg);

    parse(&cfg, "model: {}\nextra:\n  a: 1\n", &err);
    foil_node_get(cfg.root, "model");
    CHECK_FAIL(foil_config_check_used(&cfg, cfg.root, &err), err, "t.yaml:2: unknown key 'extra'");
    foil_config_free(&cfg);

    parse(&cfg, "eps: [1, 2,\n  3]\n", &err);
    foil_node *eps = foil_node_get(cfg.root, "eps");
    double d;
    foil_node_as_float(&cfg, eps->child, 0, 9, &d, &err);
    foil_node_as_float(&cfg, eps->child->next, 0, 9, &d, &err);
    CHECK_FAIL(foil_config_check_used(&cfg, cfg.root, &err), err, "t.yaml:2: unused item 'eps[2]'");
    foil_config_free(&cfg);

    parse(&cfg, "train: {}\n", &err);
    foil_config_override(&cfg, "train.lrr=1", &err);
    foil_node_get(cfg.root, "train");
    CHECK_FAIL(foil_config_check_used(&cfg, cfg.root, &err), err,
               "t.yaml: unknown key 'train.lrr' (set by an override)");
    foil_config_free(&cfg);
}

/* ---- bad files ---------------------------------------------------------------------- */

static void test_bad_files(void) {
    PARSE_FAILS("a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\n",
                "t.yaml:5: duplicate key 'b.x' (first on line 3)");
    PARSE_FAILS("c: {p: 1, p: 2}\n", "t.yaml:1: duplicate key 'c.p' (first on line 1)");
    PARSE_FAILS("a: 1\n b: 2\n", "t.yaml:2: YAML syntax error: ");
    PARSE_FAILS("a: [1, 2\nb: 3\n", "YAML syntax error");
    PARSE_FAILS("a:\n\tb: 1\n", "t.yaml:2: YAML syntax error");
    PARSE_FAILS("x: 1\ny: \xff\n", "t.yaml:2: YAML syntax error");
    PARSE_FAILS("a: &x 1\nb: *x\n", "t.yaml:1: anchors (&x) are not supported");
    PARSE_FAILS("b: *x\n", "t.yaml:1: aliases (*x) are not supported");
    PARSE_FAILS("a:\n  - !!str 1\n", "t.yaml:2: tags (tag:yaml.org,2002:str) are not supported");
    PARSE_FAILS("a: !custom {}\n", "tags (!custom) are not supported");
    PARSE_FAILS("a: 1\n---\nb: 2\n", "t.yaml:2: only one YAML document is allowed");
    PARSE_FAILS("- a\n- b\n", "t.yaml:1: the top level must be a mapping");
    PARSE_FAILS("hello\n", "t.yaml:1: the top level must be a mapping");
    PARSE_FAILS("? {a: 1}\n: 2\n", "t.yaml:1: keys must be plain text, not a mapping");
    PARSE_FAILS("a: \"x\\0y\"\n", "t.yaml:1: NUL characters are not allowed");
    char deep[300];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 99);
    deep[299] = 0;
    memcpy(deep, "a: ", 3);
    PARSE_FAILS(deep, "nested more than 64 levels deep");

    const char *empty[] = {"", "# only a comment\n\n", "---\n", "{}\n"};
    for (int i = 0; i < 4; i++) {
        foil_config cfg;
        foil_err err = {{0}};
        int rc = parse(&cfg, empty[i], &err);
        TU_CHECK(rc == 0 && cfg.root->kind == FOIL_NODE_MAP && !cfg.root->child,
                 "empty config %d: %s", i, err.msg);
        if (rc == 0) check_round_trip(&cfg, "empty");
        foil_config_free(&cfg);
    }
}

/* ---- overrides ------------------------------------------------------------------------ */

static const char OVERRIDE_BASE[] =
    "model:\n"
    "  layers: [relu]\n"
    "train:\n"
    "  lr: 0.1\n"
    "  epochs: 3\n"
    "  empty:\n";

static void test_override_ok(foil_config *cfg, foil_err *err) {
    foil_node *train = foil_node_get(cfg->root, "train");
    double d;
    long v;
    TU_CHECK(foil_config_override(cfg, "train.lr=0.01", err) == 0, "%s", err->msg);
    TU_CHECK(train->child->line == 0 && strcmp(train->child->key, "lr") == 0,
             "replaced in place");
    TU_CHECK(foil_cfg_float(cfg, train, "lr", 1, 0, 1, &d, err) == 0 && d == 0.01, "lr");
    TU_CHECK(foil_config_override(cfg, "new.sub.key=5", err) == 0, "%s", err->msg);
    foil_node *sub = foil_node_get(foil_node_get(cfg->root, "new"), "sub");
    TU_CHECK(foil_cfg_int(cfg, sub, "key", 0, 0, 9, &v, err) == 0 && v == 5, "created");
    TU_CHECK(foil_config_override(cfg, "attack.eps=[0, 0.1]", err) == 0, "%s", err->msg);
    foil_node *eps = foil_node_get(foil_node_get(cfg->root, "attack"), "eps");
    TU_CHECK(eps && eps->kind == FOIL_NODE_SEQ && foil_node_count(eps) == 2 &&
                 foil_node_as_float(cfg, eps->child->next, 0, 1, &d, err) == 0 && d == 0.1,
             "sequence value");
    TU_CHECK(foil_config_override(cfg, "x.m={a: 1, b: [2]}", err) == 0, "%s", err->msg);
    TU_CHECK(foil_config_override(cfg, "model.layers=[relu, flatten]", err) == 0, "%s",
             err->msg);
    TU_CHECK(foil_node_count(foil_node_get(foil_node_get(cfg->root, "model"), "layers")) == 2,
             "replaced sequence");
    TU_CHECK(foil_config_override(cfg, "train.epochs=\"7\"", err) == 0, "%s", err->msg);
    CHECK_FAIL(foil_cfg_int(cfg, train, "epochs", 0, 0, 9, &v, err), *err,
               "t.yaml: override train.epochs: expected an integer, got the quoted string '7'");
    TU_CHECK(foil_config_override(cfg, "train.empty.sub=1", err) == 0, "%s", err->msg);
    TU_CHECK(foil_node_get(train, "empty")->kind == FOIL_NODE_MAP, "null became a map");
    TU_CHECK(foil_config_override(cfg, "train.lr=abc", err) == 0, "%s", err->msg);
    CHECK_FAIL(foil_cfg_float(cfg, train, "lr", 1, 0, 1, &d, err), *err,
               "t.yaml: override train.lr: expected a number, got 'abc'");
    TU_CHECK(strstr(err->msg, ":0:") == NULL, "no line 0 in '%s'", err->msg);
    TU_CHECK(foil_config_override(cfg, "name=", err) == 0, "%s", err->msg);
    check_round_trip(cfg, "overrides");
}

static void test_override_bad(foil_config *cfg, foil_err *err) {
    char *before = foil_config_emit_string(cfg->root);
    CHECK_FAIL(foil_config_override(cfg, "noequals", err), *err,
               "override 'noequals': expected key.path=value");
    CHECK_FAIL(foil_config_override(cfg, "=1", err), *err, "expected key.path=value");
    CHECK_FAIL(foil_config_override(cfg, "a..b=1", err), *err, "override 'a..b=1': empty key");
    CHECK_FAIL(foil_config_override(cfg, ".a=1", err), *err, "empty key");
    CHECK_FAIL(foil_config_override(cfg, "a.=1", err), *err, "empty key");
    CHECK_FAIL(foil_config_override(cfg, "a.b=[1,", err), *err,
               "t.yaml: override a.b: YAML syntax error");
    CHECK_FAIL(foil_config_override(cfg, "model=3", err), *err,
               "t.yaml: override model: 'model' is a mapping");
    CHECK_FAIL(foil_config_override(cfg, "train.lr.x=1", err), *err,
               "t.yaml: override train.lr.x: 'train.lr' is not a mapping");
    CHECK_FAIL(foil_config_override(cfg, "model.layers.x=1", err), *err,
               "'model.layers' is not a mapping");
    CHECK_FAIL(foil_config_override(cfg, "a=b: c", err), *err, "flow style");
    CHECK_FAIL(foil_config_override(cfg, "a=&x 1", err), *err,
               "t.yaml: override a: anchors (&x) are not supported");
    CHECK_FAIL(foil_config_override(cfg, "a={k: 1, k: 2}", err), *err,
               "override a: duplicate key 'k'");
    CHECK_FAIL(foil_config_override(cfg, "a=1\n---\n2", err), *err, "only one YAML document");
    char *after = foil_config_emit_string(cfg->root);
    TU_CHECK(before && after && strcmp(before, after) == 0,
             "failed overrides changed the tree:\n%s\n---\n%s", before, after);
    free(before);
    free(after);
}

static void test_overrides(void) {
    foil_config cfg;
    foil_err err = {{0}};
    int rc = parse(&cfg, OVERRIDE_BASE, &err);
    TU_CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    test_override_bad(&cfg, &err);
    test_override_ok(&cfg, &err);
    foil_config_free(&cfg);
}

/* ---- round trips of awkward values --------------------------------------------------- */

static const char AWKWARD[] =
    "plain: hello world\n"
    "num: 42\n"
    "qnum: \"42\"\n"
    "qfloat: '1e-3'\n"
    "sq: 'it''s'\n"
    "empty: \"\"\n"
    "nothing:\n"
    "colon: \"a: b\"\n"
    "hash: \"x #y\"\n"
    "lead: \"  padded \"\n"
    "bool: \"true\"\n"
    "tilde: \"~\"\n"
    "url: http://x.org/a#frag\n"
    "commas: a, b\n"
    "multi: \"line1\\nline2\\ttab \\\\ \\\"q\\\"\"\n"
    "ctl: \"\\x01\\u0085\\u2028\\x7f\"\n"
    "utf8: h\xc3\xa9llo w\xc3\xb6rld\n"
    "lit: |\n  a\n  b\n"
    "\"key: with colon\": 1\n"
    "\"-\": dash\n"
    "\"--- x\": doc\n"
    "\"#k\": hash key\n"
    "\"\": empty key\n"
    "neg: -3\n"
    "qm: ?x\n"
    "seqs:\n"
    "  - [1, 2, 3]\n"
    "  - [a, \"b, c\", '', \"d]\"]\n"
    "  - [a:b, c]\n"
    "  - []\n"
    "  - {}\n"
    "  - - nested\n"
    "    - {k: v}\n"
    "  -\n"
    "  - {a: 1, b: [x, y]}\n"
    "  - [commas, a, b]\n"
    "  - [-, x]\n" /* a plain "-" only flow context allows */
    "long: [aaaaaaaaaa, bbbbbbbbbb, cccccccccc, dddddddddd, eeeeeeeeee, ffffffffff, gggg]\n"
    "emptymap: {}\n"
    "emptyseq: []\n";

static void test_round_trip(void) {
    foil_config cfg;
    foil_err err = {{0}};
    int rc = parse(&cfg, AWKWARD, &err);
    TU_CHECK(rc == 0, "parse: %s", err.msg);
    if (rc) return;
    check_round_trip(&cfg, "awkward");
    foil_node *q = foil_node_get(cfg.root, "qnum");
    TU_CHECK(q->quoted && strcmp(q->value, "42") == 0, "quoted number");
    TU_CHECK(!foil_node_get(cfg.root, "num")->quoted, "plain number");
    TU_CHECK(foil_node_get(cfg.root, "lit")->quoted, "block scalar is a string");
    char *text = foil_config_emit_string(cfg.root);
    TU_CHECK(text && strstr(text, "qnum: '42'\n") && strstr(text, "num: 42\n") &&
                 strstr(text, "nothing:\n") && strstr(text, "empty: ''\n") &&
                 strstr(text, "- [1, 2, 3]\n") && strstr(text, "emptymap: {}\n"),
             "emitted:\n%s", text ? text : "");
    free(text);
    foil_config_free(&cfg);
}

int main(void) {
    test_realistic();
    test_getters();
    test_defaults();
    test_unknown_keys();
    test_bad_files();
    test_overrides();
    test_round_trip();
    return tu_finish("test_config");
}
