# Two entry points: `make run` (the pipeline) and `make test`. Both set up .venv from the lock.
PYTHON_310 ?= $(shell for c in python3.10 "env PYENV_VERSION=3.10 python3.10" $$HOME/.pyenv/versions/3.10*/bin/python3.10; do $$c -c "" >/dev/null 2>&1 && { echo $$c; break; }; done)
VENV := .venv
UV := $(VENV)/bin/uv
PY := $(VENV)/bin/python
DATA ?=
HOME_DIR ?= $(CURDIR)/home
ARGS ?=

.PHONY: run test test-fast bench bench-transform bench-trainer setup clean

$(VENV)/.installed: requirements.lock setup.py
	test -x $(PY) || $(PYTHON_310) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==0.13.9
	$(UV) pip install --python $(PY) --quiet --compile-bytecode -r requirements.lock
	$(UV) pip install --python $(PY) --quiet --no-deps -e .
	touch $@

setup: $(VENV)/.installed

run: setup
	$(VENV)/bin/colorization run --home $(HOME_DIR) $(if $(DATA),--data-root $(DATA)) $(ARGS)

# Two xdist workers (sized for 2 cores): the end-to-end pipeline runs overlap.
PYTEST := $(PY) -m pytest tests -q -n 2 --dist loadgroup --durations=15

test: setup
	$(PYTEST)

test-fast: setup
	$(PYTEST) -m "not slow"

# The pipeline benchmarks; `make bench` runs both, so its ARGS may only hold the flags they share.
bench: bench-transform bench-trainer

bench-transform: setup
	$(PY) -m bench.transform_throughput --data-root $(DATA) $(ARGS)

bench-trainer: setup
	$(PY) -m bench.trainer_throughput --data-root $(DATA) $(ARGS)

clean:
	rm -rf $(VENV) home
