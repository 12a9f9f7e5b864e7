/* download.c -- see download.h. */
#include "base/download.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DL_MAX_BYTES (256L << 20)   /* far above any file fetched this way */

typedef struct dl_sink {
    FILE *f;
    EVP_MD_CTX *md;
    int failed;        /* a write or hash error, to tell it apart from curl's own */
} dl_sink;

static size_t dl_write(char *p, size_t size, size_t n, void *ud) {
    dl_sink *s = ud;
    size_t len = size * n;
    if (fwrite(p, 1, len, s->f) != len || !EVP_DigestUpdate(s->md, p, len)) {
        s->failed = 1;
        return 0;      /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return len;
}

/* curl_global_init is not thread-safe; the first download does it, once. */
static pthread_once_t dl_once = PTHREAD_ONCE_INIT;
static CURLcode dl_init_rc;
static void dl_init(void) { dl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static int dl_transfer(const char *url, dl_sink *s, char *err, size_t errlen) {
    CURL *h = curl_easy_init();
    if (!h) { snprintf(err, errlen, "%s: cannot start a transfer", url); return -1; }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);   /* under 1 KB/s for 60 s: give up */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)DL_MAX_BYTES);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);              /* called from worker threads */
    curl_easy_setopt(h, CURLOPT_USERAGENT, "comfyui-ipex/" CI_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, dl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc == CURLE_OK) return 0;
    if (s->failed) snprintf(err, errlen, "%s: cannot write the download: %s", url, strerror(errno));
    else snprintf(err, errlen, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
    return -1;
}

int download_verified(const char *url, const char *dest, const char *sha256_hex, char *err,
                      size_t errlen) {
    pthread_once(&dl_once, dl_init);
    if (dl_init_rc != CURLE_OK) {
        snprintf(err, errlen, "%s: libcurl: %s", url, curl_easy_strerror(dl_init_rc));
        return -1;
    }
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.part-XXXXXX", dest) >= (int)sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", dest);
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) { snprintf(err, errlen, "%s: %s", tmp, strerror(errno)); return -1; }
    dl_sink s = {fdopen(fd, "wb"), EVP_MD_CTX_new(), 0};
    int rc = -1;
    uint8_t d[32];
    char got[65] = "";
    if (!s.f || !s.md || !EVP_DigestInit_ex(s.md, EVP_sha256(), NULL)) {
        snprintf(err, errlen, "%s: out of memory", url);
    } else if (dl_transfer(url, &s, err, errlen) == 0) {
        EVP_DigestFinal_ex(s.md, d, NULL);
        for (int i = 0; i < 32; i++) sprintf(got + 2 * i, "%02x", d[i]);
        if (strcmp(got, sha256_hex) != 0)
            snprintf(err, errlen, "%s: sha256 %s, expected %s: not the file this build "
                     "knows (a changed or tampered copy); not used", url, got, sha256_hex);
        else rc = 0;
    }
    if (s.f ? fclose(s.f) != 0 : (close(fd), 0)) {
        if (!rc) snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        rc = -1;
    }
    EVP_MD_CTX_free(s.md);
    if (!rc && rename(tmp, dest) != 0) {
        snprintf(err, errlen, "%s: %s", dest, strerror(errno));
        rc = -1;
    }
    if (rc) unlink(tmp);
    return rc;
}
