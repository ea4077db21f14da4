/*
 * NAME
 *	envelope - encode and decode the envelope records
 *
 * SYNOPSIS
 *	void envelope_init(struct envelope *env);
 *	void envelope_free(struct envelope *env);
 *	int envelope_add_rcpt(struct envelope *env, const char *addr,
 *	    const char *orcpt, int notify);
 *	int envelope_encode(const struct envelope *env, struct buf *out);
 *	int envelope_decode(const char *p, size_t len, struct envelope *env,
 *	    size_t *used_r, const char **error_r);
 *	int envelope_notify_parse(const char *s, int *notify_r);
 *	int envelope_notify_format(int notify, struct buf *out);
 *
 * DESCRIPTION
 *	The record format is described in envelope.h. envelope_encode()
 *	appends the records of env, terminator included, to out.
 *	envelope_decode() parses records from p[0..len) up to and including
 *	the terminator into an initialised env, and says in *used_r how many
 *	bytes that took. envelope_add_rcpt() appends a recipient (copies of
 *	the strings). envelope_notify_parse() reads a NOTIFY value
 *	("NEVER", or a comma list of SUCCESS, FAILURE and DELAY, any case);
 *	envelope_notify_format() writes the canonical form.
 *
 * DIAGNOSTICS
 *	envelope_decode: -1 with errno EINVAL and *error_r saying what is
 *	wrong (a permanent failure of that message: the writer is broken),
 *	or errno EAGAIN when p ends before the terminator (read more). The
 *	half-decoded env must still be freed. envelope_encode: -1/ENOBUFS
 *	when out's limit is reached, -1/EINVAL when a field breaks the format
 *	(NUL or control character, too long). envelope_add_rcpt: -1/E2BIG
 *	past ENVELOPE_RCPT_MAX recipients.
 *
 * SECURITY
 *	inject(8) decodes what smtpd(8) or a local user's sendmail(1) wrote:
 *	untrusted. Every record is length-checked, NUL-free, free of control
 *	characters and valid UTF-8 before it is stored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "envelope.h"
#include "str.h"
#include "utf8.h"

/* envelope_init - an empty envelope */
void
envelope_init(struct envelope *env)
{
	memset(env, 0, sizeof(*env));
}

/* envelope_free - release every string; env is empty afterwards */
void
envelope_free(struct envelope *env)
{
	size_t i;

	free(env->sender);
	free(env->envid);
	free(env->ret);
	free(env->body);
	free(env->helo);
	free(env->client_ip);
	free(env->client_name);
	free(env->auth_user);
	free(env->protocol);
	for (i = 0; i < env->n_rcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orcpt);
	}
	free(env->rcpts);
	envelope_init(env);
}

/* envelope_add_rcpt - append a recipient; -1/E2BIG past the limit */
int
envelope_add_rcpt(struct envelope *env, const char *addr, const char *orcpt,
    int notify)
{
	struct envelope_rcpt *r;

	if (env->n_rcpts >= ENVELOPE_RCPT_MAX) {
		errno = E2BIG;
		return -1;
	}
	if (env->n_rcpts == env->cap_rcpts) {
		env->cap_rcpts = env->cap_rcpts == 0 ? 8 : env->cap_rcpts * 2;
		env->rcpts = alloc_reallocarray(env->rcpts, env->cap_rcpts,
		    sizeof(*env->rcpts));
	}
	r = &env->rcpts[env->n_rcpts++];
	r->addr = alloc_strdup(addr);
	r->orcpt = orcpt != NULL ? alloc_strdup(orcpt) : NULL;
	r->notify = notify;
	return 0;
}

/* text_ok - 1 if p[0..n) may be a record's text */
static int
text_ok(const char *p, size_t n)
{
	size_t i;

	if (n > ENVELOPE_RECORD_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return utf8_valid(p, n);
}

/* put - append one record; -1/EINVAL if text breaks the format */
static int
put(struct buf *out, char type, const char *text)
{
	size_t n = text != NULL ? strlen(text) : 0;

	if (!text_ok(text != NULL ? text : "", n)) {
		errno = EINVAL;
		return -1;
	}
	if (buf_append_char(out, type) < 0 || buf_append(out, text, n) < 0 ||
	    buf_append_char(out, '\0') < 0)
		return -1;
	return 0;
}

/* put_opt - append a record if text is not NULL */
static int
put_opt(struct buf *out, char type, const char *text)
{
	return text != NULL ? put(out, type, text) : 0;
}

/* envelope_encode - append env's records and the terminator to out */
int
envelope_encode(const struct envelope *env, struct buf *out)
{
	struct buf notify = BUF_INIT(64);
	size_t i, start = out->len;

	if (env->n_rcpts == 0 || env->sender == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (put(out, 'V', "1") < 0 || put(out, 'F', env->sender) < 0 ||
	    put_opt(out, 'E', env->envid) < 0 ||
	    put_opt(out, 'R', env->ret) < 0 ||
	    put_opt(out, 'B', env->body) < 0 ||
	    (env->smtputf8 && put(out, 'U', "") < 0) ||
	    put_opt(out, 'H', env->helo) < 0 ||
	    put_opt(out, 'I', env->client_ip) < 0 ||
	    put_opt(out, 'N', env->client_name) < 0 ||
	    put_opt(out, 'A', env->auth_user) < 0 ||
	    put_opt(out, 'P', env->protocol) < 0)
		goto fail;
	for (i = 0; i < env->n_rcpts; i++) {
		const struct envelope_rcpt *r = &env->rcpts[i];

		if (put(out, 'T', r->addr) < 0 ||
		    put_opt(out, 'O', r->orcpt) < 0)
			goto fail;
		if (r->notify != ENVELOPE_NOTIFY_DEFAULT) {
			buf_reset(&notify);
			if (envelope_notify_format(r->notify, &notify) < 0 ||
			    put(out, 'D', buf_cstr(&notify)) < 0)
				goto fail;
		}
	}
	if (buf_append_char(out, '\0') < 0)
		goto fail;
	buf_free(&notify);
	return 0;
fail:
	buf_free(&notify);
	buf_truncate(out, start);
	return -1;
}

/* envelope_notify_parse - NOTIFY value to bits; -1/EINVAL if malformed */
int
envelope_notify_parse(const char *s, int *notify_r)
{
	static const struct {
		const char *name;
		int bit;
	} words[] = {
		{ "SUCCESS", ENVELOPE_NOTIFY_SUCCESS },
		{ "FAILURE", ENVELOPE_NOTIFY_FAILURE },
		{ "DELAY", ENVELOPE_NOTIFY_DELAY },
	};
	int bits = 0;

	if (str_eq_nocase(s, "NEVER")) {
		*notify_r = ENVELOPE_NOTIFY_NEVER;
		return 0;
	}
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
		size_t i;
		int found = 0;

		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
			if (strlen(words[i].name) == n &&
			    str_eq_nocase_n(s, words[i].name, n)) {
				if (bits & words[i].bit)
					break;	/* a word twice */
				bits |= words[i].bit;
				found = 1;
				break;
			}
		}
		if (!found) {
			errno = EINVAL;
			return -1;
		}
		if (comma == NULL)
			break;
		s = comma + 1;
	}
	*notify_r = bits;
	return 0;
}

/* envelope_notify_format - canonical NOTIFY text of bits */
int
envelope_notify_format(int notify, struct buf *out)
{
	const char *sep = "";

	if (notify == ENVELOPE_NOTIFY_NEVER)
		return buf_append_str(out, "NEVER");
	if (notify == 0 || (notify & ~(ENVELOPE_NOTIFY_SUCCESS |
	    ENVELOPE_NOTIFY_FAILURE | ENVELOPE_NOTIFY_DELAY)) != 0) {
		errno = EINVAL;
		return -1;
	}
	if (notify & ENVELOPE_NOTIFY_SUCCESS) {
		if (buf_append_str(out, "SUCCESS") < 0)
			return -1;
		sep = ",";
	}
	if (notify & ENVELOPE_NOTIFY_FAILURE) {
		if (buf_printf(out, "%sFAILURE", sep) < 0)
			return -1;
		sep = ",";
	}
	if ((notify & ENVELOPE_NOTIFY_DELAY) &&
	    buf_printf(out, "%sDELAY", sep) < 0)
		return -1;
	return 0;
}

/* set_once - store text in *field unless it is already set */
static int
set_once(char **field, const char *text, size_t n)
{
	if (*field != NULL)
		return -1;
	*field = alloc_strndup(text, n);
	return 0;
}

/* value_ok - check the value of the records with a fixed vocabulary */
static int
value_ok(char type, const char *t)
{
	switch (type) {
	case 'V':
		return strcmp(t, "1") == 0;
	case 'R':
		return strcmp(t, "FULL") == 0 || strcmp(t, "HDRS") == 0;
	case 'B':
		return strcmp(t, "7BIT") == 0 || strcmp(t, "8BITMIME") == 0 ||
		    strcmp(t, "BINARYMIME") == 0;
	case 'U':
		return t[0] == '\0';
	case 'T':
		return t[0] != '\0';
	default:
		return 1;
	}
}

/* envelope_decode - parse records up to the terminator into env */
int
envelope_decode(const char *p, size_t len, struct envelope *env,
    size_t *used_r, const char **error_r)
{
	size_t pos = 0;
	int seen_version = 0, seen_utf8 = 0;
	struct envelope_rcpt *last = NULL;

	for (;;) {
		const char *nul, *text;
		size_t n;
		char type;
		int bad = 0;

		if (pos >= len) {
			errno = EAGAIN;
			*error_r = "envelope ends before its terminator";
			return -1;
		}
		if (p[pos] == '\0')
			break;
		nul = memchr(p + pos, '\0', len - pos);
		if (nul == NULL) {
			errno = EAGAIN;
			*error_r = "envelope ends inside a record";
			return -1;
		}
		type = p[pos];
		text = p + pos + 1;
		n = (size_t)(nul - text);
		pos = (size_t)(nul - p) + 1;
		if (!text_ok(text, n) || !value_ok(type, text)) {
			*error_r = "bad envelope record";
			goto invalid;
		}
		if (!seen_version && type != 'V') {
			*error_r = "envelope does not start with its version";
			goto invalid;
		}
		switch (type) {
		case 'V':
			bad = seen_version;
			seen_version = 1;
			break;
		case 'F': bad = set_once(&env->sender, text, n); break;
		case 'E': bad = set_once(&env->envid, text, n); break;
		case 'R': bad = set_once(&env->ret, text, n); break;
		case 'B': bad = set_once(&env->body, text, n); break;
		case 'H': bad = set_once(&env->helo, text, n); break;
		case 'I': bad = set_once(&env->client_ip, text, n); break;
		case 'N': bad = set_once(&env->client_name, text, n); break;
		case 'A': bad = set_once(&env->auth_user, text, n); break;
		case 'P': bad = set_once(&env->protocol, text, n); break;
		case 'U':
			bad = seen_utf8;
			seen_utf8 = env->smtputf8 = 1;
			break;
		case 'T':
			if (envelope_add_rcpt(env, text, NULL, 0) < 0) {
				*error_r = "too many recipients in envelope";
				goto invalid;
			}
			last = &env->rcpts[env->n_rcpts - 1];
			break;
		case 'O':
			bad = last == NULL || set_once(&last->orcpt, text, n);
			break;
		case 'D':
			bad = last == NULL || last->notify != 0 ||
			    envelope_notify_parse(text, &last->notify) < 0;
			break;
		default:
			*error_r = "unknown envelope record";
			goto invalid;
		}
		if (bad) {
			*error_r = "misplaced or repeated envelope record";
			goto invalid;
		}
	}
	if (env->sender == NULL || env->n_rcpts == 0) {
		*error_r = "envelope without sender or recipient";
		goto invalid;
	}
	*used_r = pos + 1;
	return 0;
invalid:
	errno = EINVAL;
	return -1;
}
