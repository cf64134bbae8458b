// One instance of the blocked gemm (GotoBLAS/BLIS loop order, packed panels, MR x NR register
// tile). Included by gemm.c with T (element), V (a 32-byte vector of T), VL (lanes), SPLAT(x)
// and NAME (the exported function) defined; every helper name is derived from NAME.

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define MR 6
#define NR (2 * VL)
#define KC 256
#define MC 96
#define NC 1024

// Panels are laid out [p][r] (A: MR rows per step of p) and [p][q] (B: NR columns per step of p),
// zero padded past the matrix edge. Each loop reads its source along contiguous memory.
static void CAT(NAME, _packA)(long mc, long kc, const T *a, long lda, int transA, long i0, long p0, T *buf) {
    for (long ir = 0; ir < mc; ir += MR) {
        long mr = mc - ir < MR ? mc - ir : MR;
        if (transA) {
            // A stored [k][m]: the MR values of one p are contiguous.
            if (mr < MR) __builtin_memset(buf, 0, sizeof(T) * MR * kc);   // once, not per p
            for (long p = 0; p < kc; p++) {
                const T *src = a + (p0 + p) * lda + i0 + ir;
                for (long r = 0; r < mr; r++) buf[p * MR + r] = src[r];
            }
        } else {
            // A stored [m][k]: each row is contiguous along p.
            if (mr < MR) __builtin_memset(buf, 0, sizeof(T) * MR * kc);
            for (long r = 0; r < mr; r++) {
                const T *src = a + (i0 + ir + r) * lda + p0;
                for (long p = 0; p < kc; p++) buf[p * MR + r] = src[p];
            }
        }
        buf += MR * kc;
    }
}

static void CAT(NAME, _packB)(long nc, long kc, const T *b, long ldb, int transB, long j0, long p0, T *buf) {
    for (long jr = 0; jr < nc; jr += NR) {
        long nr = nc - jr < NR ? nc - jr : NR;
        if (transB) {
            // B stored [n][k]: each column of the product is contiguous along p.
            if (nr < NR) __builtin_memset(buf, 0, sizeof(T) * NR * kc);
            for (long q = 0; q < nr; q++) {
                const T *src = b + (j0 + jr + q) * ldb + p0;
                for (long p = 0; p < kc; p++) buf[p * NR + q] = src[p];
            }
        } else {
            if (nr < NR) __builtin_memset(buf, 0, sizeof(T) * NR * kc);
            for (long p = 0; p < kc; p++) {
                const T *src = b + (p0 + p) * ldb + j0 + jr;
                T *dst = buf + p * NR;
                if (nr == NR) {
                    for (long q = 0; q < NR; q++) dst[q] = src[q];
                } else {
                    for (long q = 0; q < nr; q++) dst[q] = src[q];
                }
            }
        }
        buf += NR * kc;
    }
}

/// C tile (mr x nr of MR x NR) += the panels' product, or = it when `store` (C is not read).
static inline __attribute__((always_inline)) void CAT(NAME, _micro)(long kc, const T *restrict a, const T *restrict b,
                                                                    T *restrict c, long ldc, long mr, long nr,
                                                                    int store) {
    V c00 = SPLAT(0), c01 = SPLAT(0), c10 = SPLAT(0), c11 = SPLAT(0), c20 = SPLAT(0), c21 = SPLAT(0);
    V c30 = SPLAT(0), c31 = SPLAT(0), c40 = SPLAT(0), c41 = SPLAT(0), c50 = SPLAT(0), c51 = SPLAT(0);
    for (long p = 0; p < kc; p++) {
        V b0, b1, x;
        __builtin_memcpy(&b0, b, sizeof(V));
        __builtin_memcpy(&b1, b + VL, sizeof(V));
        x = SPLAT(a[0]); c00 += x * b0; c01 += x * b1;
        x = SPLAT(a[1]); c10 += x * b0; c11 += x * b1;
        x = SPLAT(a[2]); c20 += x * b0; c21 += x * b1;
        x = SPLAT(a[3]); c30 += x * b0; c31 += x * b1;
        x = SPLAT(a[4]); c40 += x * b0; c41 += x * b1;
        x = SPLAT(a[5]); c50 += x * b0; c51 += x * b1;
        a += MR;
        b += NR;
    }
    if (mr == MR && nr == NR && store) {
#define ROW(r, v0, v1) { T *cr = c + (r) * ldc; __builtin_memcpy(cr, &v0, sizeof(V)); __builtin_memcpy(cr + VL, &v1, sizeof(V)); }
        ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31) ROW(4, c40, c41) ROW(5, c50, c51)
#undef ROW
    } else if (mr == MR && nr == NR) {
#define ROW(r, v0, v1) { V t0, t1; T *cr = c + (r) * ldc; \
        __builtin_memcpy(&t0, cr, sizeof(V)); __builtin_memcpy(&t1, cr + VL, sizeof(V)); \
        t0 += v0; t1 += v1; __builtin_memcpy(cr, &t0, sizeof(V)); __builtin_memcpy(cr + VL, &t1, sizeof(V)); }
        ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31) ROW(4, c40, c41) ROW(5, c50, c51)
#undef ROW
    } else {
        V tile[MR * 2] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
        const T *t = (const T *)tile;
        for (long r = 0; r < mr; r++)
            for (long q = 0; q < nr; q++) c[r * ldc + q] = (store ? 0 : c[r * ldc + q]) + t[r * NR + q];
    }
}

/// The plain loops for products too small or thin to pay for packing: i-p-j (vectorized along j)
/// when B is not transposed, dot products otherwise. C += A B.
void CAT(NAME, _small)(long m, long n, long k, const T *a, long lda, int transA, const T *b, long ldb, int transB,
                       T *c, long ldc) {
    if (!transB) {
        for (long i = 0; i < m; i++) {
            T *restrict ci = c + i * ldc;
            for (long p = 0; p < k; p++) {
                const T av = transA ? a[p * lda + i] : a[i * lda + p];
                const T *restrict bp = b + p * ldb;
                for (long j = 0; j < n; j++) ci[j] += av * bp[j];
            }
        }
    } else {
        for (long i = 0; i < m; i++) {
            for (long j = 0; j < n; j++) {
                const T *restrict bj = b + j * ldb;
                T s = 0;
                for (long p = 0; p < k; p++) s += (transA ? a[p * lda + i] : a[i * lda + p]) * bj[p];
                c[i * ldc + j] += s;
            }
        }
    }
}

/// C += A B for a narrow B (n <= 16, k <= 256, either layout): B is read as rows of whole vectors
/// (in place when its rows already are, else copied once, zero padded), and each row of C is built
/// in one to 16 / VL vector registers, several rows at a time.
void CAT(NAME, _narrow)(long m, long n, long k, const T *a, long lda, int transA, const T *b, long ldb,
                        int transB, T *c, long ldc) {
    T bpad[256 * 16] __attribute__((aligned(32)));
    const long nv = (n + VL - 1) / VL;
    // Rows of B as whole vectors: B itself when its rows already are (not transposed, n a multiple
    // of VL), else a zero-padded copy.
    const T *bv = b;
    long w = ldb;
    if (transB || n % VL != 0) {
        w = nv * VL;
        bv = bpad;
        if (n < w) __builtin_memset(bpad, 0, sizeof(T) * w * k);
        if (transB) {
            for (long j = 0; j < n; j++)
                for (long p = 0; p < k; p++) bpad[p * w + j] = b[j * ldb + p];
        } else {
            for (long p = 0; p < k; p++)
                for (long j = 0; j < n; j++) bpad[p * w + j] = b[p * ldb + j];
        }
    }
    const long as = transA ? lda : 1, ai = transA ? 1 : lda;   // steps along p and along i in A
    long i = 0;
    // Row r of C += the vector accumulators acc[0..nv) (whole vectors, or the first n lanes).
#define NARROW_STORE(r, acc) { \
        T *ci = c + (i + (r)) * ldc; \
        if (n == nv * VL) { \
            for (long v = 0; v < nv; v++) { \
                V t; __builtin_memcpy(&t, ci + v * VL, sizeof(V)); \
                t += (acc)[v]; \
                __builtin_memcpy(ci + v * VL, &t, sizeof(V)); \
            } \
        } else { \
            const T *t = (const T *)(acc); \
            for (long j = 0; j < n; j++) ci[j] += t[j]; \
        } }
    if (nv == 1) {
        // Eight rows at a time: eight independent accumulator chains hide the FMA latency even
        // when k is short.
        for (; i + 8 <= m; i += 8) {
            const T *a0 = a + i * ai;
            V r[8] = {SPLAT(0), SPLAT(0), SPLAT(0), SPLAT(0), SPLAT(0), SPLAT(0), SPLAT(0), SPLAT(0)};
            for (long p = 0; p < k; p++) {
                V b0;
                __builtin_memcpy(&b0, bv + p * w, sizeof(V));
                const T *ap = a0 + p * as;
                r[0] += SPLAT(ap[0]) * b0; r[1] += SPLAT(ap[ai]) * b0;
                r[2] += SPLAT(ap[2 * ai]) * b0; r[3] += SPLAT(ap[3 * ai]) * b0;
                r[4] += SPLAT(ap[4 * ai]) * b0; r[5] += SPLAT(ap[5 * ai]) * b0;
                r[6] += SPLAT(ap[6 * ai]) * b0; r[7] += SPLAT(ap[7 * ai]) * b0;
            }
            for (long q = 0; q < 8; q++) NARROW_STORE(q, &r[q])
        }
    } else if (nv == 2) {
        // Four rows of two vectors at a time: eight chains as well.
        for (; i + 4 <= m; i += 4) {
            const T *a0 = a + i * ai;
            V r[4][2] = {{SPLAT(0), SPLAT(0)}, {SPLAT(0), SPLAT(0)}, {SPLAT(0), SPLAT(0)}, {SPLAT(0), SPLAT(0)}};
            for (long p = 0; p < k; p++) {
                V b0, b1;
                __builtin_memcpy(&b0, bv + p * w, sizeof(V));
                __builtin_memcpy(&b1, bv + p * w + VL, sizeof(V));
                const T *ap = a0 + p * as;
                V x0 = SPLAT(ap[0]), x1 = SPLAT(ap[ai]), x2 = SPLAT(ap[2 * ai]), x3 = SPLAT(ap[3 * ai]);
                r[0][0] += x0 * b0; r[1][0] += x1 * b0; r[2][0] += x2 * b0; r[3][0] += x3 * b0;
                r[0][1] += x0 * b1; r[1][1] += x1 * b1; r[2][1] += x2 * b1; r[3][1] += x3 * b1;
            }
            for (long q = 0; q < 4; q++) NARROW_STORE(q, r[q])
        }
    }
    for (; i < m; i++) {
        const T *ap = a + i * ai;
        V s0 = SPLAT(0), s1 = SPLAT(0), s2 = SPLAT(0), s3 = SPLAT(0);
        if (nv == 1) {
            for (long p = 0; p < k; p++) {
                V b0; __builtin_memcpy(&b0, bv + p * w, sizeof(V));
                s0 += SPLAT(ap[p * as]) * b0;
            }
        } else if (nv == 2) {
            for (long p = 0; p < k; p++) {
                V b0, b1, x = SPLAT(ap[p * as]);
                __builtin_memcpy(&b0, bv + p * w, sizeof(V));
                __builtin_memcpy(&b1, bv + p * w + VL, sizeof(V));
                s0 += x * b0; s1 += x * b1;
            }
        } else {
            for (long p = 0; p < k; p++) {
                V b0, b1, b2, b3, x = SPLAT(ap[p * as]);
                const T *bp = bv + p * w;
                __builtin_memcpy(&b0, bp, sizeof(V));
                __builtin_memcpy(&b1, bp + VL, sizeof(V));
                s0 += x * b0; s1 += x * b1;
                if (nv > 2) { __builtin_memcpy(&b2, bp + 2 * VL, sizeof(V)); s2 += x * b2; }
                if (nv > 3) { __builtin_memcpy(&b3, bp + 3 * VL, sizeof(V)); s3 += x * b3; }
            }
        }
        V acc[4] = {s0, s1, s2, s3};
        NARROW_STORE(0, acc)
    }
#undef NARROW_STORE
}

/// The blocked product: C += A B, or C = A B when `overwrite` (C is then only written: the first
/// block of k stores each tile, so no pass zeroes C beforehand, and whichever thread computes a
/// row of C is the first to touch its memory). Each element of C is the same sum either way, over
/// the blocks of k in order.
static void CAT(NAME, _blocked)(long m, long n, long k, const T *a, long lda, int transA, const T *b, long ldb,
                                int transB, T *c, long ldc, int overwrite) {
    // Packing buffers, one pair per thread, kept for the life of the thread.
    static _Thread_local T *bufA = 0, *bufB = 0;
    if (!bufA) {
        bufA = (T *)aligned_alloc(64, sizeof(T) * MC * KC);
        bufB = (T *)aligned_alloc(64, sizeof(T) * (NC + NR) * KC);
    }
    for (long jc = 0; jc < n; jc += NC) {
        long nc = n - jc < NC ? n - jc : NC;
        for (long pc = 0; pc < k; pc += KC) {
            long kc = k - pc < KC ? k - pc : KC;
            CAT(NAME, _packB)(nc, kc, b, ldb, transB, jc, pc, bufB);
            for (long ic = 0; ic < m; ic += MC) {
                long mc = m - ic < MC ? m - ic : MC;
                CAT(NAME, _packA)(mc, kc, a, lda, transA, ic, pc, bufA);
                for (long jr = 0; jr < nc; jr += NR) {
                    long nr = nc - jr < NR ? nc - jr : NR;
                    for (long ir = 0; ir < mc; ir += MR) {
                        long mr = mc - ir < MR ? mc - ir : MR;
                        CAT(NAME, _micro)(kc, bufA + ir * kc, bufB + jr * kc, c + (ic + ir) * ldc + jc + jr, ldc, mr, nr,
                                          overwrite && pc == 0);
                    }
                }
            }
        }
    }
}

void NAME(long m, long n, long k, const T *a, long lda, int transA, const T *b, long ldb, int transB, T *c, long ldc) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    CAT(NAME, _blocked)(m, n, k, a, lda, transA, b, ldb, transB, c, ldc, 0);
}

void CAT(NAME, _overwrite)(long m, long n, long k, const T *a, long lda, int transA, const T *b, long ldb, int transB,
                           T *c, long ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (long i = 0; i < m; i++) __builtin_memset(c + i * ldc, 0, sizeof(T) * n);
        return;
    }
    CAT(NAME, _blocked)(m, n, k, a, lda, transA, b, ldb, transB, c, ldc, 1);
}

#undef MR
#undef NR
#undef KC
#undef MC
#undef NC
