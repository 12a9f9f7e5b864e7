/* mime.h -- content types by file extension, and which ones must never render inline.
 *
 * ComfyUI's CVE-2024-10099: a user-supplied .html/.svg/.js served inline from the
 * server's origin runs script there. Routes that serve user files ask mime_dangerous and
 * send such files as application/octet-stream attachments.
 */
#ifndef CI_SERVER_MIME_H
#define CI_SERVER_MIME_H

/* "image/png" etc.; NULL when unknown. */
const char *mime_guess(const char *filename);
/* HTML, JavaScript, CSS, SVG, any XML, message/rfc822. */
int mime_dangerous(const char *type);

#endif
