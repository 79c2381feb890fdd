# make demo       set everything up and deploy the example app onto two local staging hosts, and
#                 a third that pulls its own (as an Auto Scaling group's instance: docs/pull.md)
# make demo-down  stop the demo's hosts and its AWS and instance metadata stand-ins
# make test       the whole test suite, unit and end-to-end (as root: it boots containers), in
#                 parallel workers (WORKERS=auto: tests/conftest.py chooses; WORKERS=0: one process)
# make lint       ruff, and shellcheck on the programs that run on hosts
# make docs       the reference site, docs/ into site/ (MkDocs, strict: a broken link fails)

VENV := .venv
# Python's bytecode caches, also where the environment says not to write them
# (PYTHONDONTWRITEBYTECODE): a test run starts some 450 Python processes (pyinfra, the toolkit's
# commands) that would each compile the toolkit again, and workers that would each rewrite every
# test module's asserts again (collection: 5.7 s of CPU a worker without the caches, 2.8 s with).
unexport PYTHONDONTWRITEBYTECODE
PY := $(VENV)/bin/python
SYSTEM_TOOLS := systemd-nspawn debootstrap ssh ssh-keygen shellcheck docker-registry skopeo htpasswd \
  pg_ctlcluster
# Each says its shell in its first line (`# shellcheck shell=...`): the state reads are POSIX sh
# (run by sh -c), activate.sh and provision.sh bash.
SHELL_PROGRAMS := $(wildcard ssmenv/shell/*.sh)

.PHONY: demo demo-down test unit lint system-packages image bench bench-pull bench-fleet docs

# pytest-xdist: whole files to a worker (a module's hosts boot once), the slowest first (the
# order tests/conftest.py gives them; --no-loadscope-reorder keeps it).
WORKERS ?= auto
PARALLEL := -n $(WORKERS) --dist loadfile --no-loadscope-reorder

# uv installs the pins (1 s here, where pip took 27 s: pip compiles every module of the tree,
# moto's hundreds included, where Python compiles what a run imports, once, into the caches
# above). The virtualenv keeps its pip: the toolkit's bundle calls `python -m pip download`.
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9

# The suite's Python: Debian's own, the one hosts and a Debian control host run, built with
# profile-guided optimisation: the suite's Python processes (pyinfra, the workers, the toolkit's
# commands, moto) take 15 to 25 % less CPU under it than under pyenv's default build, first on
# this machine's PATH (docs/tests.md). PYTHON=python3 for another.
PYTHON ?= /usr/bin/python3

$(VENV)/.installed: requirements.txt requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip install --quiet --python $(PY) -r requirements-test.txt
	@# uv's lock, writable by all: a rotation refuses a checkout that holds such a file.
	rm -f $(VENV)/.lock
	touch $@

# Test hosts need systemd-nspawn and debootstrap; the lab talks to them with OpenSSH. The lab's
# registry and the example app's image need docker-registry, skopeo and htpasswd (apache2-utils).
# The example app's database is Debian's PostgreSQL (postgresql), in a cluster of the lab's own.
system-packages:
	@for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    systemd-container debootstrap openssh-client shellcheck docker-registry skopeo \
	    apache2-utils postgresql; \
	fi
	@# npm (with node) for lab/npm.py, only when missing: NodeSource's Node.js carries its own.
	@command -v npm >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y --no-install-recommends npm; }

image: $(VENV)/.installed system-packages
	$(PY) -m lab.hosts image

demo: image
	$(PY) -m lab.hosts image --kind agent
	$(PY) -m lab.demo up

demo-down: $(VENV)/.installed
	$(PY) -m lab.demo down

# pytest ends with the slowest tests (--durations, pyproject.toml) and the time it took.
test: $(VENV)/.installed system-packages
	$(VENV)/bin/ruff check .
	shellcheck $(SHELL_PROGRAMS)
	$(VENV)/bin/pytest $(PARALLEL)

unit: $(VENV)/.installed
	$(VENV)/bin/pytest tests/unit

# The site's generator and the bench's plot, pinned apart from the suite's tools.
$(VENV)/.docs-installed: $(VENV)/.installed requirements-docs.txt
	$(UV) pip install --quiet --python $(PY) -r requirements-docs.txt
	rm -f $(VENV)/.lock
	touch $@

# --strict: a link to a missing page or anchor, or a page in docs/ left out of mkdocs.yml's nav,
# fails the build (as in .ci/run).
docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	shellcheck $(SHELL_PROGRAMS)

# make bench      what a deploy costs on 1, 10 and 50 local hosts, beside plain pyinfra (as root; about 20 minutes);
#                 keeps its figures in bench/results/deploy.json and draws docs/img/bench-deploy.svg;
#                 then make bench-pull and make bench-fleet
# make bench-pull what a sync with nothing new costs on a host that pulls: wall time, CPU, memory,
#                 SSM calls, beside the push deploy's (as root; about a minute)
#                 (BENCH_PULL_ARGS="--runs 20 --prefix NAME --ssh-port PORT": python -m bench.pull --help)
# make bench-fleet a rotation reaching 50 hosts: the push rollout, the fleet command through Run
#                 Command and the agents' timers, on the same hosts: wall time, SSM calls, restarts;
#                 keeps its figures in bench/results/fleet.json (as root; about 15 minutes)
#                 (BENCH_FLEET_ARGS="--hosts 10 --prefix NAME": python -m bench.fleet --help)
bench: $(VENV)/.docs-installed system-packages
	$(PY) -m lab.hosts image --kind bench
	$(PY) -m bench.deploy
	$(MAKE) bench-pull
	$(MAKE) bench-fleet

bench-pull: $(VENV)/.installed system-packages
	$(PY) -m lab.hosts image --kind agent
	$(PY) -m bench.pull $(BENCH_PULL_ARGS)

bench-fleet: $(VENV)/.installed system-packages
	$(PY) -m lab.hosts image --kind agent
	$(PY) -m bench.fleet $(BENCH_FLEET_ARGS)
