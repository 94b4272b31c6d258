/*
 * Paths as a traced process names them: strings read from its memory, made
 * absolute against its working directory or a directory descriptor (both
 * read from /proc), folded lexically, and sorted into what is recorded by
 * default and what is system noise (shared libraries, /proc, devices).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "trace/trace.h"

int trace_read_mem(pid_t tid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {buf, len};
	struct iovec remote = {(void *)(uintptr_t)addr, len};
	ssize_t got;

	if (len == 0)
		return 0;
	got = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	return got == (ssize_t)len ? 0 : -1;
}

int trace_read_str(pid_t tid, uint64_t addr, char *buf, size_t cap)
{
	size_t off = 0;

	if (addr == 0 || cap == 0)
		return -1;
	/* Page by page: a string may end just before an unmapped page. */
	while (off + 1 < cap) {
		size_t room = cap - 1 - off;
		size_t page = 4096 - (size_t)((addr + off) & 4095);
		size_t n = room < page ? room : page;
		struct iovec local = {buf + off, n};
		struct iovec remote = {(void *)(uintptr_t)(addr + off), n};
		ssize_t got = process_vm_readv(tid, &local, 1, &remote, 1, 0);
		char *nul;

		if (got <= 0)
			return -1;
		nul = memchr(buf + off, '\0', (size_t)got);
		if (nul)
			return 0;
		off += (size_t)got;
	}
	buf[cap - 1] = '\0';
	return 1;
}

static int read_link(const char *link, char *out, size_t cap)
{
	ssize_t n = readlink(link, out, cap - 1);

	if (n < 0 || (size_t)n >= cap - 1)
		return -1;
	out[n] = '\0';
	return 0;
}

int trace_fd_path(pid_t tid, int fd, char *out, size_t cap)
{
	char link[64];

	snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)tid, fd);
	return read_link(link, out, cap);
}

/*
 * Append 'path' to the absolute 'out' (length '*len'), folding "." and "..";
 * -1 when it does not fit.
 */
static int fold(char *out, size_t *len, size_t cap, const char *path)
{
	const char *p = path;

	while (*p) {
		const char *end;
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		end = strchr(p, '/');
		n = end ? (size_t)(end - p) : strlen(p);
		if (n == 1 && p[0] == '.') {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (*len > 0 && out[*len - 1] != '/')
				(*len)--;
			if (*len > 1)
				(*len)--; /* the slash, unless it is the root */
			out[*len] = '\0';
		} else {
			if (*len + 1 + n + 1 > cap)
				return -1;
			if (*len > 1 || out[0] != '/')
				out[(*len)++] = '/';
			memcpy(out + *len, p, n);
			*len += n;
			out[*len] = '\0';
		}
		p += n;
	}
	return 0;
}

int trace_resolve(pid_t tid, int dirfd, const char *path, char *out, size_t cap)
{
	size_t len;

	if (cap < 2)
		return -1;
	if (path[0] == '/') {
		out[0] = '/';
		out[1] = '\0';
	} else {
		char link[64];

		if (dirfd == AT_FDCWD)
			snprintf(link, sizeof(link), "/proc/%d/cwd", (int)tid);
		else
			snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)tid, dirfd);
		if (read_link(link, out, cap) != 0 || out[0] != '/')
			return -1;
	}
	len = strlen(out);
	/* The base is absolute already; fold it too (it may be "/"). */
	if (path[0] != '/') {
		char base[4096];

		if (len >= sizeof(base))
			return -1;
		memcpy(base, out, len + 1);
		out[0] = '/';
		out[1] = '\0';
		len = 1;
		if (fold(out, &len, cap, base) != 0)
			return -1;
	}
	return fold(out, &len, cap, path);
}

/* 1 when 'path' is 'dir' or below it. */
static int under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int trace_system_read(const char *path)
{
	static const char *const dirs[] = {"/usr", "/lib",  "/lib32", "/lib64", "/libx32",
	                                   "/bin", "/sbin", "/proc",  "/sys",   "/dev"};
	static const char *const files[] = {"/etc/ld.so.cache", "/etc/ld.so.preload",
	                                    "/etc/ld.so.conf", "/etc/localtime"};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (under(path, dirs[i]))
			return 1;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strcmp(path, files[i]) == 0)
			return 1;
	return 0;
}

int trace_device_write(const char *path)
{
	/* Files on /dev/shm and /dev/mqueue are real; the rest of /dev are devices. */
	return under(path, "/dev") && !under(path, "/dev/shm") && !under(path, "/dev/mqueue");
}
