// One instance of the vectorized float exp and the row loops built on it. Included by vexp.c with
// SUFFIX defined (_avx2 or _generic). exp(x) = 2^n * p(r), r = x - n ln2, |r| <= ln2/2 (Cephes
// polynomial, about 1 ulp); lanes outside [-87, 88] or NaN are recomputed with libm's expf.

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define F(name) CAT(name, SUFFIX)

static inline __attribute__((always_inline)) vf8 F(vexp8)(vf8 x) {
    const vf8 log2e = SPLAT8(1.44269504088896341f), c1 = SPLAT8(0.693359375f), c2 = SPLAT8(-2.12194440e-4f);
    vf8 fx = x * log2e;
    // round to nearest: add and subtract 1.5 * 2^23
    const vf8 magic = SPLAT8(12582912.0f);
    fx = (fx + magic) - magic;
    vf8 r = x - fx * c1;
    r = r - fx * c2;
    vf8 p = SPLAT8(1.9875691500E-4f);
    p = p * r + SPLAT8(1.3981999507E-3f);
    p = p * r + SPLAT8(8.3334519073E-3f);
    p = p * r + SPLAT8(4.1665795894E-2f);
    p = p * r + SPLAT8(1.6666665459E-1f);
    p = p * r + SPLAT8(5.0000001201E-1f);
    vf8 y = p * (r * r) + r + SPLAT8(1.0f);
    vi8 n = __builtin_convertvector(fx, vi8);
    vi8 bits = (n + 127) << 23;
    vf8 scale;
    __builtin_memcpy(&scale, &bits, sizeof(scale));
    return y * scale;
}

/// 1 when some lane needs libm (out of the safe range, or NaN).
static inline __attribute__((always_inline)) int F(needs_libm)(vf8 x) {
    vi8 bad = (x < SPLAT8(-87.0f)) | (x > SPLAT8(88.0f)) | (x != x);
    int any = 0;
    for (int i = 0; i < 8; i++) any |= bad[i];
    return any;
}

/// The lanes of two vectors that need libm, as one test (one reduction for both).
static inline __attribute__((always_inline)) int F(needs_libm2)(vf8 a, vf8 b) {
    vi8 bad = (a < SPLAT8(-87.0f)) | (a > SPLAT8(88.0f)) | (a != a) | (b < SPLAT8(-87.0f)) | (b > SPLAT8(88.0f)) | (b != b);
    return __builtin_reduce_or(bad) != 0;
}

/// exp of 8 lanes through libm (the rare lanes outside the polynomial's range, or NaN). Kept out
/// of line so that the main loops hold their constants in registers.
static __attribute__((noinline, cold)) vf8 F(exp8_libm)(vf8 v) {
    vf8 e;
    for (int k = 0; k < 8; k++) e[k] = expf(v[k]);
    return e;
}

/// exp of one vector: the polynomial, or libm when a lane needs it.
static inline __attribute__((always_inline)) vf8 F(vexp8_checked)(vf8 v) {
    return __builtin_expect(F(needs_libm)(v), 0) ? F(exp8_libm)(v) : F(vexp8)(v);
}

/// exp of two vectors: the polynomials, or libm for both when a lane of either needs it (one test).
static inline __attribute__((always_inline)) void F(vexp16)(vf8 v0, vf8 v1, vf8 *e0, vf8 *e1) {
    if (__builtin_expect(F(needs_libm2)(v0, v1), 0)) {
        *e0 = F(exp8_libm)(v0);
        *e1 = F(exp8_libm)(v1);
    } else {
        *e0 = F(vexp8)(v0);
        *e1 = F(vexp8)(v1);
    }
}

void F(bp_exp_f32)(const float *x, float *y, long n) {
    long i = 0;
    // Two vectors per step: independent polynomial chains overlap.
    for (; i + 16 <= n; i += 16) {
        vf8 v0, v1, e0, e1;
        __builtin_memcpy(&v0, x + i, sizeof(v0));
        __builtin_memcpy(&v1, x + i + 8, sizeof(v1));
        F(vexp16)(v0, v1, &e0, &e1);
        __builtin_memcpy(y + i, &e0, sizeof(e0));
        __builtin_memcpy(y + i + 8, &e1, sizeof(e1));
    }
    for (; i + 8 <= n; i += 8) {
        vf8 v;
        __builtin_memcpy(&v, x + i, sizeof(v));
        vf8 e = F(vexp8_checked)(v);
        __builtin_memcpy(y + i, &e, sizeof(e));
    }
    for (; i < n; i++) y[i] = expf(x[i]);
}

/// out[i] = exp(x[i] - m) (not stored when out is NULL); returns the sum (8 partial sums).
float F(bp_exp_shift_sum_f32)(const float *x, float m, float *out, long n) {
    vf8 acc = SPLAT8(0.0f), mv = SPLAT8(m);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        vf8 v0, v1, e0, e1;
        __builtin_memcpy(&v0, x + i, sizeof(v0));
        __builtin_memcpy(&v1, x + i + 8, sizeof(v1));
        v0 = v0 - mv;
        v1 = v1 - mv;
        F(vexp16)(v0, v1, &e0, &e1);
        if (out) {
            __builtin_memcpy(out + i, &e0, sizeof(e0));
            __builtin_memcpy(out + i + 8, &e1, sizeof(e1));
        }
        // The same order of additions into the 8 partial sums as one vector per step.
        acc += e0;
        acc += e1;
    }
    for (; i + 8 <= n; i += 8) {
        vf8 v;
        __builtin_memcpy(&v, x + i, sizeof(v));
        v = v - mv;
        vf8 e = F(vexp8_checked)(v);
        if (out) __builtin_memcpy(out + i, &e, sizeof(e));
        acc += e;
    }
    float s = 0;
    for (int k = 0; k < 8; k++) s += acc[k];
    for (; i < n; i++) { float e = expf(x[i] - m); if (out) out[i] = e; s += e; }
    return s;
}

/// The largest element (NaN when any element is NaN).
float F(bp_max_f32)(const float *x, long n) {
    vf8 m = SPLAT8(-__builtin_inff());
    vi8 nan = {0};
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        vf8 v;
        __builtin_memcpy(&v, x + i, sizeof(v));
        nan |= (v != v);
        vi8 gt = v > m, vb, mb;
        __builtin_memcpy(&vb, &v, sizeof(v));
        __builtin_memcpy(&mb, &m, sizeof(m));
        mb = (gt & vb) | (~gt & mb);
        __builtin_memcpy(&m, &mb, sizeof(m));
    }
    float r = -__builtin_inff();
    int anyNaN = 0;
    for (int k = 0; k < 8; k++) { r = m[k] > r ? m[k] : r; anyNaN |= nan[k]; }
    for (; i < n; i++) { if (x[i] != x[i]) anyNaN = 1; r = x[i] > r ? x[i] : r; }
    return anyNaN ? __builtin_nanf("") : r;
}

/// log(x) for 8 lanes of normal, finite, positive x (Cephes logf, about 1 ulp).
static inline __attribute__((always_inline)) vf8 F(vlog8)(vf8 x) {
    vi8 bits;
    __builtin_memcpy(&bits, &x, sizeof(bits));
    vi8 ei = ((bits >> 23) & 0xff) - 126;
    vi8 mb = (bits & 0x807fffff) | 0x3f000000;
    vf8 m, e = __builtin_convertvector(ei, vf8);
    __builtin_memcpy(&m, &mb, sizeof(m));
    // m in [0.5, 1): below sqrt(1/2) use 2m - 1 and e - 1, else m - 1.
    vi8 small = m < SPLAT8(0.707106781186547524f);
    vf8 smallf, mm = m - SPLAT8(1.0f);
    vi8 mmb, mb2;
    vf8 m2 = m + m - SPLAT8(1.0f);
    __builtin_memcpy(&mmb, &mm, sizeof(mmb));
    __builtin_memcpy(&mb2, &m2, sizeof(mb2));
    mmb = (small & mb2) | (~small & mmb);
    __builtin_memcpy(&m, &mmb, sizeof(m));
    vi8 one;
    vf8 onef = SPLAT8(1.0f);
    __builtin_memcpy(&one, &onef, sizeof(one));
    vi8 sb = small & one;
    __builtin_memcpy(&smallf, &sb, sizeof(smallf));
    e = e - smallf;
    vf8 z = m * m;
    vf8 y = SPLAT8(7.0376836292E-2f);
    y = y * m + SPLAT8(-1.1514610310E-1f);
    y = y * m + SPLAT8(1.1676998740E-1f);
    y = y * m + SPLAT8(-1.2420140846E-1f);
    y = y * m + SPLAT8(1.4249322787E-1f);
    y = y * m + SPLAT8(-1.6668057665E-1f);
    y = y * m + SPLAT8(2.0000714765E-1f);
    y = y * m + SPLAT8(-2.4999993993E-1f);
    y = y * m + SPLAT8(3.3333331174E-1f);
    y = y * m * z;
    y = y + e * SPLAT8(-2.12194440e-4f);
    y = y - SPLAT8(0.5f) * z;
    vf8 r = m + y;
    return r + e * SPLAT8(0.693359375f);
}

void F(bp_log_f32)(const float *x, float *y, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        vf8 v;
        __builtin_memcpy(&v, x + i, sizeof(v));
        // Zero, negative, subnormal, infinite and NaN lanes go to libm.
        vi8 bad = (v < SPLAT8(1.17549435e-38f)) | (v > SPLAT8(3.40282347e+38f)) | (v != v);
        int any = 0;
        for (int k = 0; k < 8; k++) any |= bad[k];
        if (any) {
            for (int k = 0; k < 8; k++) y[i + k] = logf(x[i + k]);
        } else {
            vf8 r = F(vlog8)(v);
            __builtin_memcpy(y + i, &r, sizeof(r));
        }
    }
    for (; i < n; i++) y[i] = logf(x[i]);
}

/// softmax (log = 0) or log-softmax (log = 1) of `rows` contiguous rows of n < 16 elements (a few
/// classes): per block of rows, the shifted values, one vectorized exp over the block, then each
/// row's sum and scaling. The same operations, in the same order, as the Swift loop it replaced
/// (Ops/Softmax.swift), so the same results: max as Swift's max (y >= x ? y : x), an infinite max
/// shifted by 0, the row sum accumulated left to right, logf of it.
void F(bp_softmax_short_rows_f32)(const float *x, float *out, long rows, long n, int log) {
    float tmp[1024];
    const long block = n > 0 && 1024 / n > 0 ? 1024 / n : 1;
    for (long r0 = 0; r0 < rows; r0 += block) {
        const long r1 = rows - r0 < block ? rows : r0 + block;
        for (long o = r0; o < r1; o++) {
            const float *xr = x + o * n;
            float *orow = out + o * n;
            float m = xr[0];
            _Pragma("clang loop vectorize(disable) interleave(disable)") for (long j = 1; j < n; j++) m = xr[j] >= m ? xr[j] : m;
            if (!__builtin_isfinite(m)) m = m != m ? m : 0.0f;
            _Pragma("clang loop vectorize(disable) interleave(disable)") for (long j = 0; j < n; j++) orow[j] = xr[j] - m;
        }
        const long count = (r1 - r0) * n;
        F(bp_exp_f32)(out + r0 * n, log ? tmp : out + r0 * n, count);
        for (long o = r0; o < r1; o++) {
            float *orow = out + o * n;
            const float *er = log ? tmp + (o - r0) * n : orow;
            float s = 0;
            _Pragma("clang loop vectorize(disable) interleave(disable)") for (long j = 0; j < n; j++) s += er[j];
            if (log) {
                const float ls = logf(s);
                _Pragma("clang loop vectorize(disable) interleave(disable)") for (long j = 0; j < n; j++) orow[j] = orow[j] - ls;
            } else {
                const float inv = 1 / s;
                _Pragma("clang loop vectorize(disable) interleave(disable)") for (long j = 0; j < n; j++) orow[j] *= inv;
            }
        }
    }
}

#undef F
