/* Native 2D lifting kernels for wavelayers (the "native" backend, wavelayers/_native.py).
 *
 * One call transforms `planes` contiguous planes: the analysis of one 2D level (Haar, CDF 5/3 or
 * CDF 9/7 lifting steps, JPEG 2000's whole-sample symmetric rule or periodization), its synthesis,
 * and the transposes of both (autograd's backward). Each plane is finished while it is in cache:
 * rows are lifted along W as they are split, then the two W bands are lifted along H in place.
 * Plain C99 + pthreads, no Python or torch headers: wavelayers compiles it on first use. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int n_steps;
    int parity[8]; /* 1: predict odd from even, 0: update even from odd */
    double coef[8];
    int two_taps; /* 5/3, 9/7: neighbours k and k +- 1; Haar: k only */
    int periodic; /* periodization; else JPEG 2000 whole-sample symmetric */
} lift_ctx;

typedef struct {
    int64_t n, m;        /* samples, band length ceil(n / 2) */
    int64_t p_analysis;  /* odd samples the analysis lifts (m, or m - 1 for odd n in jpeg2000) */
    int64_t p_synthesis; /* odd samples the synthesis lifts */
    int pads;            /* odd n: the last sample is repeated as an odd sample */
    int mirrors;         /* odd n: the last high coefficient is the mirror of the one before */
    int zeroes;          /* odd n, Haar, jpeg2000: synthesis lifts the last high coefficient as 0 */
    int ignores;         /* odd n, jpeg2000: synthesis ignores the last high coefficient */
} axis_ctx;

typedef struct {
    lift_ctx lift;
    axis_ctx h, w;
    double band_scale[4]; /* [LL, cH, cV, cD]: low/high scale along W times along H */
} plane_ctx;

static inline int64_t wrap(int64_t i, int64_t len, int periodic) {
    if (i < 0) return periodic ? len - 1 : 0;
    if (i >= len) return periodic ? 0 : len - 1;
    return i;
}

static axis_ctx make_axis(int64_t n, const lift_ctx *x) {
    axis_ctx a;
    int odd = (int)(n & 1), jpeg = !x->periodic;
    a.n = n;
    a.m = (n + 1) / 2;
    a.pads = x->periodic || !x->two_taps;
    a.p_analysis = (!odd || a.pads) ? a.m : a.m - 1;
    a.mirrors = odd && !a.pads;
    a.zeroes = odd && jpeg && !x->two_taps;
    a.ignores = odd && jpeg;
    a.p_synthesis = (odd && jpeg && x->two_taps) ? a.m - 1 : a.m;
    return a;
}

/* Edge samples j of a line: [0, jl) and [jh, lo). */
#define FOR_EDGES(j, jl, jh, lo) for (int64_t j = (jl) > 0 ? 0 : (jh); j < (lo); j = (j + 1 == (jl)) ? (jh) : j + 1)

/* Plane rows that land in band rows of parity hb (the last row twice when an odd H pads). */
static inline int64_t rows_of(const axis_ctx *ah, int hb) {
    return hb == 0 ? ah->m : ((ah->n & 1) && ah->pads ? ah->m : ah->n / 2);
}

/* Band rows of parity hb that synthesis writes back into the plane (the padded row is cropped). */
static inline int64_t rows_kept(const axis_ctx *ah, int hb) {
    return hb == 0 ? ah->m : ah->n / 2;
}

#define REAL float
#define SFX(name) name##_f32
/* the W rows in registers where 8-lane shuffles are single instructions (elsewhere GCC spells them
 * out lane by lane: slower than the flat passes) */
#if defined(__AVX2__)
#define FUSE_W 1
#else
#define FUSE_W 0
#endif
#include "lifting2d_impl.h"
#undef FUSE_W
#undef REAL
#undef SFX
#undef BAND_STRIDE
#undef WORK_BAND

#define REAL double
#define SFX(name) name##_f64
#define FUSE_W 0
#include "lifting2d_impl.h"
#undef FUSE_W
#undef REAL
#undef SFX
#undef BAND_STRIDE
#undef WORK_BAND

/* op: 0 analysis (a: x -> c: ll, d: highs), 1 its transpose (a: ll, b: highs -> c: x), 2 synthesis
 * (a: ll, b: highs -> c: x), 3 its transpose (a: x -> c: ll, d: highs). dtype: 0 float32, 1 float64.
 * Inputs a and b hold their planes a_stride and b_stride values apart (each plane contiguous);
 * outputs are contiguous. Returns 0, or -1 for bad arguments or when memory ran out. */
int wl_lifting2d(int op, int dtype, const void *a, const void *b, void *c, void *d, int64_t a_stride,
                 int64_t b_stride, int64_t planes, int64_t height,
                 int64_t width, int n_steps, const int *parity, const double *coef, int two_taps, int periodic,
                 double low_scale, double high_scale, int threads) {
    if (op < 0 || op > 3 || n_steps < 1 || n_steps > 8 || height < 2 || width < 2 || planes < 0) return -1;
    plane_ctx g;
    g.lift.n_steps = n_steps;
    for (int i = 0; i < n_steps; ++i) {
        g.lift.parity[i] = parity[i];
        g.lift.coef[i] = coef[i];
    }
    g.lift.two_taps = two_taps;
    g.lift.periodic = periodic;
    g.h = make_axis(height, &g.lift);
    g.w = make_axis(width, &g.lift);
    double s[2] = {low_scale, high_scale};
    for (int band = 0; band < 4; ++band) g.band_scale[band] = s[band >> 1] * s[band & 1];
    if (planes == 0) return 0;
    if (dtype == 0) return run_f32(op, a, b, c, d, a_stride, b_stride, planes, &g, threads);
    if (dtype == 1) return run_f64(op, a, b, c, d, a_stride, b_stride, planes, &g, threads);
    return -1;
}
