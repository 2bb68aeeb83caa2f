/*
 * thesis_server - the thesis's example server (Cod. 8 + Cod. 11), written
 * against <luawrap/sol_lua.h> the way a program for the original kernel
 * module was written. luawrap must run it unchanged.
 *
 * usage: thesis_server [-n] [-6] PORT SCRIPT [ENTRY]
 *   -n     no ULP: skip Cod. 8 entirely (smoke test on a bare kernel, where
 *          setsockopt(TCP_ULP, "lua") fails with ENOENT); SCRIPT is ignored
 *   -6     listen on [::] instead of 0.0.0.0
 *   PORT   0 lets the kernel choose; the real port is printed
 *   ENTRY  Lua entry function, default "process"
 *
 * stdout (line-buffered, one line per event, parsed by tests):
 *   listening <port>     ready: listener bound, listening, script attached
 *   accept               accept() returned a socket
 *   recv <n> <hex>       recv() returned n bytes (hex of those bytes)
 *   refused              recv() failed with ECONNREFUSED (script said no)
 *   eof                  recv() returned 0
 *   error <ERRNO>        accept()/recv() failed otherwise; the server exits 1
 * Setup errors go to stderr ("setsockopt <which>: <strerror>") with exit 1.
 */
#include "common.h"

static void usage(void)
{
	die("usage: thesis_server [-n] [-6] PORT SCRIPT [ENTRY]");
}

/* The HTTP reply for a passed request (deviation from Cod. 11, see below). */
static const char reply[] = "HTTP/1.0 200 OK\r\n"
			    "Content-Type: text/plain\r\n"
			    "Content-Length: 3\r\n"
			    "Connection: close\r\n"
			    "\r\n"
			    "ok\n";

int main(int argc, char **argv)
{
	int noulp = 0, v6 = 0, opt, port, listener, err;
	const char *script, *entry = "process";
	char *buff;
	size_t sz = 0;
	static char msg[8192];

	/* Tests read stdout through a pipe: flush every event line at once. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	while ((opt = getopt(argc, argv, "n6")) != -1) {
		switch (opt) {
		case 'n':
			noulp = 1;
			break;
		case '6':
			v6 = 1;
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

	listener = make_listener(port, v6);

	if (!noulp) {
		buff = read_file(script, &sz);

		/* ---- Cod. 8, as in the thesis (error paths print why). ---- */

		/* setup lua */
		err = setsockopt(listener, SOL_TCP, TCP_ULP, "lua", sizeof("lua"));
		if (err == -1)
			die("setsockopt TCP_ULP: %s", strerror(errno));
		/* load scripts to kernel */
		err = setsockopt(listener, SOL_LUA, SS_LUA_LOADSCRIPT, buff, sz);
		if (err == -1)
			die("setsockopt SS_LUA_LOADSCRIPT: %s", strerror(errno));
		/*
		 * set Lua entry point inside the system call; the thesis
		 * passes sizeof("process"), i.e. the NUL is part of optlen.
		 */
		err = setsockopt(listener, SOL_LUA, SS_LUA_ENTRYPOINT, entry,
				 strlen(entry) + 1);
		if (err == -1)
			die("setsockopt SS_LUA_ENTRYPOINT: %s", strerror(errno));
		free(buff);
	}

	print_listening(listener);

	/* ---- Cod. 11, as in the thesis. ---- */

	/*
	 * struct sockaddr_in in the thesis; sockaddr_in6 here so -6 cannot
	 * overflow it (the kernel copies up to the real address length).
	 */
	struct sockaddr_in6 cl;
	/*
	 * Deliberately uninitialised, exactly like Cod. 11. accept() treats
	 * *addrlen as in/out: the kernel fails with EINVAL if it is negative,
	 * otherwise copies min(*addrlen, real length) bytes and stores the
	 * real length. luawrap emulates accept and must follow those rules
	 * bit for bit, whatever garbage is here; after the first accept the
	 * kernel (or luawrap) has written the real length into it.
	 */
	socklen_t len;
	while (1) {
		int sock = accept(listener, (struct sockaddr *)&cl, &len);
		if (sock == -1) {
			printf("error %s\n", errname(errno));
			return 1; /* thesis: raise_err(); return -1; */
		}
		printf("accept\n");

		/*
		 * The thesis declares msgsz as size_t and compares it with -1;
		 * ssize_t is what recv() returns and means the same here.
		 */
		ssize_t msgsz = recv(sock, msg, 8192, 0);
		if (msgsz == 0) {
			printf("eof\n");
			close(sock);
			continue;
		}

		if (msgsz == -1) {
			if (errno == ECONNREFUSED) {
				/* The Lua entry point returned false/nil. */
				printf("refused\n");
				close(sock);
				continue;
			}
			printf("error %s\n", errname(errno));
			break; /* thesis: raise_err(); break; */
		}
		log_recv("", msg, (size_t)msgsz);

		/*
		 * Deviation from Cod. 11: the thesis closed without answering.
		 * A tiny reply lets curl show that the request passed; a
		 * refused request gets no reply, so curl reports an empty
		 * reply. Write errors are irrelevant: we close anyway.
		 */
		(void)send_all(sock, reply, sizeof(reply) - 1);

		close(sock);
	}
	return 1;
}
