# lth_hedging — `make all` runs the study, `make test` the tests; both set up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= configs/config.yaml
OUT ?= experiments/notebooks
FIGURES ?= figures
SMOKE_OUT := experiments/smoke/notebooks
SMOKE_FIGURES := experiments/smoke/figures
NOTEBOOKS := 01_baseline 02_lottery_tickets 03_characterization
export LTH_PROGRESS := 0
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: all smoke test lint unit nbval bench bench-quick lab clean venv

venv: $(BIN)/.installed

# torch==2.13.0 (the CPU build) is pinned in pyproject.toml; installing it first keeps pip
# from resolving any other torch.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[notebooks,test]"
	touch $@

# Execute each notebook with papermill; a failing cell fails make and leaves no output behind.
define run_notebooks
	mkdir -p $(2)
	for nb in $(NOTEBOOKS); do \
	  echo "== $$nb ($(1))"; start=$$(date +%s); \
	  tmp=$(2)/.$$nb.running.ipynb; trap 'rm -f $$tmp; exit 130' INT TERM; \
	  $(BIN)/papermill notebooks/$$nb.ipynb $$tmp --cwd . -k python3 --no-progress-bar \
	    -p config_path $(1) -p figures_dir $(3) || { rm -f $$tmp; exit 1; }; \
	  mv $$tmp $(2)/$$nb.ipynb; echo "   $$nb took $$(( $$(date +%s) - start )) s"; \
	done
endef

all: venv
	$(call run_notebooks,$(CONFIG),$(OUT),$(FIGURES))

smoke: venv
	$(call run_notebooks,configs/smoke.yaml,$(SMOKE_OUT),$(SMOKE_FIGURES))
	mkdir -p tests/notebooks
	for nb in $(NOTEBOOKS); do $(BIN)/python tools/strip_reference.py $(SMOKE_OUT)/$$nb.ipynb tests/notebooks/$$nb.ipynb; done

lint: venv
	$(BIN)/ruff check lth_hedging tests notebooks benchmarks tools

unit: venv
	$(BIN)/python -m pytest -q tests

nbval: venv
	$(BIN)/python -m pytest -q -p no:randomly --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/notebooks/sanitize.cfg tests/notebooks

test: lint unit nbval bench-quick

# every benchmark at tiny sizes (seconds each): they run, their figures mean nothing
bench-quick: venv
	for b in benchmarks/bench_*.py; do echo "== $$b --quick"; \
	  $(BIN)/python $$b --quick > /dev/null || exit 1; done

bench: venv
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

lab: venv
	$(BIN)/python -m pip install --quiet -e ".[lab]"
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf $(OUT) experiments/smoke
