# The two commands a new user needs: `make run` and `make test`. Everything else is a helper.

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)
PORT   ?= 8000
# The Python client (clients/python) is built as a wheel and installed into the venv whenever its files change.
CLIENT_FILES := clients/python/pyproject.toml clients/python/README.md \
                $(shell find clients/python/src -type f \( -name '*.py' -o -name py.typed \) | sort)
CLIENT_STAMP := $(VENV)/.client-$(shell cat $(CLIENT_FILES) | sha1sum | cut -c1-12)

# Tests run against real PostgreSQL and Redis on this machine unless told otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/saas_platform
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/15

.PHONY: install client run test test-reliability audit lint services browser demo clean

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# No build isolation: the venv's setuptools builds it, so nothing beyond requirements.txt is fetched.
$(CLIENT_STAMP): $(STAMP) $(CLIENT_FILES)
	rm -rf var/client-wheel clients/python/build
	PYTHONWARNINGS=ignore $(PY) -m pip wheel --quiet --no-deps --no-build-isolation -w var/client-wheel ./clients/python
	$(PY) -m pip install --quiet --no-deps --force-reinstall var/client-wheel/recsys_client-*.whl
	rm -f $(VENV)/.client-*
	touch $(CLIENT_STAMP)

## make client: build the client's wheel and install it (the `recsys` command) into the venv.
client: $(CLIENT_STAMP)

install: $(STAMP) $(CLIENT_STAMP)

## make run: the platform on its embedded default (SQLite, file-system broker), with a demo tenant.
## DEBUG is off unless asked for: DEBUG=1 make run. DEMO=0 make run skips the demo tenant.
run: install
	PORT=$(PORT) bash scripts/run-embedded.sh

## make test: the whole suite against PostgreSQL and Redis (started here when installed and down).
test: install services browser
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -m "not reliability" $(PYTEST_ARGS)

## make test-reliability: the long fault drills and the soak run.
test-reliability: install services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -m reliability $(PYTEST_ARGS)

## make audit: pip-audit of the pinned requirements; fails only on findings not in .ci/pip-audit-ignore.txt.
audit: install
	$(PY) .ci/pip_audit.py

## make lint: ruff's lint and format checks, the layering rules (core/layering.py) and mypy; CI runs it.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m core.layering
	$(PY) -m mypy

services:
	bash scripts/ensure-services.sh

browser:
	bash scripts/ensure-browser.sh

clean:
	rm -rf var .pytest_cache
