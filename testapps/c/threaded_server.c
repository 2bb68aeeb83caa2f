/*
 * threaded_server - a thread-per-connection HTTP/1.1 keep-alive server using
 * the SOL_LUA API. Unlike the thesis's server (one recv per connection) each
 * connection loops on recv() until EOF or an error, so luawrap's per-message
 * inspection, its per-socket Lua state and concurrent receives get exercised.
 *
 * usage: threaded_server [-n] [-6] [-s] PORT SCRIPT [ENTRY]
 *   -n     no ULP: skip the SOL_LUA setup (bare-kernel smoke test)
 *   -6     listen on [::] instead of 0.0.0.0
 *   -s     print SS_LUA_STATS of the listener on SIGUSR1 and at exit
 *          (SIGTERM/SIGINT)
 *   PORT   0 lets the kernel choose; the real port is printed
 *   ENTRY  Lua entry function, default "process"
 *
 * stdout (line-buffered, one line per event; C is the connection number,
 * counting from 1 in accept order):
 *   listening <port>
 *   C accept
 *   C recv <n> <hex>     each recv() that returned data; one reply is sent
 *   C refused            recv() failed with ECONNREFUSED; connection closed
 *   C eof                recv() returned 0; connection closed
 *   C error <ERRNO>      recv() failed otherwise; connection closed
 *   error <ERRNO>        accept() failed; the server exits 1
 *   stats inspected=<n> passed=<n> refused=<n> errors=<n>   (-s)
 *   stats error <ERRNO>  (-s, getsockopt failed, e.g. ENOPROTOOPT with -n)
 *   exit                 SIGTERM/SIGINT handled, exiting 0
 */
#include "common.h"

#include <pthread.h>
#include <signal.h>

static int listener;
static int want_stats;

static const char reply[] = "HTTP/1.1 200 OK\r\n"
			    "Content-Type: text/plain\r\n"
			    "Content-Length: 3\r\n"
			    "\r\n"
			    "ok\n";

static void usage(void)
{
	die("usage: threaded_server [-n] [-6] [-s] PORT SCRIPT [ENTRY]");
}

static void print_stats(void)
{
	struct sol_lua_stats st;
	socklen_t len = sizeof(st);

	memset(&st, 0, sizeof(st));
	if (getsockopt(listener, SOL_LUA, SS_LUA_STATS, &st, &len) == -1) {
		printf("stats error %s\n", errname(errno));
		return;
	}
	printf("stats inspected=%llu passed=%llu refused=%llu errors=%llu\n",
	       (unsigned long long)st.inspected, (unsigned long long)st.passed,
	       (unsigned long long)st.refused, (unsigned long long)st.errors);
}

/*
 * Signals are handled synchronously by one thread with sigwait(), so the
 * stats can be printed with stdio (not async-signal-safe in a handler).
 */
static void *signal_thread(void *arg)
{
	sigset_t *set = arg;
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGUSR1) {
			if (want_stats)
				print_stats();
			continue;
		}
		if (want_stats)
			print_stats();
		printf("exit\n");
		fflush(stdout);
		exit(0);
	}
	return NULL;
}

struct conn {
	int fd;
	unsigned long id;
};

static void *serve(void *arg)
{
	struct conn *c = arg;
	char prefix[32];
	static __thread char msg[8192];

	snprintf(prefix, sizeof(prefix), "%lu ", c->id);
	for (;;) {
		ssize_t n = recv(c->fd, msg, sizeof(msg), 0);

		if (n == 0) {
			printf("%seof\n", prefix);
			break;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED)
				printf("%srefused\n", prefix);
			else
				printf("%serror %s\n", prefix, errname(errno));
			break;
		}
		log_recv(prefix, msg, (size_t)n);
		/*
		 * One reply per recv: a test sends one request and waits for
		 * its reply before the next, so each recv holds one message.
		 */
		if (send_all(c->fd, reply, sizeof(reply) - 1) == -1) {
			printf("%serror %s\n", prefix, errname(errno));
			break;
		}
	}
	close(c->fd);
	free(c);
	return NULL;
}

int main(int argc, char **argv)
{
	int noulp = 0, v6 = 0, opt, port;
	const char *script, *entry = "process";
	unsigned long nconn = 0;
	static sigset_t set;
	pthread_attr_t attr;
	pthread_t th;
	char *buff;
	size_t sz;

	setvbuf(stdout, NULL, _IOLBF, 0);

	while ((opt = getopt(argc, argv, "n6s")) != -1) {
		switch (opt) {
		case 'n':
			noulp = 1;
			break;
		case '6':
			v6 = 1;
			break;
		case 's':
			want_stats = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 2 || argc - optind > 3)
		usage();
	port = parse_port(argv[optind]);
	script = argv[optind + 1];
	if (argc - optind == 3)
		entry = argv[optind + 2];
	if (strlen(entry) + 1 > SOL_LUA_ENTRY_MAX)
		die("entry name too long (max %d bytes including NUL)",
		    SOL_LUA_ENTRY_MAX - 1);

	/*
	 * Block the signals before any thread exists so every thread
	 * inherits the mask and only signal_thread ever receives them.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A client that resets mid-reply must not kill the process. */
	signal(SIGPIPE, SIG_IGN);

	listener = make_listener(port, v6);

	if (!noulp) {
		buff = read_file(script, &sz);
		if (setsockopt(listener, SOL_TCP, TCP_ULP, "lua",
			       sizeof("lua")) == -1)
			die("setsockopt TCP_ULP: %s", strerror(errno));
		if (setsockopt(listener, SOL_LUA, SS_LUA_LOADSCRIPT, buff,
			       sz) == -1)
			die("setsockopt SS_LUA_LOADSCRIPT: %s", strerror(errno));
		/* The NUL is part of optlen, as in the thesis. */
		if (setsockopt(listener, SOL_LUA, SS_LUA_ENTRYPOINT, entry,
			       strlen(entry) + 1) == -1)
			die("setsockopt SS_LUA_ENTRYPOINT: %s", strerror(errno));
		free(buff);
	}

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, signal_thread, &set) != 0)
		die("pthread_create: %s", strerror(errno));

	print_listening(listener);

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct conn *c;
		int fd, rc;

		fd = accept(listener, (struct sockaddr *)&ss, &sl);
		if (fd == -1) {
			/* Transient per-connection failures: keep serving. */
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			printf("error %s\n", errname(errno));
			return 1;
		}
		c = malloc(sizeof(*c));
		if (c == NULL)
			die("out of memory");
		c->fd = fd;
		c->id = ++nconn;
		printf("%lu accept\n", c->id);
		rc = pthread_create(&th, &attr, serve, c);
		if (rc != 0) {
			printf("%lu error %s\n", c->id, errname(rc));
			close(fd);
			free(c);
		}
	}
}
