# Two commands from a fresh clone: `make demo` runs the main job, `make test` the tests.
# Needs Python 3.11+, Java 17+ and Maven; everything else is installed here (the tests also
# install Debian's chromium package, to render the usage report in a real browser).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

CHROMIUM ?= /usr/bin/chromium

.PHONY: install demo test bench kafka-start kafka-stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,bench]"
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

demo: install
	$(BIN)/lineage demo

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

test: install $(CHROMIUM)
	$(BIN)/pytest

# The pipeline against its own limits at 100k and 1M events (about thirteen minutes); see benchmarks/pipeline.py.
# BENCH_ARGS=--ten-million adds a 10M step.
bench: install
	$(BIN)/python -m benchmarks.pipeline $(BENCH_ARGS)

kafka-start: install
	$(BIN)/lineage kafka start

kafka-stop: install
	$(BIN)/lineage kafka stop

clean:
	-$(BIN)/lineage kafka stop
	rm -rf $(VENV) .lineage
