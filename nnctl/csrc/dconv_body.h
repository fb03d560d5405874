/* The direct-convolution loops for one dtype (T, F) and one vector width (DC_VB bytes, DC_SUFFIX,
 * DC_TARGET): included by dconv.c once per pair. An output block is OB values (64 bytes) of
 * output channels, NV vectors of DC_VB bytes, so every width runs the same chains in the same
 * order (see dconv.c). Blocks of PB output pixels (forward) and CB input channels (filter
 * gradient) advance together: DC_PB, DC_CB, as many accumulators as the width's registers hold. */
#define PB DC_PB
#define CB DC_CB
#define G2(name) F(name)
#define G(name) G2(DC_CAT(name, DC_SUFFIX))
#define V G(vec)
#define NV (64 / DC_VB)
#define VL ((i64)(DC_VB / sizeof(T)))

typedef T V __attribute__((vector_size(DC_VB)));

/* The forward blocks (grad 0): y [n, oh_, ow_, o_] from x [n, h_, w_, c_], reducing over (i, j, c).
 * The input-gradient blocks (grad 1): dx [n, h_, w_, c_] from dy [n, oh_, ow_, o_], reducing over
 * (i, j, o) the dy pixels whose window read (h, w) at offset (i, j): oh*sh = h + pt - i*dh.
 * wpk: the weights packed [ceil(outch/OB), kh*kw*red, OB] (outch o_ or c_, red c_ or o_). */
DC_TARGET NNCTL_CONTRACT static int G(conv)(const T *restrict src, const T *restrict wpk, T *restrict dst,
                                            int grad, i64 h_, i64 w_, i64 c_, i64 oh_, i64 ow_, i64 o_,
                                            i64 kh_, i64 kw_, i64 pt, i64 pl, i64 sh, i64 sw, i64 dh,
                                            i64 dw, i64 p_lo, i64 p_hi) {
    const i64 gh = grad ? h_ : oh_, gw = grad ? w_ : ow_;    /* the output grid */
    const i64 red = grad ? o_ : c_, outch = grad ? c_ : o_;  /* reduced / computed channels */
    const i64 kk = kh_ * kw_, nob = (outch + OB - 1) / OB, kc = kk * red;
    T *zero = calloc((size_t)red, sizeof(T));
    const T **ptr = malloc((size_t)(kk * PB) * sizeof *ptr);
    i64 *off = malloc((size_t)kk * 2 * sizeof *off), *active = off + kk;
    if (!zero || !ptr || !off) { free(zero); free(ptr); free(off); return -1; }
    T *store[PB];
    /* grad: the dy row (column) that reads dx's row h (column w) at offset i (j), or -1:
     * oh*sh = h + pt - i*dh on dy's grid (tables, so that no pixel divides) */
    i64 *rows = NULL, *cols = NULL;
    if (grad) {
        rows = malloc((size_t)(h_ * kh_ + w_ * kw_) * sizeof *rows);
        if (!rows) { free(zero); free(ptr); free(off); return -1; }
        cols = rows + h_ * kh_;
        for (i64 h = 0; h < h_; h++)
            for (i64 i = 0; i < kh_; i++) {
                const i64 t = h + pt - i * dh;
                rows[h * kh_ + i] = t >= 0 && t % sh == 0 && t / sh < oh_ ? t / sh : -1;
            }
        for (i64 w = 0; w < w_; w++)
            for (i64 j = 0; j < kw_; j++) {
                const i64 u = w + pl - j * dw;
                cols[w * kw_ + j] = u >= 0 && u % sw == 0 && u / sw < ow_ ? u / sw : -1;
            }
    }
    for (i64 i = 0; i < kh_; i++)
        for (i64 j = 0; j < kw_; j++) off[i * kw_ + j] = (i * dh * w_ + j * dw) * c_;
    const i64 span_h = (kh_ - 1) * dh, span_w = (kw_ - 1) * dw;
    for (i64 p0 = p_lo; p0 < p_hi; p0 += PB) {
        const i64 np = p_hi - p0 < PB ? p_hi - p0 : PB;
        /* where each pixel's rows of src start, per kernel offset (the zero row where there is
         * none; the block's unused lanes read zeros and are not stored), and where it is stored */
        if (grad) {
            /* dx's pixels walk (n, h, w mod sw, w div sw): a block's pixels then mostly share
             * which offsets reach dy's grid, and the offsets that reach it for none are skipped
             * (about 3/4 of them at stride 2) */
            i64 r = p0 % (h_ * w_), n = p0 / (h_ * w_), h = r / w_, s = r % w_, pw = 0;
            while (s >= (w_ - pw + sw - 1) / sw) { s -= (w_ - pw + sw - 1) / sw; pw++; }
            for (i64 p = 0; p < PB; p++) {
                const i64 w = pw + s * sw;
                store[p] = p < np ? dst + ((n * h_ + h) * w_ + w) * outch : NULL;
                for (i64 i = 0; i < kh_; i++) {
                    const i64 oh = p < np ? rows[h * kh_ + i] : -1;
                    for (i64 j = 0; j < kw_; j++) {
                        const i64 ow = oh >= 0 ? cols[w * kw_ + j] : -1;
                        ptr[(i * kw_ + j) * PB + p] = ow >= 0 ? src + ((n * oh_ + oh) * ow_ + ow) * o_ : zero;
                    }
                }
                if (++s == (w_ - pw + sw - 1) / sw) {
                    s = 0;
                    if (++pw == (sw < w_ ? sw : w_)) {
                        pw = 0;
                        if (++h == h_) { h = 0; n++; }
                    }
                }
            }
        } else {
            i64 col = p0 % gw, row = (p0 / gw) % gh, n = p0 / (gw * gh);
            for (i64 p = 0; p < PB; p++) {
                store[p] = p < np ? dst + (p0 + p) * outch : NULL;
                const i64 h0 = row * sh - pt, w0 = col * sw - pl;
                if (p >= np) {
                    for (i64 k = 0; k < kk; k++) ptr[k * PB + p] = zero;
                } else if (h0 >= 0 && h0 + span_h < h_ && w0 >= 0 && w0 + span_w < w_) {
                    const T *base = src + ((n * h_ + h0) * w_ + w0) * c_;   /* the whole window is inside */
                    for (i64 k = 0; k < kk; k++) ptr[k * PB + p] = base + off[k];
                } else {
                    for (i64 i = 0; i < kh_; i++) {
                        const i64 h = h0 + i * dh;
                        for (i64 j = 0; j < kw_; j++) {
                            const i64 w = w0 + j * dw;
                            const int in = 0 <= h && h < h_ && 0 <= w && w < w_;
                            ptr[(i * kw_ + j) * PB + p] = in ? src + ((n * h_ + h) * w_ + w) * c_ : zero;
                        }
                    }
                }
                if (++col == gw) {
                    col = 0;
                    if (++row == gh) { row = 0; n++; }
                }
            }
        }
        /* the offsets some pixel of the block reads (a term x * w with x from the zero row adds
         * nothing: fma(0, w, acc) == acc for finite w) */
        i64 nact = 0;
        for (i64 k = 0; k < kk; k++) {
            int any = 0;
            for (int p = 0; p < PB; p++) any |= ptr[k * PB + p] != zero;
            if (any) active[nact++] = k;
        }
        for (i64 ob = 0; ob < nob; ob++) {
            const T *wb = wpk + ob * kc * OB;
            V acc[PB][NV];
            for (int p = 0; p < PB; p++)
                for (int v = 0; v < NV; v++) acc[p][v] = (V){0};
            for (i64 a = 0; a < nact; a++) {
                const i64 k = active[a];
                const T *xs[PB];
                for (int p = 0; p < PB; p++) xs[p] = ptr[k * PB + p];
                const T *wk = wb + k * red * OB;
                for (i64 c = 0; c < red; c++) {
                    V wv[NV];
                    for (int v = 0; v < NV; v++) memcpy(&wv[v], wk + c * OB + v * VL, sizeof(V));
                    for (int p = 0; p < PB; p++) {
                        const T xv = xs[p][c];
                        for (int v = 0; v < NV; v++) acc[p][v] += xv * wv[v];
                    }
                }
            }
            const i64 o0 = ob * OB, no = outch - o0 < OB ? outch - o0 : OB;
            for (i64 p = 0; p < np; p++) {
                T *out = store[p] + o0;
                if (no == OB) memcpy(out, acc[p], sizeof acc[p]);
                else memcpy(out, acc[p], (size_t)no * sizeof(T));
            }
        }
    }
    free(zero);
    free(ptr);
    free(off);
    free(rows);
    return 0;
}

/* One filter-gradient task over one image: acc[cc] (channel c0 + cc, the OB output channels of
 * its block) += x[n, h, w, c0 + cc] * dy[n, oh, ow, block] over the (oh, ow) whose window offset
 * (i, j) falls inside x, in (oh, ow) order. NC is a constant at every call (the switch below), so
 * the accumulators live in registers. */
#define DC_FILTER_BLOCK(NC)                                                                      \
    DC_TARGET NNCTL_CONTRACT static void G(filter##NC)(                                          \
        const T *restrict xn, const T *restrict dyn, T *restrict dst, i64 h_, i64 w_, i64 c_,    \
        i64 oh_, i64 ow_, i64 ldo, i64 i, i64 j, i64 pt, i64 pl, i64 sh, i64 sw, i64 dh, i64 dw) { \
        V acc[NC][NV];                                                                           \
        memcpy(acc, dst, sizeof acc);                                                            \
        /* ow with 0 <= ow*sw + j*dw - pl < w_ */                                                \
        const i64 off = j * dw - pl;                                                             \
        const i64 lo = off >= 0 ? 0 : (-off + sw - 1) / sw;                                      \
        i64 hi = w_ - 1 - off < 0 ? 0 : (w_ - 1 - off) / sw + 1;                                 \
        if (hi > ow_) hi = ow_;                                                                  \
        for (i64 oh = 0; oh < oh_; oh++) {                                                       \
            const i64 h = oh * sh + i * dh - pt;                                                 \
            if (h < 0 || h >= h_) continue;                                                      \
            const T *xr = xn + (h * w_ + off) * c_;                                              \
            const T *dr = dyn + oh * ow_ * ldo;                                                  \
            for (i64 ow = lo; ow < hi; ow++) {                                                   \
                V d[NV];                                                                         \
                for (int v = 0; v < NV; v++) memcpy(&d[v], dr + ow * ldo + v * VL, sizeof(V));   \
                const T *xp = xr + ow * sw * c_;                                                 \
                for (int cc = 0; cc < NC; cc++) {                                                \
                    const T xv = xp[cc];                                                         \
                    for (int v = 0; v < NV; v++) acc[cc][v] += xv * d[v];                        \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
        memcpy(dst, acc, sizeof acc);                                                            \
    }
DC_FILTER_BLOCK(1)
DC_FILTER_BLOCK(2)
DC_FILTER_BLOCK(3)
DC_FILTER_BLOCK(4)
DC_FILTER_BLOCK(5)
DC_FILTER_BLOCK(6)
#if DC_CB > 6
DC_FILTER_BLOCK(7)
DC_FILTER_BLOCK(8)
DC_FILTER_BLOCK(9)
DC_FILTER_BLOCK(10)
DC_FILTER_BLOCK(11)
DC_FILTER_BLOCK(12)
#endif
#undef DC_FILTER_BLOCK

DC_TARGET static void G(filter)(const T *restrict x, const T *restrict dy, T *restrict dwpk, i64 n_, i64 h_,
                                i64 w_, i64 c_, i64 oh_, i64 ow_, i64 o_, i64 ldo, i64 kh_, i64 kw_, i64 pt,
                                i64 pl, i64 sh, i64 sw, i64 dh, i64 dw, i64 t_lo, i64 t_hi) {
    const i64 nob = (o_ + OB - 1) / OB, ncb = (c_ + CB - 1) / CB;
    if (t_hi > kh_ * kw_ * ncb * nob) t_hi = kh_ * kw_ * ncb * nob;
    for (i64 n = 0; n < n_; n++) {
        const T *xn = x + n * h_ * w_ * c_;
        const T *dyn = dy + n * oh_ * ow_ * ldo;
        for (i64 t = t_lo; t < t_hi; t++) {
            const i64 ob = t % nob, cb = (t / nob) % ncb, k = t / (nob * ncb);
            const i64 i = k / kw_, j = k % kw_, c0 = cb * CB, nc = c_ - c0 < CB ? c_ - c0 : CB;
            T *dst = dwpk + ((ob * kh_ * kw_ + k) * c_ + c0) * OB;
            const T *xc = xn + c0, *dyo = dyn + ob * OB;
#define DC_CALL(NC) G(filter##NC)(xc, dyo, dst, h_, w_, c_, oh_, ow_, ldo, i, j, pt, pl, sh, sw, dh, dw)
            switch (nc) {
#if DC_CB > 6
            case 12: DC_CALL(12); break;
            case 11: DC_CALL(11); break;
            case 10: DC_CALL(10); break;
            case 9: DC_CALL(9); break;
            case 8: DC_CALL(8); break;
            case 7: DC_CALL(7); break;
#endif
            case 6: DC_CALL(6); break;
            case 5: DC_CALL(5); break;
            case 4: DC_CALL(4); break;
            case 3: DC_CALL(3); break;
            case 2: DC_CALL(2); break;
            default: DC_CALL(1); break;
            }
#undef DC_CALL
        }
    }
}

#undef V
#undef NV
#undef VL
#undef PB
#undef CB
#undef G
#undef G2
