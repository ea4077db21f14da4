/*
 * landlock.c - fence a post-login process into one Maildir (landlock.h)
 *
 * The ruleset handles every file right the running kernel's ABI knows
 * (asked first with LANDLOCK_CREATE_RULESET_VERSION), so a right a
 * newer kernel adds is not silently left open; the one rule then gives
 * back, beneath the Maildir, only the rights a mail session uses.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "landlock.h"

/* Values newer than some kernel headers, by the ABI that added them. */
#define LL_FS_ABI1		((1ULL << 13) - 1)
#define LL_FS_REFER		(1ULL << 13)	/* ABI 2 */
#define LL_FS_TRUNCATE		(1ULL << 14)	/* ABI 3 */
#define LL_FS_IOCTL_DEV		(1ULL << 15)	/* ABI 5 */
#define LL_NET_BIND_TCP		(1ULL << 0)	/* ABI 4 */
#define LL_NET_CONNECT_TCP	(1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX	(1ULL << 0)	/* ABI 6 */
#define LL_SCOPE_SIGNAL		(1ULL << 1)

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

/* add_beneath - allow these rights beneath fd; 0 or -1 */
static int
add_beneath(int rs, int fd, uint64_t rights)
{
	struct landlock_path_beneath_attr rule;

	memset(&rule, 0, sizeof(rule));
	rule.allowed_access = rights;
	rule.parent_fd = fd;
	return (int)syscall(SYS_landlock_add_rule, rs,
	    LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
}

/* landlock_fence - see landlock.h; 0, or -1 with errno */
int
landlock_fence(int dir_fd, int flags)
{
	struct ll_ruleset_attr attr;
	uint64_t fs = LL_FS_ABI1, mine;
	size_t size = sizeof(uint64_t);
	long abi;
	int rs, e;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return -1;
	memset(&attr, 0, sizeof(attr));
	if (abi >= 2)
		fs |= LL_FS_REFER;
	if (abi >= 3)
		fs |= LL_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LL_FS_IOCTL_DEV;
	attr.handled_access_fs = fs;
	if (abi >= 4) {
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		size = 2 * sizeof(uint64_t);
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		size = sizeof(attr);
	}
	if ((rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size,
	    0)) < 0)
		return -1;
	if (LANDLOCK_SANITIZER) {
		int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (proc >= 0) {
			(void)add_beneath(rs, proc,
			    LANDLOCK_ACCESS_FS_READ_FILE |
			    LANDLOCK_ACCESS_FS_READ_DIR);
			(void)close(proc);
		}
	}
	mine = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
	    LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_FILE |
	    LANDLOCK_ACCESS_FS_MAKE_REG | (fs & LL_FS_REFER);
	if (flags & LANDLOCK_DIRS)
		mine |= LANDLOCK_ACCESS_FS_REMOVE_DIR |
		    LANDLOCK_ACCESS_FS_MAKE_DIR | (fs & LL_FS_TRUNCATE);
	if ((dir_fd >= 0 && add_beneath(rs, dir_fd, mine) < 0) ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_landlock_restrict_self, rs, 0) < 0) {
		e = errno;
		(void)close(rs);
		errno = e;
		return -1;
	}
	(void)close(rs);
	return 0;
}
