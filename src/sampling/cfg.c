/* cfg.c -- CFGGuider + sampling_function + calc_cond_batch + BaseModel.apply_model.
 *
 * Per side, ComfyUI accumulates sum(D_i * mult_i) and 1e-37 + sum(mult_i) over the
 * latent and divides; mult is the strength, feathered over 8 cells at area edges that
 * are not latent borders. With one full-frame conditioning that is (0 + D) / 1 = D
 * exactly. Conditionings whose model input has the same shape share one model call
 * (the whole default case: positive and negative in one batch). At cfg == 1
 * (math.isclose) the negative side is not run and counts as zeros, so the result is
 * cond * cfg, i.e. cond.
 * For every area conditioning on one side, the other side gets a copy of its smallest
 * enclosing conditioning restricted to the same area (create_cond_with_same_area_if_none),
 * so guidance inside an area compares like with like.
 */
#include "sampling/cfg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CFG_FEATHER 8

struct cfg_guider {
    const model_sampling *ms;
    cfg_eps_fn eps;
    void *eps_ctx;
    cfg_cond *conds;            /* positive entries, then negative ones, then added copies */
    int *side;                  /* (nconds) 0 positive, 1 negative */
    double *sigma_start, *sigma_end;   /* (nconds) active range in sigma */
    int nconds, cap;
    int batch, channels;
    int64_t h, w;
    double cfg;
    float *acc[2], *cnt[2];     /* (B, C, H, W) per side */
    float *x_in, *out;          /* (nconds * B, C, H, W) model batch */
    float *mult;                /* (H, W) one conditioning's weights */
    float *xc, *dc;             /* (C, H, W) one item's unscaled crop and its denoised */
    int *ids;                   /* (nconds * B) */
    int *group;                 /* (nconds) members of the model call being built */
    unsigned char *pending;     /* (nconds) active and not yet run in this evaluation */
};

cfg_cond cfg_cond_full(int id) {
    return (cfg_cond){.id = id, .strength = 1.0f, .start_percent = 0.0, .end_percent = 1.0};
}

static int has_area(const cfg_cond *c) { return c->area[0] > 0 && c->area[1] > 0; }

/* ComfyUI's area_inside: a lies within b. */
static int area_inside(const int64_t *a, const int64_t *b) {
    for (int i = 0; i < 2; i++)
        if (a[2 + i] < b[2 + i] || a[i] + a[2 + i] > b[i] + b[2 + i]) return 0;
    return 1;
}

/* create_cond_with_same_area_if_none: give side `to` a copy of c (its area, strength,
 * range) that uses the conditioning of to's smallest entry enclosing c's area. */
static void add_matching_area(cfg_guider *g, int to, const cfg_cond *c) {
    if (!has_area(c)) return;
    int best = -1;
    for (int i = 0; i < g->nconds; i++) {
        if (g->side[i] != to) continue;
        const cfg_cond *x = &g->conds[i];
        if (has_area(x)) {
            if (!area_inside(c->area, x->area)) continue;
            if (best < 0 || !has_area(&g->conds[best]) ||
                g->conds[best].area[0] * g->conds[best].area[1] > x->area[0] * x->area[1])
                best = i;
        } else if (best < 0) {
            best = i;
        }
    }
    if (best < 0 || g->nconds >= g->cap) return;   /* the cap is never reached: see cfg_new */
    if (has_area(&g->conds[best]) && !memcmp(g->conds[best].area, c->area, sizeof c->area)) return;
    cfg_cond copy = *c;
    copy.id = g->conds[best].id;
    g->conds[g->nconds] = copy;
    g->side[g->nconds++] = to;
}

cfg_guider *cfg_new(const model_sampling *ms, cfg_eps_fn eps, void *eps_ctx, const cfg_cond *pos,
                    int npos, const cfg_cond *neg, int nneg, int batch, int channels, int64_t h,
                    int64_t w, double cfg) {
    if (batch <= 0 || channels <= 0 || h <= 0 || w <= 0 || npos < 0 || nneg < 0 ||
        h > (1 << 20) / w || (int64_t)batch * channels > (1 << 16))
        return NULL;
    cfg_guider *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    /* Each original entry adds at most one copy to the other side; a copy never adds
     * another (the entry it copies already has its exact area). */
    int cap = 2 * (npos + nneg);
    size_t n = (size_t)batch * (size_t)channels * (size_t)h * (size_t)w;
    g->conds = malloc((size_t)(cap + 1) * sizeof *g->conds);
    g->side = malloc((size_t)(cap + 1) * sizeof *g->side);
    g->sigma_start = malloc((size_t)(cap + 1) * sizeof(double));
    g->sigma_end = malloc((size_t)(cap + 1) * sizeof(double));
    g->group = malloc((size_t)(cap + 1) * sizeof *g->group);
    g->ids = malloc((size_t)(cap + 1) * (size_t)batch * sizeof *g->ids);
    g->acc[0] = malloc(4 * n * sizeof(float));
    g->x_in = malloc((size_t)(cap + 1) * n * sizeof(float));
    g->out = malloc((size_t)(cap + 1) * n * sizeof(float));
    g->mult = malloc((size_t)h * (size_t)w * sizeof(float));
    g->xc = malloc(2 * (size_t)channels * (size_t)h * (size_t)w * sizeof(float));
    g->pending = malloc((size_t)(cap + 1));
    if (!g->conds || !g->side || !g->sigma_start || !g->sigma_end || !g->group || !g->ids ||
        !g->acc[0] || !g->x_in || !g->out || !g->mult || !g->xc || !g->pending) {
        cfg_free(g);
        return NULL;
    }
    g->dc = g->xc + (size_t)channels * (size_t)h * (size_t)w;
    g->acc[1] = g->acc[0] + n;
    g->cnt[0] = g->acc[0] + 2 * n;
    g->cnt[1] = g->acc[0] + 3 * n;
    for (int i = 0; i < npos + nneg; i++) {
        g->conds[i] = i < npos ? pos[i] : neg[i - npos];
        g->side[i] = i >= npos;
    }
    g->nconds = npos + nneg;
    g->cap = cap;
    /* positive entries first (their copies go to the negative side), then the negative
     * ones including those copies, as ComfyUI walks its dict */
    for (int i = 0; i < npos; i++) add_matching_area(g, 1, &g->conds[i]);
    for (int i = 0; i < g->nconds; i++)
        if (g->side[i] == 1) add_matching_area(g, 0, &g->conds[i]);
    for (int i = 0; i < g->nconds; i++) {
        g->sigma_start[i] = ms_percent_to_sigma(ms, g->conds[i].start_percent);
        g->sigma_end[i] = ms_percent_to_sigma(ms, g->conds[i].end_percent);
    }
    g->ms = ms;
    g->eps = eps;
    g->eps_ctx = eps_ctx;
    g->batch = batch;
    g->channels = channels;
    g->h = h;
    g->w = w;
    g->cfg = cfg;
    return g;
}

void cfg_free(cfg_guider *g) {
    if (!g) return;
    free(g->conds);
    free(g->side);
    free(g->sigma_start);
    free(g->sigma_end);
    free(g->group);
    free(g->ids);
    free(g->acc[0]);
    free(g->x_in);
    free(g->out);
    free(g->mult);
    free(g->xc);
    free(g->pending);
    free(g);
}

/* Python's math.isclose(a, b) with its default rel_tol 1e-9. */
static int isclose(double a, double b) { return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b)); }

/* The crop of conditioning c, clipped to the latent: rows y..y+ch, columns x..x+cw. */
static void crop_of(const cfg_guider *g, const cfg_cond *c, int64_t *ch, int64_t *cw, int64_t *y,
                    int64_t *x) {
    if (!has_area(c)) {
        *ch = g->h; *cw = g->w; *y = 0; *x = 0;
        return;
    }
    *y = c->area[2];
    *x = c->area[3];
    *ch = c->area[0] < g->h - *y ? c->area[0] : g->h - *y;
    *cw = c->area[1] < g->w - *x ? c->area[1] : g->w - *x;
}

/* get_area_and_mult's weights over the crop: strength, feathered at inner edges
 * (top rows, bottom rows, left columns, right columns, in ComfyUI's order). */
static void make_mult(const cfg_guider *g, const cfg_cond *c, int64_t ch, int64_t cw, int64_t y,
                      int64_t x) {
    for (int64_t i = 0; i < ch * cw; i++) g->mult[i] = c->strength;
    if (!has_area(c)) return;
    const int64_t len[2] = {ch, cw}, off[2] = {y, x}, full[2] = {g->h, g->w};
    for (int d = 0; d < 2; d++)
        for (int edge = 0; edge < 2; edge++) {
            if (edge == 0 ? off[d] == 0 : off[d] + len[d] >= full[d]) continue;
            for (int t = 0; t < CFG_FEATHER && t < len[d]; t++) {
                float f = (float)((1.0 / CFG_FEATHER) * (t + 1));
                int64_t line = edge == 0 ? t : len[d] - 1 - t;
                for (int64_t k = 0; k < len[1 - d]; k++) g->mult[d == 0 ? line * cw + k : k * cw + line] *= f;
            }
        }
}

/* Run one model call for the conditionings in g->group (all with crop ch x cw) and
 * add their weighted denoised values into the accumulators. */
static int run_group(cfg_guider *g, int ngroup, const float *x, float sigma, int64_t ch, int64_t cw) {
    const int64_t C = g->channels, plane = ch * cw, item = C * plane;
    const float denom = sqrtf(sigma * sigma + 1.0f);
    for (int k = 0; k < ngroup; k++) {
        int64_t y0, x0, hh, ww;
        crop_of(g, &g->conds[g->group[k]], &hh, &ww, &y0, &x0);
        for (int b = 0; b < g->batch; b++) {
            float *dst = g->x_in + (int64_t)(k * g->batch + b) * item;
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < ch; i++)
                    for (int64_t j = 0; j < cw; j++)
                        dst[(c * ch + i) * cw + j] =
                            x[((b * C + c) * g->h + y0 + i) * g->w + x0 + j] / denom;
            g->ids[k * g->batch + b] = g->conds[g->group[k]].id;
        }
    }
    if (g->eps(g->eps_ctx, g->x_in, ngroup * g->batch, g->ids, ch, cw, ms_timestep(g->ms, sigma), g->out))
        return -1;
    /* ComfyUI builds its batch from the end of the list, so sums run in reverse order */
    for (int k = ngroup - 1; k >= 0; k--) {
        const cfg_cond *cd = &g->conds[g->group[k]];
        int s = g->side[g->group[k]];
        int64_t y0, x0, hh, ww;
        crop_of(g, cd, &hh, &ww, &y0, &x0);
        make_mult(g, cd, ch, cw, y0, x0);
        for (int b = 0; b < g->batch; b++) {
            /* apply_model: the crop's denoised value, from the unscaled crop of x */
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < ch; i++)
                    memcpy(g->xc + (c * ch + i) * cw, x + ((b * C + c) * g->h + y0 + i) * g->w + x0,
                           (size_t)cw * sizeof(float));
            ms_denoised(g->ms, sigma, g->xc, g->out + (int64_t)(k * g->batch + b) * item, g->dc, item);
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < ch; i++)
                    for (int64_t j = 0; j < cw; j++) {
                        int64_t at = ((b * C + c) * g->h + y0 + i) * g->w + x0 + j;
                        float m = g->mult[i * cw + j];
                        g->acc[s][at] = g->acc[s][at] + g->dc[(c * ch + i) * cw + j] * m;
                        g->cnt[s][at] = g->cnt[s][at] + m;
                    }
        }
    }
    return 0;
}

int cfg_denoise(void *ctx, const float *x, float sigma, float *denoised, float *uncond_denoised) {
    cfg_guider *g = ctx;
    const int64_t n = (int64_t)g->batch * g->channels * g->h * g->w;
    const int sides = uncond_denoised || !isclose(g->cfg, 1.0) ? 2 : 1;
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < n; i++) { g->acc[s][i] = 0.0f; g->cnt[s][i] = 1e-37f; }
    /* Active conditionings, grouped by crop shape in order of first appearance. */
    unsigned char *pending = g->pending;
    for (int i = 0; i < g->nconds; i++) {
        int64_t ch, cw, y0, x0;
        crop_of(g, &g->conds[i], &ch, &cw, &y0, &x0);
        pending[i] = g->side[i] < sides && ch > 0 && cw > 0 &&
                     !((double)sigma > g->sigma_start[i]) && !((double)sigma < g->sigma_end[i]);
    }
    for (int first = 0; first < g->nconds; first++) {
        if (!pending[first]) continue;
        int64_t ch, cw, y0, x0;
        crop_of(g, &g->conds[first], &ch, &cw, &y0, &x0);
        int ngroup = 0;
        for (int i = first; i < g->nconds; i++) {
            int64_t h2, w2;
            if (!pending[i]) continue;
            crop_of(g, &g->conds[i], &h2, &w2, &y0, &x0);
            if (h2 != ch || w2 != cw) continue;
            g->group[ngroup++] = i;
            pending[i] = 0;
        }
        if (run_group(g, ngroup, x, sigma, ch, cw)) return -1;
    }
    float *cond = g->acc[0], *uncond = g->acc[1];
    for (int64_t i = 0; i < n; i++) {
        cond[i] = cond[i] / g->cnt[0][i];
        uncond[i] = uncond[i] / g->cnt[1][i];   /* 0 / 1e-37 = 0 when the side did not run */
    }
    const float scale = (float)g->cfg;
    for (int64_t i = 0; i < n; i++) denoised[i] = uncond[i] + (cond[i] - uncond[i]) * scale;
    if (uncond_denoised) memcpy(uncond_denoised, uncond, (size_t)n * sizeof(float));
    return 0;
}
