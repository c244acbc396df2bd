#!/usr/bin/env bash
# The whole GPU check in one command, for a short loan of an NVIDIA machine (the `device` tool):
#   1. the CUDA tests (CuPy path), failing if any of them is skipped;
#   2. the validator on the GPU's Vulkan adapter (every WGSL kernel family);
#   3. the dashboard with the cuda and torch:cuda peers, quick mode, saved as JSON.
# It is sized to finish in well under 8 minutes on an H200 (the dashboard has a time budget).
#
# Two steps, because the GPU machine has no network and its image lacks wgpu-py and the Vulkan loader:
#   here, once:   tools/gpu_check.sh prepare      (downloads into .whl/ and .gl/, both git-ignored)
#   there:        device run  command="tools/gpu_check.sh run"  carry=[".whl", ".gl"]  timeout_s=540
# Results land in $OUT (card.txt, cuda_tests.log, validate.json, validate.log, bench.json, bench.log);
# copy the numbers into benches/RESULTS.md with the date and the card.
set -uo pipefail
cd "$(dirname "$0")/.."

prepare() {
    set -e
    grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
    grep -qx "/.gl/" .git/info/exclude 2>/dev/null || echo "/.gl/" >> .git/info/exclude
    mkdir -p .whl .gl /tmp/amd64/partial
    # The image's python is 3.12; wgpu-py needs cffi (not in the image) and rendercanvas.
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "wgpu==$(.venv/bin/python -c 'import wgpu; print(wgpu.__version__)')" cffi pycparser rendercanvas
    local apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    apt-get "${apt_opts[@]}" update -qq
    (cd .gl && apt-get "${apt_opts[@]}" download libvulkan1)
    du -sh .whl .gl
}

run() {
    local out=${OUT:-/tmp/gpu_check}
    mkdir -p "$out"
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
        export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    fi
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "gpu_check: installing the carried wheels failed" >&2; return 1; }
    export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
    local status=0
    { date -u; nvidia-smi -L; python3 -c "import torch, cupy; print('torch', torch.__version__, 'cupy', cupy.__version__)"
      python3 -c "import wgtorch; print(wgtorch.wgpu.get_device_properties())"; } > "$out/card.txt" 2>&1
    cat "$out/card.txt"

    # 1. CUDA tests: none may be skipped on a machine with a GPU.
    timeout 240 python3 -m pytest -o addopts="" -q -rs -p no:cacheprovider tests/test_cuda.py \
        tests/test_cuda_sources.py tests/test_amp.py -k "cuda" 2>&1 | tee "$out/cuda_tests.log" | tail -15
    if grep -Eq "[0-9]+ (failed|error)" "$out/cuda_tests.log" || grep -Eq "[0-9]+ skipped" "$out/cuda_tests.log"; then
        echo "gpu_check: CUDA tests failed or skipped (see cuda_tests.log)"; status=1
    fi

    # 2. The validator on every wgpu adapter (the GPU's Vulkan adapter among them) and on cuda.
    timeout 150 python3 -m wgtorch.validate --json "$out/validate.json" > "$out/validate.log" 2>&1 || status=1
    tail -25 "$out/validate.log"

    # 3. The dashboard, quick, with the GPU peers.
    timeout 150 python3 -m wgtorch.bench --quick --device wgpu --device cuda --device torch --device torch:cuda \
        --device numpy --json "$out/bench.json" > "$out/bench.log" 2>&1 || status=1
    tail -40 "$out/bench.log"
    return $status
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: tools/gpu_check.sh prepare|run" >&2; exit 2 ;;
esac
