/*
 * common.h - small helpers shared by the luawrap C test servers.
 *
 * Only plumbing lives here (script loading, listener creation, log lines);
 * the SOL_LUA calls stay inline in each server so every program reads like
 * an application written for the original kernel module.
 *
 * Log lines go to stdout, one per event, written with a single stdio call
 * so that lines from different threads never interleave (stdio locks the
 * FILE per call). The Go test helper (testapps.go) parses them.
 */
#ifndef LUAWRAP_TESTAPPS_COMMON_H
#define LUAWRAP_TESTAPPS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <luawrap/sol_lua.h>

/* errname returns "ECONNREFUSED" etc.; tests match on names, not numbers. */
static inline const char *errname(int err)
{
	static __thread char buf[32];
	const char *s = strerrorname_np(err);

	if (s != NULL)
		return s;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

/* die prints a setup error to stderr and exits 1. */
static inline void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * read_file loads the whole script into memory. The original module took
 * the script as the setsockopt option value, so the bytes are passed as is
 * (no NUL terminator counted in the length).
 */
static inline char *read_file(const char *path, size_t *szp)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, sz = 0, n;

	if (f == NULL)
		die("open %s: %s", path, strerror(errno));
	for (;;) {
		if (sz == cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			if (buf == NULL)
				die("read %s: out of memory", path);
		}
		n = fread(buf + sz, 1, cap - sz, f);
		if (n == 0)
			break;
		sz += n;
	}
	if (ferror(f))
		die("read %s: %s", path, strerror(errno));
	fclose(f);
	*szp = sz;
	return buf;
}

/* parse_port accepts 0..65535; 0 lets the kernel choose (see print_listening). */
static inline int parse_port(const char *s)
{
	char *end;
	long p = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || p < 0 || p > 65535)
		die("bad port %s", s);
	return (int)p;
}

/*
 * make_listener_at binds port on the wildcard address (0.0.0.0, or [::]
 * with v6) or, with loopback, on 127.0.0.1 / ::1, and listens. The ULP is
 * attached by the caller afterwards: the module only allowed scripts on
 * sockets in TCP_LISTEN state (thesis, section 5.2).
 */
static inline int make_listener_at(int port, int v6, int loopback)
{
	int fd, one = 1;

	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	if (fd == -1)
		die("socket: %s", strerror(errno));
	/* Tests restart servers quickly; TIME_WAIT must not block bind. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		die("setsockopt SO_REUSEADDR: %s", strerror(errno));
	if (v6) {
		struct sockaddr_in6 a;

		memset(&a, 0, sizeof(a));
		a.sin6_family = AF_INET6;
		a.sin6_addr = loopback ? in6addr_loopback : in6addr_any;
		a.sin6_port = htons(port);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1)
			die("bind [%s]:%d: %s", loopback ? "::1" : "::", port, strerror(errno));
	} else {
		struct sockaddr_in a;

		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
		a.sin_port = htons(port);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1)
			die("bind %s:%d: %s", loopback ? "127.0.0.1" : "0.0.0.0", port, strerror(errno));
	}
	if (listen(fd, 128) == -1)
		die("listen: %s", strerror(errno));
	return fd;
}

/* make_listener binds 0.0.0.0:port (or [::]:port with v6) and listens. */
static inline int make_listener(int port, int v6)
{
	return make_listener_at(port, v6, 0);
}

/*
 * print_listening prints "listening <port>" with the port the kernel really
 * bound (servers accept port 0 so parallel tests never race for ports).
 */
static inline void print_listening(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int port;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		die("getsockname: %s", strerror(errno));
	if (ss.ss_family == AF_INET6)
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	printf("listening %d\n", port);
}

/*
 * log_recv prints "<prefix>recv <n> <hex>" as one stdio call. Hex keeps the
 * line parseable whatever the bytes are (CR/LF, NUL, binary).
 */
static inline void log_recv(const char *prefix, const char *buf, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *line = malloc(n * 2 + 1);
	size_t i;

	if (line == NULL)
		die("out of memory");
	for (i = 0; i < n; i++) {
		line[2 * i] = digits[(unsigned char)buf[i] >> 4];
		line[2 * i + 1] = digits[(unsigned char)buf[i] & 15];
	}
	line[2 * n] = '\0';
	printf("%srecv %zu %s\n", prefix, n, line);
	free(line);
}

/* send_all writes the whole reply, retrying short writes and EINTR. */
static inline int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		/* MSG_NOSIGNAL: a client that went away must not kill us. */
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

#endif /* LUAWRAP_TESTAPPS_COMMON_H */
