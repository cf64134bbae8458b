#ifndef CBACKPROP_KERNELS_H
#define CBACKPROP_KERNELS_H

// Small C kernels of Backprop: the cache-blocked matrix product, built twice (AVX2+FMA and
// portable) and chosen at run time after a CPU check, so that one binary runs everywhere.

/// A pause in a spin-wait loop (x86 `pause`), easing the core for its sibling thread.
static inline void bp_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/// Per-thread switches read on every op (grad mode, explanation recording): C thread-locals, a
/// couple of instructions each, where pthread_getspecific costs a call and a lookup.
extern _Thread_local int bp_tls_grad_disabled;
extern _Thread_local int bp_tls_recording_values;
static inline int bp_grad_disabled(void) { return bp_tls_grad_disabled; }
static inline void bp_set_grad_disabled(int v) { bp_tls_grad_disabled = v; }
static inline int bp_recording_values(void) { return bp_tls_recording_values; }
static inline void bp_set_recording_values(int v) { bp_tls_recording_values = v; }
/// 1 while this thread records the kernels of a compiled step (Compile/CompiledStep.swift).
extern _Thread_local int bp_tls_kernel_tape;
static inline int bp_kernel_tape_active(void) { return bp_tls_kernel_tape; }
static inline void bp_set_kernel_tape_active(int v) { bp_tls_kernel_tape = v; }
/// The autograd engine's work arrays of this thread (an unretained pointer; the thread's pthread
/// key holds the reference and releases it when the thread ends) and whether a pass uses them.
extern _Thread_local void *bp_tls_scratch;
extern _Thread_local int bp_tls_scratch_busy;
static inline void *bp_scratch(void) { return bp_tls_scratch; }
static inline void bp_set_scratch(void *p) { bp_tls_scratch = p; }
static inline int bp_scratch_busy(void) { return bp_tls_scratch_busy; }
static inline void bp_set_scratch_busy(int v) { bp_tls_scratch_busy = v; }
/// This thread's own worker count for the kernels it starts (0: the process-wide setting).
extern _Thread_local int bp_tls_threads;
static inline int bp_threads_override(void) { return bp_tls_threads; }
static inline void bp_set_threads_override(int v) { bp_tls_threads = v; }

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

/// C[m,n] = A[m,k] B[k,n], the same sums as the functions above but without reading C (no need
/// to zero it first; with k = 0, C is zeroed).
void bp_sgemm_avx2_overwrite(long m, long n, long k, const float *a, long lda, int transA,
                             const float *b, long ldb, int transB, float *c, long ldc);
void bp_sgemm_generic_overwrite(long m, long n, long k, const float *a, long lda, int transA,
                                const float *b, long ldb, int transB, float *c, long ldc);
void bp_dgemm_avx2_overwrite(long m, long n, long k, const double *a, long lda, int transA,
                             const double *b, long ldb, int transB, double *c, long ldc);
void bp_dgemm_generic_overwrite(long m, long n, long k, const double *a, long lda, int transA,
                                const double *b, long ldb, int transB, double *c, long ldc);

/// y[i] = exp(x[i]) for float32, vectorized (about 1 ulp; libm for extreme and NaN inputs).
void bp_exp_f32(const float *x, float *y, long n);
/// out[i] = exp(x[i] - m) (nothing stored when out is NULL); returns the sum of the exps.
float bp_exp_shift_sum_f32(const float *x, float m, float *out, long n);
/// y[i] = log(x[i]) for float32, vectorized (about 1 ulp; libm for zero, negative, subnormal,
/// infinite and NaN inputs).
void bp_log_f32(const float *x, float *y, long n);
void bp_log_f32_avx2(const float *x, float *y, long n);
void bp_log_f32_generic(const float *x, float *y, long n);
/// The largest element of x (NaN when any is NaN; -inf when n is 0).
float bp_max_f32(const float *x, long n);
void bp_exp_f32_avx2(const float *x, float *y, long n);
/// y = x Phi(x), the exact GELU of float32, vectorized (PyTorch's vectorized erf, error below 1.5e-7).
void bp_gelu_f32(const float *x, float *y, long n);
/// out = g (Phi(x) + x phi(x)): the GELU's backward, vectorized.
void bp_gelu_backward_f32(const float *x, const float *g, float *out, long n);
void bp_gelu_f32_avx2(const float *x, float *y, long n);
void bp_gelu_f32_generic(const float *x, float *y, long n);
void bp_gelu_backward_f32_avx2(const float *x, const float *g, float *out, long n);
void bp_gelu_backward_f32_generic(const float *x, const float *g, float *out, long n);
void bp_exp_f32_generic(const float *x, float *y, long n);
float bp_exp_shift_sum_f32_avx2(const float *x, float m, float *out, long n);
float bp_exp_shift_sum_f32_generic(const float *x, float m, float *out, long n);
/// softmax (log = 0) or log-softmax (log = 1) of `rows` contiguous float32 rows of n (< 16)
/// elements, vectorized exp over blocks of rows.
void bp_softmax_short_rows_f32(const float *x, float *out, long rows, long n, int log);
void bp_softmax_short_rows_f32_avx2(const float *x, float *out, long rows, long n, int log);
void bp_softmax_short_rows_f32_generic(const float *x, float *out, long rows, long n, int log);
float bp_max_f32_avx2(const float *x, long n);
float bp_max_f32_generic(const float *x, long n);

/// One Adam step on float32 buffers in the common case (no weight decay, no amsgrad, not
/// maximizing): m = m + w1 (g - m); v = v b2 + w2 g g; w = w + s m / (sqrt(v) / c2 + e), rounded
/// step by step as written (no fused multiply-adds), vectorized. The buffers must not overlap.
void bp_adam_f32(float *w, const float *g, float *m, float *v, long n,
                 float w1, float b2, float w2, float c2, float e, float s);

/// One SGD step on float32 buffers in the common case (no weight decay, not maximizing, not
/// Nesterov): w = w + nlr g without momentum; with it b = g on the first step, b = b mom + damp g
/// after, then w = w + nlr b. Rounded step by step (no fused multiply-adds), vectorized; `b` is
/// unused without momentum. The buffers must not overlap.
void bp_sgd_f32(float *w, const float *g, float *b, long n,
                float nlr, int has_momentum, float mom, float damp, int first);

/// The plain loops (no packing) for small or thin products; same arguments, C += A B.
void bp_sgemm_avx2_small(long m, long n, long k, const float *a, long lda, int transA,
                         const float *b, long ldb, int transB, float *c, long ldc);
void bp_sgemm_generic_small(long m, long n, long k, const float *a, long lda, int transA,
                            const float *b, long ldb, int transB, float *c, long ldc);
void bp_dgemm_avx2_small(long m, long n, long k, const double *a, long lda, int transA,
                         const double *b, long ldb, int transB, double *c, long ldc);
void bp_dgemm_generic_small(long m, long n, long k, const double *a, long lda, int transA,
                            const double *b, long ldb, int transB, double *c, long ldc);
/// C += A B for n <= 16 and k <= 256 (B, either layout, padded to 16 columns on the stack).
void bp_sgemm_avx2_narrow(long m, long n, long k, const float *a, long lda, int transA,
                          const float *b, long ldb, int transB, float *c, long ldc);
void bp_sgemm_generic_narrow(long m, long n, long k, const float *a, long lda, int transA,
                             const float *b, long ldb, int transB, float *c, long ldc);
void bp_dgemm_avx2_narrow(long m, long n, long k, const double *a, long lda, int transA,
                          const double *b, long ldb, int transB, double *c, long ldc);
void bp_dgemm_generic_narrow(long m, long n, long k, const double *a, long lda, int transA,
                             const double *b, long ldb, int transB, double *c, long ldc);

#endif
