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

static void CAT(NAME, _packA)(long mc, long kc, const T *a, long lda, int transA, long i0, long p0, T *buf) {
    for (long ir = 0; ir < mc; ir += MR) {
        long mr = mc - ir < MR ? mc - ir : MR;
        for (long p = 0; p < kc; p++) {
            long pp = p0 + p;
            for (long r = 0; r < MR; r++) {
                long i = i0 + ir + r;
                buf[r] = r < mr ? (transA ? a[pp * lda + i] : a[i * lda + pp]) : (T)0;
            }
            buf += MR;
        }
    }
}

static void CAT(NAME, _packB)(long nc, long kc, const T *b, long ldb, int transB, long j0, long p0, T *buf) {
    for (long jr = 0; jr < nc; jr += NR) {
        long nr = nc - jr < NR ? nc - jr : NR;
        for (long p = 0; p < kc; p++) {
            long pp = p0 + p;
            if (!transB && nr == NR) {
                const T *src = b + pp * ldb + j0 + jr;
                for (long q = 0; q < NR; q++) buf[q] = src[q];
            } else {
                for (long q = 0; q < NR; q++) {
                    long j = j0 + jr + q;
                    buf[q] = q < nr ? (transB ? b[j * ldb + pp] : b[pp * ldb + j]) : (T)0;
                }
            }
            buf += NR;
        }
    }
}

static inline __attribute__((always_inline)) void CAT(NAME, _micro)(long kc, const T *restrict a, const T *restrict b,
                                                                    T *restrict c, long ldc, long mr, long nr) {
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
    if (mr == MR && nr == NR) {
#define ROW(r, v0, v1) { V t0, t1; T *cr = c + (r) * ldc; \
        __builtin_memcpy(&t0, cr, sizeof(V)); __builtin_memcpy(&t1, cr + VL, sizeof(V)); \
        t0 += v0; t1 += v1; __builtin_memcpy(cr, &t0, sizeof(V)); __builtin_memcpy(cr + VL, &t1, sizeof(V)); }
        ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31) ROW(4, c40, c41) ROW(5, c50, c51)
#undef ROW
    } else {
        V tile[MR * 2] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
        const T *t = (const T *)tile;
        for (long r = 0; r < mr; r++)
            for (long q = 0; q < nr; q++) c[r * ldc + q] += t[r * NR + q];
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

/// C += A B for a narrow B (n <= 16, k <= 256, either layout): B is copied once into rows of 16
/// (zero padded), and each row of C is built in registers, 16 lanes per step of p.
void CAT(NAME, _narrow)(long m, long n, long k, const T *a, long lda, int transA, const T *b, long ldb,
                        int transB, T *c, long ldc) {
    T bpad[256 * 16];
    for (long p = 0; p < k; p++)
        for (long j = 0; j < 16; j++) bpad[p * 16 + j] = j < n ? (transB ? b[j * ldb + p] : b[p * ldb + j]) : (T)0;
    for (long i = 0; i < m; i++) {
        T acc[16] = {0};
        for (long p = 0; p < k; p++) {
            const T av = transA ? a[p * lda + i] : a[i * lda + p];
            const T *bp = bpad + p * 16;
            for (long j = 0; j < 16; j++) acc[j] += av * bp[j];
        }
        for (long j = 0; j < n; j++) c[i * ldc + j] += acc[j];
    }
}

void NAME(long m, long n, long k, const T *a, long lda, int transA, const T *b, long ldb, int transB, T *c, long ldc) {
    if (m <= 0 || n <= 0 || k <= 0) return;
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
                        CAT(NAME, _micro)(kc, bufA + ir * kc, bufB + jr * kc, c + (ic + ir) * ldc + jc + jr, ldc, mr, nr);
                    }
                }
            }
        }
    }
}

#undef MR
#undef NR
#undef KC
#undef MC
#undef NC
