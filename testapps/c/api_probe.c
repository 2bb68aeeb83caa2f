/*
 * api_probe - exercises the SOL_LUA API one call at a time and prints what
 * each call returned, for the end-to-end tests (e2e/api_test.go).
 *
 * It is its own client: the client sockets it connects to its own Lua
 * listener are ordinary fds of the program, so only the server side goes
 * through luawrap. Every result line is "CHECK <name> <value>", where value
 * is a number, "ok", or an errno name.
 *
 * Usage: api_probe [-n]   (-n: run bare, skipping the Lua setup)
 */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>

#define SCRIPT "n = 0\n" \
	"function process(s) n = n + 1\n" \
	"  if s:find('BAD', 1, true) then return false end\n" \
	"  return true end\n"

static int bare;
static void *volatile bad_ptr = (void *)8; /* an address no program maps */

static void check(const char *name, long rc)
{
	if (rc < 0)
		printf("CHECK %s %s\n", name, errname(errno));
	else
		printf("CHECK %s %ld\n", name, rc);
	fflush(stdout);
}

static int tcp_socket(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0)
		die("socket: %s", strerror(errno));
	return s;
}

/* lua_listener: a listener on 127.0.0.1:0 set up as in the thesis (Cód. 8). */
static int lua_listener(int nonblock, struct sockaddr_in *addr)
{
	int l = tcp_socket(), one = 1;
	socklen_t len = sizeof(*addr);

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!bare) {
		if (setsockopt(l, SOL_TCP, TCP_ULP, "lua", sizeof("lua")) ||
		    setsockopt(l, SOL_LUA, SS_LUA_LOADSCRIPT, SCRIPT, strlen(SCRIPT)) ||
		    setsockopt(l, SOL_LUA, SS_LUA_ENTRYPOINT, "process", sizeof("process")))
			die("lua setup: %s", strerror(errno));
	}
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)addr, sizeof(*addr)) || listen(l, 16) ||
	    getsockname(l, (struct sockaddr *)addr, &len))
		die("listen: %s", strerror(errno));
	if (nonblock)
		fcntl(l, F_SETFL, O_NONBLOCK);
	return l;
}

static int connect_to(struct sockaddr_in *addr)
{
	int c = tcp_socket();

	if (connect(c, (struct sockaddr *)addr, sizeof(*addr)))
		die("connect: %s", strerror(errno));
	return c;
}

/* pair returns an accepted (managed) socket and its client end. */
static int pair(int l, struct sockaddr_in *addr, int *client)
{
	int s;

	*client = connect_to(addr);
	s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept: %s", strerror(errno));
	return s;
}

static void wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	poll(&p, 1, 5000);
}

static void test_ulp(void)
{
	int s = tcp_socket(), u = socket(AF_INET, SOCK_DGRAM, 0);
	int un = socket(AF_UNIX, SOCK_STREAM, 0);
	char name[16];
	socklen_t len;

	check("ulp_first", setsockopt(s, SOL_TCP, TCP_ULP, "lua", sizeof("lua")));
	check("ulp_again", setsockopt(s, SOL_TCP, TCP_ULP, "lua", sizeof("lua")));
	check("ulp_udp", setsockopt(u, SOL_TCP, TCP_ULP, "lua", sizeof("lua")));
	check("ulp_unix", setsockopt(un, SOL_TCP, TCP_ULP, "lua", sizeof("lua")));
	check("ulp_file", setsockopt(1, SOL_TCP, TCP_ULP, "lua", sizeof("lua")));
	check("ulp_badfd", setsockopt(999999, SOL_TCP, TCP_ULP, "lua", sizeof("lua")));
	close(s);
	s = tcp_socket();
	check("ulp_tls", setsockopt(s, SOL_TCP, TCP_ULP, "tls", sizeof("tls")));
	check("ulp_nodelay", setsockopt(s, SOL_TCP, TCP_NODELAY, &(int){1}, sizeof(int)));
	/* SOL_LUA on a TCP socket without the ULP */
	check("sollua_noulp_set", setsockopt(s, SOL_LUA, SS_LUA_ENTRYPOINT, "process", 8));
	len = sizeof(name);
	check("sollua_noulp_get", getsockopt(s, SOL_LUA, SS_LUA_ENTRYPOINT, name, &len));
	close(s);
	close(u);
	close(un);
}

static void test_sollua(void)
{
	int s = tcp_socket();
	char big[70], name[80];
	char *huge;
	socklen_t len;
	struct sol_lua_stats st;

	setsockopt(s, SOL_TCP, TCP_ULP, "lua", sizeof("lua"));
	check("load_ok", setsockopt(s, SOL_LUA, SS_LUA_LOADSCRIPT, SCRIPT, strlen(SCRIPT)));
	check("load_syntax", setsockopt(s, SOL_LUA, SS_LUA_LOADSCRIPT, "function (", 10));
	check("load_runtime", setsockopt(s, SOL_LUA, SS_LUA_LOADSCRIPT, "error('x')", 10));
	check("load_bytecode", setsockopt(s, SOL_LUA, SS_LUA_LOADSCRIPT, "\x1bLua\x53", 5));
	huge = malloc(SOL_LUA_SCRIPT_MAX + 1);
	memset(huge, ' ', SOL_LUA_SCRIPT_MAX + 1);
	check("load_8193", setsockopt(s, SOL_LUA, SS_LUA_LOADSCRIPT, huge, 8193));
	check("load_over", setsockopt(s, SOL_LUA, SS_LUA_LOADSCRIPT, huge, SOL_LUA_SCRIPT_MAX + 1));
	check("load_efault", setsockopt(s, SOL_LUA, SS_LUA_LOADSCRIPT, bad_ptr, 10));
	free(huge);
	check("entry_nul", setsockopt(s, SOL_LUA, SS_LUA_ENTRYPOINT, "process", sizeof("process")));
	len = sizeof(name);
	memset(name, 'x', sizeof(name));
	check("get_entry", getsockopt(s, SOL_LUA, SS_LUA_ENTRYPOINT, name, &len));
	printf("CHECK get_entry_value %s\n", name);
	check("get_entry_len", len);
	len = 3;
	check("get_entry_short", getsockopt(s, SOL_LUA, SS_LUA_ENTRYPOINT, name, &len));
	check("get_entry_short_len", len);
	check("entry_nonul", setsockopt(s, SOL_LUA, SS_LUA_ENTRYPOINT, "check", 5));
	len = sizeof(name);
	getsockopt(s, SOL_LUA, SS_LUA_ENTRYPOINT, name, &len);
	printf("CHECK get_entry_value2 %s\n", name);
	memset(big, 'a', sizeof(big));
	check("entry_64", setsockopt(s, SOL_LUA, SS_LUA_ENTRYPOINT, big, 64));
	check("entry_65", setsockopt(s, SOL_LUA, SS_LUA_ENTRYPOINT, big, 65));
	check("entry_empty", setsockopt(s, SOL_LUA, SS_LUA_ENTRYPOINT, "", 1));
	check("unknown_set", setsockopt(s, SOL_LUA, 77, "x", 1));
	len = sizeof(name);
	check("unknown_get", getsockopt(s, SOL_LUA, 77, name, &len));
	len = sizeof(st);
	check("stats", getsockopt(s, SOL_LUA, SS_LUA_STATS, &st, &len));
	check("stats_len", len);
	len = -1;
	check("get_neglen", getsockopt(s, SOL_LUA, SS_LUA_STATS, &st, &len));
	close(s);
}

static void test_accept(void)
{
	struct sockaddr_in addr, peer;
	struct sockaddr_storage ss;
	int l = lua_listener(1, &addr), c, s, fl;
	socklen_t len;
	char name[32];

	check("accept_eagain", accept(l, NULL, NULL));
	c = connect_to(&addr);
	wait_readable(l);
	len = 4;
	memset(&ss, 0xee, sizeof(ss));
	s = accept4(l, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	check("accept4", s >= 0 ? 0 : -1);
	check("accept4_fd_in_range", s >= 1024 ? 1 : 0);
	check("accept4_len", len);
	check("accept4_family_copied", ((struct sockaddr_in *)&ss)->sin_family);
	check("accept4_port_untouched", ((unsigned char *)&ss)[4]);
	fl = fcntl(s, F_GETFL);
	check("accept4_nonblock", (fl & O_NONBLOCK) != 0);
	check("accept4_cloexec", (fcntl(s, F_GETFD) & FD_CLOEXEC) != 0);
	len = sizeof(name);
	memset(name, 0, sizeof(name));
	check("getulp", getsockopt(s, SOL_TCP, TCP_ULP, name, &len));
	printf("CHECK getulp_name %s\n", name[0] ? name : "-");
	check("getulp_len", len);
	close(s);
	close(c);

	c = connect_to(&addr);
	wait_readable(l);
	len = -1;
	check("accept_neglen", accept(l, (struct sockaddr *)&peer, &len));
	len = sizeof(peer);
	s = accept(l, (struct sockaddr *)&peer, &len);
	check("accept_after_neglen", s >= 0 ? 0 : -1);
	check("accept_len", len);
	check("accept_peer_matches", peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
	fl = fcntl(s, F_GETFL);
	check("accept_blocking", (fl & O_NONBLOCK) == 0);
	check("accept_no_cloexec", (fcntl(s, F_GETFD) & FD_CLOEXEC) == 0);
	check("accept4_badflags", accept4(l, NULL, NULL, 0x4000000));
	close(s);
	close(c);
	close(l);
}

static void test_recv(void)
{
	struct sockaddr_in addr;
	int l = lua_listener(0, &addr), c, s, s2, i;
	char buf[256];
	struct sol_lua_stats st;
	socklen_t len = sizeof(st);
	struct iovec iov[2];
	struct msghdr mh;
	struct sockaddr_in from;

	s = pair(l, &addr, &c);
	/* SO_RCVTIMEO bounds a blocking receive (and accept) as in the kernel */
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ 0, 30000 }, sizeof(struct timeval));
	check("recv_rcvtimeo", recv(s, buf, sizeof(buf), 0));
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ 0, 0 }, sizeof(struct timeval));
	setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ 0, 30000 }, sizeof(struct timeval));
	check("accept_rcvtimeo", accept(l, NULL, NULL));
	setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ 0, 0 }, sizeof(struct timeval));
	fcntl(s, F_SETFL, O_NONBLOCK);
	check("recv_eagain", recv(s, buf, sizeof(buf), 0));
	check("recv_dontwait", recv(s, buf, sizeof(buf), MSG_DONTWAIT));
	fcntl(s, F_SETFL, 0);
	write(c, "hello world\n", 12);
	check("recv_len0", recv(s, buf, 0, 0));
	check("peek", recv(s, buf, 5, MSG_PEEK));
	check("peek_again", recv(s, buf, sizeof(buf), MSG_PEEK));
	/* one byte at a time: the script must run once for the message */
	for (i = 0; i < 12; i++)
		if (read(s, buf + i, 1) != 1)
			break;
	buf[12] = 0;
	check("bytewise_count", i);
	printf("CHECK bytewise_data %s", buf);
	getsockopt(l, SOL_LUA, SS_LUA_STATS, &st, &len);
	check("bytewise_inspected", (long)st.inspected);
	/* MSG_WAITALL gathers two writes */
	write(c, "abc", 3);
	write(c, "defgh", 5);
	check("waitall", recv(s, buf, 8, MSG_WAITALL));
	/* recvfrom writes addrlen 0 for TCP; recvmsg scatters over iovecs */
	write(c, "0123456789", 10);
	len = sizeof(from);
	check("recvfrom", recvfrom(s, buf, 4, 0, (struct sockaddr *)&from, &len));
	check("recvfrom_addrlen", len);
	iov[0] = (struct iovec){ buf, 2 };
	iov[1] = (struct iovec){ buf + 100, 10 };
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	mh.msg_flags = 0x7f;
	check("recvmsg", recvmsg(s, &mh, 0));
	buf[2] = 0;
	buf[104] = 0;
	printf("CHECK recvmsg_data %s|%s\n", buf, buf + 100);
	check("recvmsg_flags", mh.msg_flags);
	write(c, "xy", 2);
	check("readv_efault", readv(s, (struct iovec[]){ { bad_ptr, 4 } }, 1));
	check("read_efault", read(s, bad_ptr, 4));
	check("read_after_efault", read(s, buf, sizeof(buf)));
	/* dup keeps the copy managed: receives on it are judged too */
	s2 = dup(s);
	check("dup_in_range", s2 >= 1024);
	close(s2);
	s2 = fcntl(s, F_DUPFD_CLOEXEC, 0);
	check("fdupfd_in_range", s2 >= 1024);
	check("fdupfd_cloexec", (fcntl(s2, F_GETFD) & FD_CLOEXEC) != 0);
	check("dup2_low", dup2(s, 100));
	close(100);
	write(c, "BAD", 3);
	check("dup_refused", recv(s2, buf, sizeof(buf), 0));
	check("refused_sticks", recv(s, buf, sizeof(buf), MSG_DONTWAIT));
	close(s2);
	close(s);
	/* the program's close is final: the client sees end of stream */
	check("client_sees_eof", read(c, buf, sizeof(buf)));
	close(c);

	/* end of stream and reset */
	s = pair(l, &addr, &c);
	close(c);
	check("recv_eof", recv(s, buf, sizeof(buf), 0));
	close(s);
	s = pair(l, &addr, &c);
	setsockopt(c, SOL_SOCKET, SO_LINGER, &(struct linger){ 1, 0 }, sizeof(struct linger));
	close(c);
	wait_readable(s);
	check("recv_reset", recv(s, buf, sizeof(buf), 0));
	close(s);
	len = sizeof(st);
	getsockopt(l, SOL_LUA, SS_LUA_STATS, &st, &len);
	printf("CHECK stats_final %llu %llu %llu %llu\n", (unsigned long long)st.inspected,
	       (unsigned long long)st.passed, (unsigned long long)st.refused, (unsigned long long)st.errors);
	close(l);
}

/* io_uring would bypass seccomp: luawrap makes io_uring_setup fail. */
static void test_io_uring(void)
{
	char params[120] = { 0 }; /* struct io_uring_params */
	long fd = syscall(SYS_io_uring_setup, 4, params);

	check("io_uring_setup", fd < 0 ? -1 : 0);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	bare = argc > 1 && strcmp(argv[1], "-n") == 0;
	test_io_uring();
	if (!bare) {
		test_ulp();
		test_sollua();
	}
	test_accept();
	test_recv();
	printf("DONE\n");
	return 0;
}
