# rcleak - build
#
#   make            build ./rcleak (products under build/)
#   make check      the whole suite as CI runs it: make test, then make vmtest
#   make test       build and run the host test suite (unit + integration; root for BPF)
#   make unit       unit tests only (no root, no kernel)
#   make install    install to $(DESTDIR)$(PREFIX)/sbin, man page to share/man/man8 (PREFIX=/usr/local)
#   make vmlinux    regenerate vmlinux/vmlinux.h from /sys/kernel/btf/vmlinux
#   make deps       install missing Debian packages (tools/install-deps.sh)
#   make fuzz       fuzz the capture reader, the event-batch decoder, then report, FUZZ_TIME s each
#   make vmtest     the test subset inside Debian 12's 6.1 and 6.12 kernels (QEMU TCG, root, ~6 min)
#   make bench      overhead, first-line time and CPU per refresh (not tests)
#   make clean
#   V=1             show full command lines

OUTPUT    ?= build
PREFIX    ?= /usr/local
DESTDIR   ?=
CLANG     ?= clang
CC        ?= cc
BPFTOOL   ?= bpftool
PKG_CONFIG ?= pkg-config
VERSION   := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV   := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

LIBBPF_CFLAGS := $(shell $(PKG_CONFIG) --cflags libbpf 2>/dev/null)
LIBBPF_LIBS   := $(shell $(PKG_CONFIG) --libs libbpf 2>/dev/null || echo -lbpf)

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	    -D_GNU_SOURCE -MMD -MP -I$(OUTPUT) -Ibpf -Iuser $(LIBBPF_CFLAGS) \
	    -DRCLEAK_VERSION='"$(VERSION)"'
LDLIBS   += $(LIBBPF_LIBS) -lelf -lz -ldeflate -lm $(shell $(PKG_CONFIG) --libs ncursesw 2>/dev/null || echo -lncursesw)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux -Ibpf \
	      -Wall -Werror -Wno-unused-function

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all clean install vmlinux test unit deps bench fuzz vmtest check FORCE

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

# Userspace: every user/*.c; main.c is the entry point, the rest is a
# library the unit tests link against too.
USER_SRCS := $(wildcard user/*.c)
LIB_SRCS  := $(filter-out user/main.c,$(USER_SRCS))
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
LIB_OBJS  := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(LIB_SRCS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
# tests/unit/*.c not named test_*: helpers several unit tests share
UNIT_HELPERS := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
FUZZ_REPLAY := $(OUTPUT)/tests/fuzz_replay

all: rcleak

# replaced by rename: a running ./rcleak never blocks a build (ETXTBSY)
rcleak: $(OUTPUT)/rcleak
	$(Q)cp $< $@.tmp && mv -f $@.tmp $@

$(OUTPUT)/rcleak: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/user/%.o: user/%.c $(SKELS) | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# --version's git revision: a header rewritten only when HEAD moves, so that
# main.o is rebuilt then (a -D flag changing would not rebuild anything)
$(OUTPUT)/rev.h: FORCE | $(OUTPUT)
	$(Q)printf '#define RCLEAK_REV "%s"\n' '$(GIT_REV)' > $@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi

$(OUTPUT)/user/main.o: $(OUTPUT)/rev.h

FORCE:

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c bpf/rcleak.h $(wildcard bpf/*.bpf.h) vmlinux/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(notdir $*)_bpf > $@

$(OUTPUT) $(OUTPUT)/user $(OUTPUT)/tests $(OUTPUT)/asan $(OUTPUT)/asan/unit:
	$(Q)mkdir -p $@

# ---- tests ---------------------------------------------------------------

# Unit tests run under AddressSanitizer (leaks included) and UBSan: they
# link ASan-built copies of the library objects.
SAN       := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_OBJS := $(patsubst user/%.c,$(OUTPUT)/asan/%.o,$(LIB_SRCS))
UNIT_HELPER_OBJS := $(patsubst tests/unit/%.c,$(OUTPUT)/asan/unit/%.o,$(UNIT_HELPERS))
UNIT_LDLIBS := $(LDLIBS) -lcmocka

$(OUTPUT)/asan/%.o: user/%.c $(SKELS) | $(OUTPUT)/asan
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN) -c $< -o $@

$(OUTPUT)/asan/unit/%.o: tests/unit/%.c | $(OUTPUT)/asan/unit
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN) -c $< -o $@

# each unit test binary links every helper object: a test uses a helper by
# including its header, with no Makefile line of its own
$(OUTPUT)/tests/%: tests/unit/%.c $(ASAN_OBJS) $(UNIT_HELPER_OBJS) | $(OUTPUT)/tests
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN) $< $(ASAN_OBJS) $(UNIT_HELPER_OBJS) $(UNIT_LDLIBS) -o $@

unit: $(UNIT_BINS)
	$(Q)rc=0; for t in $(UNIT_BINS); do $$t || rc=1; done; exit $$rc

# hookfloor is a benchmark tool; building it here keeps it from rotting.
# connstorm drives the storm of tests/integration/test_skips.py; holdconns
# holds the connections that make record's walks long (test_record_ticks.py);
# fakesock hands rcleak's program state changes, withholding some
# (test_withheld.py).
test: rcleak $(UNIT_BINS) $(FUZZ_REPLAY) $(OUTPUT)/hookfloor $(OUTPUT)/connstorm $(OUTPUT)/holdconns \
		$(OUTPUT)/fakesock
	$(Q)RCLEAK=$(CURDIR)/rcleak RCLEAK_TEST_CONNSTORM=$(CURDIR)/$(OUTPUT)/connstorm \
		RCLEAK_TEST_HOLDCONNS=$(CURDIR)/$(OUTPUT)/holdconns RCLEAK_TEST_FAKESOCK=$(CURDIR)/$(OUTPUT)/fakesock \
		UNIT_TESTS="$(addprefix $(CURDIR)/,$(UNIT_BINS) $(FUZZ_REPLAY))" bash tests/run.sh


# ---- fuzzing (clang + libFuzzer; not part of `make test`) ---------------
# The capture reader, the event-batch decoder and `rcleak report` whole, fed
# anything: seeds come from gen_corpus and capcraft.py (made here, not
# committed); new inputs collect in $(OUTPUT)/fuzz/corpus, ev-corpus and
# rep-corpus, crashes in $(OUTPUT)/fuzz/crash-*, ev-crash-* and rep-crash-*.

FUZZ_TIME   ?= 600
FUZZ_CFLAGS := -g -O1 -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
	       -Iuser -Ibpf -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
CAPTURE_HDRS := user/capture.h user/capture_fmt.h

$(OUTPUT)/fuzz:
	$(Q)mkdir -p $@

$(OUTPUT)/fuzz/fuzz_capture: tests/fuzz/fuzz_capture.c tests/fuzz/capmut.c user/capture_read.c \
		user/capture_read_header.c user/capture_read_chunks.c $(CAPTURE_HDRS) user/capture_read_int.h | $(OUTPUT)/fuzz
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -lz -ldeflate -o $@

# `rcleak report` whole: every userspace file but main.c, built with the
# sanitizers (objects of their own, so that -j builds them side by side)
FUZZ_LIB_OBJS := $(patsubst user/%.c,$(OUTPUT)/fuzz/obj/%.o,$(LIB_SRCS))

$(OUTPUT)/fuzz/obj/%.o: user/%.c $(SKELS) | $(OUTPUT)/fuzz
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -I$(OUTPUT) $(LIBBPF_CFLAGS) \
		-DRCLEAK_VERSION='"$(VERSION)"' -c $< -o $@

$(OUTPUT)/fuzz/fuzz_report: tests/fuzz/fuzz_report.c tests/fuzz/capmut.c $(FUZZ_LIB_OBJS) | $(OUTPUT)/fuzz
	$(call msg,FUZZ-LD,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) tests/fuzz/fuzz_report.c tests/fuzz/capmut.c $(FUZZ_LIB_OBJS) $(LDLIBS) -o $@

$(OUTPUT)/fuzz/fuzz_events: tests/fuzz/fuzz_events.c user/evbatch.c user/evbatch.h | $(OUTPUT)/fuzz
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@

$(OUTPUT)/fuzz/gen_corpus: tests/fuzz/gen_corpus.c user/capture_write.c user/evbatch.c $(CAPTURE_HDRS) user/evbatch.h | $(OUTPUT)/fuzz
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O1 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iuser -Ibpf $(filter %.c,$^) -lz -ldeflate -o $@

# Each target fuzzes for FUZZ_TIME seconds: the container, then event batches.
fuzz: $(OUTPUT)/fuzz/fuzz_capture $(OUTPUT)/fuzz/fuzz_events $(OUTPUT)/fuzz/fuzz_report $(OUTPUT)/fuzz/gen_corpus
	$(Q)mkdir -p $(OUTPUT)/fuzz/seeds $(OUTPUT)/fuzz/corpus $(OUTPUT)/fuzz/ev-seeds $(OUTPUT)/fuzz/ev-corpus \
		$(OUTPUT)/fuzz/rep-corpus
	$(Q)$(OUTPUT)/fuzz/gen_corpus $(OUTPUT)/fuzz/seeds $(OUTPUT)/fuzz/ev-seeds
	$(Q)$(OUTPUT)/fuzz/fuzz_capture -max_total_time=$(FUZZ_TIME) -max_len=16384 \
		-artifact_prefix=$(OUTPUT)/fuzz/ -print_final_stats=1 \
		$(OUTPUT)/fuzz/corpus $(OUTPUT)/fuzz/seeds
	$(Q)$(OUTPUT)/fuzz/fuzz_events -max_total_time=$(FUZZ_TIME) -max_len=16384 \
		-artifact_prefix=$(OUTPUT)/fuzz/ev- -print_final_stats=1 \
		$(OUTPUT)/fuzz/ev-corpus $(OUTPUT)/fuzz/ev-seeds
	$(Q)python3 tests/integration/capcraft.py $(OUTPUT)/fuzz/rep-seeds
	$(Q)$(OUTPUT)/fuzz/fuzz_report -max_total_time=$(FUZZ_TIME) -max_len=65536 \
		-artifact_prefix=$(OUTPUT)/fuzz/rep- -print_final_stats=1 \
		-close_fd_mask=2 $(OUTPUT)/fuzz/rep-corpus $(OUTPUT)/fuzz/seeds $(OUTPUT)/fuzz/rep-seeds

# The test suite replays the seed corpora (and whatever fuzzing found and
# kept) through the fuzz targets once, without fuzzing: a regression check.
$(FUZZ_REPLAY): $(OUTPUT)/fuzz/fuzz_capture $(OUTPUT)/fuzz/fuzz_events $(OUTPUT)/fuzz/fuzz_report $(OUTPUT)/fuzz/gen_corpus | $(OUTPUT)/tests
	$(call msg,GEN,$@)
	$(Q)printf '#!/bin/sh\n# replay the fuzz corpora once (no fuzzing)\nset -e\nF=%s/fuzz\nmkdir -p $$F/seeds $$F/corpus $$F/ev-seeds $$F/ev-corpus $$F/rep-corpus\n$$F/gen_corpus $$F/seeds $$F/ev-seeds\n$$F/fuzz_capture -runs=0 $$F/seeds $$F/corpus\npython3 %s/tests/integration/capcraft.py $$F/rep-seeds\n$$F/fuzz_report -runs=0 -close_fd_mask=2 $$F/seeds $$F/rep-seeds $$F/rep-corpus\nexec $$F/fuzz_events -runs=0 $$F/ev-seeds $$F/ev-corpus\n' \
		$(CURDIR)/$(OUTPUT) $(CURDIR) > $@
	$(Q)chmod +x $@

# ---- benchmarks (not tests: they print ratios and costs, assert nothing) --

$(OUTPUT)/holdconns: tools/loadgen/holdconns.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror $< -o $@

$(OUTPUT)/connstorm: tools/loadgen/connstorm.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror $< -o $@

# An empty program on rcleak's hook: the benchmarks' floor.
$(OUTPUT)/hookfloor.bpf.o: tools/bench/hookfloor.bpf.c vmlinux/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

$(OUTPUT)/hookfloor: tools/bench/hookfloor.c $(OUTPUT)/hookfloor.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror -I$(OUTPUT) $(LIBBPF_CFLAGS) $< $(LIBBPF_LIBS) -lelf -lz -o $@

# A test's tool: one socket's state changes, some withheld, into rcleak's
# raw_tp lifecycle program (tests/fakesock/fakesock.c).
$(OUTPUT)/fakesock.bpf.o: tests/fakesock/fakesock.bpf.c tests/fakesock/fakesock.h vmlinux/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -Itests/fakesock -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

$(OUTPUT)/fakesock: tests/fakesock/fakesock.c tests/fakesock/fakesock.h $(OUTPUT)/fakesock.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror -I$(OUTPUT) -Itests/fakesock $(LIBBPF_CFLAGS) $< $(LIBBPF_LIBS) -lelf -lz -o $@

# ~17 min, root; writes bench/results/latest.{md,json,log} + dated copies.
# QUICK=1 make bench: a ~3 min smoke run of the same scripts.
bench: rcleak $(OUTPUT)/holdconns $(OUTPUT)/connstorm $(OUTPUT)/hookfloor
	$(Q)OUTPUT=$(OUTPUT) tools/bench/run-all.sh

# ---- kernel matrix (QEMU TCG; see tools/vmtest --help) -------------------

vmtest: rcleak $(OUTPUT)/connstorm $(OUTPUT)/holdconns $(OUTPUT)/fakesock
	$(Q)tools/vmtest --matrix

# Everything CI runs: make test, then make vmtest, with one closing line.
check:
	$(Q)bash tools/check.sh

# ---- misc ----------------------------------------------------------------

deps:
	$(Q)bash tools/install-deps.sh

vmlinux:
	$(call msg,GEN,vmlinux/vmlinux.h)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

install: rcleak
	$(Q)install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8
	$(Q)install -m 0755 rcleak $(DESTDIR)$(PREFIX)/sbin/rcleak
	$(Q)install -m 0644 man/rcleak.8 $(DESTDIR)$(PREFIX)/share/man/man8/rcleak.8

clean:
	$(call msg,CLEAN,)
	$(Q)rm -rf $(OUTPUT) rcleak

-include $(wildcard $(OUTPUT)/user/*.d $(OUTPUT)/tests/*.d $(OUTPUT)/asan/*.d $(OUTPUT)/asan/unit/*.d \
	$(OUTPUT)/fuzz/obj/*.d)
