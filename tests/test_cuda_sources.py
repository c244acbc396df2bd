"""The CUDA kernels of the "cuda" device, compiled as CuPy compiles them, on a machine without a GPU.

``cupy.ElementwiseKernel`` compiles its code with NVRTC on first use, on the GPU machine. Here the
same happens ahead of time: real CuPy parses each `KernelSpec`, its own code generator writes the
kernel for every dtype combination and argument layout the backend launches (1-d and 2-d arrays,
32- and 64-bit indexing), and NVRTC compiles it, with CuPy's headers and options, to sm_90 and
sm_75 (Turing) binaries. NVRTC needs no driver, so a broken kernel fails here, not on a user's GPU.

Needs ``cupy-cuda12x`` and NVRTC (the ``cudacheck`` extra, which ``make test`` installs).
"""

from __future__ import annotations

import functools
import inspect
import re
import warnings

import numpy as np
import pytest

import wgtorch
from wgtorch._backends import cupy_kernels as K

cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install -e '.[cudacheck]')")
kernel_module = pytest.importorskip("cupy._core._kernel")
core = pytest.importorskip("cupy._core.core")
compiler = pytest.importorskip("cupy.cuda.compiler")
carray = pytest.importorskip("cupy._core._carray")
_scalar = pytest.importorskip("cupy._core._scalar")

# CuPy's argument kinds (cupy/_core/_kernel.pxd: _ArgKind).
ARG_NDARRAY, ARG_INDEXER, ARG_SCALAR = 1, 2, 3
ARCHS = ("sm_90", "sm_75")  # Hopper (H100) and Turing


def _cupy_kernel(spec: K.KernelSpec):
    return cupy.ElementwiseKernel(spec.in_params, spec.out_params, spec.operation, spec.name,
                                  preamble=spec.preamble, options=spec.options)


def cuda_source(spec: K.KernelSpec, types: dict, ndim: int, index_32_bits: bool, scalars: tuple = ()) -> str:
    """The CUDA code CuPy generates for ``spec``: every argument a C-contiguous array of ``ndim``
    dimensions, except the positions in ``scalars``, passed as Python numbers."""
    kernel = _cupy_kernel(spec)

    def dtype(p):
        return types[p.ctype] if p.dtype is None else p.dtype

    in_types, out_types, type_map = kernel._decide_params_type(
        tuple(dtype(p) for p in kernel.in_params), tuple(dtype(p) for p in kernel.out_params))
    infos = tuple(kernel_module._ArgInfo(ARG_SCALAR, _scalar.CScalar, dt, 0, True, True) if k in scalars else
                  kernel_module._ArgInfo(ARG_NDARRAY, cupy.ndarray, dt, ndim, True, index_32_bits)
                  for k, dt in enumerate(in_types + out_types))
    infos += (kernel_module._ArgInfo(ARG_INDEXER, carray.Indexer, None, ndim, True, index_32_bits),)
    code = kernel_module._get_elementwise_kernel_code(infos, type_map, kernel.params, kernel.operation,
                                                      kernel.name, kernel.preamble)
    return "".join(f"#include <{h}>\n" for h in core._cupy_header_list) + code


@functools.cache
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


# -- the CuPy API the backend calls -----------------------------------------------------------------
def _signature(obj) -> inspect.Signature | None:
    """A callable's signature without ``self``, from Cython's embedded one where inspect finds none."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        first = (getattr(obj, "__doc__", None) or "").strip().splitlines()[:1]
        match = re.match(r"[\w.]+\((.*)\)", first[0]) if first else None
        if match is None:
            return None
        namespace: dict = {}
        exec(f"def stub({match.group(1)}): pass", namespace)  # the doc line of a CuPy function: trusted text
        sig = inspect.signature(namespace["stub"])
    params = list(sig.parameters.values())
    return sig.replace(parameters=params[1:]) if params and params[0].name == "self" else sig


def _cupy_attr(name: str):
    root, *parts = name.split(".")
    obj = cupy if root == "xp" else cupy.ndarray
    for part in parts:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


@pytest.fixture(scope="module")
def emulated_run():
    """Every validator case on both emulated CUDA backends, and every optimizer variant: the CuPy
    calls and kernel launches made."""
    from tests.fake_cupy import CALLED, LAUNCHED
    from tests.test_array_backend_xp import _backend, run_optimizer_variants
    from wgtorch._backends.array import numpy_backend
    from wgtorch.validate.cli import CHECKS
    from wgtorch.validate.core import run_kernel

    CALLED.clear()
    LAUNCHED.clear()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for kind in ("fused", "generic"):
            for family in CHECKS:
                for kernel in CHECKS[family]():
                    run_kernel(kernel, _backend(kind), numpy_backend(), large=False, features={"shader-f16"})
        for dt in (np.float32, np.float64):
            run_optimizer_variants(dt)
    return set(CALLED), set(LAUNCHED)


def test_every_cupy_call_of_the_backend_exists_in_cupy(emulated_run):
    """The stand-in forwards to NumPy, which accepts more than CuPy (``np.indices(sparse=True)``,
    say): every function and array method the backends call on it while running all validator
    cases must exist in real CuPy and accept the same arguments."""
    called, _ = emulated_run
    assert len({name for name, _, _ in called}) > 50
    problems = []
    for name, n_args, keywords in sorted(called):
        obj = _cupy_attr(name)
        if obj is None:
            problems.append(f"{name}: not in CuPy {cupy.__version__}")
        elif isinstance(obj, cupy.ufunc):
            if n_args > obj.nin + obj.nout or set(keywords) - {"out", "dtype", "casting"}:
                problems.append(f"{name}: CuPy's ufunc takes no {n_args} arguments with {keywords}")
        elif (sig := _signature(obj)) is not None:
            try:
                sig.bind(*range(n_args), **dict.fromkeys(keywords))
            except TypeError as e:
                problems.append(f"{name}{sig}: called with {n_args} positional and {keywords}: {e}")
    assert not problems, "\n".join(problems)


def test_every_kernel_launch_types_and_compiles_as_cupy_would(nvrtc, emulated_run):
    """Each launch the validator cases made, as CuPy would take it: its type resolution accepts
    the arguments' dtypes (arrays) and Python numbers (scalars), and the code generated for that
    layout compiles."""
    _, launched = emulated_run
    specs = {spec.name: spec for spec in K.all_specs()}
    assert {name for name, _ in launched} == set(specs), "the run should launch every kernel"
    for name, args in sorted(launched):
        spec, kernel = specs[name], _cupy_kernel(specs[name])
        dtypes = [None if kind in ("scalar", "<new>") else np.dtype(kind) for kind, _ in args]
        outs = dtypes[kernel.nin:] if "<new>" not in (kind for kind, _ in args) else []
        try:
            in_types, out_types, type_map = kernel._decide_params_type(tuple(dtypes[:kernel.nin]), tuple(outs))
        except (TypeError, KeyError) as e:
            pytest.fail(f"CuPy refuses the launch {name}{args}: {type(e).__name__}: {e}")
        types = dict(type_map._pairs)
        scalars = tuple(k for k, (kind, _) in enumerate(args) if kind == "scalar")
        ndim = max(n for _, n in args) or 1
        try:
            nvrtc(cuda_source(spec, types, ndim, True, scalars), spec.options, "sm_90")
        except compiler.CompileException as exc:
            pytest.fail(f"{name} launched as {args}:\n{exc}")


# -- real CuPy on a machine without a GPU -----------------------------------------------------------
def test_real_cupy_without_a_gpu_is_quietly_unavailable(fresh_cuda_state):
    """CuPy installed, no driver or GPU (this machine, CI): "cuda" is unavailable without a
    warning, and asking for it says why, with CuPy's own reason, and how to install."""
    try:
        cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError:
        pass
    else:
        pytest.skip("a CUDA device is visible: tests/test_cuda.py runs on it instead")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert wgtorch.cuda.is_available() is False
        assert wgtorch.cuda.device_count() == 0
    for ask in (lambda: wgtorch.zeros(1, device="cuda"), wgtorch.cuda.synchronize, wgtorch.cuda.memory_allocated):
        with pytest.raises(RuntimeError, match=r"pip install 'wgtorch\[cuda12\]'.*CuPy found no usable GPU: \w+"):
            ask()
    assert wgtorch.zeros(2).add(1).tolist() == [1.0, 1.0]  # the other devices are unaffected
