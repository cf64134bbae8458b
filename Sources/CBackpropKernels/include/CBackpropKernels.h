#ifndef CBACKPROP_KERNELS_H
#define CBACKPROP_KERNELS_H

// Small C kernels of Backprop: the cache-blocked matrix product, built twice (AVX2+FMA and
// portable) and chosen at run time after a CPU check, so that one binary runs everywhere.

/// 1 when this CPU has AVX2 and FMA (x86-64 only), else 0.
int bp_cpu_has_avx2_fma(void);

/// C[m,n] += A[m,k] B[k,n] on row-major buffers with leading dimensions lda, ldb, ldc.
/// transA: A is stored as [k,m] (element (i,p) at a[p*lda+i]); transB: B is stored as [n,k].
void bp_sgemm_avx2(long m, long n, long k, const float *a, long lda, int transA,
                   const float *b, long ldb, int transB, float *c, long ldc);
void bp_sgemm_generic(long m, long n, long k, const float *a, long lda, int transA,
                      const float *b, long ldb, int transB, float *c, long ldc);
void bp_dgemm_avx2(long m, long n, long k, const double *a, long lda, int transA,
                   const double *b, long ldb, int transB, double *c, long ldc);
void bp_dgemm_generic(long m, long n, long k, const double *a, long lda, int transA,
                      const double *b, long ldb, int transB, double *c, long ldc);

#endif
