/* mime.c -- see mime.h. */
#include "server/mime.h"

#include <string.h>
#include <strings.h>

static const struct { const char *ext, *type; } table[] = {
    {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".webp", "image/webp"},
    {".gif", "image/gif"}, {".bmp", "image/bmp"}, {".tif", "image/tiff"}, {".tiff", "image/tiff"},
    {".ico", "image/vnd.microsoft.icon"}, {".svg", "image/svg+xml"}, {".avif", "image/avif"},
    {".ppm", "image/x-portable-pixmap"}, {".pgm", "image/x-portable-graymap"},
    {".json", "application/json"}, {".txt", "text/plain"}, {".md", "text/markdown"}, {".csv", "text/csv"},
    {".html", "text/html"}, {".htm", "text/html"}, {".xhtml", "application/xhtml+xml"},
    {".js", "text/javascript"}, {".mjs", "text/javascript"}, {".css", "text/css"}, {".xml", "application/xml"},
    {".eml", "message/rfc822"}, {".mht", "message/rfc822"}, {".mhtml", "message/rfc822"},
    {".mp4", "video/mp4"}, {".webm", "video/webm"}, {".mov", "video/quicktime"}, {".mkv", "video/x-matroska"},
    {".mp3", "audio/mpeg"}, {".wav", "audio/x-wav"}, {".flac", "audio/flac"}, {".ogg", "audio/ogg"},
    {".opus", "audio/ogg"}, {".m4a", "audio/mp4"},
    {".glb", "model/gltf-binary"}, {".gltf", "model/gltf+json"}, {".obj", "model/obj"},
    {".woff", "font/woff"}, {".woff2", "font/woff2"}, {".ttf", "font/ttf"},
    {".wasm", "application/wasm"}, {".pdf", "application/pdf"}, {".zip", "application/zip"},
    {".safetensors", "application/octet-stream"}, {".latent", "application/octet-stream"},
};

const char *mime_guess(const char *filename) {
    const char *slash = strrchr(filename, '/');
    const char *dot = strrchr(slash ? slash + 1 : filename, '.');
    if (!dot) return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcasecmp(dot, table[i].ext)) return table[i].type;
    return NULL;
}

int mime_dangerous(const char *type) {
    if (!type) return 0;
    size_t n = strcspn(type, ";");
    static const char *const exact[] = {"text/html", "text/javascript", "application/javascript", "text/css",
                                        "image/svg+xml", "application/xhtml+xml", "message/rfc822"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strlen(exact[i]) == n && !strncasecmp(type, exact[i], n)) return 1;
    if (n >= 4 && !strncasecmp(type + n - 4, "/xml", 4)) return 1;
    if (n >= 4 && !strncasecmp(type + n - 4, "+xml", 4)) return 1;
    return 0;
}
