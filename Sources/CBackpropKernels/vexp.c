#include <math.h>
#include "CBackpropKernels.h"

#pragma clang fp contract(fast)
#pragma clang diagnostic ignored "-Wpsabi"

typedef float vf8 __attribute__((vector_size(32)));
typedef int vi8 __attribute__((vector_size(32)));
#define SPLAT8(x) ((vf8){(x), (x), (x), (x), (x), (x), (x), (x)})

#if defined(__x86_64__) || defined(__i386__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define SUFFIX _avx2
#include "vexp_impl.h"
#include "vgelu_impl.h"
#undef SUFFIX
#pragma clang attribute pop
#endif

#define SUFFIX _generic
#include "vexp_impl.h"
#include "vgelu_impl.h"
#undef SUFFIX

#if defined(__x86_64__) || defined(__i386__)
static int use_avx2(void) {
    static int v = -1;
    if (v < 0) v = bp_cpu_has_avx2_fma();
    return v;
}
void bp_exp_f32(const float *x, float *y, long n) {
    if (use_avx2()) bp_exp_f32_avx2(x, y, n); else bp_exp_f32_generic(x, y, n);
}
float bp_exp_shift_sum_f32(const float *x, float m, float *out, long n) {
    return use_avx2() ? bp_exp_shift_sum_f32_avx2(x, m, out, n) : bp_exp_shift_sum_f32_generic(x, m, out, n);
}
void bp_log_f32(const float *x, float *y, long n) {
    if (use_avx2()) bp_log_f32_avx2(x, y, n); else bp_log_f32_generic(x, y, n);
}
float bp_max_f32(const float *x, long n) {
    return use_avx2() ? bp_max_f32_avx2(x, n) : bp_max_f32_generic(x, n);
}
void bp_gelu_f32(const float *x, float *y, long n) {
    if (use_avx2()) bp_gelu_f32_avx2(x, y, n); else bp_gelu_f32_generic(x, y, n);
}
void bp_gelu_backward_f32(const float *x, const float *g, float *out, long n) {
    if (use_avx2()) bp_gelu_backward_f32_avx2(x, g, out, n); else bp_gelu_backward_f32_generic(x, g, out, n);
}
void bp_softmax_short_rows_f32(const float *x, float *out, long rows, long n, int log) {
    if (use_avx2()) bp_softmax_short_rows_f32_avx2(x, out, rows, n, log);
    else bp_softmax_short_rows_f32_generic(x, out, rows, n, log);
}
#else
void bp_gelu_f32(const float *x, float *y, long n) { bp_gelu_f32_generic(x, y, n); }
void bp_gelu_backward_f32(const float *x, const float *g, float *out, long n) { bp_gelu_backward_f32_generic(x, g, out, n); }
void bp_exp_f32(const float *x, float *y, long n) { bp_exp_f32_generic(x, y, n); }
float bp_exp_shift_sum_f32(const float *x, float m, float *out, long n) { return bp_exp_shift_sum_f32_generic(x, m, out, n); }
float bp_max_f32(const float *x, long n) { return bp_max_f32_generic(x, n); }
void bp_log_f32(const float *x, float *y, long n) { bp_log_f32_generic(x, y, n); }
void bp_softmax_short_rows_f32(const float *x, float *out, long rows, long n, int log) {
    bp_softmax_short_rows_f32_generic(x, out, rows, n, log);
}
#endif
