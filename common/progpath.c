/*
 * NAME
 *	progpath - find the stack's other programs
 *
 * SYNOPSIS
 *	int progpath_sibling(const char *name, struct buf *path_r);
 *
 * DESCRIPTION
 *	The programs of the stack live in one folder (build/bin in the tree,
 *	PREFIX/libexec/mailstack once installed, with links in PREFIX/sbin
 *	for the ones people type). A program finds another one, say inject,
 *	in the folder its own executable is in, as /proc/self/exe names it
 *	(links resolved), so the tree's programs call the tree's programs and
 *	the installed ones call the installed ones, with no search path and
 *	nothing taken from the environment.
 *
 * DIAGNOSTICS
 *	0 with the path in path_r, or -1: EINVAL for a name with '/', or
 *	whatever readlink(2) says (temporary), or ENOBUFS.
 *
 * SECURITY
 *	The name is always one of our fixed program names, never input.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "progpath.h"

/* progpath_sibling - path of program name beside this process's executable */
int
progpath_sibling(const char *name, struct buf *path_r)
{
	char self[4096];
	ssize_t n;
	char *slash;

	if (name[0] == '\0' || strchr(name, '/') != NULL) {
		errno = EINVAL;
		return -1;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(self) - 1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL) {
		errno = ENOENT;
		return -1;
	}
	buf_reset(path_r);
	if (buf_append(path_r, self, (size_t)(slash - self) + 1) < 0 ||
	    buf_append_str(path_r, name) < 0)
		return -1;
	return 0;
}
