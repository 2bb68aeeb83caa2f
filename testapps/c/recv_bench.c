/*
 * recv_bench - times one receive on a Lua socket (trapped: judged and
 * delivered by luawrap) and one read on an ordinary fd (never trapped),
 * for e2e/bench_test.go. Prints "ns_per_op <float>".
 *
 * Usage: recv_bench [-n] recv|read ITERATIONS
 *   recv: a 64-byte message written by a client, then recv() on the
 *         accepted Lua socket, ITERATIONS times;
 *   read: read() of 64 bytes from /dev/zero, ITERATIONS times.
 *   -n:   no ULP (run bare).
 */
#include "common.h"

#include <fcntl.h>
#include <time.h>

#define SCRIPT "function process(s) return true end"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int bare = 0, i = 1, l, c, s, one = 1;
	long n;
	char buf[64], msg[64];
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	double t0, t1;

	if (argc > 1 && strcmp(argv[1], "-n") == 0) {
		bare = 1;
		i++;
	}
	if (argc != i + 2)
		die("usage: recv_bench [-n] recv|read ITERATIONS");
	n = atol(argv[i + 1]);
	memset(msg, 'x', sizeof(msg));
	if (strcmp(argv[i], "read") == 0) {
		int z = open("/dev/zero", O_RDONLY);

		t0 = now_ns();
		for (long k = 0; k < n; k++)
			if (read(z, buf, sizeof(buf)) != sizeof(buf))
				die("read: %s", strerror(errno));
		t1 = now_ns();
		printf("ns_per_op %.1f\n", (t1 - t0) / n);
		return 0;
	}
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (!bare && (setsockopt(l, SOL_TCP, TCP_ULP, "lua", sizeof("lua")) ||
		      setsockopt(l, SOL_LUA, SS_LUA_LOADSCRIPT, SCRIPT, strlen(SCRIPT)) ||
		      setsockopt(l, SOL_LUA, SS_LUA_ENTRYPOINT, "process", sizeof("process"))))
		die("lua setup: %s", strerror(errno));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)&addr, sizeof(addr)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&addr, &len))
		die("listen: %s", strerror(errno));
	c = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c, (struct sockaddr *)&addr, sizeof(addr)))
		die("connect: %s", strerror(errno));
	s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept: %s", strerror(errno));
	t0 = now_ns();
	for (long k = 0; k < n; k++) {
		if (write(c, msg, sizeof(msg)) != sizeof(msg))
			die("write: %s", strerror(errno));
		if (recv(s, buf, sizeof(buf), MSG_WAITALL) != sizeof(buf))
			die("recv: %s", strerror(errno));
	}
	t1 = now_ns();
	printf("ns_per_op %.1f\n", (t1 - t0) / n);
	return 0;
}
