/*
 * fork_server - a classic forking TCP echo server that knows nothing about
 * luawrap (no SOL_LUA calls). The parent accepts, blocking, and forks one
 * child per connection; the child closes the listener and serves. The
 * parent closes its copy of the connection right after fork (unless -k)
 * and reaps children in a SIGCHLD handler. It is the target of luawrap's
 * multi-process tests: a socket accepted by one process and served by
 * another (or by a new program image after execve) must keep its script,
 * and be released only when the last process holding it lets it go.
 *
 * usage: fork_server [-k N] [-x PATH | -X PATH] PORT
 *        fork_server -H [FD]
 *   PORT     listen on 127.0.0.1:PORT; 0 lets the kernel choose
 *   -k N     the parent keeps its copy of connection N (from 1) open as
 *            well, until it gets SIGUSR1; it closes the others at once
 *   -x PATH  the child execs PATH with the connection as fd 3 (dup2, the
 *            inetd way), argv {PATH, "-H"}, instead of serving itself
 *   -X PATH  the child execs PATH -H <fd>, the connection on the number
 *            accept() gave it (the fd is inherited across execve)
 *   -H [FD]  helper mode: echo on FD (default 3) until EOF, then exit.
 *            `fork_server -x /path/to/fork_server` runs this very binary
 *            as the helper, a new program image in the forked child
 *
 * Serving (child or helper): every chunk received is echoed back. A chunk
 * starting with "QUIT" is answered "bye\n" and the process exits without
 * closing the connection first (the exit closes it), so a test can end a
 * server-side holder while the client keeps the connection open.
 *
 * stdout (line-buffered, one stdio call per line):
 *   listening <port>
 *   accept <n> child <pid>          connection n (from 1) handed to child
 *                                   pid; the parent's copy is closed
 *   accept <n> child <pid> kept     connection -k N: the parent keeps it
 *   parent closed <count>           SIGUSR1 closed count kept copies
 *   child <pid> got <n> bytes       a chunk received and echoed
 *   child <pid> eof <total>         the peer closed; total bytes echoed
 *   child <pid> quit <total>        "QUIT" received; exiting
 *   child <pid> refused             a receive failed with ECONNREFUSED
 *   child <pid> error <ERRNO>       another receive/send error
 *   child <pid> dup2 <ERRNO>        -x: dup2 onto fd 3 failed; exit 1
 *   child <pid> exec <ERRNO>        -x/-X: execve failed; exit 127
 *   helper <pid> ...                the same serving lines from -H
 *   error <ERRNO>                   accept or fork failed (accept: exit 1)
 */
#include "common.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static volatile sig_atomic_t usr1;
static const char *who = "child";

static void usage(void)
{
	die("usage: fork_server [-k N] [-x PATH | -X PATH] PORT\n"
	    "       fork_server -H [FD]");
}

static void on_chld(int sig)
{
	int saved = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

/* on_term ends the whole process group: the children with the parent. */
static void on_term(int sig)
{
	signal(sig, SIG_DFL);
	kill(0, sig);
}

static void set_handler(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = flags;
	if (sigaction(sig, &sa, NULL) == -1)
		die("sigaction %d: %s", sig, strerror(errno));
}

/* serve echoes on fd until EOF, a refusal, an error or "QUIT"; it exits. */
static void __attribute__((noreturn)) serve(int fd)
{
	unsigned long long total = 0;
	char buf[4096];
	int pid = getpid();

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0) {
			printf("%s %d eof %llu\n", who, pid, total);
			break;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED)
				printf("%s %d refused\n", who, pid);
			else
				printf("%s %d error %s\n", who, pid,
				       errname(errno));
			break;
		}
		printf("%s %d got %zd bytes\n", who, pid, n);
		if (n >= 4 && memcmp(buf, "QUIT", 4) == 0) {
			send_all(fd, "bye\n", 4);
			printf("%s %d quit %llu\n", who, pid, total);
			fflush(stdout);
			_exit(0); /* the exit closes fd, not an explicit close */
		}
		if (send_all(fd, buf, (size_t)n) == -1) {
			printf("%s %d error %s\n", who, pid, errname(errno));
			break;
		}
		total += (unsigned long long)n;
	}
	close(fd);
	fflush(stdout);
	_exit(0);
}

/* child runs in the forked process: serve the connection, or exec. */
static void __attribute__((noreturn))
child(int listener, int conn, int parent, const char *exe, int dup3)
{
	char fdarg[16];
	int pid = getpid();

	/* The parent's handlers are not ours; die with the parent. */
	signal(SIGCHLD, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		_exit(1);
	close(listener);
	if (exe == NULL)
		serve(conn);
	if (dup3) {
		if (dup2(conn, 3) == -1) {
			printf("child %d dup2 %s\n", pid, errname(errno));
			fflush(stdout);
			_exit(1);
		}
		if (conn != 3)
			close(conn);
		execl(exe, exe, "-H", (char *)NULL);
	} else {
		snprintf(fdarg, sizeof(fdarg), "%d", conn);
		execl(exe, exe, "-H", fdarg, (char *)NULL);
	}
	printf("child %d exec %s\n", pid, errname(errno));
	fflush(stdout);
	_exit(127);
}

int main(int argc, char **argv)
{
	int opt, listener, helper = 0, dup3 = 0, parent, kept = -1;
	const char *exe = NULL;
	unsigned long nconn = 0, keep = 0;
	char *end;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	while ((opt = getopt(argc, argv, "k:x:X:H")) != -1) {
		switch (opt) {
		case 'k':
			keep = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || keep == 0)
				usage();
			break;
		case 'x':
		case 'X':
			if (exe != NULL)
				usage();
			exe = optarg;
			dup3 = opt == 'x';
			break;
		case 'H':
			helper = 1;
			break;
		default:
			usage();
		}
	}
	if (helper) {
		int fd = 3;

		if (argc - optind > 1 || keep || exe != NULL)
			usage();
		if (argc - optind == 1) {
			long v = strtol(argv[optind], &end, 10);

			if (*argv[optind] == '\0' || *end != '\0' || v < 0 ||
			    v > 1 << 30)
				usage();
			fd = (int)v;
		}
		who = "helper";
		serve(fd);
	}
	if (argc - optind != 1)
		usage();
	listener = make_listener_at(parse_port(argv[optind]), 0, 1);

	set_handler(SIGCHLD, on_chld, SA_RESTART | SA_NOCLDSTOP);
	set_handler(SIGTERM, on_term, 0);
	if (keep)
		set_handler(SIGUSR1, on_usr1, 0); /* no SA_RESTART: accept fails EINTR */
	parent = getpid();

	print_listening(listener);

	for (;;) {
		int conn;
		pid_t pid;

		if (usr1) {
			usr1 = 0;
			if (kept != -1)
				close(kept);
			printf("parent closed %d\n", kept != -1);
			kept = -1;
		}
		conn = accept(listener, NULL, NULL);
		if (conn == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			printf("error %s\n", errname(errno));
			return 1;
		}
		nconn++;
		pid = fork();
		if (pid == -1) {
			printf("error %s\n", errname(errno));
			close(conn);
			continue;
		}
		if (pid == 0)
			child(listener, conn, parent, exe, dup3);
		if (nconn != keep) {
			close(conn);
			printf("accept %lu child %d\n", nconn, (int)pid);
			continue;
		}
		kept = conn;
		printf("accept %lu child %d kept\n", nconn, (int)pid);
	}
}
