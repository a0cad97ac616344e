/* foil's CUDA emulator: device memory, streams, errors and kernel execution.
 *
 * The emulator stands in for the CUDA driver, so, like a driver, it keeps
 * process-wide state (the allocation table, the live streams, the last and
 * the sticky error), behind one mutex. Everything runs synchronously on the
 * calling thread: a stream is only a handle that must be live.
 *
 * Device memory is host memory from posix_memalign, filled with 0xFF bytes
 * (NaN as floats) when allocated, so a kernel that reads what nobody wrote
 * shows it; under AddressSanitizer a kernel's out-of-bounds access is a heap
 * overflow. FOIL_EMU_MEMORY (bytes, K/M/G suffixes) caps the device memory,
 * for allocation-failure tests. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <map>
#include <set>

#include "emu_internal.h"
#include "foil_emu.h"

#if defined(__SANITIZE_ADDRESS__)
#define FOIL_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FOIL_EMU_ASAN 1
#endif
#endif
#ifdef FOIL_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#error "foil's CUDA emulator switches fibers with x86-64 assembly only"
#endif

namespace foil_emu {

__thread thread_ctx *current = nullptr;

void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("foil cuda emulator: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("foil cuda emulator: FATAL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

float round_tf32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7F800000u) == 0x7F800000u) return x; /* Inf, NaN */
    u += 0xFFFu + ((u >> 13) & 1u);                 /* to nearest, ties to even */
    u &= ~0x1FFFu;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ---- process-wide state ------------------------------------------------------ */

namespace {

struct state {
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    std::map<uintptr_t, size_t> allocs; /* start -> bytes */
    std::set<cudaStream_t> streams;
    size_t in_use = 0;
    foil_emu_counts counts{};
    cudaError_t last = cudaSuccess;
    cudaError_t sticky = cudaSuccess; /* a failed kernel: every later call fails */
};

state &st() {
    static state s;
    return s;
}

struct locked {
    locked() { pthread_mutex_lock(&st().lock); }
    ~locked() { pthread_mutex_unlock(&st().lock); }
};

/* Records e as the last error (cudaGetLastError) and returns it. */
cudaError_t fail(cudaError_t e) {
    locked l;
    st().last = e;
    return e;
}

cudaError_t sticky() {
    locked l;
    return st().sticky;
}

/* FOIL_EMU_MEMORY, read at every allocation (tests set it as they go); 0: no cap */
size_t memory_limit() {
    const char *v = getenv("FOIL_EMU_MEMORY");
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    unsigned long long mult = *end == 'K' ? 1ull << 10
                              : *end == 'M' ? 1ull << 20
                              : *end == 'G' ? 1ull << 30
                                            : 1;
    if (errno || end == v || (mult > 1 && end[1]) || (mult == 1 && *end))
        fatal("FOIL_EMU_MEMORY='%s' is not a byte count (e.g. 64M)", v);
    return (size_t)(n * mult);
}

/* The allocation holding p, or allocs.end(); under the lock. */
std::map<uintptr_t, size_t>::iterator find_alloc(const void *p) {
    auto &a = st().allocs;
    uintptr_t u = (uintptr_t)p;
    auto it = a.upper_bound(u);
    if (it == a.begin()) return a.end();
    --it;
    return u - it->first < it->second || (it->second == 0 && u == it->first) ? it : a.end();
}

} /* namespace */

bool is_device_range(const void *p, size_t bytes) {
    if (!p) return false;
    locked l;
    auto it = find_alloc(p);
    if (it == st().allocs.end()) return false;
    size_t off = (uintptr_t)p - it->first;
    return off <= it->second && bytes <= it->second - off;
}

bool is_device_pointer(const void *p) {
    if (!p) return false;
    locked l;
    return find_alloc(p) != st().allocs.end();
}

bool is_stream(cudaStream_t s) {
    locked l;
    return s == nullptr || st().streams.count(s) != 0;
}

void count_conv(int dir, int algo, bool refused) {
    if (dir < 0 || dir > 2 || algo < 0 || algo > 7) return;
    locked l;
    (refused ? st().counts.conv_refused : st().counts.conv)[dir][algo]++;
}

/* ---- fibers ------------------------------------------------------------------ */

/* foil_emu_switch(save, to): saves the callee-saved registers on the current
 * stack, stores the stack pointer in *save and continues on the stack `to`
 * (one that a switch saved, or a new one laid out by fiber_init). A new
 * fiber starts in foil_emu_fiber_entry with its fiber in r12. */
extern "C" void foil_emu_switch(void **save, void *to);
extern "C" void foil_emu_fiber_entry(void);
asm(".pushsection .text\n"
    ".globl foil_emu_switch\n"
    ".hidden foil_emu_switch\n"
    ".type foil_emu_switch,@function\n"
    "foil_emu_switch:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size foil_emu_switch, .-foil_emu_switch\n"
    ".globl foil_emu_fiber_entry\n"
    ".hidden foil_emu_fiber_entry\n"
    ".type foil_emu_fiber_entry,@function\n"
    "foil_emu_fiber_entry:\n"
    "    movq %r12, %rdi\n"
    "    call foil_emu_fiber_main\n"
    "    ud2\n"
    ".size foil_emu_fiber_entry, .-foil_emu_fiber_entry\n"
    ".popsection\n");

namespace {

enum thread_state { T_PENDING, T_RUNNABLE, T_AT_BARRIER, T_AT_SHUFFLE, T_DONE };

constexpr size_t STACK_BYTES = (size_t)512 << 10; /* kernels are shallow; ASan frames are big */
constexpr unsigned MAX_THREADS = 1024;

struct pool;

/* A fiber runs the CUDA threads lo..hi-1 of the block one after another,
 * upwards or (rev) downwards, then parks until given more; while it waits,
 * the scheduler may shrink the range to the thread it is running. */
struct fiber {
    void *sp = nullptr;
    char *stack = nullptr; /* lowest usable byte; a guard page lies below */
    thread_ctx ctx{};
    unsigned tid = 0, lo = 0, hi = 0;
    bool rev = false;
    void *fake_stack = nullptr; /* ASan's fake stack while switched out */
    pool *owner = nullptr;
};

/* One per host thread that launches kernels; fibers persist from block to block. */
struct pool {
    fiber *f[MAX_THREADS] = {};
    unsigned made = 0;
    void *main_sp = nullptr;
    const void *main_bottom = nullptr;
    size_t main_size = 0;
    void *main_fake = nullptr;
    fiber *running = nullptr;
    unsigned nthreads = 0;
    thread_ctx block{};
    const char *name = nullptr;
    void (*body)(void *) = nullptr;
    void *arg = nullptr;
    thread_state state[MAX_THREADS] = {};
    fiber *of[MAX_THREADS] = {}; /* the fiber running each CUDA thread */
    uint64_t shfl[MAX_THREADS] = {};
};

thread_local pool *tls_pool = nullptr;

void asan_start(void **fake, const void *bottom, size_t size) {
#ifdef FOIL_EMU_ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
}

void asan_finish(void *fake, const void **bottom, size_t *size) {
#ifdef FOIL_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
}

/* From a fiber back to the scheduler; returns when the scheduler resumes it. */
void yield_to_main(fiber *f) {
    pool *p = f->owner;
    asan_start(&f->fake_stack, p->main_bottom, p->main_size);
    foil_emu_switch(&f->sp, p->main_sp);
    asan_finish(f->fake_stack, &p->main_bottom, &p->main_size);
}

uint3 thread_index(unsigned t, const dim3 &b) {
    if (b.y == 1 && b.z == 1) return uint3{t, 0, 0}; /* foil's blocks: no divisions */
    return uint3{t % b.x, t / b.x % b.y, t / (b.x * b.y)};
}

} /* namespace */

extern "C" __attribute__((used, visibility("hidden"))) void foil_emu_fiber_main(fiber *f) {
    pool *p = f->owner;
    asan_finish(nullptr, &p->main_bottom, &p->main_size);
    for (;;) {
        f->ctx = p->block;
        while (f->lo < f->hi) {
            f->tid = f->rev ? f->hi - 1 : f->lo;
            f->ctx.thread_idx = thread_index(f->tid, p->block.block_dim);
            p->of[f->tid] = f;
            p->state[f->tid] = T_RUNNABLE;
            p->body(p->arg);
            p->state[f->tid] = T_DONE;
            if (f->rev)
                f->hi--;
            else
                f->lo++;
        }
        yield_to_main(f); /* parked until the next block */
    }
}

namespace {

fiber *fiber_make(pool *p) {
    const size_t page = (size_t)64 << 10; /* a guard no kernel frame jumps */
    char *mem = (char *)mmap(nullptr, STACK_BYTES + page, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) fatal("cannot map a %zu-byte fiber stack", STACK_BYTES);
    if (mprotect(mem, page, PROT_NONE)) fatal("cannot protect a fiber stack's guard page");
    fiber *f = new fiber;
    f->stack = mem + page;
    f->owner = p;
    /* the first switch pops six registers (r12 = f) and returns into
     * foil_emu_fiber_entry with the stack 16-byte aligned */
    uintptr_t top = ((uintptr_t)f->stack + STACK_BYTES) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = (void *)&foil_emu_fiber_entry;
    *--sp = nullptr;   /* rbp */
    *--sp = nullptr;   /* rbx */
    *--sp = (void *)f; /* r12 */
    *--sp = nullptr;   /* r13 */
    *--sp = nullptr;   /* r14 */
    *--sp = nullptr;   /* r15 */
    f->sp = sp;
    return f;
}

pool *pool_get() {
    if (!tls_pool) tls_pool = new pool;
    return tls_pool;
}

fiber *pool_fiber(pool *p, unsigned i) {
    while (p->made <= i) p->f[p->made++] = fiber_make(p);
    return p->f[i];
}

void resume(pool *p, fiber *f) {
    p->running = f;
    current = &f->ctx;
    asan_start(&p->main_fake, f->stack, STACK_BYTES);
    foil_emu_switch(&p->main_sp, f->sp);
    asan_finish(p->main_fake, nullptr, nullptr);
    p->running = nullptr;
}

[[noreturn]] void divergent(pool *p, const char *what, unsigned waiting, unsigned of,
                            unsigned warp) {
    const uint3 &b = p->block.block_idx;
    if (warp == ~0u)
        fatal("kernel %s, block (%u,%u,%u): %u of %u threads wait at %s, the others have "
              "ended: a barrier in divergent code",
              p->name, b.x, b.y, b.z, waiting, of, what);
    fatal("kernel %s, block (%u,%u,%u), warp %u: %u of its %u lanes wait at %s, the others "
          "ended or wait elsewhere",
          p->name, b.x, b.y, b.z, warp, waiting, of, what);
}

/* Runs one block. Fiber 0 runs the threads in order (upwards in even
 * blocks, downwards in odd ones); a block without barriers or shuffles ends
 * there. When a thread t0 waits, the threads fiber 0 has not reached get a
 * fiber each, and from then on, in passes: every runnable thread runs until
 * it waits or ends, then the barriers everyone (of the block, of a warp) has
 * reached are released, until all threads have ended. The order of the
 * passes alternates too, from block to block and pass to pass, so that a
 * read of shared memory another thread writes without a barrier between
 * sees a different value in one of the two orders. */
void run_block(pool *p, unsigned long long seq) {
    const unsigned n = p->nthreads;
    const bool odd = seq & 1;
    for (unsigned t = 0; t < n; t++) p->state[t] = T_PENDING;
    fiber *runner = pool_fiber(p, 0);
    runner->lo = 0;
    runner->hi = n;
    runner->rev = odd;
    resume(p, runner);
    if (runner->lo >= runner->hi) return; /* every thread ran to its end */
    const unsigned t0 = runner->tid;
    if (odd)
        runner->lo = t0; /* it ends after t0; threads 0..t0-1 have not started */
    else
        runner->hi = t0 + 1; /* threads t0+1..n-1 have not started */
    for (unsigned t = odd ? 0 : t0 + 1, k = 1; t < (odd ? t0 : n); t++, k++) {
        fiber *f = pool_fiber(p, k);
        f->lo = t;
        f->hi = t + 1;
        f->rev = false;
        p->state[t] = T_RUNNABLE; /* set again by the fiber when it starts */
        p->of[t] = f;
    }
    for (unsigned pass = 0;; pass++) {
        const bool down = (pass + seq) & 1;
        for (unsigned i = 0; i < n; i++) {
            unsigned t = down ? n - 1 - i : i;
            if (p->state[t] == T_RUNNABLE) resume(p, p->of[t]);
        }
        unsigned done = 0, at_barrier = 0;
        bool released = false;
        for (unsigned t = 0; t < n; t++) {
            done += p->state[t] == T_DONE;
            at_barrier += p->state[t] == T_AT_BARRIER;
        }
        if (done == n) break;
        for (unsigned w = 0; w < n; w += 32) {
            unsigned end = w + 32 < n ? w + 32 : n, waiting = 0;
            for (unsigned t = w; t < end; t++) waiting += p->state[t] == T_AT_SHUFFLE;
            if (waiting == 0) continue;
            if (waiting != end - w) divergent(p, "__shfl_xor_sync", waiting, end - w, w / 32);
            for (unsigned t = w; t < end; t++) p->state[t] = T_RUNNABLE;
            released = true;
        }
        if (!released && at_barrier) {
            if (at_barrier != n) divergent(p, "__syncthreads", at_barrier, n, ~0u);
            for (unsigned t = 0; t < n; t++) p->state[t] = T_RUNNABLE;
            released = true;
        }
        if (!released) fatal("kernel %s: the block's threads cannot go on", p->name);
    }
}

/* The fiber of the calling CUDA thread, which is about to wait. */
fiber *waiting_fiber(const char *what) {
    pool *p = tls_pool;
    if (!p || !p->running) fatal("%s called outside a kernel", what);
    return p->running;
}

} /* namespace */

void syncthreads() {
    fiber *f = waiting_fiber("__syncthreads");
    f->owner->state[f->tid] = T_AT_BARRIER;
    yield_to_main(f);
}

uint64_t shfl_xor_bits(unsigned mask, uint64_t bits, int lane_mask) {
    fiber *f = waiting_fiber("__shfl_xor_sync");
    pool *p = f->owner;
    unsigned base = f->tid & ~31u, lane = f->tid & 31u;
    if (mask != 0xFFFFFFFFu)
        fatal("kernel %s: __shfl_xor_sync with mask 0x%08x (only full warps are emulated)",
              p->name, mask);
    if (base + 32 > p->nthreads)
        fatal("kernel %s: __shfl_xor_sync with a full mask in a partial warp (%u threads per "
              "block)", p->name, p->nthreads);
    if (lane_mask < 0 || lane_mask > 31)
        fatal("kernel %s: __shfl_xor_sync lane mask %d", p->name, lane_mask);
    p->shfl[f->tid] = bits;
    p->state[f->tid] = T_AT_SHUFFLE; /* until every lane has written */
    yield_to_main(f);
    uint64_t r = p->shfl[base + (lane ^ (unsigned)lane_mask)];
    p->state[f->tid] = T_AT_SHUFFLE; /* until every lane has read */
    yield_to_main(f);
    return r;
}

bool check_kernel_pointer(const char *name, int index, const void *p) {
    /* one past an allocation's end is a valid pointer that is never read */
    if (!p || is_device_pointer(p) || is_device_pointer((const char *)p - 1)) return true;
    say("kernel %s: argument %d (%p) is not device memory", name, index, p);
    locked l;
    st().sticky = st().last = cudaErrorLaunchFailure;
    return false;
}

void run_grid(const char *name, const launch_config &cfg, void (*body)(void *), void *arg) {
    cudaError_t s = sticky();
    if (s != cudaSuccess) {
        fail(s);
        return;
    }
    if (!is_stream(cfg.stream)) {
        say("kernel %s: launched on a stream that is not live", name);
        fail(cudaErrorInvalidResourceHandle);
        return;
    }
    const dim3 &g = cfg.grid, &b = cfg.block;
    unsigned long long threads =
        b.x <= MAX_THREADS && b.y <= MAX_THREADS ? (unsigned long long)b.x * b.y * b.z : 0;
    if (threads == 0 || threads > MAX_THREADS || b.z > 64 || g.x == 0 || g.y == 0 ||
        g.z == 0 || g.x > (unsigned)INT_MAX || g.y > 65535 || g.z > 65535 || cfg.shmem) {
        say("kernel %s: invalid launch (grid %u x %u x %u, block %u x %u x %u, %zu bytes of "
            "dynamic shared memory, which the emulator does not have)",
            name, g.x, g.y, g.z, b.x, b.y, b.z, cfg.shmem);
        fail(cudaErrorInvalidConfiguration);
        return;
    }
    {
        locked l;
        st().counts.launches++;
    }
    pool *p = pool_get();
    thread_ctx *saved = current;
    p->name = name;
    p->body = body;
    p->arg = arg;
    p->nthreads = (unsigned)threads;
    p->block = thread_ctx{};
    p->block.block_dim = b;
    p->block.grid_dim = g;
    gpu_denormals keep; /* nvcc keeps fp32 denormals (no -ftz) */
    unsigned long long seq = 0;
    for (unsigned z = 0; z < g.z; z++)
        for (unsigned y = 0; y < g.y; y++)
            for (unsigned x = 0; x < g.x; x++) {
                p->block.block_idx = uint3{x, y, z};
                run_block(p, seq++);
            }
    current = saved;
}

} /* namespace foil_emu */

/* ---- the runtime API ------------------------------------------------------------ */

using namespace foil_emu;

extern "C" {

cudaError_t cudaGetDeviceCount(int *count) {
    if (!count) return fail(cudaErrorInvalidValue);
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
    return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice);
}

cudaError_t cudaGetLastError(void) {
    locked l;
    cudaError_t e = st().last;
    st().last = st().sticky;
    return e;
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    }
    return "unrecognized error code";
}

cudaError_t cudaMalloc(void **ptr, size_t bytes) {
    if (!ptr) return fail(cudaErrorInvalidValue);
    *ptr = nullptr;
    cudaError_t s = sticky();
    if (s != cudaSuccess) return fail(s);
    if (bytes == 0) return cudaSuccess; /* as CUDA: NULL, no error */
    {
        locked l;
        size_t limit = memory_limit();
        if (limit && (bytes > limit || st().in_use > limit - bytes)) {
            st().last = cudaErrorMemoryAllocation;
            return cudaErrorMemoryAllocation;
        }
    }
    void *p = nullptr;
    if (posix_memalign(&p, 256, bytes) != 0) return fail(cudaErrorMemoryAllocation);
    memset(p, 0xFF, bytes); /* NaN: what a kernel reads without a write shows */
    locked l;
    st().allocs[(uintptr_t)p] = bytes;
    st().in_use += bytes;
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr) {
    if (!ptr) return cudaSuccess;
    {
        locked l;
        auto it = st().allocs.find((uintptr_t)ptr);
        if (it == st().allocs.end()) {
            st().last = cudaErrorInvalidDevicePointer;
            say("cudaFree(%p): not the start of a live device allocation", ptr);
            return cudaErrorInvalidDevicePointer;
        }
        st().in_use -= it->second;
        st().allocs.erase(it);
    }
    free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                            cudaStream_t stream) {
    cudaError_t s = sticky();
    if (s != cudaSuccess) return fail(s);
    if (!is_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (bytes == 0) return cudaSuccess;
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToHost &&
        kind != cudaMemcpyDeviceToDevice) {
        say("cudaMemcpyAsync: copy kind %d (foil names the direction)", (int)kind);
        return fail(cudaErrorInvalidMemcpyDirection);
    }
    /* the direction must match the pointers, and device ranges fit their allocations */
    if (!dst || !src || (dst_dev ? !is_device_range(dst, bytes) : is_device_pointer(dst)) ||
        (src_dev ? !is_device_range(src, bytes) : is_device_pointer(src))) {
        say("cudaMemcpyAsync(%p, %p, %zu bytes, kind %d): a pointer is not of the kind's side "
            "or the range passes its allocation's end", dst, src, bytes, (int)kind);
        return fail(cudaErrorInvalidValue);
    }
    if (kind == cudaMemcpyDeviceToDevice && (const char *)dst < (const char *)src + bytes &&
        (const char *)src < (const char *)dst + bytes) {
        say("cudaMemcpyAsync(%p, %p, %zu bytes): overlapping device ranges", dst, src, bytes);
        return fail(cudaErrorInvalidValue);
    }
    memcpy(dst, src, bytes);
    locked l;
    if (kind == cudaMemcpyHostToDevice) st().counts.to_device++;
    if (kind == cudaMemcpyDeviceToHost) st().counts.to_host++;
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream) {
    cudaError_t s = sticky();
    if (s != cudaSuccess) return fail(s);
    if (!is_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    if (bytes == 0) return cudaSuccess;
    if (!is_device_range(dst, bytes)) {
        say("cudaMemsetAsync(%p, %zu bytes): not inside one device allocation", dst, bytes);
        return fail(cudaErrorInvalidValue);
    }
    memset(dst, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned flags) {
    if (!stream || flags > cudaStreamNonBlocking) return fail(cudaErrorInvalidValue);
    cudaError_t s = sticky();
    if (s != cudaSuccess) return fail(s);
    *stream = (cudaStream_t) new char(0);
    locked l;
    st().streams.insert(*stream);
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    {
        locked l;
        if (!stream || !st().streams.erase(stream)) {
            st().last = cudaErrorInvalidResourceHandle;
            return cudaErrorInvalidResourceHandle;
        }
    }
    delete (char *)stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    if (!is_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
    {
        locked l;
        st().counts.syncs++;
    }
    cudaError_t s = sticky();
    return s == cudaSuccess ? cudaSuccess : fail(s);
}

void foil_emu_get_counts(foil_emu_counts *out) {
    locked l;
    *out = st().counts;
    out->device_bytes = st().in_use;
}

} /* extern "C" */
