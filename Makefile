# mailstack - the top-level (and only) Makefile.
#
#   make                 build every program into $(BUILD)/bin
#   make check           the whole test suite (the README's test command)
#   make sanitize        the same suite built with ASan + UBSan
#   make fuzz            build the libFuzzer targets with clang
#   make fuzz-run        run each fuzz target for FUZZ_SECONDS
#   make demo            the eight-step teaching demo
#   make bench           benchmarks beside Postfix and Dovecot
#   make install         PREFIX=/usr/local DESTDIR=
#   make clean
#
# Programs, libraries and tests are found by file name: common/*.c make
# libcommon.a, tests/unit/test-*.c are unit tests, tests/tools/*.c are
# helper programs for the integration tests, tests/fuzz/fuzz-*.c are fuzz
# targets. A program is listed in PROGRAMS with its sources in NAME_SRCS.

.DEFAULT_GOAL := all

BUILD ?= build
PREFIX ?= /usr/local
DESTDIR ?=
SANITIZE ?=
FUZZ_SECONDS ?= 60

CC ?= cc
FUZZ_CC ?= clang
PKG_CONFIG ?= pkg-config

WARN = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual
HARDEN = -D_FORTIFY_SOURCE=2 -fstack-protector-strong
ifeq ($(SANITIZE),1)
OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
SAN_LDFLAGS = -fsanitize=address,undefined
HARDEN = -fstack-protector-strong
else
OPT = -O2 -g
SAN_LDFLAGS =
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags openssl libcares 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs openssl libcares 2>/dev/null)

ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) $(HARDEN) $(OPT) -Icommon \
	$(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SAN_LDFLAGS) -Wl,-z,relro,-z,now $(LDFLAGS)
LIBS = $(PKG_LIBS) -lcdb -lcrypt

# --- the common library ----------------------------------------------------

COMMON_SRCS := $(sort $(wildcard common/*.c))
COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/obj/%.o)
LIBCOMMON := $(BUILD)/libcommon.a

# --- programs ----------------------------------------------------------------
# Each program's sources are listed by name pattern; a program is built once
# its folder holds them. Several programs may share a folder (smtpq/ holds
# inject, smtpq, remote and sendmail): their files are named after them.

smtpd_SRCS := $(wildcard smtpd/smtpd*.c)
inject_SRCS := $(wildcard smtpq/inject*.c)
smtpq_SRCS := $(wildcard smtpq/smtpq*.c)
remote_SRCS := $(wildcard smtpq/remote*.c)
sendmail_SRCS := $(wildcard smtpq/sendmail*.c)
deliver_SRCS := $(wildcard deliver/deliver*.c)
pop3d_SRCS := $(wildcard pop3d/pop3d*.c)
imapd_SRCS := $(wildcard imapd/imapd*.c)
maild_SRCS := $(wildcard master/maild*.c)
authd_SRCS := $(wildcard master/authd*.c)
mailctl_SRCS := $(wildcard master/mailctl*.c)

ALL_PROGRAMS := smtpd inject smtpq remote sendmail deliver pop3d imapd \
	maild authd mailctl
PROGRAMS := $(foreach p,$(ALL_PROGRAMS),$(if $($(p)_SRCS),$(p)))

define program_template
$(1)_OBJS := $$($(1)_SRCS:%.c=$$(BUILD)/obj/%.o)
$$(BUILD)/bin/$(1): $$($(1)_OBJS) $$(LIBCOMMON) | $$(BUILD)/bin
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$($(1)_OBJS) $$(LIBCOMMON) $$(LIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_template,$(p))))
PROGRAM_BINS := $(PROGRAMS:%=$(BUILD)/bin/%)

# pop3d-user and imapd-user are pop3d and imapd linked with notls.c ahead
# of the library: the post-login half (make install makes it set-uid to the
# mail user) never starts TLS, so it does not load OpenSSL at all.
NOTLS_OBJ := $(BUILD)/obj/common/notls/notls.o
USER_BINS := $(foreach p,pop3d imapd,$(if $(filter $(p),$(PROGRAMS)),$(BUILD)/bin/$(p)-user))
define user_template
$$(BUILD)/bin/$(1)-user: $$($(1)_OBJS) $$(NOTLS_OBJ) $$(LIBCOMMON) | $$(BUILD)/bin
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$($(1)_OBJS) $$(NOTLS_OBJ) $$(LIBCOMMON) $$(LIBS)
endef
$(foreach p,pop3d imapd,$(if $(filter $(p),$(PROGRAMS)),$(eval $(call user_template,$(p)))))

# --- tests -------------------------------------------------------------------

UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_BUILD := $(BUILD)-fuzz
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

# --- rules -------------------------------------------------------------------

# Objects made on the way to a test binary are kept (no rebuild next time).
.SECONDARY:

.PHONY: all deps check unit-tests test-programs sanitize fuzz fuzz-build \
	fuzz-run demo bench install clean

all: $(PROGRAM_BINS) $(USER_BINS) $(LIBCOMMON)

deps:
	@scripts/deps build

$(BUILD)/bin $(BUILD)/tests $(BUILD)/tests/tools $(FUZZ_BUILD):
	mkdir -p $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJS)
	rm -f $@
	$(AR) rcs $@ $(COMMON_OBJS)

$(BUILD)/tests/test-%: $(BUILD)/obj/tests/unit/test-%.o $(LIBCOMMON) | $(BUILD)/tests
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBCOMMON) $(LIBS)

$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIBCOMMON) | $(BUILD)/tests/tools
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBCOMMON) $(LIBS)

unit-tests: $(UNIT_BINS)
test-programs: $(PROGRAM_BINS) $(USER_BINS) $(UNIT_BINS) $(TOOL_BINS)

# check installs what it needs first (as root) or names it (otherwise), so a
# fresh Debian machine needs nothing but this command.
check:
	@scripts/deps check
	@$(MAKE) --no-print-directory test-programs
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) FUZZ_CC=$(FUZZ_CC) scripts/run-tests

sanitize:
	@$(MAKE) --no-print-directory BUILD=build-san SANITIZE=1 check

# The fuzz targets link the library sources directly with clang's
# sanitizers; they are built apart from the normal objects.
FUZZ_CFLAGS = -std=c17 -D_GNU_SOURCE -g -O1 -Icommon $(PKG_CFLAGS) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

$(FUZZ_BUILD)/fuzz-%: tests/fuzz/fuzz-%.c $(COMMON_SRCS) common/*.h | $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(COMMON_SRCS) $(LIBS)

fuzz:
	@scripts/deps fuzz
	@$(MAKE) --no-print-directory fuzz-build

fuzz-build: $(FUZZ_BINS)

fuzz-run: fuzz
	@for f in $(FUZZ_BINS); do \
		n=$${f##*/}; mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		    $(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n || exit 1; \
	done

demo:
	@scripts/deps demo
	@$(MAKE) --no-print-directory all
	@scripts/demo

bench:
	@scripts/deps bench
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bench/run

# Every program goes to PREFIX/libexec/mailstack (they find each other there,
# see common/progpath.c); the ones people type get a link in PREFIX/sbin.
LIBEXEC = $(PREFIX)/libexec/mailstack
SBIN_LINKS = maild mailctl sendmail deliver

install: all
	install -d $(DESTDIR)$(LIBEXEC) $(DESTDIR)$(PREFIX)/sbin \
	    $(DESTDIR)$(PREFIX)/share/mailstack
	$(if $(PROGRAM_BINS),install -m 755 $(PROGRAM_BINS) $(USER_BINS) $(DESTDIR)$(LIBEXEC)/)
	@scripts/install-privileges $(DESTDIR)$(LIBEXEC)
	@for p in $(SBIN_LINKS); do \
		if [ -f $(BUILD)/bin/$$p ]; then \
			echo "ln -sf ../libexec/mailstack/$$p $(DESTDIR)$(PREFIX)/sbin/$$p"; \
			ln -sf ../libexec/mailstack/$$p $(DESTDIR)$(PREFIX)/sbin/$$p; \
		fi; \
	done
	install -m 644 etc/mailstack.conf etc/users etc/aliases etc/maild.service \
	    $(DESTDIR)$(PREFIX)/share/mailstack/
	install -m 755 etc/make-snakeoil $(DESTDIR)$(PREFIX)/share/mailstack/
	@for page in man/*.[158]; do \
		sec=$${page##*.}; \
		install -d $(DESTDIR)$(PREFIX)/share/man/man$$sec; \
		echo "install -m 644 $$page $(DESTDIR)$(PREFIX)/share/man/man$$sec/"; \
		install -m 644 $$page $(DESTDIR)$(PREFIX)/share/man/man$$sec/; \
	done

clean:
	rm -rf build build-san build-fuzz $(BUILD) $(FUZZ_BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
