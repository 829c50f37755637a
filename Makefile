# medallion: developer entry points. `make demo` shows the pipeline end to end; `make test` is
# the whole suite (what .ci/run runs). Everything it needs is installed by `make bootstrap`.

BUILD_DIR   ?= build
BUILD_TYPE  ?= RelWithDebInfo
VENV        ?= .venv
JOBS        ?=
CTEST_JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
MEDALLION   := ./$(BUILD_DIR)/src/cli/medallion
# Sanitizer builds, each in its own tree so the normal build stays as it is.
FUZZ_DIR    ?= build-fuzz
FUZZ_UBSAN_DIR ?= build-fuzz-ubsan
FUZZ_CXX    ?= clang++-14
FUZZ_RUNS   ?= 10000000
FUZZ_JOBS   ?= 2
FUZZ_SMOKE_SECONDS ?= 30
FUZZ_TARGET ?= parse_fuzz

# Seen by the integration tests and the engine's default configuration.
export MEDALLION_KAFKA_PORT ?= 19092
export MEDALLION_KAFKA_BOOTSTRAP ?= 127.0.0.1:$(MEDALLION_KAFKA_PORT)
export MEDALLION_BROKERS ?= $(MEDALLION_KAFKA_BOOTSTRAP)
export MEDALLION_BIN ?= $(abspath $(MEDALLION))

KAFKA := bash scripts/kafka.sh

# Targets share the build tree and the broker: run them one at a time even under make -j.
.NOTPARALLEL:
.PHONY: all bootstrap configure build unit integration test demo show-gold kafka-start group-chaos \
	kafka-stop kafka-status bench clean help sanitize fuzz fuzz-build fuzz-build-ubsan fuzz-smoke

all: build

help:
	@echo "make bootstrap    install Debian packages, .venv and the Kafka jars (idempotent)"
	@echo "make build        configure once and build with ninja"
	@echo "make unit         unit tests (ctest -L unit)"
	@echo "make integration  integration tests against a local broker (pytest tests/integration)"
	@echo "make sanitize     unit tests built with clang and run under ASan + UBSan ($(FUZZ_DIR)/, shared with fuzz-smoke)"
	@echo "make fuzz         FUZZ_TARGET ($(FUZZ_TARGET)) for $(FUZZ_RUNS) inputs in all, $(FUZZ_JOBS) jobs, UBSan ($(FUZZ_UBSAN_DIR)/); crashes in fuzz/crashes/"
	@echo "make fuzz-smoke   parse_fuzz, payment_parse_fuzz, state_fuzz, delta_log_fuzz, delta_checkpoint_fuzz and parquet_concat_fuzz for $(FUZZ_SMOKE_SECONDS) s each under ASan + UBSan ($(FUZZ_DIR)/; part of make test)"
	@echo "make test         unit + sanitize + fuzz-smoke + integration + spark-interop: the whole suite"
	@echo "make check-alerts promtool checks deploy/prometheus/alerts.yml and its tests (part of make test)"
	@echo "make spark-interop Spark + delta-spark read the tables (.venv-spark; part of make test)"
	@echo "make demo         local broker, 20000 events, one catch-up run, print the Gold tables"
	@echo "make kafka-start | kafka-stop | kafka-status"
	@echo "make bench        bench/run.sh"
	@echo "make soak         continuous run for SOAK_SECONDS (default 1800) with kills; series bounded, tables exact; docs/soak.png"
	@echo "make notebook     JupyterLab on notebooks/explore.ipynb (127.0.0.1:$(NOTEBOOK_PORT)), over data/"
	@echo "make notebook-run execute notebooks/explore.ipynb headlessly over data/ (as make test does)"
	@echo "make clean        remove build, data and checkpoint"

bootstrap:
	@bash scripts/bootstrap.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
		-DMEDALLION_PYTHON=$(abspath $(VENV))/bin/python

configure: bootstrap $(BUILD_DIR)/build.ninja

build: configure
	ninja -C $(BUILD_DIR) $(if $(JOBS),-j$(JOBS))

unit: build
	ctest --test-dir $(BUILD_DIR) -L unit --output-on-failure -j $(CTEST_JOBS)

# Each tier starts the broker unless one is already running, and stops it afterwards only if
# it started it (scripts/with_broker.sh).
integration: build
	bash scripts/with_broker.sh $(VENV)/bin/pytest -q --durations=15 tests/integration

# Spark (pyspark + delta-spark, local jars) reads every table like delta-rs: the slow tier.
# scripts/spark_env.sh sets up .venv-spark and the jars once; the broker is handled as above.
.PHONY: spark-interop
spark-interop: build
	@bash scripts/spark_env.sh
	bash scripts/with_broker.sh .venv-spark/bin/pytest -q tests/spark

# The unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer (no signed
# overflow, no out-of-bounds access anywhere they reach), and the libFuzzer targets: one clang
# tree (build-fuzz/) for both, so our code is compiled once for the two tiers (a second tree for
# the fuzz targets took 7 of make test's minutes). -O1 with line tables only: a file compiles in
# half the time of -O2 -g under the sanitizers (g++: 30 s against 61 s for payment_join_test.cc), stack
# traces keep their lines, and the tests run near -O2's speed (-O0 compiled in a quarter but ran
# 4x slower).
#
# libFuzzer: message bytes -> parser -> Silver lines (fuzz/parse_fuzz.cc, payment_parse_fuzz.cc),
# state-file bytes -> every engine's state restore (fuzz/state_fuzz.cc), another writer's
# Delta log entry -> a table's snapshot (fuzz/delta_log_fuzz.cc), another writer's checkpoint
# file -> a table's snapshot (fuzz/delta_checkpoint_fuzz.cc), a damaged Parquet file -> the
# compactor's join of row groups (fuzz/parquet_concat_fuzz.cc). fuzz-smoke runs the six on
# the ASan + UBSan build; the long run uses a UBSan-only build, about 4x faster per input
# (ASan's allocator and allocation stacks were three quarters of the time), in FUZZ_JOBS
# processes sharing one corpus.
$(FUZZ_DIR)/build.ninja:
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DMEDALLION_FUZZ=ON \
		-DCMAKE_CXX_COMPILER=$(FUZZ_CXX) -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
		-DMEDALLION_PYTHON=$(abspath $(VENV))/bin/python

$(FUZZ_UBSAN_DIR)/build.ninja:
	cmake -S . -B $(FUZZ_UBSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DMEDALLION_FUZZ=ON \
		-DMEDALLION_FUZZ_SANITIZERS=undefined -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) \
		-DMEDALLION_PYTHON=$(abspath $(VENV))/bin/python

sanitize: configure $(FUZZ_DIR)/build.ninja
	ninja -C $(FUZZ_DIR) $(if $(JOBS),-j$(JOBS)) unit_tests
	ASAN_OPTIONS=detect_container_overflow=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir $(FUZZ_DIR) -L unit --output-on-failure -j $(CTEST_JOBS)

fuzz-build: configure $(FUZZ_DIR)/build.ninja
	ninja -C $(FUZZ_DIR) $(if $(JOBS),-j$(JOBS)) parse_fuzz payment_parse_fuzz state_fuzz delta_log_fuzz delta_checkpoint_fuzz \
		parquet_concat_fuzz

fuzz-build-ubsan: configure $(FUZZ_UBSAN_DIR)/build.ninja
	ninja -C $(FUZZ_UBSAN_DIR) $(if $(JOBS),-j$(JOBS)) $(FUZZ_TARGET)

fuzz: fuzz-build-ubsan
	FUZZ_BUILD_DIR=$(abspath $(FUZZ_UBSAN_DIR)) FUZZ_JOBS=$(FUZZ_JOBS) FUZZ_TARGET=$(FUZZ_TARGET) \
		bash fuzz/run.sh -runs=$(FUZZ_RUNS)

fuzz-smoke: fuzz-build
	bash fuzz/run.sh -max_total_time=$(FUZZ_SMOKE_SECONDS)
	FUZZ_TARGET=payment_parse_fuzz bash fuzz/run.sh -max_total_time=$(FUZZ_SMOKE_SECONDS)
	FUZZ_TARGET=state_fuzz bash fuzz/run.sh -max_total_time=$(FUZZ_SMOKE_SECONDS)
	FUZZ_TARGET=delta_log_fuzz bash fuzz/run.sh -max_total_time=$(FUZZ_SMOKE_SECONDS)
	FUZZ_TARGET=delta_checkpoint_fuzz bash fuzz/run.sh -max_total_time=$(FUZZ_SMOKE_SECONDS)
	FUZZ_TARGET=parquet_concat_fuzz bash fuzz/run.sh -max_total_time=$(FUZZ_SMOKE_SECONDS)

# fuzz-smoke after the integration tier, so a fuzz finding does not hide the tiers' results.
# One broker serves both broker tiers: restarting it between them made it reload every topic
# the integration tier left (hundreds of partitions), which on a loaded machine once took longer
# than the start timeout.
test: unit check-alerts sanitize
	bash scripts/with_broker.sh $(MAKE) --no-print-directory integration fuzz-smoke spark-interop

# The Prometheus alerting rules: syntax (promtool check rules) and their unit cases.
.PHONY: check-alerts
check-alerts:
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts_test.yml

# A fresh demo: data and checkpoint are removed and the topic is recreated, so the numbers
# shown are those of exactly one generated stream.
demo: build kafka-start
	rm -rf data checkpoint
	@$(KAFKA) topic-delete orders
	@$(KAFKA) topic-delete payments
	@$(KAFKA) topic-create orders 4
	@$(KAFKA) topic-create payments 4
	$(MEDALLION) produce --brokers $(MEDALLION_KAFKA_BOOTSTRAP) --count 20000 --seed 7 --duplicate-fraction 0.02 \
		--late-fraction 0.02 --malformed-fraction 0.01 --invalid-fraction 0.01 --payments-topic payments
	$(MEDALLION) run --brokers $(MEDALLION_KAFKA_BOOTSTRAP) --until-caught-up --max-batch-records 5000 \
		--data-dir data --checkpoint-dir checkpoint --payments-topic payments
	@$(MAKE) --no-print-directory show-gold

show-gold:
	@$(VENV)/bin/python scripts/show_gold.py data

kafka-start:
	@$(KAFKA) start

kafka-stop:
	@$(KAFKA) stop

kafka-status:
	@$(KAFKA) status

# The notebook over the demo's tables (MEDALLION_DATA_DIR=DIR for another data directory).
# JupyterLab is installed into the venv on first use (notebooks/requirements-lab.txt); it
# listens on 127.0.0.1 only. notebook-run executes it without a browser, as make test does.
NOTEBOOK_PORT ?= 8888
.PHONY: notebook notebook-run
notebook: bootstrap
	@$(VENV)/bin/pip install -q -r notebooks/requirements-lab.txt
	@[ -d "$${MEDALLION_DATA_DIR:-data}" ] || echo "notebook: no data directory yet: run make demo first"
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --port $(NOTEBOOK_PORT) --ServerApp.root_dir=notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root) notebooks/explore.ipynb

notebook-run: bootstrap
	$(VENV)/bin/python notebooks/run.py --data "$${MEDALLION_DATA_DIR:-data}" notebooks/explore.ipynb

# The soak (tests/integration/soak.py): a continuous run with a 100 ms trigger under a trickle of
# events for SOAK_SECONDS, three kills (two at compaction fault points), series sampled and
# checked flat after the warm-up, tables checked exactly; writes docs/soak.png and
# docs/soak-figures.md. A short one (tests/integration/test_soak_short.py) is in make test.
SOAK_SECONDS ?= 1800
.PHONY: soak
# Group mode under fire (tests/integration/test_group_mode.py's kill test, longer): three members
# on a 12-partition topic, one SIGKILLed and replaced every few seconds, 24 times, partitions added.
group-chaos: build
	MEDALLION_GROUP_KILLS=24 MEDALLION_GROUP_PARTITIONS=12 bash scripts/with_broker.sh \
	  $(VENV)/bin/pytest -q tests/integration/test_group_mode.py -k killed

soak: build
	bash scripts/with_broker.sh $(VENV)/bin/python tests/integration/soak.py --seconds $(SOAK_SECONDS) --out docs

bench: build
	@if [ -f bench/run.sh ]; then bash bench/run.sh; else echo "bench: no bench/run.sh yet"; fi

clean:
	rm -rf $(BUILD_DIR) build-asan $(FUZZ_DIR) $(FUZZ_UBSAN_DIR) fuzz/work data checkpoint
