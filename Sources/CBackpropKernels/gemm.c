#include <stdlib.h>
#include "CBackpropKernels.h"

// a * b + c is fused into one FMA instruction wherever the target has FMA.
#pragma clang fp contract(fast)

typedef float vf8 __attribute__((vector_size(32)));
typedef double vd4 __attribute__((vector_size(32)));
#define SPLAT8(x) ((vf8){(x), (x), (x), (x), (x), (x), (x), (x)})
#define SPLAT4(x) ((vd4){(x), (x), (x), (x)})

#if defined(__x86_64__) || defined(__i386__)
int bp_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define T float
#define V vf8
#define VL 8
#define SPLAT SPLAT8
#define NAME bp_sgemm_avx2
#include "gemm_impl.h"
#undef T
#undef V
#undef VL
#undef SPLAT
#undef NAME
#define T double
#define V vd4
#define VL 4
#define SPLAT SPLAT4
#define NAME bp_dgemm_avx2
#include "gemm_impl.h"
#undef T
#undef V
#undef VL
#undef SPLAT
#undef NAME
#pragma clang attribute pop

#else
int bp_cpu_has_avx2_fma(void) { return 0; }
// Never called: the Swift side checks bp_cpu_has_avx2_fma first.
void bp_sgemm_avx2(long m, long n, long k, const float *a, long lda, int transA,
                   const float *b, long ldb, int transB, float *c, long ldc) {
    bp_sgemm_generic(m, n, k, a, lda, transA, b, ldb, transB, c, ldc);
}
void bp_dgemm_avx2(long m, long n, long k, const double *a, long lda, int transA,
                   const double *b, long ldb, int transB, double *c, long ldc) {
    bp_dgemm_generic(m, n, k, a, lda, transA, b, ldb, transB, c, ldc);
}
void bp_sgemm_avx2_overwrite(long m, long n, long k, const float *a, long lda, int transA,
                             const float *b, long ldb, int transB, float *c, long ldc) {
    bp_sgemm_generic_overwrite(m, n, k, a, lda, transA, b, ldb, transB, c, ldc);
}
void bp_dgemm_avx2_overwrite(long m, long n, long k, const double *a, long lda, int transA,
                             const double *b, long ldb, int transB, double *c, long ldc) {
    bp_dgemm_generic_overwrite(m, n, k, a, lda, transA, b, ldb, transB, c, ldc);
}
void bp_sgemm_avx2_small(long m, long n, long k, const float *a, long lda, int transA,
                         const float *b, long ldb, int transB, float *c, long ldc) {
    bp_sgemm_generic_small(m, n, k, a, lda, transA, b, ldb, transB, c, ldc);
}
void bp_sgemm_avx2_narrow(long m, long n, long k, const float *a, long lda, int transA,
                          const float *b, long ldb, int transB, float *c, long ldc) {
    bp_sgemm_generic_narrow(m, n, k, a, lda, transA, b, ldb, transB, c, ldc);
}
void bp_dgemm_avx2_narrow(long m, long n, long k, const double *a, long lda, int transA,
                          const double *b, long ldb, int transB, double *c, long ldc) {
    bp_dgemm_generic_narrow(m, n, k, a, lda, transA, b, ldb, transB, c, ldc);
}
void bp_dgemm_avx2_small(long m, long n, long k, const double *a, long lda, int transA,
                         const double *b, long ldb, int transB, double *c, long ldc) {
    bp_dgemm_generic_small(m, n, k, a, lda, transA, b, ldb, transB, c, ldc);
}
#endif

#define T float
#define V vf8
#define VL 8
#define SPLAT SPLAT8
#define NAME bp_sgemm_generic
#include "gemm_impl.h"
#undef T
#undef V
#undef VL
#undef SPLAT
#undef NAME
#define T double
#define V vd4
#define VL 4
#define SPLAT SPLAT4
#define NAME bp_dgemm_generic
#include "gemm_impl.h"
