# Two commands from a fresh clone: `make demo` runs the main job, `make test` the tests.
# Needs Python 3.11+, Java 17+ and Maven; everything else is installed here (the tests also
# install Debian's chromium package, to render the usage report in a real browser).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

CHROMIUM ?= /usr/bin/chromium

.PHONY: install demo serve test bench bench-service kafka-start kafka-stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,bench]"
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

demo: install
	$(BIN)/lineage demo

# The service: consumer, daily retention, HTTP API and pages on 127.0.0.1:8787 (README, The service).
# On the demo's store and key unless LINEAGE_PSEUDONYM_KEY(_FILE) is set.
serve: install
	@test -n "$$LINEAGE_PSEUDONYM_KEY$$LINEAGE_PSEUDONYM_KEY_FILE" -o -f .lineage/pseudonym.key || \
		{ echo "no pseudonym key: run make demo first, or set LINEAGE_PSEUDONYM_KEY" >&2; exit 1; }
	LINEAGE_PSEUDONYM_KEY_FILE=$${LINEAGE_PSEUDONYM_KEY_FILE:-$(CURDIR)/.lineage/pseudonym.key} $(BIN)/lineage serve

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

test: install $(CHROMIUM)
	$(BIN)/pytest

# The pipeline against its own limits at 100k and 1M events (about thirteen minutes); see benchmarks/pipeline.py.
# BENCH_ARGS=--ten-million adds a 10M step. Then the service under a steady input (bench-service).
bench: install
	$(BIN)/python -m benchmarks.pipeline $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-service

# `lineage serve` consuming 2,000 events/s over 1M stored while access exports and usage queries are timed
# (about four minutes); see benchmarks/service.py. SERVICE_BENCH_ARGS="--events 50000 --seconds 20" for a short run.
bench-service: install
	$(BIN)/python -m benchmarks.service $(SERVICE_BENCH_ARGS)

kafka-start: install
	$(BIN)/lineage kafka start

kafka-stop: install
	$(BIN)/lineage kafka stop

clean:
	-$(BIN)/lineage kafka stop
	rm -rf $(VENV) .lineage
