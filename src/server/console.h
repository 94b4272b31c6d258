/*
 * The web console's files, compiled into the binary: cmake/embed.cmake
 * writes the table from src/server/console/ at build time, and
 * route_console.c serves it at / and /console/NAME.
 */
#ifndef AGENTRAIL_SERVER_CONSOLE_H
#define AGENTRAIL_SERVER_CONSOLE_H

#include <stddef.h>

struct srv_asset {
	const char *name;          /* "app.js": a plain file name */
	const unsigned char *data; /* its bytes (NUL-terminated, 'len' excludes the NUL) */
	size_t len;
	const char *etag; /* a strong ETag, quoted: '"' + 16 hex digits of SHA-256 + '"' */
};

extern const struct srv_asset srv_console_assets[];
extern const size_t srv_console_nassets;

#endif
