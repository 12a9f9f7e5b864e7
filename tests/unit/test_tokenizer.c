/* test_tokenizer.c -- the CLIP tokenizer, ComfyUI's weight parser and chunking against
 * every case of fixtures/sd15/tokenizer.json (ids, weights and word ids exact), plus the
 * spec's test vectors, embeddings through the lookup hook and the error paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "models/prompt_weights.h"
#include "models/tokenizer_bpe.h"
#include "models/tokenizer_chunks.h"
#include "support/sharedfx.h"

static tokenizer *tok;

static int setup(void **state) {
    (void)state;
    char dir[4096], err[512];
    snprintf(dir, sizeof dir, "%s/tokenizer/sd1", sharedfx_dir());
    tok = tokenizer_load(dir, err, sizeof err);
    if (!tok) fprintf(stderr, "%s\n", err);
    return tok ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tokenizer_free(tok);
    return 0;
}

static void encode_str(const char *s, tok_ids *ids) {
    uint32_t *cp;
    size_t n;
    assert_int_equal(prompt_utf8_decode(s, strlen(s), &cp, &n), 0);
    assert_int_equal(tokenizer_encode(tok, cp, n, ids), 0);
    free(cp);
}

static void expect_ids(const char *text, const int32_t *want, size_t n) {
    tok_ids ids = {0};
    encode_str(text, &ids);
    assert_int_equal(ids.n, n);
    for (size_t i = 0; i < n; i++) assert_int_equal(ids.v[i], want[i]);
    tok_ids_free(&ids);
}

static void test_vocab(void **state) {
    (void)state;
    assert_int_equal(tokenizer_vocab_size(tok), 49408);
    assert_int_equal(tokenizer_start_id(tok), 49406);
    assert_int_equal(tokenizer_end_id(tok), 49407);
    assert_int_equal(tokenizer_lookup(tok, "!"), 0);
    assert_int_equal(tokenizer_lookup(tok, "!</w>"), 256);
}

/* The vectors of sd-numerics.md 4.2. */
static void test_spec_vectors(void **state) {
    (void)state;
    expect_ids("a photo of a cat", (const int32_t[]){320, 1125, 539, 320, 2368}, 5);
    expect_ids("masterpiece, best quality, 1girl",
               (const int32_t[]){12066, 267, 949, 3027, 267, 272, 1611}, 7);
    expect_ids("Hello World!!", (const int32_t[]){3306, 1002, 748}, 3);
    expect_ids("a cat, 2024", (const int32_t[]){320, 2368, 267, 273, 271, 273, 275}, 7);
    expect_ids("a<|endoftext|>b", (const int32_t[]){320, 49407, 321}, 3);
}

static void check_segments(const cJSON *c, const char *text) {
    prompt_segments segs;
    char err[256];
    assert_int_equal(prompt_parse(text, &segs, err, sizeof err), 0);
    const cJSON *want = cJSON_GetObjectItem(c, "parsed_segments");
    assert_int_equal(segs.n, (size_t)cJSON_GetArraySize(want));
    for (size_t i = 0; i < segs.n; i++) {
        const cJSON *pair = cJSON_GetArrayItem(want, (int)i);
        char *got = prompt_utf8_encode(segs.v[i].text, segs.v[i].len, NULL);
        assert_string_equal(got, cJSON_GetArrayItem(pair, 0)->valuestring);
        assert_true(segs.v[i].weight == cJSON_GetArrayItem(pair, 1)->valuedouble);
        free(got);
    }
    prompt_segments_free(&segs);
}

static void check_chunks(const cJSON *c, const char *text) {
    tok_chunks ch;
    char err[256];
    tok_options o = {.pad_id = 49407};
    assert_int_equal(tokenize_with_weights(tok, text, &o, &ch, err, sizeof err), 0);
    const cJSON *want = cJSON_GetObjectItem(c, "chunks");
    assert_int_equal(ch.n_chunks, (size_t)cJSON_GetArraySize(want));
    for (size_t k = 0; k < ch.n_chunks; k++) {
        const cJSON *w = cJSON_GetArrayItem(want, (int)k);
        const cJSON *ids = cJSON_GetObjectItem(w, "ids"), *ws = cJSON_GetObjectItem(w, "weights"),
                    *wid = cJSON_GetObjectItem(w, "word_ids");
        assert_int_equal(cJSON_GetArraySize(ids), TOK_CHUNK_LEN);
        for (int i = 0; i < TOK_CHUNK_LEN; i++) {
            const tok_token *t = &ch.tok[k * TOK_CHUNK_LEN + (size_t)i];
            if (t->id != cJSON_GetArrayItem(ids, i)->valueint)
                fail_msg("\"%.60s\" chunk %zu token %d: id %d, want %d", text, k, i, t->id,
                         cJSON_GetArrayItem(ids, i)->valueint);
            assert_true(t->weight == cJSON_GetArrayItem(ws, i)->valuedouble);
            assert_int_equal(t->word_id, cJSON_GetArrayItem(wid, i)->valueint);
        }
    }
    tok_chunks_free(&ch);
}

static void test_fixture_cases(void **state) {
    (void)state;
    char *json = sharedfx_read("fixtures/sd15/tokenizer.json", NULL);
    assert_non_null(json);
    cJSON *root = cJSON_Parse(json);
    free(json);
    const cJSON *cases = cJSON_GetObjectItem(root, "cases");
    assert_int_equal(cJSON_GetArraySize(cases), 26);
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        check_segments(c, text);
        check_chunks(c, text);
    }
    cJSON_Delete(root);
}

/* A short group that does not fit moves whole to the next chunk (no fixture covers it). */
static void test_short_group_moves(void **state) {
    (void)state;
    char prompt[1024] = "";
    for (int i = 0; i < 73; i++) strcat(prompt, "cat ");
    strcat(prompt, "(red apple on a dog:1.5)");   /* 5 tokens, 73 + 5 > 75 */
    tok_chunks ch;
    char err[256];
    tok_options o = {.pad_id = 0};
    assert_int_equal(tokenize_with_weights(tok, prompt, &o, &ch, err, sizeof err), 0);
    assert_int_equal(ch.n_chunks, 2);
    assert_int_equal(ch.tok[74].id, 49407);                /* END right after the cats */
    assert_int_equal(ch.tok[75].id, 0);                    /* then the pad id asked for */
    assert_int_equal(ch.tok[77].id, 49406);
    assert_int_equal(ch.tok[78].id, 736);                  /* "red" opens chunk two */
    assert_true(ch.tok[78].weight == 1.5);
    assert_int_equal(ch.tok[78].word_id, 2);
    assert_int_equal(ch.tok[83].id, 49407);
    tok_chunks_free(&ch);
}

static float *fake_embedding(void *ud, const char *name, size_t *n, int *dim) {
    (void)ud;
    if (strcmp(name, "style") != 0) return NULL;
    float *v = malloc(2 * 4 * sizeof *v);
    for (int i = 0; i < 8; i++) v[i] = (float)i;
    *n = 2;
    *dim = 4;
    return v;
}

static void test_embeddings(void **state) {
    (void)state;
    tok_chunks ch;
    char err[256];
    tok_options o = {.pad_id = 49407, .find_embedding = fake_embedding};
    assert_int_equal(tokenize_with_weights(tok, "a (embedding:style, cat:1.2) embedding:nope dog",
                                           &o, &ch, err, sizeof err), 0);
    /* START a | [style 0] [style 1] | , cat (the comma is retried, then kept) | dog */
    const tok_token *t = ch.tok;
    assert_int_equal(t[1].id, 320);
    assert_int_equal(t[2].id, -1);
    assert_int_equal(t[2].embed, 0);
    assert_int_equal(t[3].embed, 1);
    assert_true(t[3].weight == 1.2);
    assert_int_equal(t[3].word_id, 2);
    assert_int_equal(t[4].id, 267);
    assert_int_equal(t[4].word_id, 3);
    assert_int_equal(t[5].id, 2368);
    assert_int_equal(t[6].id, 1929);
    assert_int_equal(t[6].word_id, 4);
    assert_int_equal(t[7].id, 49407);
    assert_int_equal(ch.n_embeds, 2);
    assert_int_equal(ch.embed_dim, 4);
    assert_true(ch.embeds[7] == 7.0f);
    tok_chunks_free(&ch);
}

static void test_python_float(void **state) {
    (void)state;
    struct { const char *s; int ok; double v; } cases[] = {
        {"1.3", 1, 1.3}, {" 2 ", 1, 2}, {"-.5", 1, -0.5}, {"1e3", 1, 1000}, {"1_0", 1, 10},
        {"5.", 1, 5}, {"inf", 1, 1.0 / 0.0}, {"1__0", 0, 0}, {"_1", 0, 0}, {"0x10", 0, 0},
        {"", 0, 0}, {"1.2.3", 0, 0}, {" text", 0, 0}, {"e5", 0, 0}, {"1e", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint32_t *cp;
        size_t n;
        double v = 0;
        assert_int_equal(prompt_utf8_decode(cases[i].s, strlen(cases[i].s), &cp, &n), 0);
        int rc = prompt_parse_float(cp, n, &v);
        free(cp);
        if (cases[i].ok != (rc == 0)) fail_msg("float(\"%s\") rc %d", cases[i].s, rc);
        if (cases[i].ok) assert_true(v == cases[i].v);
    }
}

static void test_bad_input(void **state) {
    (void)state;
    tok_chunks ch;
    char err[256];
    tok_options o = {.pad_id = 49407};
    assert_int_equal(tokenize_with_weights(tok, "bad \xff utf8", &o, &ch, err, sizeof err), -1);
    assert_non_null(strstr(err, "UTF-8"));
    char *deep = malloc(4001);
    memset(deep, '(', 2000);
    memset(deep + 2000, ')', 2000);
    deep[4000] = '\0';
    assert_int_equal(tokenize_with_weights(tok, deep, &o, &ch, err, sizeof err), -1);
    assert_non_null(strstr(err, "deep"));
    free(deep);
    /* A 20000-letter word takes the heap path, not quadratic time. */
    char *big = malloc(20001);
    for (int i = 0; i < 20000; i++) big[i] = (char)('a' + i % 26);
    big[20000] = '\0';
    assert_int_equal(tokenize_with_weights(tok, big, &o, &ch, err, sizeof err), 0);
    assert_true(ch.n_chunks > 1);
    tok_chunks_free(&ch);
    free(big);
}

/* Structure every chunk list must have, whatever the prompt. */
static void check_structure(const tok_chunks *ch) {
    assert_true(ch->n_chunks >= 1);
    int32_t last_word = 0;
    for (size_t k = 0; k < ch->n_chunks; k++) {
        const tok_token *c = ch->tok + k * TOK_CHUNK_LEN;
        assert_int_equal(c[0].id, 49406);
        int ended = 0;
        for (int i = 1; i < TOK_CHUNK_LEN; i++) {
            if (c[i].id == 49407 && c[i].word_id == 0) ended = 1;
            if (ended) assert_int_equal(c[i].id, 49407);   /* END, then padding only */
            assert_true(c[i].id >= -1 && c[i].id < 49408);
            if (c[i].word_id) {
                assert_true(c[i].word_id >= last_word);
                last_word = c[i].word_id;
            }
        }
        assert_true(ended);
    }
}

/* Random prompts of parentheses, escapes, colons, numbers, "embedding:", multi-byte and
 * invalid UTF-8: never a crash (ASan runs this too), either a clear error or chunks of
 * the right structure. */
static void test_random_prompts(void **state) {
    (void)state;
    static const char *const atoms[] = {
        "(", ")", "\\(", "\\)", "\\", ":", ":1.5", ":-2e3", "[", "]", " ", "\n", "\t",
        "cat", "RED", "'s", "'ll", "1", "42", ",", "embedding:", " embedding:x", "\xc3\xa9",
        "\xe6\x97\xa5", "\xf0\x9f\x90\xb1", "\xe2\x80\x8d", "<|endoftext|>",
        "\x01", "_", "inf", "nan", "0x1",
    };
    const size_t n_atoms = sizeof atoms / sizeof *atoms;
    uint64_t rng = 20261126;
    tok_options o = {.pad_id = 49407};
    log_level was = log_get_level();
    log_set_level(LOG_LVL_ERROR);   /* thousands of missing-embedding warnings otherwise */
    for (int round = 0; round < 3000; round++) {
        char prompt[4096] = "";
        size_t len = 0;
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int parts = (int)(rng >> 57);                  /* 0..127 atoms */
        for (int i = 0; i < parts; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            const char *a = atoms[(rng >> 33) % n_atoms];
            size_t l = strlen(a);
            if (len + l >= sizeof prompt) break;
            memcpy(prompt + len, a, l + 1);
            len += l;
        }
        if (round % 10 == 0) memcpy(prompt + len / 2, "\xc3(", 2);   /* broken UTF-8 */
        tok_chunks ch;
        char err[256];
        if (tokenize_with_weights(tok, prompt, &o, &ch, err, sizeof err) == 0) {
            check_structure(&ch);
            tok_chunks_free(&ch);
        } else {
            assert_non_null(strstr(err, "UTF-8"));
        }
    }
    log_set_level(was);
}

static void test_missing_vocab(void **state) {
    (void)state;
    char err[1024];
    const char *extra[] = {"/nonexistent/extra"};
    tokenizer *t = tokenizer_find("sd1", "/nonexistent/override", "/nonexistent/base", extra, 1,
                                  NULL, err, sizeof err);
    assert_null(t);
    assert_non_null(strstr(err, "/nonexistent/override"));
    assert_non_null(strstr(err, "/nonexistent/base/models/tokenizers/sd1"));
    assert_non_null(strstr(err, "/nonexistent/extra/tokenizers/sd1"));
    assert_non_null(strstr(err, "--tokenizer-dir"));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tokenizer/sd1", sharedfx_dir());
    t = tokenizer_find("sd1", dir, NULL, NULL, 0, NULL, err, sizeof err);
    assert_non_null(t);
    tokenizer_free(t);
}

/* The search order: base folder before extra model folders; the first folder that has a
 * vocab.json is the one loaded (a broken one is an error, not skipped). */
static void test_search_order(void **state) {
    (void)state;
    char root[] = "/tmp/tok-find-XXXXXX", base_dir[256], extra[256], path[1024], src[512];
    char abs[PATH_MAX];
    char err[1024];
    assert_non_null(mkdtemp(root));
    snprintf(base_dir, sizeof base_dir, "%s/base", root);
    snprintf(extra, sizeof extra, "%s/extra", root);
    snprintf(path, sizeof path, "mkdir -p %s/models/tokenizers/sd1 %s/tokenizers/sd1", base_dir,
             extra);
    assert_int_equal(system(path), 0);
    for (int i = 0; i < 2; i++) {
        const char *f = i ? "merges.txt" : "vocab.json";
        snprintf(src, sizeof src, "%s/tokenizer/sd1/%s", sharedfx_dir(), f);
        snprintf(path, sizeof path, "%s/models/tokenizers/sd1/%s", base_dir, f);
        assert_non_null(realpath(src, abs));
        assert_int_equal(symlink(abs, path), 0);
    }
    snprintf(path, sizeof path, "%s/tokenizers/sd1/vocab.json", extra);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[1, 2]", f);   /* not a vocabulary */
    fclose(f);
    const char *extras[] = {extra};
    tokenizer *t = tokenizer_find("sd1", NULL, base_dir, extras, 1, NULL, err, sizeof err);
    assert_non_null(t);   /* the base folder comes first */
    tokenizer_free(t);
    t = tokenizer_find("sd1", NULL, "/nonexistent", extras, 1, NULL, err, sizeof err);
    assert_null(t);       /* then the extra folder, whose vocab.json is broken */
    assert_non_null(strstr(err, "not a JSON object"));
    snprintf(path, sizeof path, "rm -rf %s", root);
    assert_int_equal(system(path), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab),
        cmocka_unit_test(test_spec_vectors),
        cmocka_unit_test(test_fixture_cases),
        cmocka_unit_test(test_short_group_moves),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_python_float),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_random_prompts),
        cmocka_unit_test(test_missing_vocab),
        cmocka_unit_test(test_search_order),
    };
    return cmocka_run_group_tests_name("tokenizer", tests, setup, teardown);
}
