/* The cpu engine's integer dot products (issue 26): one Dense port's products for graded inputs, exact, with the CPU's
 * integer dot instructions and split over the machine's cores.
 *
 *   neurocompile_dot(W, n_in, n_out, X, B, acc, threads):
 *       acc[b][o] = sum_j W[o][j] X[b][j]     W int8 [n_out][n_in] (output-major), X int16 [B][n_in], acc int64
 *
 * Exact: the products of |w| <= 128 and |x| <= 32767 are summed in int32 over at most CHUNK inputs (below 2^31), then
 * in int64.  The caller (targets/cpu/kernels.py) splits wider inputs into 15-bit digits.
 *
 * One C body, compiled for several instruction sets and chosen at run time: AVX-512 VNNI (vpdpwssd), AVX-VNNI, AVX2
 * (vpmaddwd) and the compiler's baseline (SSE2's pmaddwd on x86-64) -- GCC's vectoriser turns the int16 x int16 -> int32
 * sum below into those instructions, so every variant computes the same integers as the scalar C it is written as.
 *
 * Threads: `threads` > 1 splits the output rows over that many threads -- this one and persistent workers that spin
 * briefly between calls (no thread start-up per call) and then sleep.  A call made while another uses the workers (a
 * second simulator in another thread) runs on its own thread.  A forked child starts without workers. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 512          /* 512 * 128 * 32767 < 2^31 */
#define MAX_WORKERS 15
#define SPIN_NS 200000     /* a worker spins this long for the next call before it sleeps */
#define MIN_SPLIT 32768    /* products below which a call is not split */

typedef void rows_fn(const int8_t *, int64_t, int64_t, const int16_t *, int64_t, int64_t *, int64_t, int64_t);

/* Four streams at a time share each weight row's loads (then one at a time for the rest). */
#define ROWS(name, attr)                                                                                            \
    attr static void name(const int8_t *W, int64_t n_in, int64_t n_out, const int16_t *X, int64_t B, int64_t *acc,  \
                          int64_t o0, int64_t o1) {                                                                 \
        for (int64_t o = o0; o < o1; o++) {                                                                         \
            const int8_t *w = W + o * n_in;                                                                         \
            int64_t b = 0;                                                                                          \
            for (; b + 4 <= B; b += 4) {                                                                            \
                const int16_t *x0 = X + b * n_in, *x1 = x0 + n_in, *x2 = x1 + n_in, *x3 = x2 + n_in;                \
                int64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0;                                                             \
                for (int64_t j0 = 0; j0 < n_in; j0 += CHUNK) {                                                      \
                    int64_t j1 = j0 + CHUNK < n_in ? j0 + CHUNK : n_in;                                             \
                    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                                         \
                    for (int64_t j = j0; j < j1; j++) {                                                             \
                        int32_t wj = (int16_t)w[j];                                                                 \
                        s0 += wj * x0[j], s1 += wj * x1[j], s2 += wj * x2[j], s3 += wj * x3[j];                     \
                    }                                                                                               \
                    t0 += s0, t1 += s1, t2 += s2, t3 += s3;                                                         \
                }                                                                                                   \
                acc[b * n_out + o] = t0, acc[(b + 1) * n_out + o] = t1;                                             \
                acc[(b + 2) * n_out + o] = t2, acc[(b + 3) * n_out + o] = t3;                                       \
            }                                                                                                       \
            for (; b < B; b++) {                                                                                    \
                const int16_t *x = X + b * n_in;                                                                    \
                int64_t total = 0;                                                                                  \
                for (int64_t j0 = 0; j0 < n_in; j0 += CHUNK) {                                                      \
                    int64_t j1 = j0 + CHUNK < n_in ? j0 + CHUNK : n_in;                                             \
                    int32_t s = 0;                                                                                  \
                    for (int64_t j = j0; j < j1; j++) s += (int32_t)(int16_t)w[j] * (int32_t)x[j];                  \
                    total += s;                                                                                     \
                }                                                                                                   \
                acc[b * n_out + o] = total;                                                                         \
            }                                                                                                       \
        }                                                                                                           \
    }

#if defined(__x86_64__) && defined(__GNUC__)
ROWS(rows_vnni512, __attribute__((target("avx512f,avx512bw,avx512vnni"))))
ROWS(rows_vnni256, __attribute__((target("avx2,avxvnni"))))
ROWS(rows_avx2, __attribute__((target("avx2"))))
#endif
ROWS(rows_base, )

static rows_fn *rows;
static const char *rows_isa = "baseline";

/* The best variant this CPU runs, or the one NEUROCOMPILE_NATIVE_ISA names (when the CPU runs it): the tests run the
 * baseline beside the best. */
static void choose(void) {
    const char *want = getenv("NEUROCOMPILE_NATIVE_ISA");
    rows = rows_base;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    struct { const char *name; rows_fn *fn; int runs; } variants[] = {
        {"avx512vnni", rows_vnni512, __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")},
        {"avxvnni", rows_vnni256, __builtin_cpu_supports("avxvnni")},
        {"avx2", rows_avx2, __builtin_cpu_supports("avx2")},
    };
    for (int i = 0; i < 3; i++) {
        if (variants[i].runs && (!want || !strcmp(want, variants[i].name))) {
            rows = variants[i].fn, rows_isa = variants[i].name;
            break;
        }
    }
#endif
}

/* The instruction set the products run with (after the first call, or now). */
const char *neurocompile_dot_isa(void) {
    if (!rows) choose();
    return rows_isa;
}

/* ---- the workers ---- */

static struct {
    const int8_t *W;
    const int16_t *X;
    int64_t *acc;
    int64_t n_in, n_out, B, parts;
} job;
static atomic_long generation, finished;
static atomic_flag busy = ATOMIC_FLAG_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int workers;  /* started so far */
static long first_seen[MAX_WORKERS + 1];  /* the generation each worker was started at (it waits for the next) */
static int fork_handler;

static void part(int64_t p) {
    int64_t o0 = job.n_out * p / job.parts, o1 = job.n_out * (p + 1) / job.parts;
    rows(job.W, job.n_in, job.n_out, job.X, job.B, job.acc, o0, o1);
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *worker(void *arg) {
    int64_t me = (int64_t)(intptr_t)arg;
    long seen = first_seen[me];
    for (;;) {
        int64_t start = now_ns();
        int spins = 0;
        while (atomic_load_explicit(&generation, memory_order_acquire) == seen) {
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
            if (++spins % 256 == 0 && now_ns() - start > SPIN_NS) {
                pthread_mutex_lock(&lock);
                while (atomic_load(&generation) == seen) pthread_cond_wait(&wake, &lock);
                pthread_mutex_unlock(&lock);
            }
        }
        seen = atomic_load_explicit(&generation, memory_order_acquire);
        if (me < job.parts) part(me);
        atomic_fetch_add_explicit(&finished, 1, memory_order_release);
    }
    return 0;
}

static void forked_child(void) {  /* the child has none of the parent's threads */
    workers = 0;
    atomic_flag_clear(&busy);
    pthread_mutex_init(&lock, 0);
    pthread_cond_init(&wake, 0);
}

static int start_workers(int64_t want) {
    if (!fork_handler) fork_handler = !pthread_atfork(0, 0, forked_child);
    while (workers < want && workers < MAX_WORKERS) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        first_seen[workers + 1] = atomic_load(&generation);
        int failed = pthread_create(&t, &attr, worker, (void *)(intptr_t)(workers + 1));
        pthread_attr_destroy(&attr);
        if (failed) break;
        workers++;
    }
    return workers;
}

void neurocompile_dot(const int8_t *W, int64_t n_in, int64_t n_out, const int16_t *X, int64_t B, int64_t *acc,
                      int64_t threads) {
    if (!rows) choose();
    if (threads <= 1 || n_out < 2 || n_out * n_in * B < MIN_SPLIT || atomic_flag_test_and_set(&busy)) {
        rows(W, n_in, n_out, X, B, acc, 0, n_out);
        return;
    }
    int64_t parts = 1 + start_workers(threads - 1);
    if (parts > threads) parts = threads;
    if (parts > n_out) parts = n_out;
    long helpers = workers;  /* every started worker wakes and reports, those beyond `parts` with nothing to do */
    job.W = W, job.X = X, job.acc = acc, job.n_in = n_in, job.n_out = n_out, job.B = B, job.parts = parts;
    atomic_store_explicit(&finished, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    part(0);
    for (long spins = 1; atomic_load_explicit(&finished, memory_order_acquire) < helpers; spins++) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
        if (spins % 4096 == 0) sched_yield();  /* a worker the OS has descheduled (more threads than cores) */
    }
    atomic_flag_clear(&busy);
}
