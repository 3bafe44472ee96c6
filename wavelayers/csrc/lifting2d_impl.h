/* One 2D lifting level on contiguous planes, and the three companion operators its autograd needs.
 * Included by lifting2d.c once per floating type with REAL (the type) and SFX(name) (a suffix) set.
 *
 * Layouts: an input plane is (H, W) row-major; a band stack is 4 planes (mh, mw) in the order
 * [LL, cH, cV, cD] = index wb * 2 + hb (wb: the band along W, hb: along H; 0 low, 1 high), as in
 * wavelayers/_lifting.py, whose semantics (boundary rules, odd lengths, scales) this file follows.
 *
 * The work planes hold band rows L = mw + 2 values apart, each row with one halo value either side
 * (row k, sample j at k * L + 1 + j). A lifting step acts on R lines at once; a line holds samples
 * of `inner` values, lines are L samples apart: along W a line is a row of a band plane (inner = 1,
 * R rows); along H the whole plane is one line whose samples are rows (R = 1, inner = L). */

/* out[j] += c * (V(j + u) + V(j + u + 1)) for j < lo on every line, where V(i) = in[i] for
 * 0 <= i < li and, outside, in[wrap(i)] (zero = 0) or 0 (zero = 1); u is 0 or -1.
 *
 * R > 1 (along W, inner = 1): every line has a halo sample either side (in[-1], and in[li] when li
 * is the line's capacity), which is set to V first; then one flat loop runs over all lines, halos
 * included (they get junk, and are set again before they are read). R = 1 (along H): the flat loop
 * covers the interior rows and the <= 2 edge rows are done apart. */
static void SFX(stencil)(REAL *restrict out, int64_t lo, REAL *restrict in, int64_t li, int64_t R, int64_t L,
                         int64_t inner, int64_t u, REAL c, int periodic, int zero) {
    if (R > 1) {
        for (int64_t r = 0; r < R; ++r) {
            REAL *line = in + r * L;
            line[-1] = zero ? 0 : line[wrap(-1, li, periodic)];
            line[li] = zero ? 0 : line[wrap(li, li, periodic)];
        }
        int64_t last = (R - 1) * L + lo;
        for (int64_t i = 0; i < last; ++i) out[i] += c * (in[i + u] + in[i + u + 1]);
        return;
    }
    int64_t jl = u < 0 ? -u : 0, jh = li - u - 1;
    if (jl > lo) jl = lo;
    if (jh > lo) jh = lo;
    if (jh < jl) jh = jl;
    FOR_EDGES(j, jl, jh, lo) {
        int64_t i0 = j + u, i1 = j + u + 1;
        int ok0 = i0 >= 0 && i0 < li, ok1 = i1 >= 0 && i1 < li;
        const REAL *v0 = in + wrap(i0, li, periodic) * inner, *v1 = in + wrap(i1, li, periodic) * inner;
        REAL c0 = (ok0 || !zero) ? c : 0, c1 = (ok1 || !zero) ? c : 0;
        REAL *o = out + j * inner;
        for (int64_t t = 0; t < inner; ++t) o[t] += c0 * v0[t] + c1 * v1[t];
    }
    int64_t first = jl * inner, last = jh * inner, a = u * inner, b = (u + 1) * inner;
    for (int64_t i = first; i < last; ++i) out[i] += c * (in[i + a] + in[i + b]);
}

/* The out-of-range terms of the transpose of a two-tap step d += c N s: for each edge sample k of d
 * whose neighbour k + sh or k + sh + 1 lies outside [0, ls), s[wrap(.)] += c d[k]. */
static void SFX(wrapped_terms)(REAL *restrict s, int64_t ls, const REAL *restrict d, int64_t ld, int64_t R,
                               int64_t L, int64_t inner, int64_t sh, REAL c, int periodic) {
    int64_t a_end = -sh < ld ? -sh : ld, b_start = ls - sh - 1 > a_end ? ls - sh - 1 : a_end;
    for (int64_t r = 0; r < R; ++r)
        for (int64_t k = 0; k < ld; k = (k + 1 == a_end) ? b_start : k + 1) {
            if (k >= a_end && k < b_start) { k = b_start - 1; continue; }
            const REAL *dk = d + (r * L + k) * inner;
            for (int64_t t2 = sh; t2 <= sh + 1; ++t2) {
                int64_t i = k + t2;
                if (i >= 0 && i < ls) continue;
                REAL *si = s + (r * L + wrap(i, ls, periodic)) * inner;
                for (int64_t t = 0; t < inner; ++t) si[t] += c * dk[t];
            }
        }
}

/* One step d += c N s over R lines (d: ld samples a line, s: ls), sh = 0 for a predict step
 * (neighbours k, k + 1), -1 for an update step (k - 1, k); or its transpose s += c Nᵀ d. */
static void SFX(step)(REAL *d, int64_t ld, REAL *s, int64_t ls, int64_t R, int64_t L, int64_t inner, int64_t sh,
                      REAL c, const lift_ctx *x, int adjoint) {
    if (!x->two_taps) { /* Haar: ld == ls == L, one flat axpy */
        int64_t count = (R - 1) * L * inner + ld * inner;
        REAL *restrict dst = adjoint ? s : d;
        const REAL *restrict src = adjoint ? d : s;
        for (int64_t i = 0; i < count; ++i) dst[i] += c * src[i];
        return;
    }
    if (!adjoint) {
        SFX(stencil)(d, ld, s, ls, R, L, inner, sh, c, x->periodic, 0);
    } else {
        SFX(stencil)(s, ls, d, ld, R, L, inner, -sh - 1, c, x->periodic, 1);
        SFX(wrapped_terms)(s, ls, d, ld, R, L, inner, sh, c, x->periodic);
    }
}

/* All lifting steps on even samples e (m a line) and odd samples o (p a line): `inverse` runs the steps
 * backwards with negated coefficients, `adjoint` applies the transpose of that sequence. */
static void SFX(lift)(REAL *e, int64_t m, REAL *o, int64_t p, int64_t R, int64_t L, int64_t inner,
                      const lift_ctx *x, int inverse, int adjoint) {
    int n = x->n_steps, backwards = inverse ^ adjoint;
    for (int i = 0; i < n; ++i) {
        int j = backwards ? n - 1 - i : i;
        REAL c = (REAL)(inverse ? -x->coef[j] : x->coef[j]);
        if (x->parity[j] == 1) SFX(step)(o, p, e, m, R, L, inner, 0, c, x, adjoint); /* o += c N e */
        else SFX(step)(e, m, o, p, R, L, inner, -1, c, x, adjoint);                 /* e += c M o */
    }
}


/* ---- fused lifting along H ------------------------------------------------------------------
 * The 5/3 and 9/7 steps along H of an even-height plane under JPEG 2000's rule, all in one pass: for
 * each run of columns the rows stream through a pipeline of registers (step s lags step s - 1 by at
 * most one row), so every band row is loaded once and stored once instead of three loads and a store
 * per step. Rows are read from (se, so) `ss` apart, scaled by (ie, io), and written, scaled by
 * (oe, oo), to (de, dq) `ds` apart; source and destination may be the same rows. Mirrors: e[m] is
 * e[m - 1] and o[-1] is o[0] after every step, as stencil() does with wrap(). */
typedef REAL SFX(vec) __attribute__((vector_size(32)));
enum { SFX(lanes) = (int)(32 / sizeof(REAL)) };
/* Two AVX registers side by side: a cache line of columns, and two independent chains to overlap. */
typedef struct {
    SFX(vec) lo, hi;
} SFX(pair);

static inline SFX(vec) SFX(vload)(const REAL *p) {
    SFX(vec) v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void SFX(vstore)(REAL *p, SFX(vec) v) { memcpy(p, &v, sizeof v); }
static inline SFX(pair) SFX(pload)(const REAL *p) { return (SFX(pair)){SFX(vload)(p), SFX(vload)(p + SFX(lanes))}; }
static inline void SFX(pstore)(REAL *p, SFX(pair) v) {
    SFX(vstore)(p, v.lo);
    SFX(vstore)(p + SFX(lanes), v.hi);
}
static inline SFX(pair) SFX(padd)(SFX(pair) x, SFX(pair) y) { return (SFX(pair)){x.lo + y.lo, x.hi + y.hi}; }
static inline SFX(pair) SFX(pmul)(SFX(vec) c, SFX(pair) x) { return (SFX(pair)){c * x.lo, c * x.hi}; }
static inline SFX(pair) SFX(pax)(SFX(vec) c, SFX(pair) x, SFX(pair) y) {
    return (SFX(pair)){c * x.lo + y.lo, c * x.hi + y.hi};
}

#ifndef FUSED_H_KERNELS
#define FUSED_H_KERNELS
/* Synthesis reads band planes up to this size straight into the pipeline (measured: 16 KiB faster,
 * 384 KiB slower than copying them in first). */
#define FUSED_COPY_BYTES (64 * 1024)
/* The kernels are written with ADD(x, y), MUL(c, x) and AX(c, x, y) = c x + y on a type T. */
#define LE(k) MUL(ie, LOAD(se + (k) * ss))
#define LO(k) MUL(io, LOAD(so + (k) * ss))
#define SE(k, v) STORE(de + (k) * ds, MUL(oe, v))
#define SO(k, v) STORE(dq + (k) * ds, MUL(oo, v))
/* predict a, update b (analysis of 5/3) */
#define BODY_FWD2                                                                                     \
    T e_k = LE(0), e_n = LE(1), o1 = AX(a, ADD(e_k, e_n), LO(0)), o1p = o1;                           \
    SO(0, o1); SE(0, AX(b, ADD(o1, o1), e_k));                                                        \
    for (int64_t k = 1; k < m - 1; ++k) {                                                             \
        e_k = e_n; e_n = LE(k + 1);                                                                   \
        o1 = AX(a, ADD(e_k, e_n), LO(k));                                                             \
        SO(k, o1); SE(k, AX(b, ADD(o1p, o1), e_k));                                                   \
        o1p = o1;                                                                                     \
    }                                                                                                 \
    o1 = AX(a, ADD(e_n, e_n), LO(m - 1));                                                             \
    SO(m - 1, o1); SE(m - 1, AX(b, ADD(o1p, o1), e_n));
/* predict a, update b, predict c, update d (analysis of 9/7) */
#define BODY_FWD4                                                                                     \
    T e_k = LE(0), e_n = LE(1), o1 = AX(a, ADD(e_k, e_n), LO(0)), e2 = AX(b, ADD(o1, o1), e_k);       \
    T o1p = o1, e2p = e2;                                                                             \
    e_k = e_n; e_n = m > 2 ? LE(2) : e_k;                                                             \
    o1 = AX(a, ADD(e_k, e_n), LO(1)); e2 = AX(b, ADD(o1p, o1), e_k);                                  \
    T o3 = AX(c, ADD(e2p, e2), o1p), o3p = o3;                                                        \
    SO(0, o3); SE(0, AX(d, ADD(o3, o3), e2p));                                                        \
    o1p = o1; e2p = e2;                                                                               \
    for (int64_t k = 2; k < m; ++k) {                                                                 \
        e_k = e_n; e_n = k + 1 < m ? LE(k + 1) : e_k;                                                 \
        o1 = AX(a, ADD(e_k, e_n), LO(k)); e2 = AX(b, ADD(o1p, o1), e_k);                              \
        o3 = AX(c, ADD(e2p, e2), o1p);                                                                \
        SO(k - 1, o3); SE(k - 1, AX(d, ADD(o3p, o3), e2p));                                           \
        o3p = o3; o1p = o1; e2p = e2;                                                                 \
    }                                                                                                 \
    o3 = AX(c, ADD(e2p, e2p), o1p);                                                                   \
    SO(m - 1, o3); SE(m - 1, AX(d, ADD(o3p, o3), e2p));
/* update a, predict b (synthesis of 5/3: the analysis steps backwards, negated) */
#define BODY_INV2                                                                                     \
    T o_k = LO(0), op = o_k, eap = AX(a, ADD(o_k, o_k), LE(0));                                       \
    for (int64_t k = 1; k < m; ++k) {                                                                 \
        o_k = LO(k);                                                                                  \
        T ea = AX(a, ADD(op, o_k), LE(k));                                                            \
        SE(k - 1, eap); SO(k - 1, AX(b, ADD(eap, ea), op));                                           \
        op = o_k; eap = ea;                                                                           \
    }                                                                                                 \
    SE(m - 1, eap); SO(m - 1, AX(b, ADD(eap, eap), op));
/* update a, predict b, update c, predict d (synthesis of 9/7) */
#define BODY_INV4                                                                                     \
    T o_k = LO(0), op = o_k, eap = AX(a, ADD(o_k, o_k), LE(0));                                       \
    o_k = LO(1);                                                                                      \
    T ea = AX(a, ADD(op, o_k), LE(1)), ob = AX(b, ADD(eap, ea), op), ec = AX(c, ADD(ob, ob), eap);    \
    SE(0, ec);                                                                                        \
    T obp = ob, ecp = ec;                                                                             \
    op = o_k; eap = ea;                                                                               \
    for (int64_t k = 2; k < m; ++k) {                                                                 \
        o_k = LO(k);                                                                                  \
        ea = AX(a, ADD(op, o_k), LE(k));                                                              \
        ob = AX(b, ADD(eap, ea), op);                                                                 \
        ec = AX(c, ADD(obp, ob), eap);                                                                \
        SE(k - 1, ec); SO(k - 2, AX(d, ADD(ecp, ec), obp));                                           \
        obp = ob; ecp = ec; op = o_k; eap = ea;                                                       \
    }                                                                                                 \
    ob = AX(b, ADD(eap, eap), op);                                                                    \
    ec = AX(c, ADD(obp, ob), eap);                                                                    \
    SE(m - 1, ec); SO(m - 2, AX(d, ADD(ecp, ec), obp)); SO(m - 1, AX(d, ADD(ec, ec), ob));
#define INFIX_ADD(x, y) ((x) + (y))
#define INFIX_MUL(c, x) ((c) * (x))
#define INFIX_AX(c, x, y) ((c) * (x) + (y))
#endif

/* name(se, so, ss, de, dq, ds, m, a, b, c, d, ie, io, oe, oo): one run of columns, T wide. */
#define FUSED_H_KERNEL(name, BODY)                                                                     \
    static inline void name(const REAL *se, const REAL *so, int64_t ss, REAL *de, REAL *dq, int64_t ds, \
                            int64_t m, C a, C b, C c, C d, C ie, C io, C oe, C oo) {                  \
        (void)c; (void)d;                                                                             \
        BODY                                                                                          \
    }
#define FUSED_H_KERNELS_OF(suffix)                                                                     \
    FUSED_H_KERNEL(SFX(fwd2_##suffix), BODY_FWD2)                                                     \
    FUSED_H_KERNEL(SFX(fwd4_##suffix), BODY_FWD4)                                                     \
    FUSED_H_KERNEL(SFX(inv2_##suffix), BODY_INV2)                                                     \
    FUSED_H_KERNEL(SFX(inv4_##suffix), BODY_INV4)
#define T SFX(pair)
#define C SFX(vec)
#define LOAD SFX(pload)
#define STORE SFX(pstore)
#define ADD SFX(padd)
#define MUL SFX(pmul)
#define AX SFX(pax)
FUSED_H_KERNELS_OF(p)
#undef T
#undef LOAD
#undef STORE
#undef ADD
#undef MUL
#undef AX
#define T SFX(vec)
#define LOAD SFX(vload)
#define STORE SFX(vstore)
#define ADD INFIX_ADD
#define MUL INFIX_MUL
#define AX INFIX_AX
FUSED_H_KERNELS_OF(v)
#undef T
#undef C
#undef LOAD
#undef STORE
#define T REAL
#define C REAL
#define LOAD(p) (*(p))
#define STORE(p, v) (*(p) = (v))
FUSED_H_KERNELS_OF(s)
#undef T
#undef C
#undef LOAD
#undef STORE
#undef ADD
#undef MUL
#undef AX
#undef FUSED_H_KERNEL
#undef FUSED_H_KERNELS_OF

/* Whether lift_h() takes this axis: 5/3 or 9/7 (steps predict, update, ...), JPEG 2000, even length. */
static inline int SFX(fuses_h)(const axis_ctx *ah, const lift_ctx *x) {
    if (!x->two_taps || x->periodic || (ah->n & 1) || ah->m < 2 || (x->n_steps != 2 && x->n_steps != 4)) return 0;
    for (int i = 0; i < x->n_steps; ++i)
        if (x->parity[i] != ((i & 1) ? 0 : 1)) return 0;
    return 1;
}

/* All lifting steps along H (analysis, or synthesis when `inverse`) over `cols` columns, scaled on
 * the way in by (ie, io) and on the way out by (oe, oo); fuses_h() must hold. */
static void SFX(lift_h)(const REAL *se, const REAL *so, int64_t ss, REAL *de, REAL *dq, int64_t ds, int64_t m,
                        int64_t cols, const lift_ctx *x, int inverse, REAL ie, REAL io, REAL oe, REAL oo) {
    int n = x->n_steps;
    REAL k[4] = {0, 0, 0, 0};
    for (int i = 0; i < n; ++i) k[i] = (REAL)(inverse ? -x->coef[n - 1 - i] : x->coef[i]);
    SFX(vec) z = {0}, va = z + k[0], vb = z + k[1], vc = z + k[2], vd = z + k[3];
    SFX(vec) vie = z + ie, vio = z + io, voe = z + oe, voo = z + oo;
    int64_t q = 0;
#define RUN(suffix, ...)                                                                                \
    do {                                                                                              \
        if (n == 4 && !inverse) SFX(fwd4_##suffix)(se + q, so + q, ss, de + q, dq + q, ds, m, __VA_ARGS__); \
        else if (n == 4) SFX(inv4_##suffix)(se + q, so + q, ss, de + q, dq + q, ds, m, __VA_ARGS__);       \
        else if (!inverse) SFX(fwd2_##suffix)(se + q, so + q, ss, de + q, dq + q, ds, m, __VA_ARGS__);     \
        else SFX(inv2_##suffix)(se + q, so + q, ss, de + q, dq + q, ds, m, __VA_ARGS__);                   \
    } while (0)
    for (; q + 2 * SFX(lanes) <= cols; q += 2 * SFX(lanes)) RUN(p, va, vb, vc, vd, vie, vio, voe, voo);
    for (; q + SFX(lanes) <= cols; q += SFX(lanes)) RUN(v, va, vb, vc, vd, vie, vio, voe, voo);
    for (; q < cols; ++q) RUN(s, k[0], k[1], k[2], k[3], ie, io, oe, oo);
#undef RUN
}

#if FUSE_W
/* ---- fused lifting along W (float32, 8 lanes) -----------------------------------------------
 * The 5/3 and 9/7 steps along W of an even-width row under JPEG 2000's rule, in registers: the row is
 * split into even and odd samples 8 at a time by two shuffles, every step takes its neighbour one
 * sample over from the next (predict) or previous (update) vector by a shuffle of two vectors, and
 * step s runs one vector behind step s - 1, so a row is read once and its two band rows written once.
 * Needs m = W / 2 a multiple of 8.
 *
 * A step is "predict-like" (o += c (e[k] + e[k + 1])) or "update-like" (e += c (o[k - 1] + o[k])).
 * The analysis runs P, U, (P, U); the synthesis U, P, (U, P) with the coefficients backwards,
 * negated. Their transposes (autograd's backward) are lifting steps of the same two kinds: the
 * transpose of an update is predict-like, of a predict update-like, in reverse order; only the ends
 * differ. Forward steps mirror (e[m] is e[m - 1], o[-1] is o[0], as stencil()); transposed ones read 0
 * past the end and add the mirrored sample's term back at the first (predict-like) or last
 * (update-like) sample, as stencil() with zero = 1 and wrapped_terms() do. */
#if defined(__clang__)
#define WSHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
typedef int wl_mask8 __attribute__((vector_size(32)));
#define WSHUF(a, b, ...) __builtin_shuffle(a, b, (wl_mask8){__VA_ARGS__})
#endif
typedef SFX(vec) wl_vec8;
#define W_EVEN(a, b) WSHUF(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define W_ODD(a, b) WSHUF(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#define W_NEXT(x, y) WSHUF(x, y, 1, 2, 3, 4, 5, 6, 7, 8)     /* x[1..7], y[0] */
#define W_PREV(x, y) WSHUF(x, y, 7, 8, 9, 10, 11, 12, 13, 14) /* x[7], y[0..6] */
#define W_INLINE static inline __attribute__((always_inline))

/* Row layouts: interleaved (x, 2m samples) or split (e and o, m each). */
W_INLINE void wl_wload(const float *x, const float *e, const float *o, int split, int64_t t, wl_vec8 *E,
                       wl_vec8 *O) {
    if (split) {
        *E = SFX(vload)(e + 8 * t);
        *O = SFX(vload)(o + 8 * t);
        return;
    }
    wl_vec8 a = SFX(vload)(x + 16 * t), b = SFX(vload)(x + 16 * t + 8);
    *E = W_EVEN(a, b);
    *O = W_ODD(a, b);
}
W_INLINE void wl_wstore(float *x, float *e, float *o, int split, int64_t t, wl_vec8 E, wl_vec8 O) {
    if (split) {
        SFX(vstore)(e + 8 * t, E);
        SFX(vstore)(o + 8 * t, O);
        return;
    }
    SFX(vstore)(x + 16 * t, WSHUF(E, O, 0, 8, 1, 9, 2, 10, 3, 11));
    SFX(vstore)(x + 16 * t + 8, WSHUF(E, O, 4, 12, 5, 13, 6, 14, 7, 15));
}
/* A predict-like step on vector t of n: O + c (E + the next vector shifted in). */
W_INLINE wl_vec8 wl_wpredict(wl_vec8 O, wl_vec8 E, wl_vec8 En, wl_vec8 c, int64_t t, int64_t n, int adjoint) {
    wl_vec8 z = {0};
    wl_vec8 next = t + 1 < n ? W_NEXT(E, En) : adjoint ? W_NEXT(E, z) : WSHUF(E, E, 1, 2, 3, 4, 5, 6, 7, 7);
    wl_vec8 r = O + c * (E + next);
    if (adjoint && t == 0) r = WSHUF(r + c * E, r, 0, 9, 10, 11, 12, 13, 14, 15); /* o[0] += c e[0] */
    return r;
}
/* An update-like step on vector t of n: E + c (the previous vector shifted in + O). */
W_INLINE wl_vec8 wl_wupdate(wl_vec8 E, wl_vec8 Op, wl_vec8 O, wl_vec8 c, int64_t t, int64_t n, int adjoint) {
    wl_vec8 z = {0};
    wl_vec8 prev = t > 0 ? W_PREV(Op, O) : adjoint ? W_PREV(z, O) : WSHUF(O, O, 0, 0, 1, 2, 3, 4, 5, 6);
    wl_vec8 r = E + c * (prev + O);
    if (adjoint && t == n - 1) r = WSHUF(r, r + c * O, 0, 1, 2, 3, 4, 5, 6, 15); /* e[m-1] += c o[m-1] */
    return r;
}

/* Steps predict-like first (k[0]), then update-like, ... (2 or 4 steps), vector s one behind s - 1:
 * predict-like steps need the next vector of the step before, update-like ones the previous. */
W_INLINE void wl_wrow_pu(const float *x, const float *ie, const float *io, int in_split, float *y, float *oe,
                         float *oo, int out_split, int64_t m, int n_steps, const float *k, int adjoint) {
    int64_t n = m / 8;
    wl_vec8 z = {0}, a = z + k[0], b = z + k[1], c = z + k[2], d = z + k[3];
    wl_vec8 E, O, En = z, On = z, O1p = z, E2p = z, O3p = z;
    wl_wload(x, ie, io, in_split, 0, &E, &O);
    for (int64_t t = 0; t < n; ++t) {
        if (t + 1 < n) wl_wload(x, ie, io, in_split, t + 1, &En, &On);
        wl_vec8 O1 = wl_wpredict(O, E, En, a, t, n, adjoint);
        wl_vec8 E2 = wl_wupdate(E, O1p, O1, b, t, n, adjoint);
        if (n_steps == 2) {
            wl_wstore(y, oe, oo, out_split, t, E2, O1);
        } else if (t > 0) { /* vector t - 1 is complete */
            wl_vec8 O3 = wl_wpredict(O1p, E2p, E2, c, t - 1, n, adjoint);
            wl_wstore(y, oe, oo, out_split, t - 1, wl_wupdate(E2p, O3p, O3, d, t - 1, n, adjoint), O3);
            O3p = O3;
        }
        O1p = O1; E2p = E2; E = En; O = On;
    }
    if (n_steps == 4) {
        wl_vec8 O3 = wl_wpredict(O1p, E2p, z, c, n - 1, n, adjoint);
        wl_wstore(y, oe, oo, out_split, n - 1, wl_wupdate(E2p, O3p, O3, d, n - 1, n, adjoint), O3);
    }
}

/* Steps update-like first (k[0]), then predict-like, ...: E1_t needs O_{t-1}, O_t; O1_{t-1} needs
 * E1_{t-1}, E1_t; E2_{t-1} needs O1_{t-2}, O1_{t-1}; O2_{t-2} needs E2_{t-2}, E2_{t-1}. */
W_INLINE void wl_wrow_up(const float *x, const float *ie, const float *io, int in_split, float *y, float *oe,
                         float *oo, int out_split, int64_t m, int n_steps, const float *k, int adjoint) {
    int64_t n = m / 8;
    wl_vec8 z = {0}, a = z + k[0], b = z + k[1], c = z + k[2], d = z + k[3];
    wl_vec8 Op = z, E1p = z, O1p = z, E2p = z;
    for (int64_t t = 0; t < n; ++t) {
        wl_vec8 E, O;
        wl_wload(x, ie, io, in_split, t, &E, &O);
        wl_vec8 E1 = wl_wupdate(E, Op, O, a, t, n, adjoint);
        if (t > 0) {
            wl_vec8 O1 = wl_wpredict(Op, E1p, E1, b, t - 1, n, adjoint);
            if (n_steps == 2) {
                wl_wstore(y, oe, oo, out_split, t - 1, E1p, O1);
            } else {
                wl_vec8 E2 = wl_wupdate(E1p, O1p, O1, c, t - 1, n, adjoint);
                if (t > 1) wl_wstore(y, oe, oo, out_split, t - 2, E2p, wl_wpredict(O1p, E2p, E2, d, t - 2, n, adjoint));
                E2p = E2;
            }
            O1p = O1;
        }
        Op = O; E1p = E1;
    }
    wl_vec8 O1 = wl_wpredict(Op, E1p, z, b, n - 1, n, adjoint);
    if (n_steps == 2) {
        wl_wstore(y, oe, oo, out_split, n - 1, E1p, O1);
        return;
    }
    wl_vec8 E2 = wl_wupdate(E1p, O1p, O1, c, n - 1, n, adjoint);
    if (n > 1) wl_wstore(y, oe, oo, out_split, n - 2, E2p, wl_wpredict(O1p, E2p, E2, d, n - 2, n, adjoint));
    wl_wstore(y, oe, oo, out_split, n - 1, E2, wl_wpredict(O1, E2, z, d, n - 1, n, adjoint));
}

/* The W steps of one row: analysis (x -> e, o), synthesis (e, o -> x) and their transposes; k as
 * wl_wcoefs() gives them. */
static void wl_wanalysis(const float *restrict x, float *restrict e, float *restrict o, int64_t m, int n, const float *k) {
    wl_wrow_pu(x, NULL, NULL, 0, NULL, e, o, 1, m, n, k, 0);
}
static void wl_wsynthesis(const float *restrict e, const float *restrict o, float *restrict x, int64_t m, int n,
                          const float *k) {
    wl_wrow_up(NULL, e, o, 1, x, NULL, NULL, 0, m, n, k, 0);
}
static void wl_wanalysis_t(const float *restrict e, const float *restrict o, float *restrict x, int64_t m, int n,
                           const float *k) {
    wl_wrow_pu(NULL, e, o, 1, x, NULL, NULL, 0, m, n, k, 1);
}
static void wl_wsynthesis_t(const float *restrict x, float *restrict e, float *restrict o, int64_t m, int n,
                            const float *k) {
    wl_wrow_up(x, NULL, NULL, 0, NULL, e, o, 1, m, n, k, 1);
}

/* The coefficients of op (0 analysis, 1 its transpose, 2 synthesis, 3 its transpose) in the order its
 * row kernel runs them. */
static void wl_wcoefs(const lift_ctx *x, int op, float *k) {
    int n = x->n_steps;
    for (int i = 0; i < n; ++i) {
        double forward = x->coef[i], backward = x->coef[n - 1 - i];
        k[i] = (float)(op == 0 ? forward : op == 1 ? backward : op == 2 ? -backward : -forward);
    }
}
#endif

/* Whether the W steps of a row run in registers (wl_wanalysis and the others): as fuses_h(), float32, and a band
 * row of a multiple of 8 samples. */
static inline int SFX(fuses_w)(const axis_ctx *aw, const lift_ctx *x) {
    return FUSE_W && aw->m % 8 == 0 && SFX(fuses_h)(aw, x);
}

/* ---- whole planes -------------------------------------------------------------------------- */

/* Split a row (W samples) into even e and odd o samples (mw each; o[mw - 1] only when it pads). */
static inline void SFX(split_row)(const REAL *restrict row, REAL *restrict e, REAL *restrict o, const axis_ctx *aw) {
    int64_t W = aw->n, half = W / 2;
    for (int64_t j = 0; j < half; ++j) { e[j] = row[2 * j]; o[j] = row[2 * j + 1]; }
    if (W & 1) { e[half] = row[W - 1]; if (aw->pads) o[half] = row[W - 1]; }
}

static inline void SFX(merge_row)(REAL *restrict row, const REAL *restrict e, const REAL *restrict o, const axis_ctx *aw) {
    int64_t W = aw->n, half = W / 2;
    for (int64_t j = 0; j < half; ++j) { row[2 * j] = e[j]; row[2 * j + 1] = o[j]; }
    if (W & 1) row[W - 1] = e[half];
}

/* dst rows = c * src rows (rows x cols; row strides ds and ss). */
static void SFX(copy_rows)(REAL *restrict dst, int64_t ds, const REAL *restrict src, int64_t ss, int64_t rows,
                           int64_t cols, REAL c) {
    for (int64_t k = 0; k < rows; ++k)
        for (int64_t q = 0; q < cols; ++q) dst[k * ds + q] = c * src[k * ss + q];
}

/* Work band b of the stack at t: 4 planes of mh rows L = mw + 2 apart, BAND_STRIDE values apart (not
 * a multiple of 4 KiB: loads of one band would wait on stores to another, 4K aliasing). */
#define BAND_STRIDE(mh, L) ((mh) * (L) + 16)
#define WORK_BAND(t, b, g) ((t) + (b) * BAND_STRIDE((g)->h.m, (g)->w.m + 2) + 1)

/* Analysis: x (H, W) -> ll (mh, mw), highs (3, mh, mw). */
static void SFX(analysis_plane)(const REAL *restrict xin, REAL *restrict ll, REAL *restrict highs, const plane_ctx *g,
                                REAL *t) {
    const lift_ctx *x = &g->lift;
    const axis_ctx *ah = &g->h, *aw = &g->w;
    int64_t H = ah->n, W = aw->n, mh = ah->m, mw = aw->m, L = mw + 2;
    REAL *B[4];
    REAL *dst[4] = {ll, highs, highs + mh * mw, highs + 2 * mh * mw};
    for (int b = 0; b < 4; ++b) B[b] = WORK_BAND(t, b, g);
    int fused_w = SFX(fuses_w)(aw, x);
#if FUSE_W
    float k[4];
    wl_wcoefs(x, 0, k);
#endif
    for (int64_t r = 0; r < H; ++r) {
        int64_t hb = r & 1, hr = r >> 1;
#if FUSE_W
        if (fused_w) {
            wl_wanalysis(xin + r * W, B[hb] + hr * L, B[2 + hb] + hr * L, mw, x->n_steps, k);
            continue;
        }
#endif
        SFX(split_row)(xin + r * W, B[hb] + hr * L, B[2 + hb] + hr * L, aw);
    }
    if ((H & 1) && ah->pads) { /* odd H: the last row is also the (padded) last odd row */
        memcpy(B[1] + (mh - 1) * L, B[0] + (mh - 1) * L, (size_t)mw * sizeof(REAL));
        memcpy(B[3] + (mh - 1) * L, B[2] + (mh - 1) * L, (size_t)mw * sizeof(REAL));
    }
    for (int hb = 0; hb < 2 && !fused_w; ++hb) {
        REAL *e = B[hb], *o = B[2 + hb];
        int64_t R = rows_of(ah, hb);
        SFX(lift)(e, mw, o, aw->p_analysis, R, L, 1, x, 0, 0);
        if (aw->mirrors)
            for (int64_t r = 0; r < R; ++r) o[r * L + mw - 1] = o[r * L + mw - 2];
    }
    if (SFX(fuses_h)(ah, x)) { /* H steps, scaling and the copy out in one pass */
        for (int wb = 0; wb < 2; ++wb)
            SFX(lift_h)(B[wb * 2], B[wb * 2 + 1], L, dst[wb * 2], dst[wb * 2 + 1], mw, mh, mw,
                        x, 0, 1, 1, (REAL)g->band_scale[wb * 2], (REAL)g->band_scale[wb * 2 + 1]);
        return;
    }
    for (int wb = 0; wb < 2; ++wb) {
        REAL *e = B[wb * 2], *o = B[wb * 2 + 1];
        SFX(lift)(e, mh, o, ah->p_analysis, 1, mh, L, x, 0, 0);
        if (ah->mirrors) memcpy(o + (mh - 1) * L, o + (mh - 2) * L, (size_t)mw * sizeof(REAL));
    }
    for (int b = 0; b < 4; ++b) SFX(copy_rows)(dst[b], mw, B[b], L, mh, mw, (REAL)g->band_scale[b]);
}

/* The transpose of analysis_plane: ll (mh, mw), highs (3, mh, mw) -> x (H, W). */
static void SFX(analysis_plane_adjoint)(const REAL *restrict ll, const REAL *restrict highs, REAL *restrict xout,
                                        const plane_ctx *g, REAL *t) {
    const lift_ctx *x = &g->lift;
    const axis_ctx *ah = &g->h, *aw = &g->w;
    int64_t H = ah->n, W = aw->n, mh = ah->m, mw = aw->m, L = mw + 2;
    REAL *B[4];
    const REAL *src[4] = {ll, highs, highs + mh * mw, highs + 2 * mh * mw};
    for (int b = 0; b < 4; ++b) {
        B[b] = WORK_BAND(t, b, g);
        SFX(copy_rows)(B[b], L, src[b], mw, mh, mw, (REAL)g->band_scale[b]);
    }
    for (int wb = 0; wb < 2; ++wb) {
        REAL *e = B[wb * 2], *o = B[wb * 2 + 1];
        if (ah->mirrors)
            for (int64_t q = 0; q < mw; ++q) o[(mh - 2) * L + q] += o[(mh - 1) * L + q];
        SFX(lift)(e, mh, o, ah->p_analysis, 1, mh, L, x, 0, 1);
    }
#if FUSE_W
    if (SFX(fuses_w)(aw, x)) { /* the W steps and the merge of each row in one pass (ah->pads is 0) */
        float k[4];
        wl_wcoefs(x, 1, k);
        for (int64_t r = 0; r < H; ++r)
            wl_wanalysis_t(B[r & 1] + (r >> 1) * L, B[2 + (r & 1)] + (r >> 1) * L, xout + r * W, mw, x->n_steps, k);
        return;
    }
#endif
    for (int hb = 0; hb < 2; ++hb) {
        REAL *e = B[hb], *o = B[2 + hb];
        int64_t R = rows_of(ah, hb);
        if (aw->mirrors)
            for (int64_t r = 0; r < R; ++r) o[r * L + mw - 2] += o[r * L + mw - 1];
        SFX(lift)(e, mw, o, aw->p_analysis, R, L, 1, x, 0, 1);
    }
    if ((H & 1) && ah->pads) /* the padded odd row was a copy of the last row */
        for (int b = 0; b < 4; b += 2)
            for (int64_t q = 0; q < mw; ++q) B[b][(mh - 1) * L + q] += B[b + 1][(mh - 1) * L + q];
    for (int64_t r = 0; r < H; ++r) {
        int64_t hb = r & 1, hr = r >> 1;
        const REAL *e = B[hb] + hr * L, *o = B[2 + hb] + hr * L;
        REAL *row = xout + r * W;
        SFX(merge_row)(row, e, o, aw);
        if ((W & 1) && aw->pads) row[W - 1] += o[mw - 1];
    }
}

/* Synthesis: ll (mh, mw) and highs (3, mh, mw) -> x (H, W). */
static void SFX(synthesis_plane)(const REAL *restrict ll, const REAL *restrict highs, REAL *restrict xout,
                                 const plane_ctx *g, REAL *t) {
    const lift_ctx *x = &g->lift;
    const axis_ctx *ah = &g->h, *aw = &g->w;
    int64_t H = ah->n, mh = ah->m, mw = aw->m, L = mw + 2;
    REAL *B[4];
    const REAL *src[4] = {ll, highs, highs + mh * mw, highs + 2 * mh * mw};
    for (int b = 0; b < 4; ++b) B[b] = WORK_BAND(t, b, g);
    int fused = SFX(fuses_h)(ah, x);
    if (fused && 4 * mh * mw * (int64_t)sizeof(REAL) <= FUSED_COPY_BYTES) {
        /* a small plane: the copy in, scaling and H steps in one pass */
        for (int wb = 0; wb < 2; ++wb)
            SFX(lift_h)(src[wb * 2], src[wb * 2 + 1], mw, B[wb * 2], B[wb * 2 + 1], L, mh, mw, x, 1,
                        (REAL)(1.0 / g->band_scale[wb * 2]), (REAL)(1.0 / g->band_scale[wb * 2 + 1]), 1, 1);
    } else {
        /* the bands copied in row by row first (for a large plane faster than walking columns down
         * rows of memory), then lifted along H in place */
        for (int b = 0; b < 4; ++b) SFX(copy_rows)(B[b], L, src[b], mw, mh, mw, (REAL)(1.0 / g->band_scale[b]));
        for (int wb = 0; wb < 2; ++wb) {
            REAL *e = B[wb * 2], *o = B[wb * 2 + 1];
            if (fused) {
                SFX(lift_h)(e, o, L, e, o, L, mh, mw, x, 1, 1, 1, 1, 1);
                continue;
            }
            if (ah->zeroes) memset(o + (mh - 1) * L, 0, (size_t)mw * sizeof(REAL));
            SFX(lift)(e, mh, o, ah->p_synthesis, 1, mh, L, x, 1, 0);
        }
    }
#if FUSE_W
    if (SFX(fuses_w)(aw, x)) { /* the W steps and the merge of each row in one pass */
        float k[4];
        wl_wcoefs(x, 2, k);
        for (int64_t r = 0; r < H; ++r)
            wl_wsynthesis(B[r & 1] + (r >> 1) * L, B[2 + (r & 1)] + (r >> 1) * L, xout + r * aw->n, mw, x->n_steps, k);
        return;
    }
#endif
    for (int hb = 0; hb < 2; ++hb) {
        REAL *e = B[hb], *o = B[2 + hb];
        int64_t R = rows_kept(ah, hb);
        if (aw->zeroes)
            for (int64_t r = 0; r < R; ++r) o[r * L + mw - 1] = 0;
        SFX(lift)(e, mw, o, aw->p_synthesis, R, L, 1, x, 1, 0);
    }
    for (int64_t r = 0; r < H; ++r) {
        int64_t hb = r & 1, hr = r >> 1;
        SFX(merge_row)(xout + r * aw->n, B[hb] + hr * L, B[2 + hb] + hr * L, aw);
    }
}

/* The transpose of synthesis_plane: x (H, W) -> ll (mh, mw), highs (3, mh, mw). */
static void SFX(synthesis_plane_adjoint)(const REAL *restrict gin, REAL *restrict ll, REAL *restrict highs,
                                         const plane_ctx *g, REAL *t) {
    const lift_ctx *x = &g->lift;
    const axis_ctx *ah = &g->h, *aw = &g->w;
    int64_t H = ah->n, W = aw->n, mh = ah->m, mw = aw->m, L = mw + 2;
    REAL *B[4];
    for (int b = 0; b < 4; ++b) B[b] = WORK_BAND(t, b, g);
    int fused_w = SFX(fuses_w)(aw, x); /* the W steps of each row as it is split */
#if FUSE_W
    float k[4];
    wl_wcoefs(x, 3, k);
#endif
    for (int64_t r = 0; r < 2 * mh; ++r) {
        int64_t hb = r & 1, hr = r >> 1;
        REAL *e = B[hb] + hr * L, *o = B[2 + hb] + hr * L;
        if (r >= H) { /* the row synthesis crops away: no gradient */
            memset(e, 0, (size_t)mw * sizeof(REAL));
            memset(o, 0, (size_t)mw * sizeof(REAL));
            continue;
        }
#if FUSE_W
        if (fused_w) {
            wl_wsynthesis_t(gin + r * W, e, o, mw, x->n_steps, k);
            continue;
        }
#endif
        SFX(split_row)(gin + r * W, e, o, aw);
        if (W & 1) o[mw - 1] = 0; /* the cropped sample */
    }
    for (int hb = 0; hb < 2 && !fused_w; ++hb) {
        REAL *e = B[hb], *o = B[2 + hb];
        int64_t R = rows_kept(ah, hb);
        SFX(lift)(e, mw, o, aw->p_synthesis, R, L, 1, x, 1, 1);
        if (aw->ignores)
            for (int64_t r = 0; r < R; ++r) o[r * L + mw - 1] = 0;
    }
    for (int wb = 0; wb < 2; ++wb) {
        REAL *e = B[wb * 2], *o = B[wb * 2 + 1];
        SFX(lift)(e, mh, o, ah->p_synthesis, 1, mh, L, x, 1, 1);
        if (ah->ignores) memset(o + (mh - 1) * L, 0, (size_t)mw * sizeof(REAL));
    }
    for (int b = 0; b < 4; ++b) {
        REAL *dst = b == 0 ? ll : highs + (b - 1) * mh * mw;
        SFX(copy_rows)(dst, mw, B[b], L, mh, mw, (REAL)(1.0 / g->band_scale[b]));
    }
}

/* ---- entry points: `planes` independent planes split over `threads` threads ------------------- */

typedef struct {
    int op;
    const REAL *a, *b; /* inputs: consecutive planes a_stride, b_stride values apart */
    REAL *c, *d;       /* outputs: contiguous */
    int64_t a_stride, b_stride, first, last;
    const plane_ctx *g;
} SFX(job);

static void *SFX(run_job)(void *arg) {
    SFX(job) *j = (SFX(job) *)arg;
    const plane_ctx *g = j->g;
    int64_t hw = g->h.n * g->w.n, band = g->h.m * g->w.m;
    /* zeroed: the fused W steps never write the halo columns that the flat H passes sweep over, and
     * junk there (denormals, NaN) would make those passes many times slower */
    REAL *work = (REAL *)calloc((size_t)(4 * BAND_STRIDE(g->h.m, g->w.m + 2)), sizeof(REAL));
    if (!work) return (void *)1;
    for (int64_t i = j->first; i < j->last; ++i) {
        const REAL *a = j->a + i * j->a_stride, *b = j->b ? j->b + i * j->b_stride : NULL;
        switch (j->op) {
        case 0: SFX(analysis_plane)(a, j->c + i * band, j->d + i * 3 * band, g, work); break;
        case 1: SFX(analysis_plane_adjoint)(a, b, j->c + i * hw, g, work); break;
        case 2: SFX(synthesis_plane)(a, b, j->c + i * hw, g, work); break;
        default: SFX(synthesis_plane_adjoint)(a, j->c + i * band, j->d + i * 3 * band, g, work); break;
        }
    }
    free(work);
    return NULL;
}

static int SFX(run)(int op, const REAL *a, const REAL *b, REAL *c, REAL *d, int64_t a_stride, int64_t b_stride,
                    int64_t planes, const plane_ctx *g, int threads) {
    enum { MAX_THREADS = 64 };
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads > planes) threads = (int)(planes > 0 ? planes : 1);
    SFX(job) jobs[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int failed = 0;
    for (int t = 0; t < threads; ++t) {
        jobs[t] = (SFX(job)){op, a, b, c, d, a_stride, b_stride, planes * t / threads, planes * (t + 1) / threads, g};
    }
    int started = 0;
    for (int t = 1; t < threads; ++t, ++started)
        if (pthread_create(&ids[t], NULL, SFX(run_job), &jobs[t]) != 0) break;
    /* threads that could not start run here, in this thread */
    for (int t = 1 + started; t < threads; ++t) failed |= SFX(run_job)(&jobs[t]) != NULL;
    failed |= SFX(run_job)(&jobs[0]) != NULL;
    for (int t = 1; t <= started; ++t) {
        void *rc;
        pthread_join(ids[t], &rc);
        failed |= rc != NULL;
    }
    return failed ? -1 : 0;
}
