/* test_detect.c -- model detection on key sets.
 *
 * ldm_keys() writes the LDM key layout (names and shapes) that a unet_config implies,
 * the inverse of detection. On the real SD1.5 key list it must reproduce the file's
 * UNet keys exactly (the same round trip the fixtures README reports for ComfyUI);
 * SD2, SDXL, refiner and inpainting files are then made from their known configs and
 * must be detected as such. Files are header + an untouched MAP_NORESERVE mapping, so
 * a 5 GB SDXL layout costs nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "io/detect.h"
#include "io/safetensors.h"
#include "tensor/half.h"

typedef struct keyset { st_item *it; size_t n, cap; } keyset;

static void add(keyset *k, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 256;
        k->it = realloc(k->it, k->cap * sizeof *k->it);
    }
    st_item *it = &k->it[k->n++];
    memset(it, 0, sizeof *it);
    it->name = strdup(name);
    it->dt = DT_F16;
    it->ndim = ndim;
    int64_t ne[4] = {a, b, c, d};
    memcpy(it->ne, ne, sizeof ne);
}

static void addf(keyset *k, int ndim, int64_t a, int64_t b, int64_t c, int64_t d, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void addf(keyset *k, int ndim, int64_t a, int64_t b, int64_t c, int64_t d, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    add(k, name, ndim, a, b, c, d);
}

static void keyset_free(keyset *k) {
    for (size_t i = 0; i < k->n; i++) free((char *)k->it[i].name);
    free(k->it);
    memset(k, 0, sizeof *k);
}

static void wb(keyset *k, const char *p, const char *m, int ndim, int64_t o, int64_t i, int64_t kh) {
    addf(k, ndim, o, i, kh, kh, "%s%s.weight", p, m);
    addf(k, 1, o, 0, 0, 0, "%s%s.bias", p, m);
}

static void resblock(keyset *k, const char *p, int64_t cin, int64_t cout, int64_t ted) {
    wb(k, p, "in_layers.0", 1, cin, 0, 0);
    wb(k, p, "in_layers.2", 4, cout, cin, 3);
    wb(k, p, "emb_layers.1", 2, cout, ted, 0);
    wb(k, p, "out_layers.0", 1, cout, 0, 0);
    wb(k, p, "out_layers.3", 4, cout, cout, 3);
    if (cin != cout) wb(k, p, "skip_connection", 4, cout, cin, 1);
}

static void transformer(keyset *k, const char *p, int64_t ch, int depth, const unet_config *u) {
    int lin = u->use_linear_in_transformer;
    wb(k, p, "norm", 1, ch, 0, 0);
    wb(k, p, "proj_in", lin ? 2 : 4, ch, ch, 1);
    wb(k, p, "proj_out", lin ? 2 : 4, ch, ch, 1);
    for (int d = 0; d < depth; d++) {
        char b[200];
        snprintf(b, sizeof b, "%stransformer_blocks.%d.", p, d);
        for (int a = 1; a <= 2; a++) {
            int64_t kv = a == 1 ? ch : u->context_dim;
            addf(k, 2, ch, ch, 0, 0, "%sattn%d.to_q.weight", b, a);
            addf(k, 2, ch, kv, 0, 0, "%sattn%d.to_k.weight", b, a);
            addf(k, 2, ch, kv, 0, 0, "%sattn%d.to_v.weight", b, a);
            char o[220];
            snprintf(o, sizeof o, "attn%d.to_out.0", a);
            wb(k, b, o, 2, ch, ch, 0);
        }
        wb(k, b, "ff.net.0.proj", 2, 8 * ch, ch, 0);
        wb(k, b, "ff.net.2", 2, ch, 4 * ch, 0);
        wb(k, b, "norm1", 1, ch, 0, 0);
        wb(k, b, "norm2", 1, ch, 0, 0);
        wb(k, b, "norm3", 1, ch, 0, 0);
    }
}

/* openaimodel.UNetModel's keys for config u under prefix P. */
static void ldm_keys(keyset *k, const char *P, const unet_config *u) {
    char p[200];
    int64_t mc = u->model_channels, ted = 4 * mc, ch = mc, chans[64];
    int nch = 0, di = 0, blk = 1;
    snprintf(p, sizeof p, "%stime_embed.", P);
    wb(k, p, "0", 2, ted, mc, 0);
    wb(k, p, "2", 2, ted, ted, 0);
    if (u->adm_in_channels) {
        snprintf(p, sizeof p, "%slabel_emb.0.", P);
        wb(k, p, "0", 2, ted, u->adm_in_channels, 0);
        wb(k, p, "2", 2, ted, ted, 0);
    }
    snprintf(p, sizeof p, "%sinput_blocks.0.", P);
    wb(k, p, "0", 4, mc, u->in_channels, 3);
    chans[nch++] = mc;
    for (int l = 0; l < u->num_levels; l++) {
        for (int r = 0; r < u->num_res_blocks[l]; r++, blk++) {
            snprintf(p, sizeof p, "%sinput_blocks.%d.0.", P, blk);
            resblock(k, p, ch, u->channel_mult[l] * mc, ted);
            ch = u->channel_mult[l] * mc;
            int d = u->transformer_depth[di++];
            snprintf(p, sizeof p, "%sinput_blocks.%d.1.", P, blk);
            if (d) transformer(k, p, ch, d, u);
            chans[nch++] = ch;
        }
        if (l != u->num_levels - 1) {
            snprintf(p, sizeof p, "%sinput_blocks.%d.0.", P, blk++);
            wb(k, p, "op", 4, ch, ch, 3);
            chans[nch++] = ch;
        }
    }
    snprintf(p, sizeof p, "%smiddle_block.0.", P);
    if (u->transformer_depth_middle >= -1) resblock(k, p, ch, ch, ted);
    if (u->transformer_depth_middle >= 0) {
        snprintf(p, sizeof p, "%smiddle_block.1.", P);
        transformer(k, p, ch, u->transformer_depth_middle, u);
        snprintf(p, sizeof p, "%smiddle_block.2.", P);
        resblock(k, p, ch, ch, ted);
    }
    int dout = u->n_transformer_depth_output, ob = 0;
    for (int l = u->num_levels - 1; l >= 0; l--) {
        for (int r = 0; r <= u->num_res_blocks[l]; r++, ob++) {
            snprintf(p, sizeof p, "%soutput_blocks.%d.0.", P, ob);
            resblock(k, p, ch + chans[--nch], u->channel_mult[l] * mc, ted);
            ch = u->channel_mult[l] * mc;
            int d = u->transformer_depth_output[--dout];
            snprintf(p, sizeof p, "%soutput_blocks.%d.1.", P, ob);
            if (d) transformer(k, p, ch, d, u);
            if (l && r == u->num_res_blocks[l]) {
                snprintf(p, sizeof p, "%soutput_blocks.%d.%d.", P, ob, d ? 2 : 1);
                wb(k, p, "conv", 4, ch, ch, 3);
            }
        }
    }
    snprintf(p, sizeof p, "%sout.", P);
    wb(k, p, "0", 1, ch, 0, 0);
    wb(k, p, "2", 4, u->out_channels, mc, 3);
}

/* A checkpoint over an untouched mapping: the header, then room for the data. */
typedef struct mapped { uint8_t *buf; size_t len; ckpt *c; } mapped;

static mapped open_keys(const keyset *k) {
    mapped m = {0};
    size_t hlen, data = 0;
    uint8_t *h = st_header(k->it, k->n, NULL, 0, &hlen);
    for (size_t i = 0; i < k->n; i++) {
        size_t n = 2;
        for (int d = 0; d < k->it[i].ndim; d++) n *= (size_t)k->it[i].ne[d];
        data += n;
    }
    m.len = hlen + data;
    m.buf = mmap(NULL, m.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(m.buf != MAP_FAILED);
    memcpy(m.buf, h, hlen);
    free(h);
    char *err = NULL;
    m.c = ckpt_open_memory(m.buf, m.len, "keys", &err);
    if (!m.c) fail_msg("%s", err);
    return m;
}

static void close_keys(mapped *m) {
    ckpt_close(m->c);
    munmap(m->buf, m->len);
}

static const unet_config SD15 = {
    .in_channels = 4, .out_channels = 4, .model_channels = 320, .context_dim = 768,
    .num_levels = 4, .channel_mult = {1, 2, 4, 4}, .num_res_blocks = {2, 2, 2, 2},
    .n_transformer_depth = 8, .transformer_depth = {1, 1, 1, 1, 1, 1, 0, 0},
    .n_transformer_depth_output = 12, .transformer_depth_output = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    .transformer_depth_middle = 1};

static const unet_config SDXL = {
    .in_channels = 4, .out_channels = 4, .model_channels = 320, .context_dim = 2048,
    .adm_in_channels = 2816, .use_linear_in_transformer = 1, .num_levels = 3,
    .channel_mult = {1, 2, 4}, .num_res_blocks = {2, 2, 2}, .n_transformer_depth = 6,
    .transformer_depth = {0, 0, 2, 2, 10, 10}, .n_transformer_depth_output = 9,
    .transformer_depth_output = {0, 0, 0, 2, 2, 2, 10, 10, 10}, .transformer_depth_middle = 10};

static const unet_config REFINER = {
    .in_channels = 4, .out_channels = 4, .model_channels = 384, .context_dim = 1280,
    .adm_in_channels = 2560, .use_linear_in_transformer = 1, .num_levels = 4,
    .channel_mult = {1, 2, 4, 4}, .num_res_blocks = {2, 2, 2, 2}, .n_transformer_depth = 8,
    .transformer_depth = {0, 0, 4, 4, 4, 4, 0, 0}, .n_transformer_depth_output = 12,
    .transformer_depth_output = {0, 0, 0, 4, 4, 4, 4, 4, 4, 0, 0, 0}, .transformer_depth_middle = 4};

static void assert_unet_equal(const unet_config *a, const unet_config *b) {
    unet_config x = *a, y = *b;
    x.num_heads = y.num_heads = x.num_head_channels = y.num_head_channels = 0;
    assert_memory_equal(&x, &y, sizeof x);
}

static int item_cmp(const void *a, const void *b) {
    return strcmp(((const st_item *)a)->name, ((const st_item *)b)->name);
}

static void test_sd15_real_key_list(void **state) {
    (void)state;
    char path[1024], *err = NULL;
    snprintf(path, sizeof path, "%s/sd15-synth.safetensors", getenv("BUILD") ? getenv("BUILD") : "build");
    ckpt *c = ckpt_open(path, &err);
    if (!c) fail_msg("%s (built by make)", err);
    model_config mc;
    char e[512];
    if (model_detect(c, &mc, e, sizeof e)) fail_msg("%s", e);
    assert_int_equal(mc.family, MODEL_SD15);
    assert_string_equal(mc.name, "SD15");
    assert_int_equal(mc.pred, PRED_EPS);
    assert_int_equal(mc.unet.num_heads, 8);
    assert_int_equal(mc.unet.num_head_channels, -1);
    assert_true(mc.latent_scale == 0.18215f);
    assert_unet_equal(&mc.unet, &SD15);
    assert_string_equal(mc.unet_prefix, "model.diffusion_model.");
    assert_string_equal(mc.vae_prefix, "first_stage_model.");
    assert_string_equal(mc.clip_l_prefix, "cond_stage_model.transformer.text_model.");
    assert_string_equal(mc.clip_g_prefix, "");

    /* Round trip: the detected config rebuilds exactly the file's UNet keys and shapes. */
    keyset k = {0};
    ldm_keys(&k, "model.diffusion_model.", &mc.unet);
    assert_int_equal(k.n, ckpt_count_prefix(c, "model.diffusion_model."));
    qsort(k.it, k.n, sizeof *k.it, item_cmp);
    for (size_t i = 0; i < k.n; i++) {
        const tensor *t = ckpt_get(c, k.it[i].name);
        if (!t) fail_msg("generated key %s not in the file", k.it[i].name);
        assert_int_equal(t->ndim, k.it[i].ndim);
        for (int d = 0; d < t->ndim; d++) assert_int_equal(t->ne[d], k.it[i].ne[d]);
    }
    keyset_free(&k);
    ckpt_close(c);
}

static void detect_ok(const keyset *k, model_config *mc) {
    mapped m = open_keys(k);
    char e[512];
    if (model_detect(m.c, mc, e, sizeof e)) fail_msg("%s", e);
    close_keys(&m);
}

static void test_sd2_eps_and_v(void **state) {
    (void)state;
    unet_config u = SD15;
    u.context_dim = 1024;
    u.use_linear_in_transformer = 1;
    keyset k = {0};
    ldm_keys(&k, "model.diffusion_model.", &u);
    add(&k, "cond_stage_model.model.token_embedding.weight", 2, 49408, 1024, 0, 0);
    mapped m = open_keys(&k);
    model_config mc;
    char e[512];
    assert_int_equal(model_detect(m.c, &mc, e, sizeof e), 0);
    assert_int_equal(mc.family, MODEL_SD20);
    assert_int_equal(mc.pred, PRED_EPS);              /* all-zero norm1.bias: std 0 */
    assert_int_equal(mc.unet.num_head_channels, 64);
    assert_string_equal(mc.clip_h_prefix, "cond_stage_model.model.");
    assert_string_equal(mc.clip_l_prefix, "");
    assert_string_equal(mc.vae_prefix, "");
    /* Spread the probe bias to std 0.1 (> 0.09): v-prediction (SD2.x-768). */
    const tensor *t = ckpt_get(m.c, "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias");
    assert_non_null(t);
    uint16_t *b = (uint16_t *)t->data;                 /* our own writable mapping */
    for (int64_t i = 0; i < t->ne[0]; i++) b[i] = f32_to_half(i % 2 ? 0.1f : -0.1f);
    assert_int_equal(model_detect(m.c, &mc, e, sizeof e), 0);
    assert_int_equal(mc.pred, PRED_V);
    close_keys(&m);
    keyset_free(&k);
}

static void test_sdxl_base_and_vpred(void **state) {
    (void)state;
    keyset k = {0};
    ldm_keys(&k, "model.diffusion_model.", &SDXL);
    add(&k, "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight", 2, 49408, 768, 0, 0);
    add(&k, "conditioner.embedders.1.model.token_embedding.weight", 2, 49408, 1280, 0, 0);
    add(&k, "first_stage_model.decoder.conv_in.weight", 4, 512, 4, 3, 3);
    model_config mc;
    detect_ok(&k, &mc);
    assert_int_equal(mc.family, MODEL_SDXL);
    assert_string_equal(mc.name, "SDXL");
    assert_unet_equal(&mc.unet, &SDXL);
    assert_int_equal(mc.pred, PRED_EPS);
    assert_true(mc.latent_scale == 0.13025f);
    assert_string_equal(mc.clip_l_prefix, "conditioner.embedders.0.transformer.text_model.");
    assert_string_equal(mc.clip_g_prefix, "conditioner.embedders.1.model.");
    assert_string_equal(mc.vae_prefix, "first_stage_model.");
    add(&k, "v_pred", 0, 0, 0, 0, 0);
    add(&k, "ztsnr", 0, 0, 0, 0, 0);
    detect_ok(&k, &mc);
    assert_int_equal(mc.pred, PRED_V);
    assert_int_equal(mc.zsnr, 1);
    keyset_free(&k);
}

static void test_sdxl_refiner(void **state) {
    (void)state;
    keyset k = {0};
    ldm_keys(&k, "model.diffusion_model.", &REFINER);
    add(&k, "conditioner.embedders.0.model.token_embedding.weight", 2, 49408, 1280, 0, 0);
    model_config mc;
    detect_ok(&k, &mc);
    assert_int_equal(mc.family, MODEL_SDXL_REFINER);
    assert_unet_equal(&mc.unet, &REFINER);
    assert_string_equal(mc.clip_g_prefix, "conditioner.embedders.0.model.");
    keyset_free(&k);
}

static void test_inpaint_and_pix2pix(void **state) {
    (void)state;
    unet_config u = SD15;
    u.in_channels = 9;
    keyset k = {0};
    ldm_keys(&k, "model.diffusion_model.", &u);
    model_config mc;
    detect_ok(&k, &mc);
    assert_string_equal(mc.name, "SD15");
    assert_int_equal(mc.inpaint, 1);
    assert_int_equal(mc.unet.in_channels, 9);
    keyset_free(&k);
    u.in_channels = 8;
    ldm_keys(&k, "model.diffusion_model.", &u);
    detect_ok(&k, &mc);
    assert_string_equal(mc.name, "SD15_instructpix2pix");
    assert_int_equal(mc.pix2pix, 1);
    keyset_free(&k);
    u = SDXL;
    u.in_channels = 9;
    ldm_keys(&k, "", &u);                              /* UNet-only file: no prefix */
    detect_ok(&k, &mc);
    assert_string_equal(mc.name, "SDXL");
    assert_int_equal(mc.inpaint, 1);
    assert_string_equal(mc.unet_prefix, "");
    keyset_free(&k);
}

static void detect_fails(const keyset *k, const char *needle) {
    mapped m = open_keys(k);
    model_config mc;
    char e[512];
    if (model_detect(m.c, &mc, e, sizeof e) == 0) fail_msg("detected %s, expected '%s'", mc.name, needle);
    if (!strstr(e, needle)) fail_msg("error '%s' lacks '%s'", e, needle);
    close_keys(&m);
}

static void test_unknown_layouts(void **state) {
    (void)state;
    unet_config u = SDXL;                              /* SSD-1B-like depths */
    u.transformer_depth[4] = u.transformer_depth[5] = 4;
    keyset k = {0};
    ldm_keys(&k, "model.diffusion_model.", &u);
    detect_fails(&k, "unknown model layout: UNet under 'model.diffusion_model.' with in_channels 4, "
                     "model_channels 320, channel_mult [1,2,4], transformer_depth [0,0,2,2,4,4]");
    keyset_free(&k);
    add(&k, "first_stage_model.decoder.conv_in.weight", 4, 512, 4, 3, 3);
    detect_fails(&k, "no UNet found");
    keyset_free(&k);
    add(&k, "double_blocks.0.img_attn.norm.key_norm.scale", 1, 128, 0, 0, 0);
    detect_fails(&k, "unsupported model: Flux");
    keyset_free(&k);
    ldm_keys(&k, "model.diffusion_model.", &SD15);    /* a transformer without its to_k */
    for (size_t i = 0; i < k.n; i++)
        if (strstr(k.it[i].name, "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"))
            strcpy((char *)k.it[i].name, "model.diffusion_model.junk");
    detect_fails(&k, "missing tensor 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight'");
    keyset_free(&k);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sd15_real_key_list),
        cmocka_unit_test(test_sd2_eps_and_v),
        cmocka_unit_test(test_sdxl_base_and_vpred),
        cmocka_unit_test(test_sdxl_refiner),
        cmocka_unit_test(test_inpaint_and_pix2pix),
        cmocka_unit_test(test_unknown_layouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
