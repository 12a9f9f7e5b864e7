/* pickle.c -- see pickle.h.
 *
 * The VM keeps CPython's model: a value stack, a stack of MARK positions and a memo
 * table. Values are small tagged structs; every one is recorded in a pool and freed
 * at the end, so shared and even cyclic references (memo GETs, DUP) need no
 * ownership rules. Only the binary opcodes of protocols 2-5 exist here, which is
 * what torch.save emits. Nothing is ever called: the three "callables" a state dict
 * needs are interpreted as data constructors.
 */
#include "io/pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/ckpt_internal.h"

#define PK_MAX_MEMO (1u << 20)
#define PK_MAX_VALUES (1u << 24)     /* a real data.pkl builds a few thousand */
#define PK_MAX_TENSORS (1u << 22)
#define PK_MAX_NEST 2

typedef enum { PV_NONE, PV_BOOL, PV_INT, PV_FLOAT, PV_STR, PV_TUPLE, PV_LIST, PV_DICT,
               PV_GLOBAL, PV_STORAGE, PV_TENSOR } pv_kind;
typedef enum { G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE } pk_global;

typedef struct pv {
    pv_kind k;
    int64_t i;            /* INT, BOOL, GLOBAL (pk_global), STORAGE (numel) */
    dtype dt;             /* GLOBAL G_STORAGE, STORAGE */
    char *s;              /* STR, STORAGE key */
    struct pv **it;       /* TUPLE, LIST, DICT (key, value, key, value, ...) */
    size_t n, cap;
    pk_tensor *t;         /* TENSOR */
} pv;

typedef struct pk {
    const uint8_t *start, *p, *end;
    pv **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    pv **memo;
    size_t memo_cap, memo_len;   /* memo_len: entries set, what MEMOIZE numbers next */
    pv **pool;
    size_t npool, pcap;
    char *err;
} pk;

static const struct { const char *name; dtype dt; } pk_storages[] = {
    {"DoubleStorage", DT_F64}, {"FloatStorage", DT_F32}, {"HalfStorage", DT_F16},
    {"BFloat16Storage", DT_BF16}, {"LongStorage", DT_I64}, {"IntStorage", DT_I32},
    {"ShortStorage", DT_I16}, {"CharStorage", DT_I8}, {"ByteStorage", DT_U8},
    {"BoolStorage", DT_BOOL},
};

/* Grows *arr (of elem-size slots) to hold at least `need`; 0 or -1. */
static int pk_grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *p = realloc(*arr, c * elem);
    if (!p) return -1;
    *arr = p;
    *cap = c;
    return 0;
}

static int pk_oom(pk *k) {
    if (k->npool >= PK_MAX_VALUES)
        return io_fail(k->err, "pickle builds more than %u values; not a state dict", PK_MAX_VALUES);
    return io_fail(k->err, "out of memory");
}

static pv *pk_new(pk *k, pv_kind kind) {
    if (k->npool >= PK_MAX_VALUES) return NULL;
    if (pk_grow((void **)&k->pool, &k->pcap, k->npool + 1, sizeof *k->pool)) return NULL;
    pv *v = calloc(1, sizeof *v);
    if (v) { v->k = kind; k->pool[k->npool++] = v; }
    return v;
}

static int pk_push(pk *k, pv *v) {
    if (!v) return pk_oom(k);
    if (pk_grow((void **)&k->stack, &k->scap, k->sp + 1, sizeof *k->stack))
        return pk_oom(k);
    k->stack[k->sp++] = v;
    return 0;
}

static pv *pk_pop(pk *k) {
    size_t floor = k->nmarks ? k->marks[k->nmarks - 1] : 0;
    if (k->sp <= floor) { io_fail(k->err, "pickle stack underflow"); return NULL; }
    return k->stack[--k->sp];
}

static int pk_append(pk *k, pv *c, pv *v) {
    if (pk_grow((void **)&c->it, &c->cap, c->n + 1, sizeof *c->it))
        return pk_oom(k);
    c->it[c->n++] = v;
    return 0;
}

/* dict[key] = value. Keys are not deduplicated (that would cost O(n) per item): the
 * pickler never repeats a key, and a crafted repeat ends as a duplicate-name error. */
static int pk_setitem(pk *k, pv *d, pv *key, pv *value) {
    if (d->k != PV_DICT) return io_fail(k->err, "pickle sets an item on a non-dict");
    return pk_append(k, d, key) || pk_append(k, d, value) ? -1 : 0;
}

static int pk_need(pk *k, size_t n) {
    if ((size_t)(k->end - k->p) < n) return io_fail(k->err, "pickle program is truncated");
    return 0;
}

static uint64_t pk_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int pk_string(pk *k, size_t lenbytes) {
    if (pk_need(k, lenbytes)) return -1;
    uint64_t n = pk_le(k->p, (int)lenbytes);
    k->p += lenbytes;
    if (pk_need(k, n)) return -1;
    pv *v = pk_new(k, PV_STR);
    if (!v || !(v->s = malloc(n + 1))) return pk_oom(k);
    memcpy(v->s, k->p, n);
    v->s[n] = 0;
    v->n = n;
    k->p += n;
    return pk_push(k, v);
}

static int pk_int(pk *k, int64_t i) {
    pv *v = pk_new(k, PV_INT);
    if (v) v->i = i;
    return pk_push(k, v);
}

static int pk_global_named(pk *k, const char *mod, const char *name) {
    pv *v = pk_new(k, PV_GLOBAL);
    if (!v) return pk_oom(k);
    if (!strcmp(mod, "collections") && !strcmp(name, "OrderedDict")) v->i = G_ORDERED_DICT;
    else if (!strcmp(mod, "torch._utils") && !strcmp(name, "_rebuild_tensor_v2")) v->i = G_REBUILD_TENSOR_V2;
    else if (!strcmp(mod, "torch._utils") && !strcmp(name, "_rebuild_parameter")) v->i = G_REBUILD_PARAMETER;
    else {
        v->i = -1;
        for (size_t i = 0; !strcmp(mod, "torch") && i < sizeof pk_storages / sizeof *pk_storages; i++)
            if (!strcmp(name, pk_storages[i].name)) { v->i = G_STORAGE; v->dt = pk_storages[i].dt; }
        if (v->i < 0)
            return io_fail(k->err, "refusing to load: the pickle uses the global '%.100s.%.100s', "
                                   "which is not part of a tensor state dict (only "
                                   "collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
                                   "_rebuild_parameter and torch.*Storage are allowed)", mod, name);
    }
    return pk_push(k, v);
}

/* GLOBAL: "module\nname\n" inline. */
static int pk_global_text(pk *k) {
    char part[2][256];
    for (int j = 0; j < 2; j++) {
        const uint8_t *nl = memchr(k->p, '\n', (size_t)(k->end - k->p));
        if (!nl) return io_fail(k->err, "pickle program is truncated");
        size_t n = (size_t)(nl - k->p);
        if (n >= sizeof part[j]) return io_fail(k->err, "pickle global name too long");
        memcpy(part[j], k->p, n);
        part[j][n] = 0;
        k->p = nl + 1;
    }
    return pk_global_named(k, part[0], part[1]);
}

static int pk_stack_global(pk *k) {
    pv *name = pk_pop(k), *mod = name ? pk_pop(k) : NULL;
    if (!mod) return -1;
    if (mod->k != PV_STR || name->k != PV_STR) return io_fail(k->err, "STACK_GLOBAL needs two strings");
    return pk_global_named(k, mod->s, name->s);
}

/* Items from the last MARK to the top, popped into a new container of `kind`. */
static int pk_collect(pk *k, pv_kind kind, pv **out) {
    if (!k->nmarks) return io_fail(k->err, "pickle uses a MARK that was never set");
    size_t m = k->marks[--k->nmarks];
    pv *v = pk_new(k, kind);
    if (!v) return pk_oom(k);
    for (size_t i = m; i < k->sp; i++)
        if (pk_append(k, v, k->stack[i])) return -1;
    k->sp = m;
    *out = v;
    return 0;
}

static int pk_tuple_n(pk *k, size_t n) {
    pv *v = pk_new(k, PV_TUPLE);
    if (!v) return pk_oom(k);
    size_t floor = k->nmarks ? k->marks[k->nmarks - 1] : 0;
    if (k->sp < floor + n) return io_fail(k->err, "pickle stack underflow");
    for (size_t i = k->sp - n; i < k->sp; i++)
        if (pk_append(k, v, k->stack[i])) return -1;
    k->sp -= n;
    return pk_push(k, v);
}

static int pk_int_tuple(pk *k, const pv *t, int64_t *out, int *n) {
    if (t->k != PV_TUPLE || t->n > PK_MAX_DIMS)
        return io_fail(k->err, "tensor size/stride is not a tuple of at most %d ints", PK_MAX_DIMS);
    for (size_t i = 0; i < t->n; i++) {
        if (t->it[i]->k != PV_INT) return io_fail(k->err, "tensor size/stride holds a non-int");
        out[i] = t->it[i]->i;
    }
    *n = (int)t->n;
    return 0;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static int pk_rebuild_tensor(pk *k, const pv *a, pv **out) {
    if ((a->n != 6 && a->n != 7) || a->it[0]->k != PV_STORAGE || a->it[1]->k != PV_INT)
        return io_fail(k->err, "_rebuild_tensor_v2 called with unexpected arguments");
    pv *v = pk_new(k, PV_TENSOR);
    if (!v || !(v->t = calloc(1, sizeof *v->t))) return pk_oom(k);
    pk_tensor *t = v->t;
    int ns = 0;
    if (pk_int_tuple(k, a->it[2], t->ne, &t->ndim) || pk_int_tuple(k, a->it[3], t->stride, &ns))
        return -1;
    if (ns != t->ndim) return io_fail(k->err, "tensor size and stride differ in length");
    t->dt = a->it[0]->dt;
    t->storage_key = a->it[0]->s;
    t->storage_numel = a->it[0]->i;
    t->offset = a->it[1]->i;
    *out = v;
    return 0;
}

static int pk_reduce(pk *k) {
    pv *args = pk_pop(k), *fn = args ? pk_pop(k) : NULL, *r = NULL;
    if (!fn) return -1;
    if (fn->k != PV_GLOBAL || args->k != PV_TUPLE)
        return io_fail(k->err, "pickle REDUCE on something that is not an allowed global");
    switch ((pk_global)fn->i) {
    case G_ORDERED_DICT:
        if (args->n) return io_fail(k->err, "OrderedDict called with arguments");
        r = pk_new(k, PV_DICT);
        break;
    case G_REBUILD_TENSOR_V2:
        if (pk_rebuild_tensor(k, args, &r)) return -1;
        break;
    case G_REBUILD_PARAMETER:
        if (args->n < 1 || args->it[0]->k != PV_TENSOR)
            return io_fail(k->err, "_rebuild_parameter called with unexpected arguments");
        r = args->it[0];
        break;
    case G_STORAGE:
        return io_fail(k->err, "pickle calls a storage class directly");
    }
    return pk_push(k, r);
}

/* ('storage', torch.XStorage, key, location, numel) */
static int pk_persid(pk *k) {
    pv *pid = pk_pop(k);
    if (!pid) return -1;
    if (pid->k != PV_TUPLE || pid->n != 5 || pid->it[0]->k != PV_STR ||
        strcmp(pid->it[0]->s, "storage") != 0 || pid->it[1]->k != PV_GLOBAL ||
        pid->it[1]->i != G_STORAGE || pid->it[2]->k != PV_STR || pid->it[4]->k != PV_INT)
        return io_fail(k->err, "unexpected persistent id (not a torch storage reference)");
    pv *v = pk_new(k, PV_STORAGE);
    if (!v) return pk_oom(k);
    v->dt = pid->it[1]->dt;
    v->s = strdup(pid->it[2]->s);
    v->i = pid->it[4]->i;
    if (!v->s) return pk_oom(k);
    return pk_push(k, v);
}

static int pk_memo_put(pk *k, uint64_t idx) {
    if (!k->sp) return io_fail(k->err, "pickle memoizes an empty stack");
    if (idx >= PK_MAX_MEMO) return io_fail(k->err, "pickle memo index %llu too large", (unsigned long long)idx);
    if (idx >= k->memo_cap) {
        size_t n = k->memo_cap;
        if (pk_grow((void **)&k->memo, &k->memo_cap, idx + 1, sizeof *k->memo))
            return pk_oom(k);
        memset(k->memo + n, 0, (k->memo_cap - n) * sizeof *k->memo);
    }
    if (!k->memo[idx]) k->memo_len++;
    k->memo[idx] = k->stack[k->sp - 1];
    return 0;
}

static int pk_memo_get(pk *k, uint64_t idx) {
    if (idx >= k->memo_cap || !k->memo[idx])
        return io_fail(k->err, "pickle reads memo entry %llu that was never stored", (unsigned long long)idx);
    return pk_push(k, k->memo[idx]);
}

/* APPENDS / SETITEMS: the items above the last MARK go into the object below it. */
static int pk_fill(pk *k, int dict) {
    pv *items;
    if (pk_collect(k, PV_LIST, &items)) return -1;
    pv *target = k->sp ? k->stack[k->sp - 1] : NULL;
    if (!target || target->k != (dict ? PV_DICT : PV_LIST))
        return io_fail(k->err, "pickle %s on a non-%s", dict ? "SETITEMS" : "APPENDS", dict ? "dict" : "list");
    if (dict && items->n % 2) return io_fail(k->err, "SETITEMS with an odd number of items");
    for (size_t i = 0; i < items->n; i += dict ? 2 : 1)
        if (dict ? pk_setitem(k, target, items->it[i], items->it[i + 1]) : pk_append(k, target, items->it[i]))
            return -1;
    return 0;
}

static int pk_step(pk *k, uint8_t op, int *stop) {
    pv *a, *b;
    switch (op) {
    case 0x80: return pk_need(k, 1) ? -1 : (k->p++, 0);                       /* PROTO */
    case 0x95: return pk_need(k, 8) ? -1 : (k->p += 8, 0);                    /* FRAME */
    case '.': *stop = 1; return 0;                                             /* STOP */
    case '(':                                                                  /* MARK */
        if (pk_grow((void **)&k->marks, &k->mcap, k->nmarks + 1, sizeof *k->marks))
            return pk_oom(k);
        k->marks[k->nmarks++] = k->sp;
        return 0;
    case '}': return pk_push(k, pk_new(k, PV_DICT));                           /* EMPTY_DICT */
    case ']': return pk_push(k, pk_new(k, PV_LIST));                           /* EMPTY_LIST */
    case ')': return pk_push(k, pk_new(k, PV_TUPLE));                          /* EMPTY_TUPLE */
    case 't': return pk_collect(k, PV_TUPLE, &a) ? -1 : pk_push(k, a);         /* TUPLE */
    case 'l': return pk_collect(k, PV_LIST, &a) ? -1 : pk_push(k, a);          /* LIST */
    case 'd':                                                                  /* DICT */
        if (pk_collect(k, PV_LIST, &a)) return -1;
        if (a->n % 2) return io_fail(k->err, "DICT with an odd number of items");
        b = pk_new(k, PV_DICT);
        for (size_t i = 0; b && i < a->n; i += 2)
            if (pk_setitem(k, b, a->it[i], a->it[i + 1])) return -1;
        return pk_push(k, b);
    case 0x85: return pk_tuple_n(k, 1);
    case 0x86: return pk_tuple_n(k, 2);
    case 0x87: return pk_tuple_n(k, 3);
    case 'a':                                                                  /* APPEND */
        if (!(a = pk_pop(k))) return -1;
        if (!k->sp || k->stack[k->sp - 1]->k != PV_LIST) return io_fail(k->err, "APPEND on a non-list");
        return pk_append(k, k->stack[k->sp - 1], a);
    case 'e': return pk_fill(k, 0);                                            /* APPENDS */
    case 's':                                                                  /* SETITEM */
        if (!(a = pk_pop(k)) || !(b = pk_pop(k))) return -1;
        if (!k->sp) return io_fail(k->err, "pickle stack underflow");
        return pk_setitem(k, k->stack[k->sp - 1], b, a);
    case 'u': return pk_fill(k, 1);                                            /* SETITEMS */
    case 'q': return pk_need(k, 1) ? -1 : pk_memo_put(k, *k->p++);            /* BINPUT */
    case 'r':                                                                  /* LONG_BINPUT */
        if (pk_need(k, 4)) return -1;
        k->p += 4;
        return pk_memo_put(k, pk_le(k->p - 4, 4));
    case 0x94: return pk_memo_put(k, k->memo_len);                             /* MEMOIZE */
    case 'h': return pk_need(k, 1) ? -1 : pk_memo_get(k, *k->p++);            /* BINGET */
    case 'j':                                                                  /* LONG_BINGET */
        if (pk_need(k, 4)) return -1;
        k->p += 4;
        return pk_memo_get(k, pk_le(k->p - 4, 4));
    case 'J':                                                                  /* BININT */
        if (pk_need(k, 4)) return -1;
        k->p += 4;
        return pk_int(k, (int32_t)(uint32_t)pk_le(k->p - 4, 4));
    case 'K': return pk_need(k, 1) ? -1 : pk_int(k, *k->p++);                 /* BININT1 */
    case 'M':                                                                  /* BININT2 */
        if (pk_need(k, 2)) return -1;
        k->p += 2;
        return pk_int(k, (int64_t)pk_le(k->p - 2, 2));
    case 0x8a: {                                                               /* LONG1 */
        if (pk_need(k, 1)) return -1;
        uint8_t n = *k->p++;
        if (n > 8) return io_fail(k->err, "pickle integer wider than 64 bits");
        if (pk_need(k, n)) return -1;
        uint64_t u = pk_le(k->p, n);
        if (n && n < 8 && (k->p[n - 1] & 0x80)) u |= ~0ULL << (8 * n);          /* sign-extend */
        k->p += n;
        return pk_int(k, (int64_t)u);
    }
    case 'N': return pk_push(k, pk_new(k, PV_NONE));
    case 0x88: case 0x89:                                                      /* NEWTRUE/FALSE */
        if ((a = pk_new(k, PV_BOOL))) a->i = op == 0x88;
        return pk_push(k, a);
    case 'G':                                                                  /* BINFLOAT */
        if (pk_need(k, 8)) return -1;
        k->p += 8;
        return pk_push(k, pk_new(k, PV_FLOAT));    /* value never needed */
    case 0x8c: case 'U': case 'C': return pk_string(k, 1);   /* SHORT_BINUNICODE/STRING/BYTES */
    case 'X': case 'T': case 'B': return pk_string(k, 4);    /* BINUNICODE/STRING/BYTES */
    case 0x8d: case 0x8e: return pk_string(k, 8);            /* BINUNICODE8, BINBYTES8 */
    case 'c': return pk_global_text(k);
    case 0x93: return pk_stack_global(k);
    case 'R': return pk_reduce(k);
    case 'b': return pk_pop(k) && k->sp ? 0 : io_fail(k->err, "pickle stack underflow"); /* BUILD */
    case 'Q': return pk_persid(k);
    case '0': return pk_pop(k) ? 0 : -1;                                       /* POP */
    case '1':                                                                  /* POP_MARK */
        if (pk_collect(k, PV_LIST, &a)) return -1;
        return 0;
    case '2':                                                                  /* DUP */
        if (!k->sp) return io_fail(k->err, "pickle stack underflow");
        return pk_push(k, k->stack[k->sp - 1]);
    default:
        return io_fail(k->err, "unsupported pickle opcode 0x%02x at byte %zu (only the binary "
                               "protocols torch.save uses are read)", op,
                       (size_t)(k->p - 1 - k->start));
    }
}

static pv *pk_dict_get(const pv *d, const char *key) {
    for (size_t i = 0; d->k == PV_DICT && i < d->n; i += 2)
        if (d->it[i]->k == PV_STR && strcmp(d->it[i]->s, key) == 0) return d->it[i + 1];
    return NULL;
}

static const pv *pk_unwrap(const pv *root) {
    static const char *wrappers[] = {"state_dict", "params_ema", "params"};
    for (size_t i = 0; i < sizeof wrappers / sizeof *wrappers; i++) {
        const pv *v = pk_dict_get(root, wrappers[i]);
        if (v && v->k == PV_DICT) return v;
    }
    if (root->k == PV_DICT && root->n == 2 && root->it[1]->k == PV_DICT) return root->it[1];
    return root;
}

typedef struct pk_walk {
    pk_emit emit;
    void *ctx;
    char *err;
    size_t emitted;
} pk_walk;

/* The dict's tensors in order; nested dicts (textual-inversion .pt files keep their
 * vectors in "string_to_param") are flattened as "outer.inner", at most PK_MAX_NEST
 * deep. Shared sub-dicts can multiply names, hence the cap on the total. */
static int pk_emit_dict(pk_walk *w, const pv *d, const char *prefix, int depth) {
    for (size_t i = 0; i < d->n; i += 2) {
        const pv *key = d->it[i], *v = d->it[i + 1];
        if (key->k != PV_STR || (v->k != PV_TENSOR && (v->k != PV_DICT || depth == PK_MAX_NEST)))
            continue;
        if (++w->emitted > PK_MAX_TENSORS)
            return io_fail(w->err, "the pickle names more than %u tensors", PK_MAX_TENSORS);
        size_t n = strlen(prefix) + key->n + 2;
        char *name = malloc(n);
        if (!name) return io_fail(w->err, "out of memory");
        snprintf(name, n, "%s%s%s", prefix, key->s, v->k == PV_DICT ? "." : "");
        int rc = v->k == PV_TENSOR ? w->emit(w->ctx, name, v->t, w->err)
                                   : pk_emit_dict(w, v, name, depth + 1);
        free(name);
        if (rc) return -1;
    }
    return 0;
}

static void pk_free(pk *k) {
    for (size_t i = 0; i < k->npool; i++) {
        free(k->pool[i]->s);
        free(k->pool[i]->it);
        free(k->pool[i]->t);
        free(k->pool[i]);
    }
    free(k->pool);
    free(k->stack);
    free(k->marks);
    free(k->memo);
}

int pk_load_state_dict(const uint8_t *prog, size_t len, pk_emit emit, void *ctx, char *err) {
    pk k = {.start = prog, .p = prog, .end = prog + len, .err = err};
    int stop = 0, rc = 0;
    while (!rc && !stop) {
        if (k.p >= k.end) { rc = io_fail(err, "pickle program ends without STOP"); break; }
        uint8_t op = *k.p++;
        rc = pk_step(&k, op, &stop);
    }
    if (!rc && k.sp != 1) rc = io_fail(err, "pickle leaves %zu values on the stack, expected 1", k.sp);
    const pv *sd = rc ? NULL : pk_unwrap(k.stack[0]);
    if (!rc && sd->k != PV_DICT) rc = io_fail(err, "the pickle does not hold a dict of tensors");
    pk_walk w = {emit, ctx, err, 0};
    if (!rc) rc = pk_emit_dict(&w, sd, "", 0);
    pk_free(&k);
    return rc;
}
