# Quick start: `make train` and `make test`. Both create .venv on first use.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test lint bench train clean kernels

venv: $(STAMP) kernels

# The compiled host kernels (nnctl/csrc -> nnctl/_kernels*.so, loaded by nnctl/runtime/native.py):
# rebuilt in place whenever a C source changes (pip install -e builds them the first time)
KERNEL_SRC := $(wildcard nnctl/csrc/*.c nnctl/csrc/*.h) nnctl/runtime/native_build.py setup.py
KERNEL_LIB := nnctl/.kernels.built
kernels: $(KERNEL_LIB)
$(KERNEL_LIB): $(KERNEL_SRC) | $(STAMP)
	$(BIN)/python setup.py --quiet build_ext --inplace --force
	touch $(KERNEL_LIB)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,plot,tune,mpi,gpu,onnx,safetensors,serve,test]'
	touch $(STAMP)

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check nnctl tests bench

train: venv
	mkdir -p runs
	$(BIN)/nnctl train configs/xor.yaml --run-dir runs/xor-$$(date +%Y%m%d-%H%M%S)

bench: venv
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) runs .pytest_cache build nnctl/_kernels*.so $(KERNEL_LIB)
