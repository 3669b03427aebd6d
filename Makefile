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
# OpenMP threads that wait sleep instead of spinning: runs side by side share the cores
# (benchmarks/bench_cotenancy.py; the package sets it too, for processes not started here)
export OMP_WAIT_POLICY ?= PASSIVE
export OVERRIDES

# Only the targets that run the notebooks read OVERRIDES; any other refuses it by name
# rather than ignoring it.
space := $(subst ,, )
ifneq ($(filter-out {} null,$(subst $(space),,$(OVERRIDES))),)
ifneq ($(filter-out all smoke,$(or $(MAKECMDGOALS),venv)),)
$(error OVERRIDES is read by `make all` and `make smoke` only, not by `make $(or $(filter-out all smoke,$(MAKECMDGOALS)),venv)`)
endif
endif

.PHONY: all smoke refs test lint unit nbval nbval-other-arithmetic bench bench-quick report lab clean venv

venv: $(BIN)/.installed

# torch==2.13.0 (the CPU build here; on PyPI for Linux, the CUDA build) is pinned in
# pyproject.toml; installing it first keeps pip from resolving any other torch.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[notebooks,test]"
	touch $@

# Every notebook executed by papermill into OUT/<name>_executed.ipynb (the smoke run:
# <name>_smoke.ipynb), figures also saved to FIGURES; the config and OVERRIDES are checked
# first, a failure prints one line and the log that holds its traceback
# (tools/execute_notebooks.py). $(1): config, $(2): folder, $(3): figures, $(4): suffix.
define execute
	$(BIN)/python tools/execute_notebooks.py --target "make $@" --config $(1) --out $(2) \
	  --figures $(3) --suffix $(4)
endef

all: venv
	$(call execute,$(CONFIG),$(OUT),$(FIGURES),executed)
	$(BIN)/python tools/html_report.py $(OUT)

# The smoke config (about a minute), into experiments/smoke/ only; progress bars off so that
# the outputs are stable.
smoke: venv
	LTH_PROGRESS=0 $(call execute,configs/smoke.yaml,$(SMOKE_OUT),$(SMOKE_FIGURES),smoke)
	$(BIN)/python tools/html_report.py $(SMOKE_OUT)

# Refresh the nbval references in tests/notebooks/ (tracked) from a smoke run.
refs: smoke
	mkdir -p tests/notebooks
	for nb in $(NOTEBOOKS); do $(BIN)/python tools/strip_reference.py $(SMOKE_OUT)/$${nb}_smoke.ipynb tests/notebooks/$$nb.ipynb; done

lint: venv
	$(BIN)/ruff check lth_hedging tests notebooks benchmarks tools

unit: venv
	$(BIN)/python -m pytest -q tests

# nbval ignores image outputs (its default); the figures' text outputs are compared.
nbval: venv
	LTH_PROGRESS=0 $(BIN)/python -m pytest -q -p no:randomly --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/notebooks/sanitize.cfg tests/notebooks

# The same references retrained under another float32 rounding (ATen's scalar kernels, MKL's
# SSE2 path) on an empty store of their own: what another CPU kind's rounding would move must
# not be a compared digit (tools/nbval_other_arithmetic.py).
nbval-other-arithmetic: venv
	$(BIN)/python tools/nbval_other_arithmetic.py

test: lint unit nbval nbval-other-arithmetic bench-quick

# every benchmark at tiny sizes (seconds each): they run, their figures mean nothing
bench-quick: venv
	for b in benchmarks/bench_*.py; do echo "== $$b --quick"; \
	  $(BIN)/python $$b --quick > /dev/null || exit 1; done

bench: venv
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# The last run: the folder of the newest executed notebooks, the default study's or the smoke
# run's (OUT=… on the command line picks one).
LAST_RUN = $(if $(filter command line,$(origin OUT)),$(OUT),$(or $(patsubst %/,%,$(dir $(firstword \
  $(shell ls -t $(OUT)/0*_executed.ipynb $(SMOKE_OUT)/0*_smoke.ipynb 2>/dev/null)))),$(OUT)))

# The last run as one offline HTML page, code hidden (make all and make smoke write it too).
report: venv
	$(BIN)/python tools/html_report.py $(LAST_RUN)

# JupyterLab on the project (configs, figures and README visible), on the project's kernel, with
# every executed notebook of the last run open in tabs (a workspace: tools/lab_workspace.py),
# trusted so that their outputs render; the sources before any run. LAB_HOST / LAB_PORT to
# change where.
lab: venv
	@$(BIN)/python -c "import jupyterlab" 2>/dev/null || { \
	  echo "make lab: installing JupyterLab into $(VENV) (first use only: pip install -e '.[lab]')"; \
	  $(BIN)/python -m pip install --quiet -e ".[lab]"; }
	@executed=$$(ls $(LAST_RUN)/0*_executed.ipynb $(LAST_RUN)/0*_smoke.ipynb 2>/dev/null); \
	if [ -n "$$executed" ]; then $(BIN)/jupyter trust $$executed; echo "make lab: $$executed"; \
	else echo "make lab: no executed notebooks in $(LAST_RUN) yet: opening the sources (Run All \
	runs the study)"; executed="$(addprefix notebooks/,$(addsuffix .ipynb,$(NOTEBOOKS)))"; fi; \
	$(BIN)/python tools/lab_workspace.py $$executed > $(VENV)/lth-workspace.json && \
	$(BIN)/jupyter lab workspaces import $(VENV)/lth-workspace.json > /dev/null && \
	$(BIN)/jupyter lab --notebook-dir=. --ServerApp.ip=$(LAB_HOST) --ServerApp.port=$(LAB_PORT) \
	  --LabApp.default_url=/lab/workspaces/lth_hedging $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

clean:
	rm -rf $(OUT) experiments/smoke
