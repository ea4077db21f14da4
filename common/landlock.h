/*
 * NAME
 *	landlock.h - fence a post-login process into one Maildir
 *
 * SYNOPSIS
 *	int landlock_fence(int dir_fd, int flags);
 *
 * DESCRIPTION
 *	landlock_fence() takes a Landlock ruleset (Linux 5.13 and later)
 *	that lets this process and its children reach files only beneath
 *	the directory dir_fd (none at all when dir_fd is -1): read, write,
 *	create and remove files, and rename between its folders. With
 *	LANDLOCK_DIRS it may also create, remove and truncate directories
 *	and files (IMAP CREATE, DELETE, RENAME). Where the kernel knows how,
 *	it also takes away TCP bind and connect, abstract Unix sockets and
 *	signals to processes outside the fence. Whatever the kernel does
 *	not know is left as it was: the fence is a second wall, after the
 *	chroot and the owner's ids.
 *
 *	LANDLOCK_SANITIZER is 1 in a build with AddressSanitizer (make
 *	SANITIZE=1, for the tests only). LeakSanitizer reads /proc/PID/task
 *	when the process exits, so such a build leaves /proc readable in
 *	the fence, and callers skip their chroot.
 *
 * DIAGNOSTICS
 *	0 when the fence is up; -1 (errno) when the kernel has no Landlock
 *	or refused the ruleset. Callers log which it was and go on.
 */
#ifndef LANDLOCK_FENCE_H
#define LANDLOCK_FENCE_H

#define LANDLOCK_DIRS	1	/* may also make and remove directories */

#if defined(__SANITIZE_ADDRESS__)
#define LANDLOCK_SANITIZER	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LANDLOCK_SANITIZER	1
#endif
#endif
#ifndef LANDLOCK_SANITIZER
#define LANDLOCK_SANITIZER	0
#endif

int landlock_fence(int dir_fd, int flags);

#endif
