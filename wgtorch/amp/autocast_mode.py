"""``autocast``: automatic mixed precision, as ``torch.autocast``.

Inside ``with autocast(device_type, dtype)`` the ops of PyTorch's autocast lists run in the
dtype their list names: the "low" list (matmul, linear, convolutions, attention ...) in the
autocast dtype, the "fp32" list (losses, norms, softmax, exp/log/pow, sum/prod ... on cuda) in
float32, the "promote" list in the widest floating type of its inputs. Every other op runs in the
dtypes it is given. As in PyTorch, the lists depend on the device type of the op's tensors: "cpu"
has its own (shorter) lists, "cuda" and "wgpu" share CUDA's. Floating-point tensors of that device
type are cast (float64 ones are left alone, as PyTorch does); an op called from inside an
autocast op is not cast again (PyTorch's dispatcher excludes its autocast key there).

State is per thread (``threading.local``), one (enabled, dtype) pair per device type, and the
ops consult it at their entry points: each listed function is wrapped once by `autocast_op`
(a decorator in `nn/functional.py`, `ops/linalg.py`, `ops/reduce.py`, `nn/_conv.py`,
`nn/_attention.py`). While no autocast context is enabled in any thread the wrapper costs one
global read. CUDA's float32 list also holds elementwise ops (exp, log, pow ...): their Tensor
methods and ``wgtorch.<op>`` functions are wrapped the first time a "cuda" or "wgpu" autocast is
entered (`_install_elementwise`), so that programs that never use autocast pay nothing.

Casts of float32 leaf tensors that require grad (parameters) to the low dtype are cached until
the outermost autocast context exits (``cache_enabled``), as in PyTorch.
"""

from __future__ import annotations

import functools
import threading
import warnings

from .. import _dtype as D
from .._device import get_backend, is_available
from .._tensor import TensorCore

LOW, FP32, PROMOTE, BANNED = "low", "fp32", "promote", "banned"

# PyTorch's autocast op lists (aten/src/ATen/autocast_mode.cpp), by the wgtorch function's name:
# name -> (policy for "cuda" and "wgpu", policy for "cpu"); None: not on that device type's list.
# Names wgtorch does not (yet) define are listed too, so a function added later is wrapped by
# decorating it; the list is checked against PyTorch in tests/test_amp.py.
POLICIES: dict[str, tuple[str | None, str | None]] = {
    # lower precision: the autocast dtype
    "matmul": (LOW, LOW),
    "mm": (LOW, LOW),
    "bmm": (LOW, LOW),
    "mv": (LOW, None),
    "linear": (LOW, LOW),
    "addmm": (LOW, LOW),
    "addbmm": (LOW, LOW),
    "baddbmm": (LOW, LOW),
    "addmv": (LOW, None),
    "addr": (LOW, None),
    "conv1d": (LOW, LOW),
    "conv2d": (LOW, LOW),
    "conv3d": (LOW, LOW),
    "conv_transpose1d": (LOW, LOW),
    "conv_transpose2d": (LOW, LOW),
    "conv_transpose3d": (LOW, LOW),
    "prelu": (LOW, LOW),
    "scaled_dot_product_attention": (LOW, LOW),
    "chain_matmul": (LOW, None),
    "multi_dot": (LOW, None),
    # float32: numerically sensitive ops
    "softmax": (FP32, None),
    "log_softmax": (FP32, None),
    "softmin": (FP32, None),
    "layer_norm": (FP32, None),
    "group_norm": (FP32, None),
    "normalize": (FP32, None),
    "norm": (FP32, None),
    "cross_entropy": (FP32, FP32),
    "nll_loss": (FP32, FP32),
    "mse_loss": (FP32, FP32),
    "l1_loss": (FP32, FP32),
    "smooth_l1_loss": (FP32, FP32),
    "huber_loss": (FP32, FP32),
    "kl_div": (FP32, FP32),
    "binary_cross_entropy": (BANNED, FP32),
    "binary_cross_entropy_with_logits": (FP32, FP32),
    "cosine_similarity": (FP32, None),
    "cosine_embedding_loss": (FP32, FP32),
    "hinge_embedding_loss": (FP32, FP32),
    "margin_ranking_loss": (FP32, FP32),
    "soft_margin_loss": (FP32, FP32),
    "triplet_margin_loss": (FP32, FP32),
    "poisson_nll_loss": (FP32, FP32),
    "multi_margin_loss": (FP32, FP32),
    "multilabel_margin_loss": (FP32, FP32),
    "softplus": (FP32, None),
    "cdist": (FP32, FP32),
    "pdist": (FP32, None),
    "sum": (FP32, None),
    "prod": (FP32, FP32),
    "logsumexp": (FP32, None),
    "cumsum": (FP32, None),
    "cumprod": (FP32, None),
    # float32, elementwise (CUDA's list; wrapped as Tensor methods, see _install_elementwise)
    "exp": (FP32, None),
    "expm1": (FP32, None),
    "log": (FP32, None),
    "log10": (FP32, None),
    "log2": (FP32, None),
    "log1p": (FP32, None),
    "pow": (FP32, None),
    "reciprocal": (FP32, None),
    "rsqrt": (FP32, None),
    "acos": (FP32, None),
    "asin": (FP32, None),
    "cosh": (FP32, None),
    "sinh": (FP32, None),
    "tan": (FP32, None),
    "erfinv": (FP32, None),
    # the widest input type
    "dot": (PROMOTE, None),
    "addcmul": (PROMOTE, None),
    "addcdiv": (PROMOTE, None),
    "atan2": (PROMOTE, None),
    "cross": (PROMOTE, None),
    "bilinear": (PROMOTE, None),
    "tensordot": (PROMOTE, None),
    "cat": (PROMOTE, PROMOTE),
    "stack": (PROMOTE, PROMOTE),
}
# The elementwise fp32 ops (registry ops) wrapped lazily; the rest are wrapped by decorators.
_ELEMENTWISE = (
    "exp",
    "expm1",
    "log",
    "log10",
    "log2",
    "log1p",
    "pow",
    "reciprocal",
    "rsqrt",
    "acos",
    "asin",
    "cosh",
    "sinh",
    "tan",
    "erfinv",
    "atan2",
)

# float32 ops that take a dtype= argument run in that dtype when it is given (PyTorch's fp32_set_opt_dtype).
_OPT_DTYPE = {"softmax", "log_softmax", "softmin", "sum", "prod", "cumsum", "cumprod", "norm"}

_DEFAULT_DTYPE = {"cuda": D.float16, "wgpu": D.float16, "cpu": D.bfloat16}
_SUPPORTED = {"cuda": (D.float16, D.bfloat16), "wgpu": (D.float16,), "cpu": (D.bfloat16, D.float16)}
_BANNED_MSG = (
    "torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast.\n"
    "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
    "In this case, combine the two layers using torch.nn.functional.binary_cross_entropy_with_logits\n"
    "or torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits are\n"
    "safe to autocast."
)


class _State(threading.local):
    def __init__(self):
        self.enabled = {"cuda": False, "wgpu": False, "cpu": False}
        self.dtype = dict(_DEFAULT_DTYPE)
        self.cache_enabled = True
        self.nesting = 0
        self.inside = False  # running an autocast op: ops it calls are not cast again
        self.cache = {}  # id(leaf) -> (leaf, its cast)


_state = _State()
_lock = threading.Lock()
_active = [0]  # enabled autocast contexts in all threads: 0 means every wrapper calls straight through


def _check_device_type(device_type) -> str:
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type not in _DEFAULT_DTYPE:
        raise RuntimeError(
            f"User specified an unsupported autocast device_type '{device_type}'; wgtorch's "
            f"autocast supports {sorted(_DEFAULT_DTYPE)}"
        )
    return device_type


def is_autocast_available(device_type: str) -> bool:
    """Whether ``autocast`` supports ``device_type`` ("cpu", "cuda", "wgpu")."""
    return device_type in _DEFAULT_DTYPE


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether autocast is enabled for ``device_type`` in this thread (default "cuda", as PyTorch's
    deprecated no-argument form)."""
    return _state.enabled[_check_device_type("cuda" if device_type is None else device_type)]


def set_autocast_enabled(device_type, enabled=None) -> None:
    """``set_autocast_enabled(device_type, enabled)`` (or the old ``set_autocast_enabled(enabled)``
    for "cuda")."""
    if enabled is None:
        device_type, enabled = "cuda", device_type
    _state.enabled[_check_device_type(device_type)] = bool(enabled)


def get_autocast_dtype(device_type: str) -> D.dtype:
    """The dtype autocast's low-precision ops use for ``device_type`` in this thread."""
    return _state.dtype[_check_device_type(device_type)]


def set_autocast_dtype(device_type: str, dtype) -> None:
    """Set the dtype autocast's low-precision ops use for ``device_type`` in this thread."""
    _state.dtype[_check_device_type(device_type)] = D.to_dtype(dtype)


def is_autocast_cpu_enabled() -> bool:
    """Deprecated spelling of ``is_autocast_enabled("cpu")``."""
    return _state.enabled["cpu"]


def get_autocast_cpu_dtype() -> D.dtype:
    """Deprecated spelling of ``get_autocast_dtype("cpu")``."""
    return _state.dtype["cpu"]


def get_autocast_gpu_dtype() -> D.dtype:
    """Deprecated spelling of ``get_autocast_dtype("cuda")``."""
    return _state.dtype["cuda"]


def is_autocast_cache_enabled() -> bool:
    """Whether autocast caches the low-precision casts of parameters (this thread)."""
    return _state.cache_enabled


def set_autocast_cache_enabled(enabled: bool) -> None:
    """Turn the cast cache on or off for the autocast regions entered next (this thread)."""
    _state.cache_enabled = bool(enabled)


def clear_autocast_cache() -> None:
    """Forget the cached casts of parameters (done when the outermost autocast exits)."""
    _state.cache.clear()


class autocast:
    """``autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: a context manager
    (or decorator) in which the ops of PyTorch's autocast lists run in mixed precision.

    ``dtype`` defaults to float16 for "cuda" and "wgpu" and bfloat16 for "cpu". "wgpu" supports
    float16 only (WGSL has no bfloat16), and only where the adapter has the shader-f16 feature.
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled: bool | None = None):
        self.device = _check_device_type(device_type)
        self.fast_dtype = get_autocast_dtype(self.device) if dtype is None else D.to_dtype(dtype)
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None else bool(cache_enabled)
        enabled = bool(enabled)
        if enabled and self.device != "cpu" and not _available(self.device):
            what = (
                "CUDA is not available or torch_xla is imported" if self.device == "cuda" else "wgpu is not available"
            )
            warnings.warn(f"{what}. Disabling autocast.", stacklevel=2)
            enabled = False
        if enabled and self.device == "cuda" and self.fast_dtype is D.bfloat16:
            # CuPy has no bfloat16 arrays, so wgtorch's "cuda" device cannot hold the casts
            raise RuntimeError("Current CUDA Device does not support bfloat16. Please switch dtype to float16.")
        if enabled and self.fast_dtype not in _SUPPORTED[self.device]:
            if self.device == "wgpu" and self.fast_dtype is D.bfloat16:
                raise RuntimeError(
                    "wgpu does not support bfloat16 (WGSL has no bf16 type). Please switch dtype to float16."
                )
            names = {"cpu": "CPU", "cuda": "CUDA", "wgpu": "wgpu"}[self.device]
            warnings.warn(
                f"In {names} autocast, but the target dtype is not supported. Disabling autocast.\n"
                f"{names} Autocast only supports dtypes of "
                f"{', '.join('torch.' + d.name for d in _SUPPORTED[self.device])} currently.",
                stacklevel=2,
            )
            enabled = False
        if enabled and self.device == "wgpu":
            _check_wgpu_f16()
        self._enabled = enabled
        self._saved = []

    def __enter__(self):
        st = _state
        self._saved.append((st.enabled[self.device], st.dtype[self.device], st.cache_enabled))
        st.enabled[self.device] = self._enabled
        st.dtype[self.device] = self.fast_dtype
        st.cache_enabled = self._cache_enabled
        st.nesting += 1
        if self._enabled:
            if self.device != "cpu":
                _install_elementwise()
            with _lock:
                _active[0] += 1
        return self

    def __exit__(self, *exc):
        st = _state
        st.nesting -= 1
        if st.nesting == 0:
            st.cache.clear()
        st.enabled[self.device], st.dtype[self.device], st.cache_enabled = self._saved.pop()
        if self._enabled:
            with _lock:
                _active[0] -= 1
        return False

    def __call__(self, func):
        """As a decorator: ``func`` runs inside this autocast context."""

        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return decorate_autocast

    def __repr__(self) -> str:
        return f"autocast(device_type={self.device!r}, dtype={self.fast_dtype}, enabled={self._enabled})"


def _available(device_type: str) -> bool:
    return is_available("cuda" if device_type == "cuda" else "wgpu")


def _check_wgpu_f16() -> None:
    be = get_backend("wgpu")
    if "shader-f16" not in be.rt.features:
        raise RuntimeError(
            f"autocast('wgpu') computes in float16, which needs the shader-f16 feature; {be.rt.name} lacks it"
        )


# -- the op wrapper ------------------------------------------------------------------------------------
def _device_type(args, kwargs):
    for x in (*args, *kwargs.values()):
        if isinstance(x, TensorCore):
            return x.device.type
        if isinstance(x, (list, tuple)):
            for y in x:
                if isinstance(y, TensorCore):
                    return y.device.type
    return None


def _eligible(x, device_type) -> bool:
    return (
        isinstance(x, TensorCore)
        and x.dtype.is_floating_point
        and x.dtype is not D.float64
        and x.device.type == device_type
    )


def _cast(x, dt, device_type, low: bool):
    if isinstance(x, (list, tuple)):
        return type(x)(_cast(y, dt, device_type, low) for y in x)
    if not _eligible(x, device_type) or x.dtype is dt:
        return x
    st = _state
    if low and st.cache_enabled and x.dtype is D.float32 and x.requires_grad and x.is_leaf:
        hit = st.cache.get(id(x))
        if hit is not None and hit[0] is x and hit[1].dtype is dt:
            return hit[1]
        y = x.to(dt)
        st.cache[id(x)] = (x, y)  # (x kept alive, so its id is not reused while cached)
        return y
    return x.to(dt)


def _widest(args, kwargs, device_type):
    out = None
    for x in (*args, *kwargs.values()):
        for y in x if isinstance(x, (list, tuple)) else (x,):
            if _eligible(y, device_type):
                out = y.dtype if out is None else D._higher(out, y.dtype)
    return out


def autocast_op(fn=None, *, name: str | None = None):
    """Decorator: ``fn`` (named as in `POLICIES`) consults the autocast state when called."""
    if fn is None:
        return functools.partial(autocast_op, name=name)
    key = name or fn.__name__
    cuda_policy, cpu_policy = POLICIES[key]
    opt_dtype = key in _OPT_DTYPE

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not _active[0]:
            return fn(*args, **kwargs)
        st = _state
        if st.inside:
            return fn(*args, **kwargs)
        device_type = _device_type(args, kwargs)
        if device_type is None or not st.enabled.get(device_type):
            return fn(*args, **kwargs)
        policy = cpu_policy if device_type == "cpu" else cuda_policy
        if policy == BANNED:
            raise RuntimeError(_BANNED_MSG)
        # Off this device type's lists (or given a dtype=) the op runs as it is, but like PyTorch's
        # native op it does not autocast the ops it is built from (dot's matmul).
        dt = None
        if policy is None or (opt_dtype and kwargs.get("dtype") is not None):
            pass
        elif policy == LOW:
            dt = st.dtype[device_type]
        elif policy == FP32:
            dt = D.float32
        else:
            dt = _widest(args, kwargs, device_type)
        if dt is not None:
            args = [_cast(x, dt, device_type, policy == LOW) for x in args]
            kwargs = {k: _cast(v, dt, device_type, policy == LOW) for k, v in kwargs.items()}
        st.inside = True
        try:
            return fn(*args, **kwargs)
        finally:
            st.inside = False

    wrapper.__wrapped_autocast__ = key
    return wrapper


def autocast_names(namespace: dict, names=None) -> None:
    """Wrap the functions of ``namespace`` (a module's ``globals()``) whose names are in
    `POLICIES` (or in ``names``), once each: for functions a module re-exports from another."""
    for key in POLICIES if names is None else names:
        fn = namespace.get(key)
        if callable(fn) and not hasattr(fn, "__wrapped_autocast__"):
            namespace[key] = autocast_op(fn, name=key)


def autocast_attributes(owner) -> None:
    """Wrap the listed functions and methods that ``owner`` (the ``wgtorch`` module or
    ``Tensor``) binds and no decorator has wrapped (the non-elementwise ops of `POLICIES`), so an op
    module that forgot its decorator is still covered where programs call it."""
    for key in POLICIES:
        fn = getattr(owner, key, None)
        if key not in _ELEMENTWISE and callable(fn) and not hasattr(fn, "__wrapped_autocast__"):
            setattr(owner, key, autocast_op(fn, name=key))


_installed = [False]


def _install_elementwise() -> None:
    """Wrap the registry's elementwise ops of CUDA's float32/promote lists (``Tensor.exp``,
    ``x ** y``, ``wgtorch.exp`` ...), once, on the first "cuda"/"wgpu" autocast (cpu's lists
    hold none of them)."""
    if _installed[0]:
        return
    import wgtorch


    with _lock:
        if _installed[0]:
            return
        for name in _ELEMENTWISE:
            for owner in (wgtorch.Tensor, wgtorch):
                fn = getattr(owner, name, None)
                if callable(fn) and not hasattr(fn, "__wrapped_autocast__"):
                    setattr(owner, name, autocast_op(fn, name=name))
        for dunder in ("__pow__", "__rpow__"):
            fn = getattr(wgtorch.Tensor, dunder)
            if not hasattr(fn, "__wrapped_autocast__"):
                setattr(wgtorch.Tensor, dunder, autocast_op(fn, name="pow"))
        _installed[0] = True


__all__ = [
    "autocast",
    "autocast_op",
    "autocast_names",
    "is_autocast_available",
    "is_autocast_enabled",
    "get_autocast_dtype",
    "set_autocast_enabled",
    "set_autocast_dtype",
    "clear_autocast_cache",
    "is_autocast_cache_enabled",
    "set_autocast_cache_enabled",
    "POLICIES",
]
