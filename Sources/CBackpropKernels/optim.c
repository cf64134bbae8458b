#include <math.h>
#include "CBackpropKernels.h"

// Optimizer loops. No contraction into FMAs: each step is the same sequence of roundings as the
// scalar Swift loop beside these (Optim/Adam.swift), so both give the same parameters.
#pragma clang fp contract(off)

// The common Adam step (no weight decay, no amsgrad, not maximizing), float32:
//   m = m + w1 * (g - m);  v = v * b2 + w2 * g * g;  w = w + s * m / (sqrt(v) / c2 + e)
#define ADAM_BODY                                                                   \
    for (long j = 0; j < n; j++) {                                                  \
        float d = g[j];                                                             \
        float mj = m[j] + w1 * (d - m[j]);                                          \
        float vj = v[j] * b2 + w2 * d * d;                                          \
        float denom = sqrtf(vj) / c2 + e;                                           \
        m[j] = mj; v[j] = vj;                                                       \
        w[j] = w[j] + s * mj / denom;                                               \
    }

#if defined(__x86_64__) || defined(__i386__)
typedef float vf8 __attribute__((vector_size(32)));

__attribute__((target("avx2,fma")))
static void adam_f32_avx2(float *restrict w, const float *restrict g, float *restrict m, float *restrict v, long n,
                          float w1, float b2, float w2, float c2, float e, float s) {
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        vf8 d, mj, vj, wj;
        __builtin_memcpy(&d, g + j, sizeof(vf8));
        __builtin_memcpy(&mj, m + j, sizeof(vf8));
        __builtin_memcpy(&vj, v + j, sizeof(vf8));
        __builtin_memcpy(&wj, w + j, sizeof(vf8));
        mj = mj + w1 * (d - mj);
        vj = vj * b2 + w2 * d * d;
        vf8 denom = __builtin_elementwise_sqrt(vj) / c2 + e;
        wj = wj + s * mj / denom;
        __builtin_memcpy(m + j, &mj, sizeof(vf8));
        __builtin_memcpy(v + j, &vj, sizeof(vf8));
        __builtin_memcpy(w + j, &wj, sizeof(vf8));
    }
    w += j; g += j; m += j; v += j; n -= j;
    ADAM_BODY
}
#endif

static void adam_f32_generic(float *restrict w, const float *restrict g, float *restrict m, float *restrict v, long n,
                             float w1, float b2, float w2, float c2, float e, float s) {
    ADAM_BODY
}

void bp_adam_f32(float *w, const float *g, float *m, float *v, long n,
                 float w1, float b2, float w2, float c2, float e, float s) {
#if defined(__x86_64__) || defined(__i386__)
    static int avx2 = -1;
    if (avx2 < 0) avx2 = bp_cpu_has_avx2_fma();
    if (avx2) { adam_f32_avx2(w, g, m, v, n, w1, b2, w2, c2, e, s); return; }
#endif
    adam_f32_generic(w, g, m, v, n, w1, b2, w2, c2, e, s);
}

// The common SGD step (no weight decay, not maximizing, not Nesterov), float32, in the order of
// Optim/Optimizer.swift's loop:
//   momentum == 0:          w = w + nlr * g
//   first step (momentum):  b = g;                     w = w + nlr * b
//   later steps:            b = b * mom + damp * g;    w = w + nlr * b
#define SGD_BODY                                                                    \
    if (!has_momentum) {                                                            \
        for (long j = 0; j < n; j++) w[j] = w[j] + nlr * g[j];                      \
    } else if (first) {                                                             \
        for (long j = 0; j < n; j++) { float d = g[j]; b[j] = d; w[j] = w[j] + nlr * d; } \
    } else {                                                                        \
        for (long j = 0; j < n; j++) {                                              \
            float bj = b[j] * mom + damp * g[j];                                    \
            b[j] = bj;                                                              \
            w[j] = w[j] + nlr * bj;                                                 \
        }                                                                           \
    }

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma")))
static void sgd_f32_avx2(float *restrict w, const float *restrict g, float *restrict b, long n,
                         float nlr, int has_momentum, float mom, float damp, int first) {
    SGD_BODY
}
#endif

static void sgd_f32_generic(float *restrict w, const float *restrict g, float *restrict b, long n,
                            float nlr, int has_momentum, float mom, float damp, int first) {
    SGD_BODY
}

void bp_sgd_f32(float *w, const float *g, float *b, long n,
                float nlr, int has_momentum, float mom, float damp, int first) {
#if defined(__x86_64__) || defined(__i386__)
    static int avx2 = -1;
    if (avx2 < 0) avx2 = bp_cpu_has_avx2_fma();
    if (avx2) { sgd_f32_avx2(w, g, b, n, nlr, has_momentum, mom, damp, first); return; }
#endif
    sgd_f32_generic(w, g, b, n, nlr, has_momentum, mom, damp, first);
}
