# Two commands set up everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUNDIR := .run

.PHONY: run test bench lint-code e2e clean native

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The admission path is compiled with mypyc (setup.py) into extension modules beside its
# sources, which take precedence over them. When a source it was built from changed (by
# content, against the build's record), rebuild it with the venv's pinned tools, offline.
native: $(STAMP)
	@$(BIN)/python -c 'import sys; from compiler import native; sys.exit(native.check())' || \
	  $(BIN)/pip install --quiet --no-deps --no-build-isolation -e .

# The main job: compile the bundled policy, issue development certificates,
# and serve the webhook on https://127.0.0.1:8443.
run: native
	$(BIN)/hermetic lint policies/
	$(BIN)/hermetic compile policies/ --out $(RUNDIR)/compiled
	test -f $(RUNDIR)/certs/tls.crt || $(BIN)/hermetic certs issue --service hermetic --namespace hermetic-system --out $(RUNDIR)/certs --ip 127.0.0.1 --dns localhost
	@echo
	@echo "In another shell, send a sample backtest pod through the webhook:"
	@echo "  $(BIN)/hermetic review --server https://127.0.0.1:8443 --ca $(RUNDIR)/certs/ca.crt --namespace alpha-research examples/backtest-pod.yaml"
	@echo
	$(BIN)/hermetic serve --policy policies/ --cert $(RUNDIR)/certs/tls.crt --key $(RUNDIR)/certs/tls.key --host 127.0.0.1 --port 8443

lint-code: $(STAMP)
	$(BIN)/ruff check dsl compiler webhook certs cli tests bench setup.py
	$(BIN)/ruff format --check dsl compiler webhook certs cli tests bench setup.py
	$(BIN)/mypy
	$(BIN)/lint-imports

test: native lint-code
	$(BIN)/hermetic lint --strict policies/
	$(BIN)/pytest -q

bench: native
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(RUNDIR) .cache .mypy_cache .ruff_cache .pytest_cache .hypothesis build
	rm -f compiler/admission/*.so *__mypyc*.so
