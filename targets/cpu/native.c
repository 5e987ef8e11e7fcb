/* The cpu engine's integer dot products (issue 26): one Dense port's products for graded inputs, exact, with the CPU's
 * integer dot instructions; and the barrier the threads of one stream's step meet at.
 *
 *   neurocompile_dot(W, n_in, n_out, X, B, acc):
 *       acc[b][o] = sum_j W[o][j] X[b][j]     W int8 [n_out][n_in] (output-major), X int16 [B][n_in], acc int64
 *   neurocompile_barrier(sync, parts) / neurocompile_abort(sync): below;
 *   neurocompile_wait(word, seen) / neurocompile_post(word, value) / neurocompile_arrive(word): the hand-off of a step
 *       to the threads that run its other parts, below.
 *
 * Exact: the products of |w| <= 128 and |x| <= 32767 are summed in int32 over at most CHUNK inputs (below 2^31), then
 * in int64.  The caller (targets/cpu/kernels.py) splits wider inputs into 15-bit digits.
 *
 * One C body, compiled for several instruction sets and chosen at run time: AVX-512 VNNI (vpdpwssd), AVX-VNNI, AVX2
 * (vpmaddwd) and the compiler's baseline (SSE2's pmaddwd on x86-64) -- GCC's vectoriser turns the int16 x int16 -> int32
 * sum below into those instructions, so every variant computes the same integers as the scalar C it is written as.
 *
 * The weights are read once per step and never again before the next: each row asks for the row AHEAD rows on
 * (prefetchnta), which keeps the memory busy across the row boundaries the hardware prefetcher stops at (one stream
 * of the 45M model: its Dense rows 3.2-3.5 -> 2.6-2.9 ms, kernel_profile.py A/B in one process). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 512          /* 512 * 128 * 32767 < 2^31 */
#define AHEAD 4            /* rows prefetched ahead */
#define SPINS 2048         /* a waiter spins this many times (~50 us), then sleeps: at a barrier NAP_NS between looks */
#define NAP_NS 20000
#define WAIT_SPINS (SPINS * 10) /* a thread waiting for the next step spins ~0.5 ms, then sleeps until posted to */

typedef void rows_fn(const int8_t *, int64_t, int64_t, const int16_t *, int64_t, int64_t *);

/* Four streams at a time share each weight row's loads (then one at a time for the rest). */
#define ROWS(name, attr)                                                                                            \
    attr static void name(const int8_t *W, int64_t n_in, int64_t n_out, const int16_t *X, int64_t B, int64_t *acc) { \
        for (int64_t o = 0; o < n_out; o++) {                                                                       \
            const int8_t *w = W + o * n_in;                                                                         \
            if (o + AHEAD < n_out)                                                                                  \
                for (int64_t j = 0; j < n_in; j += 64) __builtin_prefetch(w + AHEAD * n_in + j, 0, 0);              \
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

/* acc = W X^T for one Dense port's output rows (the caller passes the rows of its part of the outputs). */
void neurocompile_dot(const int8_t *W, int64_t n_in, int64_t n_out, const int16_t *X, int64_t B, int64_t *acc) {
    if (!rows) choose();
    rows(W, n_in, n_out, X, B, acc);
}

/* The threads of one stream's step (targets/cpu/kernels.py's `run`, one per part) meet here before a row that reads
 * what another part wrote.  sync: its first three int64 words -- arrivals, generation, abort (kernels.py's
 * SYNC_WORDS) -- zeroed by `lead` before each step.  Returns
 * 0, or 1 when a part has refused its input (neurocompile_abort): every part then stops at its next barrier instead
 * of waiting for one that will not come.  Waiters spin (the parts arrive microseconds apart), then sleep between
 * looks: with more parts than free cores (other processes, more threads than cores) a waiter gives its core to the
 * part it waits for instead of spinning against it. */
static void idle(int64_t spins) {
    if (spins < SPINS) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
        return;
    }
    struct timespec nap = {0, NAP_NS};
    nanosleep(&nap, 0);
}

int64_t neurocompile_barrier(int64_t *sync, int64_t parts) {
    int64_t generation = __atomic_load_n(&sync[1], __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&sync[0], 1, __ATOMIC_ACQ_REL) == parts) {
        __atomic_store_n(&sync[0], 0, __ATOMIC_RELAXED);
        __atomic_store_n(&sync[1], generation + 1, __ATOMIC_RELEASE);
    } else {
        for (int64_t spins = 0; __atomic_load_n(&sync[1], __ATOMIC_ACQUIRE) == generation; spins++) {
            if (__atomic_load_n(&sync[2], __ATOMIC_ACQUIRE)) return 1;
            idle(spins);
        }
    }
    return __atomic_load_n(&sync[2], __ATOMIC_ACQUIRE);
}

void neurocompile_abort(int64_t *sync) { __atomic_store_n(&sync[2], 1, __ATOMIC_RELEASE); }

/* The hand-off (targets/cpu/kernels.py's `lead` and `serve`): the threads of a step's other parts wait for a word to
 * change (the step's number; everything the lead wrote before posting it is visible after), and each posts that it is
 * done by counting up another, which the lead waits on.  Threads that stay in the compiled code between steps: no
 * Python thread pool to wake (~75-150 us a step).  A waiter spins ~0.5 ms (the next step comes within ~0.1 ms while a
 * simulator runs; a sleeping thread's wake-up took milliseconds on this project's virtual machine, where a thread
 * that spun 50 us before sleeping made a split 45M step 2-4x slower), then sleeps on a condition variable: an idle
 * simulator's threads take no CPU.  One condition for all: a post wakes every
 * sleeper, each looks at its own word.  `sleepers` and the words are sequentially consistent, so a post either sees
 * the sleeper counted or the sleeper sees the post. */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t woken = PTHREAD_COND_INITIALIZER;
static int64_t sleepers;

int64_t neurocompile_wait(int64_t *word, int64_t seen) {
    int64_t now;
    for (int64_t spins = 0; spins < WAIT_SPINS; spins++) {
        if ((now = __atomic_load_n(word, __ATOMIC_SEQ_CST)) != seen) return now;
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
    }
    pthread_mutex_lock(&sleep_lock);
    __atomic_add_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
    while ((now = __atomic_load_n(word, __ATOMIC_SEQ_CST)) == seen) pthread_cond_wait(&woken, &sleep_lock);
    __atomic_sub_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&sleep_lock);
    return now;
}

static void wake(void) {
    if (__atomic_load_n(&sleepers, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&woken);
        pthread_mutex_unlock(&sleep_lock);
    }
}

void neurocompile_post(int64_t *word, int64_t value) {
    __atomic_store_n(word, value, __ATOMIC_SEQ_CST);
    wake();
}

int64_t neurocompile_arrive(int64_t *word) {
    int64_t now = __atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
    wake();
    return now;
}
