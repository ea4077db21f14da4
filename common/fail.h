/*
 * NAME
 *	fail.h - the temporary/permanent failure convention
 *
 * DESCRIPTION
 *	Every failure in the stack is either temporary (try again later: out of
 *	memory, a timeout, an I/O error, a full disk, a crash) or permanent
 *	(retrying cannot help: no such user, malformed input). Library
 *	functions return FAIL_TEMP or FAIL_PERM (both negative) or set errno
 *	and let fail_from_errno() decide; programs turn the kind into their
 *	exit status or protocol reply.
 *
 *	Exit statuses between our own programs follow the qmail convention:
 *	0 ok, 111 temporary, 100 permanent. deliver(8) used as an LDA exits
 *	with sysexits codes instead; those are defined here too so that every
 *	program names them the same way.
 */
#ifndef FAIL_H
#define FAIL_H

enum fail_kind {
	FAIL_OK = 0,
	FAIL_TEMP = -1,		/* try again later */
	FAIL_PERM = -2,		/* retrying cannot help */
};

#define FAIL_EXIT_OK	0
#define FAIL_EXIT_TEMP	111
#define FAIL_EXIT_PERM	100

/* sysexits(3) values used by deliver(8) and sendmail(1). */
#define FAIL_EX_DATAERR		65	/* bad message data */
#define FAIL_EX_NOUSER		67	/* no such user */
#define FAIL_EX_SOFTWARE	70	/* internal error (treated as temporary) */
#define FAIL_EX_CANTCREAT	73	/* cannot create output file */
#define FAIL_EX_TEMPFAIL	75	/* temporary failure */

enum fail_kind fail_from_errno(int err);
int fail_exit_status(enum fail_kind kind);
const char *fail_name(enum fail_kind kind);

#endif
