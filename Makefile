# sage_open_webui.backup — developer and CI entry points. `make help` lists them.
# Every target works on a fresh Debian 12 machine as root (the test bed scripts apt-get what they need).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

ROOT        := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV        ?= $(ROOT)/.venv
VPY         := $(VENV)/bin/python
COLLECTIONS := $(ROOT)/.collections
VERSION     := $(shell sed -n 's/^version: *//p' $(ROOT)/galaxy.yml)
ARTIFACT    := $(ROOT)/.cache/build/sage_open_webui-backup-$(VERSION).tar.gz

# Tools from the venv first; the collection (installed by `make collection`) and the collections
# bundled in the `ansible` package (found on sys.path) — no Galaxy.
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# ansible-lint runs offline (no Galaxy): it finds this collection in .collections (make collection).

PYTEST_ARGS   ?=
MOLECULE_ARGS ?=


.PHONY: bench
.PHONY: help venv collection demo test lint sanity unit ee integration molecule testbed tools changelog clean

help: ## List the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# ---------------------------------------------------------------------------------------------
# venv: pinned tools (requirements-test.txt) on Python >= 3.12 (ansible-core 2.21 controller).

venv: $(VENV)/.installed ## Create .venv (Python >= 3.12 from PYTHON, pyenv or PATH) with the pinned test tools

$(VENV)/.installed: requirements-test.txt
	@py="$${PYTHON:-}"; \
	if [ -z "$$py" ]; then \
	  for c in "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.12.*/bin/python3 "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.13.*/bin/python3 \
	           "$$(command -v python3.12 || true)" "$$(command -v python3.13 || true)" "$$(command -v python3 || true)"; do \
	    if [ -n "$$c" ] && [ -x "$$c" ] && "$$c" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then py="$$c"; break; fi; \
	  done; \
	fi; \
	if [ -z "$$py" ]; then \
	  echo "ERROR: no Python >= 3.12 with venv found (ansible-core 2.21 needs it on the controller)." >&2; \
	  echo "Fix: install one (e.g. 'pyenv install 3.12'), or run 'make venv PYTHON=/path/to/python3.12'." >&2; \
	  exit 1; \
	fi; \
	echo "venv: $$py ($$("$$py" -V 2>&1)) -> $(VENV)"; \
	if [ -x "$(VPY)" ] && ! "$(VPY)" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then rm -rf "$(VENV)"; fi; \
	[ -x "$(VPY)" ] || "$$py" -m venv "$(VENV)"
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements-test.txt
	@$(VPY) -m pip check
	@touch $@

# ---------------------------------------------------------------------------------------------
# collection: build the artifact and install it (no deps: the ansible package bundles them).

collection: venv ## Build the collection and install it into .collections/
	@mkdir -p $(dir $(ARTIFACT)) $(COLLECTIONS)
	ansible-galaxy collection build --force --output-path $(dir $(ARTIFACT)) $(ROOT)
	ansible-galaxy collection install --force --no-deps -p $(COLLECTIONS) $(ARTIFACT)
	@ansible-galaxy collection list sage_open_webui.backup -p $(COLLECTIONS) 2>/dev/null | tail -n +1

# ---------------------------------------------------------------------------------------------

demo: collection ## Run playbooks/demo.yml on this machine
	@[ -f playbooks/demo.yml ] || { echo "ERROR: playbooks/demo.yml does not exist yet." >&2; exit 1; }
	ansible-playbook -i localhost, -c local playbooks/demo.yml

bench: ## Benchmarks side by side (root + Docker); rewrites docs/BENCHMARKS.md. BENCH_ARGS="--size small" for a smoke run
	bench/run $(BENCH_ARGS)

testbed: ## Start the test bed (dockerd, images, S3 endpoint): tests/testbed/up.sh
	@[ -x tests/testbed/up.sh ] || { echo "ERROR: tests/testbed/up.sh does not exist yet." >&2; exit 1; }
	tests/testbed/up.sh

# ---------------------------------------------------------------------------------------------
# test = lint + sanity + unit + ee + integration + molecule; each fails the run when it fails.

test: lint sanity unit ee integration molecule ## Run every test suite (exits non-zero on any failure)
	@echo "make test: all suites passed"

lint: venv collection ## yamllint + ansible-lint (production profile)
	yamllint --strict .
	ansible-lint --offline

sanity: venv ## ansible-test sanity, offline, on every installed Python it supports
	ANSIBLE_TEST=$(VENV)/bin/ansible-test tests/sanity/run.sh

unit: venv tools ## pytest tests/unit (no tests collected counts as a failure)
	$(VPY) -m pytest tests/unit $(PYTEST_ARGS)

tools: ## The command-line tools the tests use for real (age, rclone, sshd, python3-boto3): tests/testbed/tools.sh
	tests/testbed/tools.sh

# The execution environment's build context (execution-environment.yml; docs/AWX.md): this checkout's artifact
# where the EE file takes it, `ansible-builder create`, then tests/unit/test_ee.py on that context. No image is
# built: that needs the base image from a registry (`ansible-builder build`, docs/AWX.md).
EE_DIR := $(ROOT)/.cache/ee

ee: venv collection ## ansible-builder create: the execution environment's build context, checked (.cache/ee/context)
	rm -rf $(EE_DIR) && mkdir -p $(EE_DIR)/collection
	cp $(ARTIFACT) $(EE_DIR)/collection/
	ansible-builder create --file execution-environment.yml --context $(EE_DIR)/context --output-filename Containerfile
	OWB_EE_CONTEXT=$(EE_DIR)/context $(VPY) -m pytest -q -p no:cacheprovider tests/unit/test_ee.py

integration: venv collection ## pytest tests/integration (real Docker engine, S3 endpoint, playbooks)
	@if [ -d tests/integration ] && [ -n "$$(find tests/integration -name 'test_*.py' -print -quit)" ]; then \
	  $(VPY) -m pytest tests/integration $(PYTEST_ARGS); \
	else echo "integration: no tests/integration/test_*.py yet"; fi

molecule: venv collection ## molecule test --all: default, nas, fleet (needs dockerd and the base image: make testbed)
	tests/testbed/docker.sh
	@if [ -x tests/testbed/base-image.sh ]; then tests/testbed/base-image.sh; fi
	molecule test --all $(MOLECULE_ARGS)

changelog: venv ## Lint changelogs/fragments and regenerate CHANGELOG.md (antsibull-changelog)
	@# antsibull-changelog finds the modules through an ansible_collections tree: use the sanity copy.
	dest="$$(SANITY_SYNC_ONLY=1 ANSIBLE_TEST=$(VENV)/bin/ansible-test tests/sanity/run.sh)"; \
	cd "$$dest" && antsibull-changelog lint && \
	ANSIBLE_COLLECTIONS_PATH="$(ROOT)/.cache/ansible-test" antsibull-changelog generate --refresh-plugins --refresh-fragments && \
	cp changelogs/changelog.yaml "$(ROOT)/changelogs/changelog.yaml" && cp CHANGELOG.md "$(ROOT)/CHANGELOG.md"
	@echo "Release: add changelogs/fragments/*.yml, then in the copy: antsibull-changelog release --version X.Y.Z"

clean: ## Remove build artefacts and test output (keeps .venv)
	rm -rf $(COLLECTIONS) $(ROOT)/.cache/build $(ROOT)/.cache/ansible-test $(ROOT)/tests/output
