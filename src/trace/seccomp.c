/*
 * The seccomp filter the traced command runs under: a BPF program that
 * answers SECCOMP_RET_TRACE (with the call's trace_sc code as data) for the
 * few system calls agentrail exec records and SECCOMP_RET_ALLOW for every
 * other, so that only those stop the tracee and everything else runs at full
 * speed. x86_64 only: other ABIs (i386 through int 0x80) are let through.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "trace/trace.h"

#if defined(__x86_64__)

#define X32_SYSCALL_BIT 0x40000000u

/*
 * The calls and what they are. 'flags_arg' >= 0 marks an open whose flags
 * (that argument) tell a read from a write, so that read-only opens can be
 * let through when reads are not recorded.
 */
static const struct {
	unsigned nr;
	enum trace_sc sc;
	int flags_arg; /* -1: always a write (or a connect) */
	int net;
} calls[] = {
    {SYS_open, SC_OPEN, 1, 0},
    {SYS_openat, SC_OPENAT, 2, 0},
    {SYS_openat2, SC_OPENAT2, -2, 0}, /* flags live in a struct: always stopped */
    {SYS_creat, SC_CREAT, -1, 0},
    {SYS_truncate, SC_TRUNCATE, -1, 0},
    {SYS_ftruncate, SC_FTRUNCATE, -1, 0},
    {SYS_unlink, SC_UNLINK, -1, 0},
    {SYS_unlinkat, SC_UNLINKAT, -1, 0},
    {SYS_rmdir, SC_RMDIR, -1, 0},
    {SYS_rename, SC_RENAME, -1, 0},
    {SYS_renameat, SC_RENAMEAT, -1, 0},
    {SYS_renameat2, SC_RENAMEAT2, -1, 0},
    {SYS_mkdir, SC_MKDIR, -1, 0},
    {SYS_mkdirat, SC_MKDIRAT, -1, 0},
    {SYS_link, SC_LINK, -1, 0},
    {SYS_linkat, SC_LINKAT, -1, 0},
    {SYS_symlink, SC_SYMLINK, -1, 0},
    {SYS_symlinkat, SC_SYMLINKAT, -1, 0},
    {SYS_connect, SC_CONNECT, -1, 1},
};

#define NCALLS    (sizeof(calls) / sizeof(calls[0]))
#define MAX_INSNS (4 + NCALLS * 6 + 1)

int trace_supported(void)
{
	return 1;
}

int trace_filter_install(const struct trace_filter_opts *f)
{
	struct sock_filter prog[MAX_INSNS];
	struct sock_fprog fprog;
	unsigned short n = 0;
	int any = 0;

	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                                         offsetof(struct seccomp_data, arch));
	/* Another ABI: allow (documented). The jump target is patched below. */
	prog[n++] =
	    (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                                         offsetof(struct seccomp_data, nr));
	/* x32 numbers are the x86_64 ones with a high bit set. */
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_SYSCALL_BIT);
	for (size_t i = 0; i < NCALLS; i++) {
		unsigned ret = SECCOMP_RET_TRACE | (unsigned)calls[i].sc;
		int want;

		if (calls[i].net)
			want = f->net;
		else if (calls[i].flags_arg == -1)
			want = f->writes;
		else
			want = f->reads || f->writes;
		if (!want)
			continue;
		any = 1;
		if (calls[i].flags_arg >= 0 && !f->reads) {
			/* An open: stop it only when it may write. */
			unsigned off =
			    (unsigned)offsetof(struct seccomp_data, args) +
			    (unsigned)calls[i].flags_arg * 8u; /* low half, little endian */

			prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
			                                         calls[i].nr, 0, 5);
			prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off);
			prog[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K,
			                                         O_ACCMODE | O_CREAT | O_TRUNC);
			prog[n++] =
			    (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
			prog[n++] =
			    (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
			prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret);
		} else {
			prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
			                                         calls[i].nr, 0, 1);
			prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret);
		}
	}
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	if (!any)
		return 0;
	fprog.len = n;
	fprog.filter = prog;
	/*
	 * Without CAP_SYS_ADMIN the kernel wants no_new_privs first, which
	 * also stops setuid programs from gaining privileges (ptrace would
	 * anyway, for a tracer without the capability).
	 */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) == 0)
		return 0;
	if (errno != EACCES)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog);
}

#else

int trace_supported(void)
{
	return 0;
}

int trace_filter_install(const struct trace_filter_opts *f)
{
	(void)f;
	errno = ENOSYS;
	return -1;
}

#endif
