/*
 * NAME
 *	sha256.h - SHA-256 (FIPS 180-4) without OpenSSL
 *
 * DESCRIPTION
 *	sha256() hashes n octets into 32. It is here so that the processes
 *	that need a hash only for names (stable Maildir UIDLs, session slot
 *	files) do not load libcrypto: every imapd-user and pop3d-user would
 *	otherwise carry several hundred kilobytes of OpenSSL's relocated
 *	data (see bench/RESULTS.md, memory). Not for secrets: no care is
 *	taken to wipe state.
 */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN	32

void sha256(const void *data, size_t n, uint8_t out[SHA256_LEN]);

#endif
