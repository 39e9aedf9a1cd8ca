# mailwarden — plain Makefile, dependencies via pkg-config.
#   make            build ./mailwarden
#   make run        install missing Debian packages, build, run `offenders` on the bundled log
#   make check      install missing Debian packages, build, run every test suite
#   make install    install into $(DESTDIR)$(PREFIX) (binary, man page, bash completion, config)
# Variants: BUILD=dir SAN=1 (clang, ASan+UBSan); the fuzz targets live in build-fuzz.

PREFIX  ?= /usr/local
SYSCONFDIR ?= /etc
BUILD   ?= build
CC      ?= cc
PKGS    := zlib liblzma libzstd libpcre2-8 sqlite3 jansson libsystemd
# Libraries whose headers we compile against but that are loaded with dlopen() only when used
# (src/util/dynlib.h): libmariadb (and its libssl/libcrypto) for the MySQL last-login hook,
# libnftables for the nftables action, libmicrohttpd for the metrics_listen listener; linking
# them would cost every daemon several MB of RSS. The soname is the one the -dev symlink names.
DLPKGS  := libmariadb libnftables libmicrohttpd
soname   = $(shell readelf -d "$$(pkg-config --variable=libdir $(1) 2>/dev/null)/$(2)" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
SONAME_MARIADB  := $(or $(call soname,libmariadb,libmariadb.so),libmariadb.so.3)
SONAME_NFTABLES := $(or $(call soname,libnftables,libnftables.so),libnftables.so.1)
MHD_SONAME := $(shell objdump -p $$(pkg-config --variable=libdir libmicrohttpd 2>/dev/null)/libmicrohttpd.so 2>/dev/null | awk '/SONAME/ { print $$2 }')
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN    := -std=c11 -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wno-unused-parameter -Werror
CPPFLAGS+= -D_GNU_SOURCE -DMW_VERSION=\"$(VERSION)\" -Isrc $(shell pkg-config --cflags $(PKGS) $(DLPKGS) 2>/dev/null)
CPPFLAGS+= -DMW_SONAME_MARIADB=\"$(SONAME_MARIADB)\" -DMW_SONAME_NFTABLES=\"$(SONAME_NFTABLES)\"
LDFLAGS += -Wl,--as-needed
ifneq ($(MHD_SONAME),)
CPPFLAGS+= -DMW_MHD_SONAME=\"$(MHD_SONAME)\"
endif
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lbz2 -lpthread -lm -ldl
ifeq ($(FUZZ),1)
CC      := clang
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SAN),1)
CC      := clang
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
OPT     ?= -O3 -g
endif
CFLAGS  += $(WARN) $(OPT) -MMD -MP

# Profile-guided optimisation of the gcc release build (PGO=0 to skip; never with SAN or
# FUZZ): an instrumented copy built in $(BUILD)/pgo runs scripts/pgo-train.sh on the bundled
# sample logs, and every object is then compiled with those counters (summary about 4 % less
# CPU on the 1 GB benchmark log). gcc names an object's counters, and the ids of its static
# functions, after -dumpbase: both builds pass the source path, so the two match.
PGO     ?= 1
ifneq ($(FUZZ)$(SAN),)
PGO     := 0
endif
ifeq ($(PGO),1)
PGODIR  := $(BUILD)/pgo
PROFDIR := $(abspath $(BUILD))/pgo-data
PROFILE := $(BUILD)/pgo.stamp
PGOUSE  := -fprofile-use -fprofile-partial-training -Wno-missing-profile
endif
PGOOBJ   = $(if $(PROFDIR),-fprofile-dir=$(PROFDIR) -dumpbase $<)

LIBSRC  := $(sort $(filter-out src/cli/main.c,$(shell find src -name '*.c')))
LIBOBJ  := $(LIBSRC:%.c=$(BUILD)/%.o)
UNITSRC := $(sort $(wildcard tests/unit/test_*.c))
UNITBIN := $(UNITSRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZSRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZBIN := $(FUZZSRC:tests/fuzz/%.c=$(BUILD)/%)

.PHONY: all run check test unit install install-unit clean deps fuzz asan lint man
all: mailwarden

mailwarden: $(BUILD)/mailwarden
	@if [ "$(BUILD)" = build ]; then cp $< $@; fi

$(BUILD)/mailwarden: $(BUILD)/src/cli/main.o $(BUILD)/libmw.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libmw.a: $(LIBOBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c $(PROFILE)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PGOUSE) $(PGOOBJ) -c -o $@ $<

ifeq ($(PGO),1)
$(PROFILE): $(LIBSRC) src/cli/main.c $(wildcard src/*/*.h) scripts/pgo-train.sh $(wildcard tests/data/*.log.gz)
	@rm -rf $(PROFDIR)
	@$(MAKE) --no-print-directory BUILD=$(PGODIR) PGO=0 PROFDIR=$(PROFDIR) \
		OPT="$(OPT) -fprofile-generate -fprofile-update=atomic" LDFLAGS="$(LDFLAGS) -fprofile-generate" \
		$(PGODIR)/mailwarden
	scripts/pgo-train.sh $(PGODIR)/mailwarden
	@touch $@
endif

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libmw.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MF $@.d -Itests -o $@ $< $(BUILD)/libmw.a $(LDFLAGS) $(LDLIBS)

unit: $(UNITBIN)

# libFuzzer targets: make BUILD=build-fuzz FUZZ=1 fuzz
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/libmw.a
	$(CC) $(CPPFLAGS) $(CFLAGS) -MF $@.d -fsanitize=fuzzer -Itests -o $@ $< $(BUILD)/libmw.a $(LDFLAGS) $(LDLIBS)

fuzz: $(FUZZBIN)

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./mailwarden offenders --now 2026-11-22T21:30:00 tests/data/mail-traditional.log.gz

check test: deps
	@scripts/check.sh

lint:
	@scripts/lint.sh

# The manual page is generated from the binary's help texts (scripts/mkman.sh).
$(BUILD)/mailwarden.1: mailwarden scripts/mkman.sh
	@mkdir -p $(BUILD)
	scripts/mkman.sh ./mailwarden > $@.tmp && mv $@.tmp $@

man: $(BUILD)/mailwarden.1

install: all man
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 mailwarden $(DESTDIR)$(PREFIX)/bin/mailwarden
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 $(BUILD)/mailwarden.1 $(DESTDIR)$(PREFIX)/share/man/man1/mailwarden.1
	install -m 0644 config/completion/mailwarden.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/mailwarden
	install -d $(DESTDIR)$(SYSCONFDIR)/mailwarden $(DESTDIR)$(SYSCONFDIR)/mailwarden/jail.d
	install -m 0644 config/jail.conf config/mailwarden.conf $(DESTDIR)$(SYSCONFDIR)/mailwarden/
	@$(MAKE) --no-print-directory install-unit

# the systemd unit, with ExecStart pointing at the installed binary
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
install-unit:
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed 's|/usr/bin/mailwarden|$(PREFIX)/bin/mailwarden|' config/mailwarden.service > $(DESTDIR)$(SYSTEMDUNITDIR)/mailwarden.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/mailwarden.service

clean:
	rm -rf build build-asan build-fuzz mailwarden

-include $(LIBOBJ:.o=.d) $(BUILD)/src/cli/main.d $(UNITBIN:=.d) $(FUZZBIN:=.d)
