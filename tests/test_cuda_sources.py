"""The CUDA kernels of the "cuda" device, compiled as CuPy compiles them, on a machine without a GPU.

``cupy.ElementwiseKernel`` compiles its code with NVRTC on first use, on the GPU machine. Here the
same happens ahead of time: real CuPy parses each `KernelSpec`, its own code generator writes the
kernel for every dtype combination and argument layout the backend launches (1-d and 2-d arrays,
32- and 64-bit indexing), and NVRTC compiles it, with CuPy's headers and options, to sm_90 and
sm_75 (Turing) binaries. NVRTC needs no driver, so a broken kernel fails here, not on a user's GPU.

Needs ``cupy-cuda12x`` and NVRTC (the ``cudacheck`` extra, which ``make test`` installs).
"""

from __future__ import annotations

import numpy as np
import pytest

from wgtorch.backends import cupy_kernels as K

cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install -e '.[cudacheck]')")
kernel_module = pytest.importorskip("cupy._core._kernel")
core = pytest.importorskip("cupy._core.core")
compiler = pytest.importorskip("cupy.cuda.compiler")
carray = pytest.importorskip("cupy._core._carray")

# CuPy's argument kinds (cupy/_core/_kernel.pxd: _ArgKind).
ARG_NDARRAY, ARG_INDEXER = 1, 2
ARCHS = ("sm_90", "sm_75")  # Hopper (H100) and Turing


def _cupy_kernel(spec: K.KernelSpec):
    return cupy.ElementwiseKernel(spec.in_params, spec.out_params, spec.operation, spec.name,
                                  preamble=spec.preamble, options=spec.options)


def cuda_source(spec: K.KernelSpec, types: dict, ndim: int, index_32_bits: bool) -> str:
    """The CUDA code CuPy generates for ``spec`` with every argument a C-contiguous array."""
    kernel = _cupy_kernel(spec)

    def dtype(p):
        return types[p.ctype] if p.dtype is None else p.dtype

    in_types, out_types, type_map = kernel._decide_params_type(
        tuple(dtype(p) for p in kernel.in_params), tuple(dtype(p) for p in kernel.out_params))
    infos = tuple(kernel_module._ArgInfo(ARG_NDARRAY, cupy.ndarray, dt, ndim, True, index_32_bits)
                  for dt in in_types + out_types)
    infos += (kernel_module._ArgInfo(ARG_INDEXER, carray.Indexer, None, ndim, True, index_32_bits),)
    code = kernel_module._get_elementwise_kernel_code(infos, type_map, kernel.params, kernel.operation,
                                                      kernel.name, kernel.preamble)
    return "".join(f"#include <{h}>\n" for h in core._cupy_header_list) + code


def nvrtc_compile(source: str, options: tuple, arch: str) -> bytes:
    """NVRTC to a cubin, as ``cupy.cuda.compiler`` does, but for a named architecture (no device)."""
    options = core.assemble_cupy_compiler_options(tuple(options))
    program = compiler._NVRTCProgram(source, "kern.cu", (), (), method="cubin")
    cubin, _ = program.compile(options + (f"-arch={arch}", "--device-as-default-execution-space"))
    return cubin


@pytest.fixture(scope="module")
def nvrtc():
    try:
        nvrtc_compile('extern "C" __global__ void probe(float* x) { x[0] = 1.0f; }', (), "sm_75")
    except Exception as exc:  # no NVRTC library: the extra is half installed
        pytest.skip(f"NVRTC is not usable ({type(exc).__name__}: {exc}); pip install -e '.[cudacheck]'")
    return nvrtc_compile


@pytest.mark.parametrize("spec", K.all_specs(), ids=lambda s: s.name)
def test_every_kernel_compiles_with_nvrtc(nvrtc, spec):
    for types in K.launch_types(spec):
        types = {name: np.dtype(dt) for name, dt in types.items()}
        for ndim, index_32_bits in ((1, True), (2, False)):
            source = cuda_source(spec, types, ndim, index_32_bits)
            for arch in ARCHS:
                try:
                    cubin = nvrtc(source, spec.options, arch)
                except compiler.CompileException as exc:
                    pytest.fail(f"{spec.name} {types} ndim={ndim} {arch}:\n{exc}")
                assert cubin[:4] == b"\x7fELF" and spec.name.encode() in cubin


def test_a_broken_kernel_fails_to_compile(nvrtc):
    spec = K.SCATTER_ADD._replace(operation=K.SCATTER_ADD.operation + " undefined_name = 1;")
    source = cuda_source(spec, {"I": np.dtype("int64"), "T": np.dtype("float32")}, 1, True)
    with pytest.raises(compiler.CompileException, match="undefined_name"):
        nvrtc(source, spec.options, "sm_90")


def test_generated_code_is_what_the_backend_launches():
    """The generator is CuPy's own: the loop, the indexer and the spec's operation and preamble."""
    source = cuda_source(K.GELU, {"T": np.dtype("float32")}, 1, True)
    assert 'extern "C" __global__ void wgtorch_gelu(' in source and "CUPY_FOR(i, _ind.size())" in source
    assert "typedef float T;" in source and K.GELU.operation in source and K.GELU.preamble.strip() in source
