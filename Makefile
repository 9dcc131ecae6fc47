# smpfleet — one Makefile for the whole tree.
#
#   make            build the three binaries into $(BUILD)/bin
#   make test       unit tests (cmocka) on SQLite, then on PostgreSQL (unit-pg),
#                   then integration tests (real mosquitto)
#   make demo       install deps, build, PKI, broker, collector, an autoclave and 3 machines, report
#   make SAN=1 BUILD=build-san unit   unit tests under ASan + UBSan
#   make TSAN=1 BUILD=build-tsan unit-threads   threaded unit tests under TSan
#
# Each part is a static library of its non-main objects, so unit tests link
# the real code of any part without its main().

CC      ?= cc
BUILD   ?= build
SAN     ?=

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
           -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -MMD -MP \
           -Icommon -Iagent -Icollector -Iadmin -Idashboard-export -I/usr/include/postgresql
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
# ThreadSanitizer: the threaded unit tests (unit-threads below). Not with
# SAN=1: TSan and ASan cannot share one process.
TSAN    ?=
ifeq ($(TSAN),1)
ifeq ($(SAN),1)
$(error TSAN=1 and SAN=1 cannot be combined; use separate BUILD directories)
endif
CFLAGS  += -O1 -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
endif

LIBS = -lpaho-mqtt3as -lmbedtls -lmbedx509 -lmbedcrypto -lcrypto -lcjson -lsqlite3 -lpq -lhpdf -lmicrohttpd -lcurl -lpthread -lm

PARTS = agent collector admin dashboard-export common
# Objects of a part, excluding its main.c.
part_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out $(1)/main.c,$(wildcard $(1)/*.c)))

COMMON_LIB    = $(BUILD)/lib/libcommon.a
AGENT_LIB     = $(BUILD)/lib/libagent.a
COLLECTOR_LIB = $(BUILD)/lib/libcollector.a
# smpctl is two parts: administration (PKI, registry, alerts, quarantine,
# broker ACL, schema) and dashboard-export (reports, audit exports,
# verification). neither uses the other: smpctl/main.c wires both.
ADMIN_LIB     = $(BUILD)/lib/libadmin.a
DASHBOARD_LIB = $(BUILD)/lib/libdashboard.a
# smpctl links collector code (alerts notify-test reads the collector config).
ALL_LIBS      = $(AGENT_LIB) $(ADMIN_LIB) $(DASHBOARD_LIB) $(COLLECTOR_LIB) $(COMMON_LIB)

BINS = $(BUILD)/bin/smp-agent $(BUILD)/bin/smp-collector $(BUILD)/bin/smpctl
# Test-data generator for timing reports and exports (docs/reports.md).
GEN_DB = $(BUILD)/bench/gen_db

UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all deps test unit unit-pg unit-threads integration demo demo-fleet clean fuzz bench
# Keep test objects between runs (they are intermediate files to make).
.SECONDARY:
all: $(BINS) $(GEN_DB)

deps:
	./scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(COMMON_LIB): $(call part_objs,common)
$(AGENT_LIB): $(call part_objs,agent)
$(COLLECTOR_LIB): $(call part_objs,collector)
$(ADMIN_LIB): $(call part_objs,admin)
$(DASHBOARD_LIB): $(call part_objs,dashboard-export)
$(BUILD)/lib/%.a:
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/smp-agent: $(BUILD)/obj/agent/main.o $(AGENT_LIB) $(COMMON_LIB)
$(BUILD)/bin/smp-collector: $(BUILD)/obj/collector/main.o $(COLLECTOR_LIB) $(COMMON_LIB)
# smpctl alerts notify-test reads the collector's config (collector_config.c).
$(BUILD)/bin/smpctl: $(BUILD)/obj/smpctl/main.o $(ADMIN_LIB) $(DASHBOARD_LIB) $(COLLECTOR_LIB) $(COMMON_LIB)
$(BUILD)/bin/%:
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(GEN_DB): $(BUILD)/obj/bench/gen_db.o $(AGENT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# testdb.o, testpki.o: every unit test gets its databases from
# tests/unit/testdb.c and may make a throwaway PKI with tests/unit/testpki.c.
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/obj/tests/unit/testdb.o $(BUILD)/obj/tests/unit/testpki.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LIBS)

# Unit tests: run every binary even when one fails, then fail if any did.
unit: $(UNIT_BINS)
	@failed=0; for t in $(UNIT_BINS); do \
	    case $$t in /*) bin=$$t ;; *) bin=$(CURDIR)/$$t ;; esac; \
	    echo "== $$t"; (cd tests/unit && $$bin) || failed=$$((failed+1)); \
	done; \
	if [ $$failed -ne 0 ]; then echo "unit: $$failed test binaries FAILED"; exit 1; fi

# The unit tests that run our threads concurrently: inbox + committer +
# publisher with many producers, a policy reload and a counters reader
# (test_committer). Add any new threaded test here. Under ThreadSanitizer:
#   make TSAN=1 BUILD=build-tsan unit-threads
# A report fails the run (halt_on_error). tests/unit/tsan.supp holds
# suppressions for third-party code only, each with its reason.
THREAD_TESTS = $(BUILD)/tests/test_committer $(BUILD)/tests/test_verifier $(BUILD)/tests/test_prepare $(BUILD)/tests/test_json_arena
unit-threads: $(THREAD_TESTS)
	@failed=0; for t in $(THREAD_TESTS); do \
	    case $$t in /*) bin=$$t ;; *) bin=$(CURDIR)/$$t ;; esac; \
	    echo "== $$t"; (cd tests/unit && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/unit/tsan.supp" \
	        $$bin) || failed=$$((failed+1)); \
	done; \
	if [ $$failed -ne 0 ]; then echo "unit-threads: $$failed test binaries FAILED"; exit 1; fi

# The unit tests that also run on PostgreSQL: each binary again with
# SMP_TEST_PG naming a throwaway cluster (tests/pg/pgcluster.sh), where
# testdb makes each test's database. Add a test here once it runs on both.
# The cluster lives in /dev/shm when it has 512 MB free: CREATE DATABASE
# per test takes ~15 ms there and ~250 ms on a busy disk; PG_TMP=/tmp
# chooses the disk.
PG_TMP  ?= $(shell [ "$$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $$4 }')" -ge 524288 ] 2>/dev/null \
               && [ -w /dev/shm ] && echo /dev/shm || echo /tmp)
PG_TESTS = $(BUILD)/tests/test_sqldb $(BUILD)/tests/test_db $(BUILD)/tests/test_registry $(BUILD)/tests/test_pki $(BUILD)/tests/test_alert_admin $(BUILD)/tests/test_quarantine_admin $(BUILD)/tests/test_fleet $(BUILD)/tests/test_broker_acl $(BUILD)/tests/test_report $(BUILD)/tests/test_export $(BUILD)/tests/test_csv $(BUILD)/tests/test_report_stores $(BUILD)/tests/test_rules $(BUILD)/tests/test_db_copy $(BUILD)/tests/test_ingest $(BUILD)/tests/test_committer $(BUILD)/tests/test_integrity $(BUILD)/tests/test_metrics $(BUILD)/tests/test_hostile $(BUILD)/tests/test_notify $(BUILD)/tests/test_verifier $(BUILD)/tests/test_clinics
unit-pg: $(PG_TESTS)
	@dir=$$(mktemp -d $(PG_TMP)/smp-pg-XXXXXX) || exit 1; \
	trap './tests/pg/pgcluster.sh stop '"$$dir"' || true' EXIT; trap 'exit 1' INT TERM HUP; \
	uri=$$(./tests/pg/pgcluster.sh start $$dir) || { echo "unit-pg: no PostgreSQL cluster"; exit 1; }; \
	failed=0; for t in $(PG_TESTS); do \
	    case $$t in /*) bin=$$t ;; *) bin=$(CURDIR)/$$t ;; esac; \
	    echo "== $$t (PostgreSQL)"; (cd tests/unit && SMP_TEST_PG="$$uri" $$bin) || failed=$$((failed+1)); \
	done; \
	if [ $$failed -ne 0 ]; then echo "unit-pg: $$failed test binaries FAILED"; exit 1; fi

integration: $(BINS)
	BUILD=$(BUILD) ./tests/integration/run.sh

# deps is a no-op (no network) when every package is present.
test: deps all unit unit-pg integration

demo: deps all
	./scripts/demo.sh

# The fleet on PostgreSQL: a throwaway cluster, two collectors sharing the
# load, five agents in two clinics, reports read from PostgreSQL; the
# cluster stays up until Enter (scripts/demo-fleet.sh --no-wait: not).
demo-fleet: deps all
	BUILD=$(BUILD) ./scripts/demo-fleet.sh

clean:
	rm -rf build build-san build-tsan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- fuzzing: clang libFuzzer + ASan + UBSan, into build-fuzz/ -------------
#
#   make fuzz                      fuzz events parsing for $(FUZZ_SECONDS) s (60)
#   make fuzz FUZZ_SECONDS=600     the 10-minute run
#   make fuzz-ingest               fuzz ingest_events() against a SQLite store
#   make fuzz FUZZ_FLAGS=-jobs=2   extra libFuzzer flags
#
# Sources are compiled with clang and coverage instrumentation into
# $(FUZZ_BUILD)/obj (the part libraries use $(CC) without it). fuzz_ingest
# links an archive of all common/ and collector/ objects, so the linker pulls
# whatever ingest needs as the collector grows. Seeds in
# tests/fuzz/corpus/message are copied into a working corpus under
# $(FUZZ_BUILD), so inputs found by a run never land in the source tree;
# crash reproducers go to $(FUZZ_BUILD)/artifacts/.
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?=
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -MMD -MP \
               -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
               -Icommon -Iagent -Icollector -I/usr/include/postgresql
FUZZ_LDFLAGS = -fsanitize=fuzzer $(FUZZ_SAN)
FUZZ_LIBS    = -lcjson -lmbedcrypto -lcrypto -lsqlite3 -lpq -lpthread -lm

fuzz_objs = $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(1))
FUZZ_MESSAGE_OBJS = $(call fuzz_objs,tests/fuzz/fuzz_message.c common/message.c \
                      common/record.c common/jsontext.c common/utf8.c common/ids.c)
FUZZ_LIB_OBJS     = $(call fuzz_objs,$(filter-out %/main.c,$(wildcard common/*.c collector/*.c)))

.PHONY: fuzz-build fuzz-ingest

fuzz-build: $(FUZZ_BUILD)/fuzz_message $(FUZZ_BUILD)/fuzz_ingest

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/libsmpfuzz.a: $(FUZZ_LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_message: $(FUZZ_MESSAGE_OBJS)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(FUZZ_LIBS)

# sign.c (checkpoint verification) reads X.509 certificates.
$(FUZZ_BUILD)/fuzz_ingest: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_ingest.o $(FUZZ_BUILD)/libsmpfuzz.a
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ -lmbedx509 $(FUZZ_LIBS)

# $(call fuzz_run,<target>): seed the working corpus, then fuzz.
define fuzz_run
	@mkdir -p $(FUZZ_BUILD)/corpus/$(1) $(FUZZ_BUILD)/artifacts
	cp tests/fuzz/corpus/message/* $(FUZZ_BUILD)/corpus/$(1)/
	$(FUZZ_BUILD)/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/artifacts/$(1)- $(FUZZ_FLAGS) $(FUZZ_BUILD)/corpus/$(1)
endef

fuzz: $(FUZZ_BUILD)/fuzz_message
	$(call fuzz_run,message)

# Same seeds: ingest takes the same payloads.
fuzz-ingest: $(FUZZ_BUILD)/fuzz_ingest
	$(call fuzz_run,ingest)

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)

# ---- benchmarks: make bench (never part of make test) -----------------------
#
#   make bench                   ingest, agent footprint, journal, reports, on
#                                SQLite and on a PostgreSQL cluster the run
#                                starts and stops (< 15 min on 2 cores)
#   make bench BENCH_SCALE=0.1   the same at a tenth of the size, to try it out
#   make bench BENCH_PG=0        without the PostgreSQL rows
#
# Prints a table and writes it to out/bench/results.md; docs/performance.md
# holds the latest table, the machine it ran on and the targets.
BENCH_SCALE ?= 1
BENCH_TOOLS = $(patsubst %,$(BUILD)/bench/%,gen_load pub_load rusage_run bench_journal feed_load gen_fleetdb wait_heads)

BENCH_LIBS  =
# The load generators sign ~1 checkpoint per 10 records; with OpenSSL's
# libcrypto (when its headers are installed) that is ~40x faster than
# mbedTLS, so the clinic-year fixture takes seconds (bench/chain.h).
ifneq ($(wildcard /usr/include/openssl/evp.h),)
$(BUILD)/obj/bench/chain.o: CFLAGS += -DBENCH_OPENSSL
BENCH_LIBS  = -lcrypto
endif

$(BENCH_TOOLS): $(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/obj/bench/chain.o $(AGENT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(BENCH_LIBS)

# Parts of the collector alone: the checkpoint verifier (bench_drain), one
# signature check by library (bench_verify), the commit path without a
# broker (bench_ingest).
BENCH_COLLECTOR_TOOLS = $(patsubst %,$(BUILD)/bench/%,bench_drain bench_verify bench_ingest)
$(BENCH_COLLECTOR_TOOLS): $(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(COLLECTOR_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

bench: $(BINS) $(BENCH_TOOLS) $(BENCH_COLLECTOR_TOOLS)
	BUILD=$(BUILD) BENCH_SCALE=$(BENCH_SCALE) ./bench/run.sh

# ---- install and Debian packages --------------------------------------------
#
#   make install [PREFIX=/usr] [DESTDIR=dir]   binaries, example configs, systemd
#                                              units, the broker ACL and drop-ins
#   make deb                                   smpfleet-{agent,collector,tools}
#                                              .debs into $(DEB_OUT) (out/deb)
#
# Config files (/etc) and the state dir are FHS paths, not under PREFIX: the
# example configs and units name them. An existing config is never
# overwritten (your edits stay; compare with packaging/etc/). The smpfleet
# user and the owners and modes of /etc/smpfleet and /var/lib/smpfleet are set
# by the Debian packages' postinst (packaging/debian/).
PREFIX  ?= /usr
DESTDIR ?=
# Debian 12 ships packaged units in /lib/systemd/system.
UNITDIR ?= /lib/systemd/system
# The ACL is site configuration (packaging/debian/README.Debian).
SMP_ACL  = /etc/smpfleet/acl
DEB_OUT ?= out/deb
DEB_STAGE = $(BUILD)/deb-stage

.PHONY: install deb

install: $(BINS)
	./packaging/check-config-examples.sh
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/smpfleet $(DESTDIR)$(UNITDIR)/mosquitto.service.d \
	    $(DESTDIR)$(PREFIX)/share/smpfleet $(DESTDIR)/etc/mosquitto/conf.d
	install -d -m 0750 $(DESTDIR)/var/lib/smpfleet
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 packaging/mosquitto/mosquitto-precheck $(DESTDIR)$(PREFIX)/share/smpfleet/
	@# For the fleet's Grafana and Prometheus: the dashboard and the alerting rules.
	install -m 0644 dashboard-export/grafana/smpfleet.json dashboard-export/prometheus/smpfleet.rules.yml \
	    $(DESTDIR)$(PREFIX)/share/smpfleet/
	@# Units and the drop-in name /usr/bin and /usr/share/smpfleet; follow PREFIX.
	for u in smp-agent.service smp-collector.service mosquitto.service.d/smpfleet.conf; do \
	    sed -e 's|/usr/bin/|$(PREFIX)/bin/|g' -e 's|/usr/share/smpfleet/|$(PREFIX)/share/smpfleet/|g' \
	        packaging/systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	@mkdir -p $(BUILD)
	broker-config/run-broker.sh render-dropin --pki /etc/smpfleet/pki --acl $(SMP_ACL) \
	    --listen 0.0.0.0:8883 --out $(BUILD)/mosquitto-smpfleet.conf
	@# Site configuration: installed when absent, never overwritten.
	@for pair in packaging/etc/agent.conf:/etc/smpfleet/agent.conf \
	        packaging/etc/collector.conf:/etc/smpfleet/collector.conf \
	        packaging/etc/policy.conf:/etc/smpfleet/policy.conf \
	        broker-config/acl:$(SMP_ACL) \
	        $(BUILD)/mosquitto-smpfleet.conf:/etc/mosquitto/conf.d/smpfleet.conf; do \
	    src=$${pair%%:*}; dst=$(DESTDIR)$${pair#*:}; \
	    if [ -e $$dst ]; then echo "install: kept $$dst (new version: $$src)"; \
	    else echo "install -m 0644 $$src $$dst"; install -m 0644 $$src $$dst || exit 1; fi; \
	done

# Builds in a staging copy of the sources with packaging/debian as debian/,
# so dpkg-buildpackage writes its output into $(DEB_STAGE), not next to the
# repository; the packages are then moved to $(DEB_OUT).
deb:
	rm -rf $(DEB_STAGE)
	mkdir -p $(DEB_STAGE)/smpfleet $(DEB_OUT)
	cp -a Makefile $(PARTS) smpctl broker-config packaging $(DEB_STAGE)/smpfleet/
	cp -a packaging/debian $(DEB_STAGE)/smpfleet/debian
	cd $(DEB_STAGE)/smpfleet && dpkg-buildpackage -b -uc -us -jauto
	rm -f $(DEB_OUT)/smpfleet-*.deb $(DEB_OUT)/smpfleet_*
	mv $(DEB_STAGE)/*.deb $(DEB_STAGE)/*.changes $(DEB_STAGE)/*.buildinfo $(DEB_OUT)/
	@ls -l $(DEB_OUT)
