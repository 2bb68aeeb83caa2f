/*
 * deny - run a command under a seccomp filter that fails the named system
 * calls with EPERM, as a container runtime's default profile does (Docker's
 * and containerd's refuse pidfd_getfd without CAP_SYS_PTRACE). Used to show
 * that luawrap refuses to start where it could not judge anything.
 *
 * usage: deny SYSCALL[,SYSCALL...] COMMAND [ARGS...]
 *   SYSCALL: pidfd_getfd, pidfd_open, process_vm_readv, process_vm_writev
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "unsupported architecture"
#endif

static const struct { const char *name; int nr; } known[] = {
	{"pidfd_getfd", SYS_pidfd_getfd},
	{"pidfd_open", SYS_pidfd_open},
	{"process_vm_readv", SYS_process_vm_readv},
	{"process_vm_writev", SYS_process_vm_writev},
};

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: deny SYSCALL[,SYSCALL...] COMMAND [ARGS...]\n");
		return 2;
	}
	struct sock_filter f[64];
	int n = 0;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	char *list = strdup(argv[1]);
	for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
		size_t i;
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(known[i].name, name) == 0)
				break;
		if (i == sizeof(known) / sizeof(known[0])) {
			fprintf(stderr, "deny: unknown system call %s\n", name);
			return 2;
		}
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, known[i].nr, 0, 1);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {.len = n, .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		perror("deny: install filter");
		return 2;
	}
	execvp(argv[2], argv + 2);
	perror("deny: exec");
	return 127;
}
