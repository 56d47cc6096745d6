# Two commands do all the set-up on a fresh machine:
#   make demo   -> BSS vs its baselines on the embedded mfeat data (table + plots in runs/demo)
#   make test   -> the test suite
#   make docs   -> the documentation site in site/ (mkdocs, warnings are errors; CI builds it)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

SUDO   := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: demo test lint bench clean browser docs

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mmbss compare --config configs/mfeat-demo.yaml --out runs/demo --overwrite

# the HTML report test renders the page in a real headless Chromium (Debian packages)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    chromium chromium-driver >/dev/null) || \
	  (echo "make test: the HTML report test needs Debian's chromium and chromium-driver; install them" && exit 1)

# two xdist workers: the distributed tests on one, one launch at a time (tests/conftest.py)
test: $(STAMP) browser
	$(PY) -m pytest -q -n 2 --dist loadgroup

docs: $(STAMP)
	$(VENV)/bin/python scripts/cli_reference.py --check
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts

bench: $(STAMP)
	$(PY) benchmarks/bench_sampler.py

clean:
	rm -rf $(VENV) runs site .pytest_cache
