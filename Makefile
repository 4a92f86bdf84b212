# The README's two commands: `make demo` and `make test`. Each creates .venv if missing and installs the locked
# dependency set (pyproject.toml pins the direct dependencies, constraints.txt locks everything beneath them).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint-specs stack-up stack-down stack-status peers-env clean

$(STAMP): pyproject.toml constraints.txt scripts/system_deps.sh
	@scripts/system_deps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24" wheel setuptools
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# `synth-pipeline run NAME` without the flag stops at the approval and waits for a steward (see its --help).
demo: $(STAMP)  ## a full release of the bundled Adult sample on the embedded defaults, approved by the demo steward
	$(VENV)/bin/synth-pipeline run adult_income --approve-as-demo-steward

test: $(STAMP)  ## every test, slow real-training ones included (CI runs exactly this)
	$(PY) -m pytest

test-fast: $(STAMP)  ## the quick loop while developing
	$(PY) -m pytest -m "not slow"

stack-up: $(STAMP)  ## the production topology as local processes: PostgreSQL, Redis, Celery, api-server, ...
	$(PY) scripts/stack.py up

stack-down:
	$(PY) scripts/stack.py down

stack-status:
	$(PY) scripts/stack.py status

peers-env:  ## OpenDP (opendp[mbi]) for `synth-pipeline bench --peers`, in .venv-peers: its pins clash with the lock
	@test -x .venv-peers/bin/python || $(PYTHON) -m venv .venv-peers
	.venv-peers/bin/python -m pip install --quiet -r benchmarks/peers/requirements.txt

lint-specs: $(STAMP)
	$(VENV)/bin/synth-pipeline validate-spec releases/*.yaml

clean:
	rm -rf .state .pytest_cache
