# The two commands of the README. Each does its own set-up (tools/setup.sh): a .venv with
# wgtorch installed, and a Vulkan driver where none is present.
.PHONY: bench test validate lint setup

setup:
	@tools/setup.sh

bench: setup
	.venv/bin/python -m wgtorch.bench --quick

# The tests also compile the CUDA kernels with NVRTC, so they install the cudacheck extra where
# CuPy ships wheels for it (Linux; elsewhere tests/test_cuda_sources.py says it is skipped).
comma := ,
TEST_EXTRAS := dev,examples,distributed$(if $(filter Linux,$(shell uname -s)),$(comma)cudacheck)

test:
	@WGTORCH_EXTRAS=$(TEST_EXTRAS) tools/setup.sh
	.venv/bin/python -m pytest tests

validate: setup
	.venv/bin/python -m wgtorch.validate

lint: setup
	.venv/bin/ruff check .
