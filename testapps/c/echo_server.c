/*
 * echo_server - byte-exact echo target for luawrap's signal and syscall
 * stress tests. Every connection gets a thread that echoes back exactly what
 * it receives. The read call, the buffer size, blocking mode and a 1 kHz
 * SIGALRM storm are selectable, so a test can check that luawrap delivers
 * every byte once, in order, whatever syscall and interruption pattern the
 * server uses.
 *
 * usage: echo_server [-n] [-6] [-N] [-b N] [-m read|recv|recvfrom|recvmsg|readv]
 *                    [-a restart|norestart|off] PORT [SCRIPT [ENTRY]]
 *   -n     no ULP: skip the SOL_LUA setup; SCRIPT may then be omitted
 *   -6     listen on [::] instead of 0.0.0.0
 *   -N     accepted sockets are O_NONBLOCK; wait for data with poll()
 *   -b N   read buffer size in bytes (default 4096; 1 = byte at a time)
 *   -m M   receive call (default recv). recvmsg and readv split the buffer
 *          into two iovecs when N >= 2, to exercise scatter copies
 *   -a A   SIGALRM handler with SA_RESTART (restart), without (norestart),
 *          or none (off, default); with a handler, setitimer(ITIMER_REAL)
 *          fires every 1 ms. EINTR is always retried. The main thread
 *          blocks SIGALRM, so the storm lands on the connection threads and
 *          interrupts their receives (not the listener's accept).
 *   PORT   0 lets the kernel choose; the real port is printed
 *
 * stdout (line-buffered):
 *   listening <port>
 *   accept <C>                      connection C (from 1) accepted
 *   eof <C> <bytes> <alarms>        peer closed; bytes echoed on C, and
 *                                   SIGALRMs handled so far (process-wide)
 *   refused <C>                     receive failed with ECONNREFUSED; closed
 *   error <C> <ERRNO>               other receive/send error; closed
 *   error <ERRNO>                   accept failed; exit 1
 */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/uio.h>

enum method { M_READ, M_RECV, M_RECVFROM, M_RECVMSG, M_READV };

static size_t bufsize = 4096;
static enum method method = M_RECV;
static int nonblock;
static volatile sig_atomic_t alarms;
static int alarm_on;

struct conn {
	int fd;
	unsigned long id;
};

static void usage(void)
{
	die("usage: echo_server [-n] [-6] [-N] [-b N] "
	    "[-m read|recv|recvfrom|recvmsg|readv] "
	    "[-a restart|norestart|off] PORT [SCRIPT [ENTRY]]");
}

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* wait_fd blocks in poll() until fd is ready; EINTR is retried. */
static int wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int r = poll(&p, 1, -1);

		if (r >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* do_read performs one receive with the selected call. */
static ssize_t do_read(int fd, char *buf, size_t n)
{
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	struct iovec iov[2];
	int niov = 1;
	struct msghdr mh;

	/* Two iovecs: luawrap must scatter approved bytes like the kernel. */
	iov[0].iov_base = buf;
	iov[0].iov_len = n;
	if (n >= 2) {
		iov[0].iov_len = n / 2;
		iov[1].iov_base = buf + n / 2;
		iov[1].iov_len = n - n / 2;
		niov = 2;
	}

	switch (method) {
	case M_READ:
		return read(fd, buf, n);
	case M_RECV:
		return recv(fd, buf, n, 0);
	case M_RECVFROM:
		/* A non-NULL address: TCP reports none (fromlen becomes 0). */
		return recvfrom(fd, buf, n, 0, (struct sockaddr *)&from,
				&fromlen);
	case M_RECVMSG:
		memset(&mh, 0, sizeof(mh));
		mh.msg_name = &from;
		mh.msg_namelen = sizeof(from);
		mh.msg_iov = iov;
		mh.msg_iovlen = niov;
		return recvmsg(fd, &mh, 0);
	case M_READV:
		return readv(fd, iov, niov);
	}
	errno = EINVAL;
	return -1;
}

/* write_all echoes n bytes, handling short writes, EINTR and EAGAIN. */
static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (wait_fd(fd, POLLOUT) == -1)
					return -1;
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *serve(void *arg)
{
	struct conn *c = arg;
	unsigned long long total = 0;
	char *buf = malloc(bufsize);

	if (buf == NULL)
		die("out of memory");
	if (alarm_on) {
		sigset_t set;

		/* Inherited blocked from main: take the alarms here. */
		sigemptyset(&set);
		sigaddset(&set, SIGALRM);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	if (nonblock) {
		int fl = fcntl(c->fd, F_GETFL);

		if (fl == -1 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) == -1) {
			printf("error %lu %s\n", c->id, errname(errno));
			goto out;
		}
	}
	for (;;) {
		ssize_t n = do_read(c->fd, buf, bufsize);

		if (n == 0) {
			printf("eof %lu %llu %ld\n", c->id, total,
			       (long)alarms);
			break;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (nonblock &&
			    (errno == EAGAIN || errno == EWOULDBLOCK)) {
				if (wait_fd(c->fd, POLLIN) == 0)
					continue;
			}
			if (errno == ECONNREFUSED)
				printf("refused %lu\n", c->id);
			else
				printf("error %lu %s\n", c->id, errname(errno));
			break;
		}
		if (write_all(c->fd, buf, (size_t)n) == -1) {
			printf("error %lu %s\n", c->id, errname(errno));
			break;
		}
		total += (unsigned long long)n;
	}
out:
	close(c->fd);
	free(buf);
	free(c);
	return NULL;
}

int main(int argc, char **argv)
{
	int noulp = 0, v6 = 0, opt, port, listener, nargs;
	const char *alarm_mode = "off", *entry = "process";
	unsigned long nconn = 0;
	pthread_attr_t attr;
	char *end;

	setvbuf(stdout, NULL, _IOLBF, 0);

	while ((opt = getopt(argc, argv, "n6Nb:m:a:")) != -1) {
		switch (opt) {
		case 'n':
			noulp = 1;
			break;
		case '6':
			v6 = 1;
			break;
		case 'N':
			nonblock = 1;
			break;
		case 'b':
			bufsize = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || bufsize == 0 ||
			    bufsize > (64u << 20))
				die("bad -b %s (1..67108864)", optarg);
			break;
		case 'm':
			if (strcmp(optarg, "read") == 0)
				method = M_READ;
			else if (strcmp(optarg, "recv") == 0)
				method = M_RECV;
			else if (strcmp(optarg, "recvfrom") == 0)
				method = M_RECVFROM;
			else if (strcmp(optarg, "recvmsg") == 0)
				method = M_RECVMSG;
			else if (strcmp(optarg, "readv") == 0)
				method = M_READV;
			else
				usage();
			break;
		case 'a':
			if (strcmp(optarg, "restart") != 0 &&
			    strcmp(optarg, "norestart") != 0 &&
			    strcmp(optarg, "off") != 0)
				usage();
			alarm_mode = optarg;
			break;
		default:
			usage();
		}
	}
	nargs = argc - optind;
	if (nargs < (noulp ? 1 : 2) || nargs > 3)
		usage();
	port = parse_port(argv[optind]);
	if (nargs == 3)
		entry = argv[optind + 2];
	if (strlen(entry) + 1 > SOL_LUA_ENTRY_MAX)
		die("entry name too long (max %d bytes including NUL)",
		    SOL_LUA_ENTRY_MAX - 1);

	signal(SIGPIPE, SIG_IGN);

	listener = make_listener(port, v6);

	if (!noulp) {
		size_t sz;
		char *buff = read_file(argv[optind + 1], &sz);

		if (setsockopt(listener, SOL_TCP, TCP_ULP, "lua",
			       sizeof("lua")) == -1)
			die("setsockopt TCP_ULP: %s", strerror(errno));
		if (setsockopt(listener, SOL_LUA, SS_LUA_LOADSCRIPT, buff,
			       sz) == -1)
			die("setsockopt SS_LUA_LOADSCRIPT: %s", strerror(errno));
		if (setsockopt(listener, SOL_LUA, SS_LUA_ENTRYPOINT, entry,
			       strlen(entry) + 1) == -1)
			die("setsockopt SS_LUA_ENTRYPOINT: %s", strerror(errno));
		free(buff);
	}

	if (strcmp(alarm_mode, "off") != 0) {
		struct sigaction sa;
		struct itimerval it;
		sigset_t set;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_alarm;
		sigemptyset(&sa.sa_mask);
		/*
		 * Without SA_RESTART blocking receives return EINTR (and
		 * luawrap must then neither lose nor duplicate bytes); with
		 * it the kernel restarts them, which luawrap must emulate.
		 */
		sa.sa_flags = strcmp(alarm_mode, "restart") == 0 ? SA_RESTART : 0;
		if (sigaction(SIGALRM, &sa, NULL) == -1)
			die("sigaction: %s", strerror(errno));
		it.it_interval.tv_sec = 0;
		it.it_interval.tv_usec = 1000;
		it.it_value = it.it_interval;
		if (setitimer(ITIMER_REAL, &it, NULL) == -1)
			die("setitimer: %s", strerror(errno));
		/*
		 * A process-directed signal goes to the main thread whenever it
		 * can take it, so without this the storm would interrupt
		 * accept() almost exclusively and the receives hardly ever.
		 */
		sigemptyset(&set);
		sigaddset(&set, SIGALRM);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
		alarm_on = 1;
	}

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);

	print_listening(listener);

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct conn *c;
		pthread_t th;
		int fd, rc;

		fd = accept(listener, (struct sockaddr *)&ss, &sl);
		if (fd == -1) {
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
		printf("accept %lu\n", c->id);
		rc = pthread_create(&th, &attr, serve, c);
		if (rc != 0) {
			printf("error %lu %s\n", c->id, errname(rc));
			close(fd);
			free(c);
		}
	}
}
