# Two entry points that work on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: demo test install lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

.kubeward/kubectl-path: scripts/install-kubectl.sh
	mkdir -p .kubeward
	scripts/install-kubectl.sh > .kubeward/kubectl-path.tmp
	mv .kubeward/kubectl-path.tmp .kubeward/kubectl-path

.kubeward/promtool-path: scripts/install-prometheus.sh
	mkdir -p .kubeward
	scripts/install-prometheus.sh > .kubeward/promtool-path.tmp
	mv .kubeward/promtool-path.tmp .kubeward/promtool-path

.kubeward/postgres-bin: scripts/install-postgres.sh
	mkdir -p .kubeward
	scripts/install-postgres.sh > .kubeward/postgres-bin.tmp
	mv .kubeward/postgres-bin.tmp .kubeward/postgres-bin

demo: $(STAMP) .kubeward/kubectl-path
	KUBEWARD_KUBECTL=$$(cat .kubeward/kubectl-path) $(VENV)/bin/kubeward demo

# Two workers, one test file at a time each (module fixtures such as the replay run once): the
# end-to-end tests mostly wait on simulators, so the suite takes about half as long.
test: $(STAMP) .kubeward/kubectl-path .kubeward/postgres-bin .kubeward/promtool-path lint
	KUBEWARD_KUBECTL=$$(cat .kubeward/kubectl-path) KUBEWARD_PG_BIN=$$(cat .kubeward/postgres-bin) \
	  KUBEWARD_PROMTOOL=$$(cat .kubeward/promtool-path) $(VENV)/bin/pytest -q -n 2 --dist loadfile --durations=25

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy src/kubeward

bench: $(STAMP)
	$(PY) benchmarks/sim_api.py

clean:
	rm -rf $(VENV) .kubeward .pytest_cache
