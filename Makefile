# lth_hedging — `make all` runs the study, `make test` the tests; both set up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= configs/config.yaml
OVERRIDES ?= {}
OUT ?= experiments/notebooks
FIGURES ?= figures
SMOKE_OUT := experiments/smoke/notebooks
SMOKE_FIGURES := experiments/smoke/figures
NOTEBOOKS := 01_baseline 02_lottery_tickets 03_characterization
LAB_HOST ?= 127.0.0.1
LAB_PORT ?= 8888
export PYTHONHASHSEED := 0

.PHONY: all smoke refs test lint unit nbval bench bench-quick lab clean venv

venv: $(BIN)/.installed

# torch==2.13.0 (the CPU build here; on PyPI for Linux, the CUDA build) is pinned in
# pyproject.toml; installing it first keeps pip from resolving any other torch.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[notebooks,test]"
	touch $@

# Execute each notebook with papermill (figures inline, also saved to $(3)); a failing cell
# fails make and leaves no output behind. Each run writes its own temporary notebook, so two
# runs at once never share a file (a kernel may take minutes to start beside another
# training process on 2 cores: hence the start timeout). $(5): environment for the kernel.
define run_notebooks
	mkdir -p $(2)
	for nb in $(NOTEBOOKS); do \
	  echo "== $$nb ($(1))"; start=$$(date +%s); \
	  tmp=$$(mktemp -d $(2)/.run.XXXXXX); trap 'rm -rf $$tmp; exit 130' INT TERM; \
	  $(5) $(BIN)/papermill notebooks/$$nb.ipynb $$tmp/$$nb.ipynb --cwd . -k python3 \
	    --no-progress-bar --start-timeout 600 -p config_path $(1) -p figures_dir $(3) \
	    -y "overrides: $(4)" || { rm -rf $$tmp; exit 1; }; \
	  mv $$tmp/$$nb.ipynb $(2)/$$nb.ipynb; rmdir $$tmp; \
	  echo "   $$nb took $$(( $$(date +%s) - start )) s"; \
	done
endef

all: venv
	$(call run_notebooks,$(CONFIG),$(OUT),$(FIGURES),$(OVERRIDES))

# The smoke config (seconds), into experiments/smoke/ only; progress bars off so that the
# outputs are stable.
smoke: venv
	$(call run_notebooks,configs/smoke.yaml,$(SMOKE_OUT),$(SMOKE_FIGURES),{},LTH_PROGRESS=0)

# Refresh the nbval references in tests/notebooks/ (tracked) from a smoke run.
refs: smoke
	mkdir -p tests/notebooks
	for nb in $(NOTEBOOKS); do $(BIN)/python tools/strip_reference.py $(SMOKE_OUT)/$$nb.ipynb tests/notebooks/$$nb.ipynb; done

lint: venv
	$(BIN)/ruff check lth_hedging tests notebooks benchmarks tools

unit: venv
	$(BIN)/python -m pytest -q tests

# nbval ignores image outputs (its default); the figures' text outputs are compared.
nbval: venv
	LTH_PROGRESS=0 $(BIN)/python -m pytest -q -p no:randomly --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/notebooks/sanitize.cfg tests/notebooks

test: lint unit nbval bench-quick

# every benchmark at tiny sizes (seconds each): they run, their figures mean nothing
bench-quick: venv
	for b in benchmarks/bench_*.py; do echo "== $$b --quick"; \
	  $(BIN)/python $$b --quick > /dev/null || exit 1; done

bench: venv
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# JupyterLab on the project (configs, figures and README visible), on the project's kernel,
# figures inline and progress bars drawn (ipywidgets). LAB_HOST / LAB_PORT to change where.
lab: venv
	$(BIN)/python -m pip install --quiet -e ".[lab]"
	$(BIN)/jupyter lab --notebook-dir=. --ServerApp.ip=$(LAB_HOST) --ServerApp.port=$(LAB_PORT) \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) notebooks/01_baseline.ipynb

clean:
	rm -rf $(OUT) experiments/smoke
