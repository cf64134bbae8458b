// The exact (erf) GELU of float32 and its backward, vectorized: one instance per SUFFIX, included
// by vexp.c after vexp_impl.h (it uses vexp8). erf is PyTorch's vectorized float erf (Abramowitz
// and Stegun 7.1.26, absolute error below 1.5e-7): erf(x) = sign(x) (1 - t r(t) exp(-x^2)),
// t = 1 / (1 + 0.3275911 |x|), so that results follow PyTorch's CPU kernel closely.

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define F(name) CAT(name, SUFFIX)

static inline __attribute__((always_inline)) vf8 F(verf8)(vf8 x) {
    vf8 ax = __builtin_elementwise_abs(x);
    vf8 t = SPLAT8(1.0f) / (SPLAT8(0.3275911f) * ax + SPLAT8(1.0f));
    vf8 r = SPLAT8(1.061405429f);
    r = r * t + SPLAT8(-1.453152027f);
    r = r * t + SPLAT8(1.421413741f);
    r = r * t + SPLAT8(-0.284496736f);
    r = r * t + SPLAT8(0.254829592f);
    // exp(-x^2): below -87 it is 0 to float precision (and the polynomial's range ends there).
    vf8 e = -(x * x);
    e = __builtin_elementwise_max(e, SPLAT8(-87.0f));
    vf8 y = SPLAT8(1.0f) - r * t * F(vexp8)(e);
    return __builtin_elementwise_copysign(y, x);
}

/// y = x / 2 (1 + erf(x / sqrt 2)).
void F(bp_gelu_f32)(const float *x, float *y, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        vf8 v;
        __builtin_memcpy(&v, x + i, sizeof(v));
        vf8 o = v * SPLAT8(0.5f) * (SPLAT8(1.0f) + F(verf8)(v * SPLAT8(0.70710678118654752440f)));
        __builtin_memcpy(y + i, &o, sizeof(o));
    }
    if (i < n) {
        vf8 v = SPLAT8(0.0f);
        __builtin_memcpy(&v, x + i, sizeof(float) * (unsigned long)(n - i));
        vf8 o = v * SPLAT8(0.5f) * (SPLAT8(1.0f) + F(verf8)(v * SPLAT8(0.70710678118654752440f)));
        __builtin_memcpy(y + i, &o, sizeof(float) * (unsigned long)(n - i));
    }
}

/// out = g (Phi(x) + x phi(x)), Phi(x) = (1 + erf(x / sqrt 2)) / 2, phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
void F(bp_gelu_backward_f32)(const float *x, const float *g, float *out, long n) {
    long i = 0;
    for (; i < n; i += 8) {
        long m = n - i < 8 ? n - i : 8;
        vf8 v = SPLAT8(0.0f), d = SPLAT8(0.0f);
        __builtin_memcpy(&v, x + i, sizeof(float) * (unsigned long)m);
        __builtin_memcpy(&d, g + i, sizeof(float) * (unsigned long)m);
        vf8 cdf = SPLAT8(0.5f) * (SPLAT8(1.0f) + F(verf8)(v * SPLAT8(0.70710678118654752440f)));
        vf8 e = __builtin_elementwise_max(v * v * SPLAT8(-0.5f), SPLAT8(-87.0f));
        vf8 pdf = SPLAT8(0.39894228040143267794f) * F(vexp8)(e);
        vf8 o = d * (cdf + v * pdf);
        __builtin_memcpy(out + i, &o, sizeof(float) * (unsigned long)m);
    }
}

#undef F
#undef CAT
#undef CAT_
