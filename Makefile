# elastic-serve — the one Makefile.
#
#   make                 build every program and spank/elastic_serve.so
#   make check           install missing packages, build, run every test
#   make check-unit      the Check unit suites only (ASan + UBSan)
#   make check-toml      the TOML 1.0 conformance cases only
#   make check-integration   the tests on the local SLURM cluster only
#   make cluster-up      a local SLURM cluster (n1..n3, 8 fake GPUs each)
#   make cluster-down
#   make demo            the whole flow on the local cluster
#   make bench           the benchmark suite (bench/README.md; root, local cluster)
#   make bench-proxy     the proxy's overhead against direct and nginx (part f of make bench)
#   make install         PREFIX=/usr/local DESTDIR=
#   make deps            install the Debian packages that are missing
#   make check-valgrind  registry and sim integration tests with both daemons
#                        under valgrind memcheck: fails on any error or leak
#   make check-leaks     the integration tests with the daemons (registry,
#                        agent, sim) built with ASan, LeakSanitizer and UBSan
#   make fuzz            every libFuzzer target for FUZZ_TIME s (60) each
#   make fuzz-NAME       one of them (tests/fuzz/fuzz_NAME.c)
#   make fuzz-ci         what CI runs: every target for 40 s, fresh corpora, two at a time
#
# Run one suite: make check-unit CK_RUN_SUITE=toml (and CK_RUN_CASE=...).

.DEFAULT_GOAL := all
SHELL := /bin/bash

VERSION := 0.1.0

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
PLUGINDIR  ?= $(LIBDIR)/elastic-serve
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share/elastic-serve
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DESTDIR    ?=

PKG_CONFIG ?= pkg-config
PKGS := libevent json-c libcurl munge
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

OPT    ?= -O2 -g
WARN   := -Wall -Wextra -Werror
DEFS   := -D_GNU_SOURCE -DES_VERSION='"$(VERSION)"' \
	  -DES_SBINDIR='"$(SBINDIR)"' -DES_SYSCONFDIR='"$(SYSCONFDIR)"'
ALL_CFLAGS = -std=gnu11 $(WARN) $(OPT) -fPIC -MMD -MP -Ilib $(DEFS) $(PKG_CFLAGS) $(CFLAGS)
SAN    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_CFLAGS = -std=gnu11 $(WARN) -O1 -g $(SAN) -MMD -MP -Ilib -Itests -Ispank -Iagent $(DEFS) $(PKG_CFLAGS) $(CHECK_CFLAGS) $(CFLAGS)

# Quiet by default; make V=1 shows the commands.
V ?= 0
ifeq ($(V),0)
Q = @
msg = @printf '  %-6s %s\n' $(1) $(2);
else
Q =
msg =
endif

B := build/obj
A := build/asan

# ---------------------------------------------------------------- sources
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
LIBA    := $(B)/libelastic.a

# A program is every .c file of its folder; main.c holds main(). Folders
# without sources yet build nothing.
PROG_DIRS := sim agent registry cli research
sim_BIN      := sim/elastic-sim
agent_BIN    := agent/elastic-agent
registry_BIN := registry/elastic-registry
cli_BIN      := cli/elasticctl
research_BIN := research/elastic-research
PROGS := $(foreach d,$(PROG_DIRS),$(if $(wildcard $(d)/*.c),$($(d)_BIN)))

PLUGIN     := spank/elastic_serve.so
PLUGIN_SRC := $(wildcard spank/*.c)
PLUGIN_MAP := spank/elastic_serve.map

TOOLS := $(if $(wildcard tests/toml-decoder.c),tests/toml-decoder)

# Unit tests link every source except the entry points: main() of each
# program, the plugin's SPANK dispatch and its wrapper over libslurm (the
# tests link tests/fake_spank_api.c instead).
NOT_UNIT := $(foreach d,$(PROG_DIRS),$(d)/main.c) spank/dispatch.c spank/spank_api.c
UNIT_SRC := $(LIB_SRC) \
	$(filter-out $(NOT_UNIT),$(foreach d,$(PROG_DIRS) spank,$(wildcard $(d)/*.c))) \
	$(filter-out tests/toml-decoder.c,$(wildcard tests/*.c))
UNIT_OBJ := $(UNIT_SRC:%.c=$(A)/%.o)

# Fuzz targets (see "fuzzing" below).
FUZZ_CC   ?= clang
FUZZ_TIME ?= 60
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=gnu11 -Wall -Wextra -Werror -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	-Ilib -Iregistry -Iagent -Isim -Icli -Iresearch -Itests/fuzz $(DEFS) $(PKG_CFLAGS) $(CFLAGS)
# Targets over code that is not in every checkout yet name the file they need.
FUZZ_NEEDS_proxy := registry/proxy_json.c
FUZZ_NEEDS_sse   := cli/bench_sse.c
FUZZ_NEEDS_research := research/rs_tool_page.c
FUZZ_NEEDS_migrate := registry/proxy_migrate.c
FUZZ_ALL  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS := $(foreach t,$(FUZZ_ALL),$(if $(FUZZ_NEEDS_$(t)),$(if $(wildcard $(FUZZ_NEEDS_$(t))),$(t)),$(t)))
FZ := build/fuzz
FUZZ_LIB_SRC := $(LIB_SRC) $(filter-out $(NOT_UNIT),$(foreach d,$(PROG_DIRS),$(wildcard $(d)/*.c)))
FUZZ_LIB := $(FZ)/libfuzzed.a
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FZ)/fuzz_%)
FUZZ_RUN_FLAGS ?= -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
# The unit runner replays their committed inputs (tests/check_fuzz.c).
UNIT_OBJ += $(patsubst %,$(A)/tests/fuzz/fuzz_%.o,$(FUZZ_TARGETS))
SUITES   := $(patsubst tests/check_%.c,%,$(wildcard tests/check_*.c))
RUNNER   := tests/check-runner

# ---------------------------------------------------------------- build
.PHONY: all
all: $(PROGS) $(if $(PLUGIN_SRC),$(PLUGIN)) $(TOOLS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(call msg,CC,$<)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	$(call msg,AR,$@)$(AR) rcs $@ $^

define PROGRAM_RULE
$($(1)_BIN): $$(patsubst %.c,$(B)/%.o,$$(wildcard $(1)/*.c)) $(LIBA)
	$$(call msg,LINK,$$@)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(PKG_LIBS) -lm
endef
$(foreach d,$(PROG_DIRS),$(eval $(call PROGRAM_RULE,$(d))))

$(PLUGIN): $(PLUGIN_SRC:%.c=$(B)/%.o) $(LIBA) $(PLUGIN_MAP)
	$(call msg,LINK,$@)$(CC) -shared $(LDFLAGS) -Wl,--version-script=$(PLUGIN_MAP) -o $@ \
		$(PLUGIN_SRC:%.c=$(B)/%.o) $(LIBA) $(PKG_LIBS)

tests/toml-decoder: $(B)/tests/toml-decoder.o $(LIBA)
	$(call msg,LINK,$@)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# ---------------------------------------------------------------- tests
$(A)/%.o: %.c
	@mkdir -p $(@D)
	$(call msg,CC-SAN,$<)$(CC) $(SAN_CFLAGS) -c -o $@ $<

# The runner learns its suites from the tests/check_*.c files present.
$(A)/tests/suites.h: $(wildcard tests/check_*.c) | $(A)/tests
	@printf 'SUITE(%s)\n' $(SUITES) > $@.tmp && mv $@.tmp $@
$(A)/tests:
	@mkdir -p $@
$(A)/tests/runner.o: $(A)/tests/suites.h
$(A)/tests/runner.o: SAN_CFLAGS += -I$(A)/tests
# The fuzz targets in the runner: each entry point under its own name.
$(A)/tests/fuzz_targets.h: $(wildcard tests/fuzz/fuzz_*.c) Makefile | $(A)/tests
	@printf 'FUZZ(%s)\n' $(FUZZ_TARGETS) > $@.tmp && mv $@.tmp $@
$(A)/tests/check_fuzz.o: $(A)/tests/fuzz_targets.h
$(A)/tests/check_fuzz.o: SAN_CFLAGS += -I$(A)/tests
$(A)/tests/fuzz/fuzz_%.o: SAN_CFLAGS += -DLLVMFuzzerTestOneInput=$(patsubst fuzz_%,fuzz_one_%,$(notdir $(basename $@))) -Iregistry -Isim -Icli -Iresearch -Itests/fuzz

$(RUNNER): $(UNIT_OBJ)
	$(call msg,LINK,$@)$(CC) $(SAN) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS) -lm

.PHONY: check check-all check-unit check-toml check-integration deps
deps:
	@scripts/deps.sh

# check and demo first install what is missing, then re-run make so that
# pkg-config sees the new packages.
check:
	@scripts/deps.sh --check 2>/dev/null || scripts/deps.sh
	@$(MAKE) --no-print-directory check-all

check-all: all $(RUNNER)
	@echo "== TOML 1.0 conformance (../shared/toml-test)"
	@$(MAKE) --no-print-directory check-toml
	@echo "== local SLURM cluster"
	@scripts/cluster.sh up
	@echo "== Check suites (unit, under ASan+UBSan, then integration)"
	@./$(RUNNER)

# The auth suite talks to munged: start it when it is not running.
check-unit: $(RUNNER)
	@scripts/cluster.sh munge
	@CK_EXCLUDE_TAGS=integration ./$(RUNNER)

check-integration: all $(RUNNER)
	@scripts/cluster.sh up
	@CK_INCLUDE_TAGS=integration ./$(RUNNER)

TOML_TEST ?= $(firstword $(wildcard ../shared/toml-test/run) $(wildcard /work/shared/toml-test/run))
check-toml: tests/toml-decoder
	@if [ -z "$(TOML_TEST)" ]; then echo "check-toml: cannot find ../shared/toml-test/run" >&2; exit 1; fi
	@out=$$($(TOML_TEST) tests/toml-decoder); rc=$$?; echo "$$out" | tail -n 20; \
	 [ $$rc -eq 0 ] && echo "$$out" | tail -n 1 | grep -q ' 0 failed'

# ---------------------------------------------------------------- sanitized daemons
# The integration tests with elastic-registry, elastic-agent, elastic-sim,
# elasticctl and elastic-research built with AddressSanitizer, LeakSanitizer and UBSan
# (the objects of the unit runner, plus the main.c files) in build/san/,
# laid out like the source tree so that the agent finds elastic-sim beside
# it. The tests take their programs from ES_BIN (tests/integration/lib.sh)
# and the plugin starts the agent named in plugstack.conf, which the tests
# set from ES_AGENT. Every report goes to build/san-logs/ (a file per
# process, tests/sanitize/options.c); any file there fails the run. A
# daemon that exits cleanly is checked for leaks; one killed with SIGKILL
# (the tests do that on purpose) is not. CK_RUN_CASE=NAME runs one test.
SAN_BIN := build/san
SAN_LOGS := build/san-logs
SAN_PROGS := $(foreach d,sim agent registry cli research,$(if $(wildcard $(d)/*.c),$(SAN_BIN)/$($(d)_BIN)))

$(A)/tests/sanitize/options.o: SAN_CFLAGS += -DES_SAN_LOG_DIR='"$(abspath $(SAN_LOGS))"'

define SAN_PROGRAM_RULE
$(SAN_BIN)/$($(1)_BIN): $$(patsubst %.c,$(A)/%.o,$$(wildcard $(1)/*.c)) $(LIB_SRC:%.c=$(A)/%.o) $(A)/tests/sanitize/options.o
	@mkdir -p $$(@D)
	$$(call msg,LINK,$$@)$$(CC) $(SAN) -o $$@ $$^ $$(PKG_LIBS) -lm
endef
$(foreach d,sim agent registry cli research,$(eval $(call SAN_PROGRAM_RULE,$(d))))

# The registry finds its job script at ../etc/elastic-job.sh, as in the tree.
$(SAN_BIN)/etc:
	@mkdir -p $(SAN_BIN) && ln -sfn ../../etc $@

.PHONY: san-daemons check-leaks
san-daemons: $(SAN_PROGS) $(SAN_BIN)/etc

check-leaks: all $(RUNNER) san-daemons
	@scripts/cluster.sh up
	@rm -rf $(SAN_LOGS) && install -d -m 1777 $(SAN_LOGS)
	@echo "== integration tests, daemons from $(SAN_BIN) (ASan, LSan, UBSan)"
	@rc=0; ES_BIN=$(abspath $(SAN_BIN)) CK_INCLUDE_TAGS=integration ./$(RUNNER) || rc=$$?; \
	 reports=$$(find $(SAN_LOGS) -type f | sort); \
	 for f in $$reports; do echo "---- $$f"; head -n 60 "$$f"; done; \
	 if [ -n "$$reports" ]; then echo "check-leaks: $$(echo "$$reports" | wc -l) sanitizer report(s) in $(SAN_LOGS)"; exit 1; fi; \
	 [ $$rc -eq 0 ] && echo "check-leaks: no sanitizer report" || exit $$rc

# The integration tests that drive the registry and elastic-sim hardest,
# with both under valgrind's memcheck (scripts/vg-tree.sh): any error or
# definite/indirect leak in build/vg-logs fails the run (elastic-research too,
# in test_research_e2e). About 6 minutes;
# tests that time the daemons closely (test_proxy_api: SSE pacing) are not in the list.
VG_BIN := build/vg
VG_LOGS := build/vg-logs
VG_TESTS ?= sim_http registry_cli proxy_keys proxy_limits proxy_faults proxy_migrate registry_pool registry_renew fault_registry_kill research_e2e
.PHONY: check-valgrind
check-valgrind: all $(RUNNER)
	@command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
	@rm -rf $(VG_LOGS) && install -d -m 1777 $(VG_LOGS)
	@scripts/vg-tree.sh $(VG_BIN) $(VG_LOGS)
	@scripts/cluster.sh up
	@rc=0; for t in $(VG_TESTS); do \
	   echo "== $$t, elastic-registry and elastic-sim under valgrind"; \
	   ES_BIN=$(abspath $(VG_BIN)) CK_RUN_SUITE=integration CK_RUN_CASE=$$t ./$(RUNNER) || rc=1; \
	 done; \
	 reports=$$(find $(VG_LOGS) -type f -size +0 | sort); \
	 for f in $$reports; do echo "---- $$f"; head -n 80 "$$f"; done; \
	 n=$$(find $(VG_LOGS) -type f | wc -l); \
	 if [ -n "$$reports" ]; then echo "check-valgrind: memcheck reports in $$(echo "$$reports" | wc -l) of $$n process(es) ($(VG_LOGS))"; exit 1; fi; \
	 [ $$rc -eq 0 ] && echo "check-valgrind: $$n daemon process(es) under memcheck, no error, no leak" || exit $$rc

# ---------------------------------------------------------------- fuzzing
# libFuzzer targets tests/fuzz/fuzz_NAME.c, built with clang, libFuzzer,
# ASan and UBSan over every source except the entry points and the plugin.
# Seeds: tests/fuzz/corpus/NAME (committed); what a run learns goes to
# build/fuzz/corpus/NAME, crashes to build/fuzz/crashes/NAME/. A crash's
# minimized input belongs in tests/fuzz/regress/NAME/ with a unit test:
# the unit runner replays both folders (tests/check_fuzz.c).
$(FZ)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call msg,CC-FUZZ,$<)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_SRC:%.c=$(FZ)/obj/%.o)
	@rm -f $@
	$(call msg,AR,$@)$(AR) rcs $@ $^

$(FZ)/fuzz_%: $(FZ)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(call msg,LINK,$@)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lm

.PHONY: fuzz fuzz-build fuzz-ci
fuzz-build: $(FUZZ_BINS)
.SECONDARY: $(FUZZ_TARGETS:%=$(FZ)/obj/tests/fuzz/fuzz_%.o)

# Runs one target: seeds first, then FUZZ_TIME s of fuzzing. Fails on a crash.
define FUZZ_RUN
.PHONY: fuzz-$(1)
fuzz-$(1): $(FZ)/fuzz_$(1)
	@mkdir -p $(FZ)/corpus/$(1) $(FZ)/crashes/$(1)
	@echo "== fuzz $(1) for $$(FUZZ_TIME) s"
	@$(FZ)/fuzz_$(1) $$(FUZZ_RUN_FLAGS) -max_total_time=$$(FUZZ_TIME) \
		-artifact_prefix=$(FZ)/crashes/$(1)/ \
		$$(if $$(wildcard tests/fuzz/fuzz_$(1).dict),-dict=tests/fuzz/fuzz_$(1).dict) \
		$(FZ)/corpus/$(1) $$(wildcard tests/fuzz/corpus/$(1) tests/fuzz/regress/$(1)) \
		> $(FZ)/fuzz_$(1).log 2>&1 \
	 || { tail -n 40 $(FZ)/fuzz_$(1).log; echo "fuzz $(1): crash, input in $(FZ)/crashes/$(1)/"; exit 1; }
	@grep -E '^stat::number_of_executed_units|^Done ' $(FZ)/fuzz_$(1).log | tr '\n' ' '; echo
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_RUN,$(t))))

# Every target, one at a time (the machine is shared); all of them run
# even when one crashes, and the result is the worst.
fuzz: $(FUZZ_BINS)
	@rc=0; for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-$$t || rc=1; done; \
	 [ $$rc -eq 0 ] && echo "fuzz: $(words $(FUZZ_TARGETS)) target(s), no crash" || \
	 { echo "fuzz: crashes found (build/fuzz/crashes/)"; exit 1; }

# CI: every target for 60 s from fresh corpora, two at a time (2 cores:
# about 5 minutes for nine targets); all run even when one crashes.
FUZZ_JOBS ?= 2
FUZZ_CI_TIME ?= 40
fuzz-ci:
	@scripts/deps.sh --check 2>/dev/null || scripts/deps.sh
	@rm -rf $(FZ)/corpus $(FZ)/crashes
	@$(MAKE) --no-print-directory -j$(FUZZ_JOBS) fuzz-build
	@$(MAKE) --no-print-directory -k -j$(FUZZ_JOBS) FUZZ_TIME=$(FUZZ_CI_TIME) $(FUZZ_TARGETS:%=fuzz-%) && \
	 echo "fuzz-ci: $(words $(FUZZ_TARGETS)) target(s) for $(FUZZ_CI_TIME) s each, no crash" || \
	 { echo "fuzz-ci: crashes found (build/fuzz/crashes/)"; exit 1; }

# ---------------------------------------------------------------- cluster
.PHONY: cluster-up cluster-down
cluster-up: all
	@scripts/cluster.sh up
cluster-down:
	@scripts/cluster.sh down

# ---------------------------------------------------------------- demo
.PHONY: demo demo-down
demo:
	@scripts/deps.sh --check 2>/dev/null || scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh up
demo-down:
	@scripts/demo.sh down

# ---------------------------------------------------------------- bench
# make bench runs every part of the suite (bench/run.sh); make bench-proxy
# only the proxy's overhead, BENCH_DURATION per run, BENCH_REPEAT times.
BENCH_DURATION ?= 10s
BENCH_REPEAT ?= 1
.PHONY: bench bench-proxy
bench: all
	@BENCH_DURATION=$(BENCH_DURATION) BENCH_REPEAT=$(BENCH_REPEAT) bench/run.sh

bench-proxy: all
	@bench/proxy.sh $(BENCH_DURATION) $(BENCH_REPEAT)

# ---------------------------------------------------------------- install
# Configuration files are installed only when absent (never clobbered);
# templates get the install paths substituted.
SUBST = sed -e 's|@PLUGINDIR@|$(PLUGINDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
	    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g'
SLURM_CONFDIR ?= $(SYSCONFDIR)/slurm
EXAMPLES := $(wildcard etc/examples/*.toml)

.PHONY: install uninstall
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(PLUGINDIR)
	$(foreach p,$(filter cli/% sim/% research/%,$(PROGS)),install -m 755 $(p) $(DESTDIR)$(BINDIR)/;)
	$(foreach p,$(filter agent/% registry/%,$(PROGS)),install -m 755 $(p) $(DESTDIR)$(SBINDIR)/;)
	$(if $(PLUGIN_SRC),install -m 755 $(PLUGIN) $(DESTDIR)$(PLUGINDIR)/)
	install -d $(DESTDIR)$(DATADIR)/examples
	install -m 755 etc/elastic-job.sh $(DESTDIR)$(DATADIR)/
	install -m 644 $(EXAMPLES) $(DESTDIR)$(DATADIR)/examples/
	install -d $(DESTDIR)$(UNITDIR)
	$(SUBST) etc/elastic-registry.service > $(DESTDIR)$(UNITDIR)/elastic-registry.service
	install -d $(DESTDIR)$(SLURM_CONFDIR)/plugstack.conf.d $(DESTDIR)$(SYSCONFDIR)/elastic-serve
	@set -e; for f in $(SLURM_CONFDIR)/plugstack.conf.d/elastic-serve.conf:etc/plugstack.conf.d/elastic-serve.conf \
		  $(SYSCONFDIR)/elastic-serve/registry.toml:etc/registry.toml; do \
		dst=$(DESTDIR)$${f%%:*}; src=$${f#*:}; \
		if [ -e "$$dst" ]; then echo "keeping $$dst (the new version is $$dst.dist)"; \
			$(SUBST) $$src > $$dst.dist; \
		else echo "installing $$dst"; $(SUBST) $$src > $$dst; fi; done
	@for m in $(wildcard man/*.[1-8]); do \
		s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
		echo install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; \
		install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done

# Leaves the configuration files (edited by the admin) in place.
uninstall:
	rm -f $(foreach p,$(PROGS),$(DESTDIR)$(BINDIR)/$(notdir $(p)) $(DESTDIR)$(SBINDIR)/$(notdir $(p)))
	rm -f $(DESTDIR)$(PLUGINDIR)/elastic_serve.so $(DESTDIR)$(DATADIR)/elastic-job.sh
	rm -f $(foreach e,$(EXAMPLES),$(DESTDIR)$(DATADIR)/examples/$(notdir $(e)))
	rm -f $(DESTDIR)$(UNITDIR)/elastic-registry.service
	-rmdir $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(DATADIR)/examples $(DESTDIR)$(DATADIR) 2>/dev/null
	rm -f $(foreach m,$(wildcard man/*.[1-8]),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))

# ---------------------------------------------------------------- clean
.PHONY: clean
clean:
	rm -rf $(B) $(A) $(FZ) $(SAN_BIN) $(SAN_LOGS) $(PROGS) $(PLUGIN) $(TOOLS) $(RUNNER)

-include $(wildcard $(B)/*/*.d $(A)/*/*.d $(A)/tests/fuzz/*.d $(A)/tests/sanitize/*.d $(FZ)/obj/*/*.d $(FZ)/obj/tests/fuzz/*.d)
