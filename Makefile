# ringfence: `make demo` and `make test` work on a fresh machine with Python 3.11+ and make.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SPARK_STAMP := $(VENV)/.spark-stamp
DEMO_DIR := demo
DEMO_ACCOUNTS ?= 20000
SEED ?= 7

.PHONY: demo test test-fast bench bench-identities bench-neo4j bench-spark eval-reddit eval-yelp clean install browser java spark system-packages

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "ringfence needs Python 3.11+, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ringfence synth --accounts $(DEMO_ACCOUNTS) --seed $(SEED) --out $(DEMO_DIR)/platform
	$(BIN)/ringfence flag --accounts $(DEMO_DIR)/platform/accounts.csv.gz \
		--identifiers $(DEMO_DIR)/platform/identifiers.csv.gz \
		--edges $(DEMO_DIR)/platform/edges.csv.gz \
		--enforcement $(DEMO_DIR)/platform/enforcement.csv.gz \
		--seed $(SEED) --out $(DEMO_DIR)/flags --top 5
	$(BIN)/ringfence evaluate --scores $(DEMO_DIR)/flags --truth $(DEMO_DIR)/platform/truth.csv.gz

eval-reddit: $(STAMP)
	$(BIN)/python benchmarks/eval_reddit.py --seeds 0 1 2

eval-yelp: $(STAMP)
	$(BIN)/python benchmarks/eval_reddit.py --data ../shared/datasets/yelp-spam --seeds 0 1 2

# the case-report tests open the report in a real browser (Debian's chromium)
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "note: chromium not found: the case-report browser tests will be skipped"; fi; }

# the Spark engine's tests run on a local[2] session: Java 17+ (Debian's default-jre-headless)
# and the `spark` extra (pyspark, a ~450 MB download, so `make demo` does not install it)
java:
	@command -v java >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq default-jre-headless; \
	  else echo "note: java not found: the Spark engine's tests will be skipped"; fi; }

spark: $(SPARK_STAMP)

# one pip install for both on a fresh machine (installing '.[dev]' first, then '.[dev,spark]'
# resolved and built the package twice)
$(SPARK_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "ringfence needs Python 3.11+, found " + sys.version' 
	@[ -x $(BIN)/python ] || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet --upgrade pip; }
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	@touch $(STAMP) $(SPARK_STAMP)

# the system packages the browser and Spark tests need, in one apt-get when both are missing
system-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="chromium"; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq $$missing; \
	  else echo "note: not installed:$$missing: the tests that need it will be skipped"; fi; \
	fi

# the downloads overlap: pip (pyspark, ~450 MB) and apt-get (Chromium, Java) run side by side
# The Spark tests (one local[2] session that mostly waits on its own scheduler) run beside
# the others, each half in its own pytest and temporary folder; the Spark half's report
# follows the other's, and either half failing fails the target.
test:
	@$(MAKE) --no-print-directory -j2 $(SPARK_STAMP) system-packages
	@tmp=$$(mktemp -d); trap 'kill $$spark 2>/dev/null; rm -rf "$$tmp"' EXIT; \
	echo "the Spark tests run beside the others; their report follows at the end"; \
	$(BIN)/python -m pytest -m spark -p no:cacheprovider --basetemp "$$tmp/spark" $(PYTEST_ARGS) \
	  > "$$tmp/spark.log" 2>&1 & spark=$$!; \
	$(BIN)/python -m pytest -m "not spark" -p no:cacheprovider --basetemp "$$tmp/rest" $(PYTEST_ARGS); \
	rest=$$?; wait $$spark; sp=$$?; spark=; \
	echo; echo "======================== the Spark tests ========================"; \
	cat "$$tmp/spark.log"; [ $$rest -eq 0 ] && [ $$sp -eq 0 ]

# the tests a developer runs while working (under a minute): no Bolt server, no browser,
# no notebooks, nothing marked slow
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not neo4j and not browser and not notebooks and not spark"

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

# identity linking: the old rule, ringfence's linker (and Splink if installed) at 100k and 1M
bench-identities: $(STAMP)
	$(BIN)/python benchmarks/bench_identities.py

# the Spark engine and its fallbacks on local[2] beside in-process at 100k accounts, and the
# volumes docs/spark.md's capacity plan is fitted to (--sizes 100000 1000000 for the 1M point)
bench-spark: $(SPARK_STAMP) java
	$(BIN)/python benchmarks/bench_spark.py

# Neo4j at platform scale: bulk export at 100k and 1M accounts, full and incremental sync
# against the test server (ArcadeDB) at 20k accounts; under ten minutes
bench-neo4j: $(STAMP)
	$(BIN)/python benchmarks/bench_neo4j.py
