/* routes_files.c -- /view, /upload/image, /upload/mask (spec 2.8).
 *
 * Files are confined to the input/output/temp folders: names starting with "/" or
 * holding ".." are refused, and the final path must resolve inside its folder, symlinks
 * included (ComfyUI's open #12285 lets a symlink in a subfolder escape; we do not).
 * Anything that could run script in the browser is sent as an attachment
 * (CVE-2024-10099).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/folders.h"
#include "server/mime.h"
#include "server/multipart.h"
#include "server/routes.h"
#include "server/safepath.h"
#include "server/server.h"
#include "server/view_image.h"

/* Splits "name [output]" into name and type; returns the folder type or the fallback. */
static const char *annotated(char *name, const char *fallback) {
    static const char *const types[] = {"input", "output", "temp"};
    size_t n = strlen(name);
    for (int i = 0; i < 3; i++) {
        char suffix[16];
        int k = snprintf(suffix, sizeof suffix, " [%s]", types[i]);
        if (n >= (size_t)k && !strcmp(name + n - k, suffix)) {
            name[n - k] = '\0';
            return types[i];
        }
    }
    return fallback;
}

/* channel=rgb|a and preview=<format>[;quality]: 1 when the response was re-encoded,
 * 0 to send the file as stored (channel rgba, or not an image we can decode). */
static int reencode(const http_request *req, http_response *res, const char *path) {
    char *channel = http_query_get(req->query, "channel");
    char *preview = http_query_get(req->query, "preview");
    int done = 0;
    view_mode mode = VIEW_RGB;
    if (preview) {
        /* ComfyUI forces a format with alpha when the channel asks for it. */
        mode = channel && !strcmp(channel, "a") ? VIEW_ALPHA : VIEW_RGB;
    } else if (channel && !strcmp(channel, "rgb")) {
        mode = VIEW_RGB;
    } else if (channel && !strcmp(channel, "a")) {
        mode = VIEW_ALPHA;
    } else {
        goto out;
    }
    size_t len;
    const char *type;
    unsigned char *data = view_transform(path, mode, &len, &type);
    if (data) {
        http_reply(res, 200, type, (char *)data, len);
        done = 1;
    }
out:
    free(channel);
    free(preview);
    return done;
}

ROUTE(route_view) {
    char *filename = http_query_get(req->query, "filename");
    char *type = http_query_get(req->query, "type");
    char *subfolder = http_query_get(req->query, "subfolder");
    char dir[PATH_MAX], path[PATH_MAX];
    int status = 0;
    if (!filename) {
        status = 404;
        goto done;
    }
    const char *t = annotated(filename, type && type[0] ? type : "output");
    if (!filename[0] || filename[0] == '/' || strstr(filename, "..")) {
        status = 400;
        goto done;
    }
    const char *root = folders_for_type(t);
    if (!root) {
        status = 400;
        goto done;
    }
    if (safepath_join(root, subfolder ? subfolder : "", dir, sizeof dir)) {
        status = 403;
        goto done;
    }
    const char *base = strrchr(filename, '/');
    base = base ? base + 1 : filename;
    if (safepath_join(dir, base, path, sizeof path)) {
        status = 403;
        goto done;
    }
    const char *ctype = mime_guess(base);
    int dangerous = mime_dangerous(ctype);
    if (!dangerous && reencode(req, res, path)) goto headers;
    if (http_reply_file(req, res, path, dangerous || !ctype ? "application/octet-stream" : ctype)) {
        status = 404;
        goto done;
    }
headers:;
    /* Content-Disposition with the name quoted as aiohttp does ('"' and '\' escaped). */
    char quoted[600];
    size_t w = 0;
    for (const char *p = base; *p && w + 3 < sizeof quoted; p++) {
        if (*p == '"' || *p == '\\') quoted[w++] = '\\';
        quoted[w++] = *p;
    }
    quoted[w] = '\0';
    char disp[700];
    snprintf(disp, sizeof disp, "%sfilename=\"%s\"", dangerous ? "attachment; " : "", quoted);
    http_set_header(res, "Content-Disposition", disp);
    http_set_header(res, "X-Content-Type-Options", "nosniff");
done:
    if (status) http_reply_error(res, status);
    free(filename);
    free(type);
    free(subfolder);
}

/* ---- uploads ---- */

static int hash_file(const char *path, unsigned char *out, unsigned *out_len) {
    const EVP_MD *md = EVP_get_digestbyname(server_opts()->hash_name ? server_opts()->hash_name : "sha256");
    FILE *f = fopen(path, "rb");
    if (!f || !md) {
        if (f) fclose(f);
        return -1;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, md, NULL);
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, n);
    EVP_DigestFinal_ex(ctx, out, out_len);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return 0;
}

static void hash_mem(const void *data, size_t len, unsigned char *out, unsigned *out_len) {
    const EVP_MD *md = EVP_get_digestbyname(server_opts()->hash_name ? server_opts()->hash_name : "sha256");
    EVP_Digest(data, len, out, out_len, md ? md : EVP_sha256(), NULL);
}

static int same_content(const char *path, const void *data, size_t len) {
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned la = 0, lb = 0;
    if (hash_file(path, a, &la)) return 0;
    hash_mem(data, len, b, &lb);
    return la == lb && !memcmp(a, b, la);
}

static int write_file(const char *path, const void *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return -1;
    const char *p = data;
    while (len) {
        ssize_t k = write(fd, p, len);
        if (k <= 0) {
            close(fd);
            return -1;
        }
        p += k;
        len -= (size_t)k;
    }
    return close(fd);
}

typedef struct upload {
    const char *type;            /* input|temp|output */
    char subfolder[PATH_MAX];    /* as given */
    char dir[PATH_MAX];          /* the target folder */
    char name[512];              /* the stored name */
    char path[PATH_MAX];
    int exists_identical;
} upload;

/* Resolves the upload's target: folder, de-duplicated name. Returns 0 or an HTTP status. */
static int upload_target(const mp_part *parts, int n, const mp_part *file, const void *content, size_t len, upload *u) {
    const mp_part *type = multipart_get(parts, n, "type");
    const mp_part *sub = multipart_get(parts, n, "subfolder");
    const mp_part *ow = multipart_get(parts, n, "overwrite");
    char tname[16] = "input";
    if (type && type->len && type->len < sizeof tname) snprintf(tname, sizeof tname, "%.*s", (int)type->len, type->data);
    const char *root = folders_for_type(tname);
    if (!root) return 400;
    u->type = !strcmp(tname, "temp") ? "temp" : !strcmp(tname, "output") ? "output" : "input";
    snprintf(u->subfolder, sizeof u->subfolder, "%.*s", sub ? (int)sub->len : 0, sub ? sub->data : "");
    if (safepath_join(root, u->subfolder, u->dir, sizeof u->dir)) return 400;
    if (!file->filename[0] || file->filename[0] == '/' || strstr(file->filename, "..")) return 400;
    if (folders_mkdirs(u->dir)) return 500;
    int overwrite = ow && ((ow->len == 4 && !memcmp(ow->data, "true", 4)) || (ow->len == 1 && ow->data[0] == '1'));

    snprintf(u->name, sizeof u->name, "%s", file->filename);
    if (safepath_join(u->dir, u->name, u->path, sizeof u->path)) return 400;
    struct stat st;
    if (overwrite) return 0;
    char stem[512], ext[64] = "";
    snprintf(stem, sizeof stem, "%s", file->filename);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) {
        snprintf(ext, sizeof ext, "%s", dot);
        *dot = '\0';
    }
    for (int i = 1; !stat(u->path, &st); i++) {
        if (same_content(u->path, content, len)) {
            u->exists_identical = 1;
            return 0;
        }
        if (snprintf(u->name, sizeof u->name, "%s (%d)%s", stem, i, ext) >= (int)sizeof u->name) return 400;
        if (safepath_join(u->dir, u->name, u->path, sizeof u->path)) return 400;
    }
    return 0;
}

static void reply_upload(http_response *res, const upload *u) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", u->name);
    cJSON_AddStringToObject(o, "subfolder", u->subfolder);
    cJSON_AddStringToObject(o, "type", u->type);
    http_reply_json(res, 200, o);
}

#define MAX_PARTS 16

ROUTE(route_upload_image) {
    mp_part parts[MAX_PARTS];
    int n = multipart_parse(req->header(req, "Content-Type"), req->body, req->body_len, parts, MAX_PARTS);
    const mp_part *file = n > 0 ? multipart_get(parts, n, "image") : NULL;
    if (!file || !file->has_filename) {
        http_reply_error(res, 400);
        return;
    }
    upload u;
    memset(&u, 0, sizeof u);
    int status = upload_target(parts, n, file, file->data, file->len, &u);
    if (!status && !u.exists_identical && write_file(u.path, file->data, file->len)) status = 500;
    if (status) {
        http_reply_error(res, status);
        return;
    }
    reply_upload(res, &u);
}

/* The mask editor's upload: the original image (original_ref, type default output)
 * with the uploaded image's alpha. A missing or invalid original writes nothing but
 * still answers 200 with the name, as ComfyUI does. */
ROUTE(route_upload_mask) {
    mp_part parts[MAX_PARTS];
    int n = multipart_parse(req->header(req, "Content-Type"), req->body, req->body_len, parts, MAX_PARTS);
    const mp_part *file = n > 0 ? multipart_get(parts, n, "image") : NULL;
    const mp_part *ref = n > 0 ? multipart_get(parts, n, "original_ref") : NULL;
    if (!file || !file->has_filename || !ref) {
        http_reply_error(res, 400);
        return;
    }
    upload u;
    memset(&u, 0, sizeof u);
    int status = upload_target(parts, n, file, file->data, file->len, &u);
    if (status) {
        http_reply_error(res, status);
        return;
    }
    cJSON *r = cJSON_ParseWithLength(ref->data, ref->len);
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(r, "filename");
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(r, "subfolder");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(r, "type");
    char name[512], dir[PATH_MAX], original[PATH_MAX];
    if (cJSON_IsString(fn) && snprintf(name, sizeof name, "%s", fn->valuestring) < (int)sizeof name) {
        const char *t = annotated(name, cJSON_IsString(type) ? type->valuestring : "output");
        const char *root = folders_for_type(t);
        struct stat st;
        if (root && name[0] && !strstr(name, "..") &&
            !safepath_join(root, cJSON_IsString(sub) ? sub->valuestring : "", dir, sizeof dir) &&
            !safepath_join(dir, name, original, sizeof original) && !stat(original, &st)) {
            char err[256];
            if (view_composite_mask(original, (const unsigned char *)file->data, file->len, u.path, err, sizeof err)) {
                cJSON_Delete(r);
                http_reply_text(res, 400, err);
                return;
            }
        }
    }
    cJSON_Delete(r);
    reply_upload(res, &u);
}
