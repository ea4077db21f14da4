/*
 * NAME
 *	log.h - one-line key=value event logging
 *
 * DESCRIPTION
 *	Every event is one line. On syslog (facility LOG_MAIL, ident PROGRAM,
 *	LOG_PID) the message is FIELDS; syslog adds "PROGRAM[PID]: " itself.
 *	On stderr and in a file the whole line is
 *
 *	    TIMESTAMP SP PROGRAM "[" PID "]:" SP FIELDS LF
 *	    2026-11-23T12:00:00.123Z smtpd[1234]: qid=... step=2 from=<a@b>
 *
 *	where TIMESTAMP is ISO 8601 UTC with milliseconds and a final "Z".
 *
 *	FIELDS is a list of key=value pairs separated by one space:
 *
 *	    key    = 1*( a-z / 0-9 / "_" / "." / "-" )
 *	    value  = bare / quoted
 *	    bare   = 1*( printable ASCII 0x21-0x7e except  "  \  = )
 *	    quoted = DQUOTE *( 0x20-0x7e except " and \  /  "\\"  /  "\""
 *	             /  "\x" 2HEXDIG  /  utf8-char ) DQUOTE
 *	    utf8-char = a well-formed UTF-8 character from U+00A0 up, but
 *	             U+200E, U+200F, U+2028-U+202E and U+2066-U+2069
 *
 *	A bare value is the bytes themselves; a quoted value is unescaped
 *	(\xNN is the byte NN, lower-case hex; a utf8-char stands for
 *	itself, so UTF-8 text is logged as UTF-8). log_kv() writes exactly
 *	this, so a value supplied by a peer (HELO name, address, reply
 *	text) can never end the line or forge a key=value of its own.
 *
 *	Events above LOG_INFO in severity carry "level=NAME" as their first
 *	field (emerg, alert, crit, error, warning, notice); LOG_DEBUG events
 *	carry level=debug; LOG_INFO events carry no level field.
 *
 *	Conventional keys: qid= (the queue id, on every event about a
 *	message), step=1..8 (the step of the message's trip the event is
 *	part of, see ARCHITECTURE.md), msgid=, from=, to=, status=, error=.
 *	mailctl trace gathers the lines of one message by qid= (or msgid=)
 *	and orders them by step=.
 *
 *	A line is at most LOG_LINE_MAX octets with its timestamp, prefix and
 *	newline. A longer event is cut and ends in "..." instead (still one
 *	line); the last value of a cut line may then lack its closing quote
 *	or end inside an escape, so a reader must accept that after "...".
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>

#include "buf.h"

#define LOG_LINE_MAX	2048	/* octets per line, newline included */
#define LOG_PROGRAM_MAX	32	/* octets in a program name */

int log_open(const char *program, const char *target, const char **error_r);
int log_reopen(const char **error_r);
void log_close(void);
void log_event(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_eventv(int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
int log_kv(struct buf *b, const char *key, const char *value, size_t len);
int log_kv_str(struct buf *b, const char *key, const char *value);

#endif
