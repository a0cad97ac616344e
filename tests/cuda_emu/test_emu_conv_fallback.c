/* cuDNN algorithms that fail when they run, on the CUDA emulator
 * (FOIL_EMU_CUDNN_FAIL refuses named algorithms; FOIL_EMU_MEMORY caps device
 * memory): the convolution chooses again (the next acceptable entry, then
 * the documented fallback), gives the CPU's result within the fp32
 * tolerance, keeps what worked (no second refusal), never runs an entry the
 * heuristic reported non-deterministic, fails with one line naming the
 * shape when nothing is left, and a failed workspace allocation leaves no
 * pending error for the next op. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil_emu.h"
#include "parity.h"

/* The Madry CNN's second convolution. */
static const foil_conv_shape CS = {8, 32, 14, 14, 64, 5, 5, 1, 1, 2, 2, 14, 14};

typedef struct conv_io {
    size_t nx, nw, ny;
    float *x, *w, *dy, *y, *dx, *dw;  /* host; y, dx, dw the CPU's results */
    float *gx, *gw, *gdy;             /* device */
} conv_io;

static void io_init(conv_io *io, foil_backend *cpu, foil_backend *gpu) {
    io->nx = (size_t)CS.n * CS.c * CS.h * CS.w;
    io->nw = (size_t)CS.k * CS.c * CS.r * CS.s;
    io->ny = (size_t)CS.n * CS.k * CS.oh * CS.ow;
    io->x = parity_random(io->nx, 0, 1, 1);
    io->w = parity_random(io->nw, -0.05f, 0.05f, 2);
    io->dy = parity_random(io->ny, -1, 1, 3);
    io->y = malloc(sizeof(float) * io->ny);
    io->dx = malloc(sizeof(float) * io->nx);
    io->dw = malloc(sizeof(float) * io->nw);
    TU_CHECK(cpu->conv2d_fwd(cpu, io->y, io->x, io->w, NULL, &CS) == 0 &&
                 cpu->conv2d_bwd_data(cpu, io->dx, io->dy, io->w, &CS) == 0 &&
                 cpu->conv2d_bwd_filter(cpu, io->dw, NULL, io->dy, io->x, &CS) == 0,
             "CPU: %s", cpu->err.msg);
    io->gx = parity_upload(gpu, io->x, sizeof(float) * io->nx);
    io->gw = parity_upload(gpu, io->w, sizeof(float) * io->nw);
    io->gdy = parity_upload(gpu, io->dy, sizeof(float) * io->ny);
}

static void io_free_device(conv_io *io, foil_backend *g) {
    g->free(g, io->gx), g->free(g, io->gw), g->free(g, io->gdy);
}

static void io_free_host(conv_io *io) {
    free(io->x), free(io->w), free(io->dy), free(io->y), free(io->dx), free(io->dw);
}

/* The three directions on the GPU against the CPU; rc of each in rc[3]. */
static void run_all(foil_backend *g, const conv_io *io, const char *what, int rc[3]) {
    float *y = parity_poisoned(g, io->ny), *dx = parity_poisoned(g, io->nx);
    float *dw = parity_poisoned(g, io->nw);
    char label[128];
    rc[0] = g->conv2d_fwd(g, y, io->gx, io->gw, NULL, &CS);
    if (rc[0] == 0) {
        snprintf(label, sizeof label, "%s fwd", what);
        parity_check(g, label, io->y, y, io->ny, 1e-4, 1e-3, 1e-9);
    }
    rc[1] = g->conv2d_bwd_data(g, dx, io->gdy, io->gw, &CS);
    if (rc[1] == 0) {
        snprintf(label, sizeof label, "%s bwd_data", what);
        parity_check(g, label, io->dx, dx, io->nx, 1e-4, 1e-3, 1e-9);
    }
    rc[2] = g->conv2d_bwd_filter(g, dw, NULL, io->gdy, io->gx, &CS);
    if (rc[2] == 0) {
        snprintf(label, sizeof label, "%s bwd_filter", what);
        parity_check(g, label, io->dw, dw, io->nw, 1e-3, 1e-2, 1e-8);
    }
    g->free(g, y), g->free(g, dx), g->free(g, dw);
}

static foil_backend *fresh_gpu(void) { return parity_gpu_or_skip(); }

/* The first choice of each direction refused: the next entry runs. */
static void refused_first_choices(foil_backend *cpu) {
    setenv("FOIL_EMU_CUDNN_FAIL", "fwd:0,bwd_data:1,bwd_filter:1", 1);
    foil_backend *g = fresh_gpu();
    conv_io io;
    io_init(&io, cpu, g);
    foil_emu_counts a, b;
    foil_emu_get_counts(&a);
    int rc[3];
    run_all(g, &io, "first choices refused", rc);
    TU_CHECK(rc[0] == 0 && rc[1] == 0 && rc[2] == 0, "the fallbacks run: %s", g->err.msg);
    run_all(g, &io, "again", rc);
    foil_emu_get_counts(&b);
    printf("  refused: fwd 0 x%llu, bwd_data 1 x%llu, bwd_filter 1 x%llu; ran: fwd GEMM x%llu, "
           "bwd_data WINOGRAD_NONFUSED x%llu, bwd_filter FFT x%llu\n",
           (unsigned long long)(b.conv_refused[0][0] - a.conv_refused[0][0]),
           (unsigned long long)(b.conv_refused[1][1] - a.conv_refused[1][1]),
           (unsigned long long)(b.conv_refused[2][1] - a.conv_refused[2][1]),
           (unsigned long long)(b.conv[0][2] - a.conv[0][2]),
           (unsigned long long)(b.conv[1][5] - a.conv[1][5]),
           (unsigned long long)(b.conv[2][2] - a.conv[2][2]));
    /* each refused once: the plan keeps what worked */
    TU_CHECK(b.conv_refused[0][0] - a.conv_refused[0][0] == 1 &&
                 b.conv_refused[1][1] - a.conv_refused[1][1] == 1 &&
                 b.conv_refused[2][1] - a.conv_refused[2][1] == 1,
             "each refused algorithm was tried once");
    TU_CHECK(b.conv[0][2] - a.conv[0][2] == 2 && b.conv[1][5] - a.conv[1][5] == 2 &&
                 b.conv[2][2] - a.conv[2][2] == 2,
             "the next acceptable entries ran, twice each");
    /* the heuristic lists ALGO_0 (and filter ALGO_3) as non-deterministic:
     * never run, not even as a fallback */
    TU_CHECK(b.conv[1][0] == a.conv[1][0] && b.conv[2][0] == a.conv[2][0] &&
                 b.conv[2][3] == a.conv[2][3],
             "no non-deterministic algorithm ran");
    io_free_device(&io, g);
    g->destroy(g);

    /* every deterministic backward-filter entry refused: one line naming the shape */
    setenv("FOIL_EMU_CUDNN_FAIL", "bwd_filter:1,bwd_filter:2", 1);
    g = fresh_gpu();
    float *dw = parity_poisoned(g, io.nw);
    float *gx = parity_upload(g, io.x, sizeof(float) * io.nx);
    float *gdy = parity_upload(g, io.dy, sizeof(float) * io.ny);
    foil_emu_get_counts(&a);
    int r = g->conv2d_bwd_filter(g, dw, NULL, gdy, gx, &CS);
    foil_emu_get_counts(&b);
    printf("  nothing left: %s\n", r ? g->err.msg : "succeeded");
    TU_CHECK(r != 0 && strstr(g->err.msg, "n 8, c 32, 14x14, k 64") &&
                 !strchr(g->err.msg, '\n') && b.conv[2][0] == a.conv[2][0] &&
                 b.conv[2][3] == a.conv[2][3],
             "no deterministic backward-filter algorithm left: '%s'", g->err.msg);
    r = g->conv2d_bwd_filter(g, dw, NULL, gdy, gx, &CS);
    TU_CHECK(r != 0 && strstr(g->err.msg, "no deterministic backward-filter"),
             "the plan remembers: '%s'", g->err.msg);
    g->free(g, dw), g->free(g, gx), g->free(g, gdy);
    g->destroy(g);
    unsetenv("FOIL_EMU_CUDNN_FAIL");
    io_free_host(&io);
}

/* TF32: the tensor-op entry needs a workspace that cannot be allocated; the
 * next entry (no workspace) runs, and the next op finds no pending error. */
static void workspace_failure(foil_backend *cpu) {
    foil_backend *g = fresh_gpu();
    TU_CHECK(g->set_precision(g, 1) == 0, "tf32: %s", g->err.msg);
    conv_io io;
    io_init(&io, cpu, g);
    float *y = parity_poisoned(g, io.ny), *r = parity_poisoned(g, io.ny);
    foil_emu_counts a, b;
    foil_emu_get_counts(&a);
    char cap[32];
    snprintf(cap, sizeof cap, "%llu", (unsigned long long)(a.device_bytes + 1024));
    setenv("FOIL_EMU_MEMORY", cap, 1); /* no room for a workspace of 4 KB or more */
    int rc = g->conv2d_fwd(g, y, io.gx, io.gw, NULL, &CS);
    foil_emu_get_counts(&b);
    TU_CHECK(rc == 0, "TF32 forward with no room for the tensor-op workspace: %s", g->err.msg);
    TU_CHECK(b.conv[0][1] == a.conv[0][1] && b.conv[0][0] == a.conv[0][0] + 1,
             "the implicit GEMM (no workspace) ran instead of the tensor-op entry");
    /* no pending out-of-memory error for the next op to report as its own */
    TU_CHECK(g->relu_fwd(g, r, y, io.ny) == 0 && g->sync(g) == 0,
             "the next op runs clean: %s", g->err.msg);

    /* nothing can run: the op that caused it reports it, the next op runs */
    unsetenv("FOIL_EMU_MEMORY");
    g->free(g, y), g->free(g, r);
    io_free_device(&io, g);
    g->destroy(g);
    unsetenv("FOIL_EMU_MEMORY");
    g = fresh_gpu();
    TU_CHECK(g->set_precision(g, 1) == 0, "tf32: %s", g->err.msg);
    float *gx = parity_upload(g, io.x, sizeof(float) * io.nx);
    float *gw = parity_upload(g, io.w, sizeof(float) * io.nw);
    float *gy = parity_poisoned(g, io.ny), *gr = parity_poisoned(g, io.ny);
    foil_emu_get_counts(&a);
    snprintf(cap, sizeof cap, "%llu", (unsigned long long)(a.device_bytes + 1024));
    setenv("FOIL_EMU_MEMORY", cap, 1);
    setenv("FOIL_EMU_CUDNN_FAIL", "fwd:0", 1);
    rc = g->conv2d_fwd(g, gy, gx, gw, NULL, &CS);
    printf("  no algorithm can run: %s\n", rc ? g->err.msg : "succeeded");
    TU_CHECK(rc != 0 && strstr(g->err.msg, "conv2d") && strstr(g->err.msg, "workspace") &&
                 !strchr(g->err.msg, '\n'),
             "the forward fails with one line: '%s'", g->err.msg);
    TU_CHECK(g->relu_fwd(g, gr, gx, io.ny < io.nx ? io.ny : io.nx) == 0 && g->sync(g) == 0,
             "the next op runs clean: %s", g->err.msg);
    unsetenv("FOIL_EMU_MEMORY");
    unsetenv("FOIL_EMU_CUDNN_FAIL");
    g->free(g, gx), g->free(g, gw), g->free(g, gy), g->free(g, gr);
    g->destroy(g);
    io_free_host(&io);
}

int main(void) {
    foil_err err;
    foil_backend *cpu = foil_backend_cpu_create(&err);
    if (!cpu) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        return 1;
    }
    printf("refused algorithms\n");
    refused_first_choices(cpu);
    printf("workspace that cannot be allocated\n");
    workspace_failure(cpu);
    cpu->destroy(cpu);
    return tu_finish("test_emu_conv_fallback");
}
