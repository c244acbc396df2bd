"""Every elementwise op, declared once (`registry.Elementwise` says what each field means).

To add an op, add one entry here: its Tensor method, ``wgtorch.<name>`` function, in-place
variant, NumPy/CuPy and WGSL kernels, gradient, validator cases and tests all follow from it. A WGSL
helper too long for one expression goes in ``shaders/elementwise.wgsl``.
Gradients use tensor methods only; ``x.where(cond, other)`` is ``where(cond, x, other)``.
"""

from __future__ import annotations

import math

from .. import _dtype as D
from .registry import REGISTRY, TORCH_NAMES, Elementwise, define

_BOOL_NEG = ("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, "
             "use the `~` or `logical_not()` operator instead.")
_BOOL_SUB = ("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
             "`logical_xor()` operator instead.")
_FLOAT_ONLY = "fi"  # ints are lifted to the default float before compute, so only float compute remains


def _zeros(n, g, a, y):
    """Piecewise-constant ops (floor, sign ...): a zero gradient, as in PyTorch."""
    return (g.new_zeros(g.shape),)


def _gelu_grad(n, g, a, y):
    cdf = 0.5 * (1.0 + (a * 0.7071067811865476).erf())
    pdf = (a * a * -0.5).exp() * 0.3989422804014327
    return (g * (cdf + a * pdf),)


def _gelu_tanh_grad(n, g, a, y):
    k = 0.7978845608028654
    t = (k * (a + 0.044715 * a * a * a)).tanh()
    return (g * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * k * (1 + 3 * 0.044715 * a * a)),)


def _selu_grad(n, g, a, y):
    # scale·alpha·exp(x) below 0, as PyTorch's elu_backward (y + scale·alpha would cancel at large -x)
    return ((g * (_SELU_SCALE * _SELU_ALPHA) * a.exp()).where(a <= 0, g * _SELU_SCALE),)


def _silu_grad(n, g, a, y):
    s = a.sigmoid()
    return (g * s * (1 + a * (1 - s)),)


def _pow_grads(n, g, a, b, y):
    """d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log(a)."""
    ga = gb = None
    if n[0]:  # PyTorch: no gradient through x^0, even at x = 0
        if not hasattr(b, "shape"):
            ga = g.new_zeros(g.shape) if b == 0 else g * b * a.pow(b - 1)
        else:
            ga = (g * b * a.pow(b - 1)).where(b != 0, 0.0)
    if n[1]:  # and none to b where the base is 0 and b >= 0
        if hasattr(a, "shape"):  # (PyTorch: y * log(a) in the result dtype, an int base first cast to it)
            gb = (g * (y * a.to(y.dtype).log())).where(((a == 0) & (b >= 0)).logical_not(), 0.0)
        else:
            log_a = math.log(a) if a > 0 else float("-inf") if a == 0 else float("nan")
            gb = (g * y * log_a).where((b >= 0).logical_not(), 0.0) if a == 0 else g * y * log_a
    return ga, gb


def _max_grads(g, a, b, greater):
    """torch.maximum/minimum: the gradient goes to the larger (smaller) side, split on ties; a side
    gets none only where it strictly lost, so where either is NaN both get all of it (PyTorch's rule)."""
    share = (g * 0.5).where(a == b, g)
    lost_a, lost_b = ((a < b), (a > b)) if greater else ((a > b), (a < b))
    return share.where(lost_a.logical_not(), 0.0), share.where(lost_b.logical_not(), 0.0)


def _clamp_grads(n, g, a, lo, hi, y):
    """PyTorch's clamp gradient: x where lo <= x <= hi (ties included); a tensor bound where it
    won (lo only while lo < hi: where the bounds cross, hi wins)."""
    ga = g * ((a >= lo) & (a <= hi)) if n[0] else None
    glo = g.where((a < lo) & (lo < hi), 0.0) if n[1] else None
    ghi = g.where((a > hi) | (hi < lo), 0.0) if n[2] else None
    return ga, glo, ghi


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _mish_grad(n, g, a, y):
    t = _softplus(a).tanh()
    return (g * (t + a * a.sigmoid() * (1 - t * t)),)


def _softplus(a):
    return a.relu() + (-a.abs()).exp().log1p()


def _hardswish_grad(n, g, a, y):
    """0 up to -3, (x/3 + 0.5) inside (-3, 3), 1 from 3 on; NaN passes g on, as in PyTorch."""
    inside = (g * (a / 3 + 0.5)).where((a > -3) & (a < 3), g)
    return (inside.where((a <= -3).logical_not(), 0.0),)


def _float_tensors_only(kernel):
    """PyTorch's rule for lerp: its tensors must be floating point (a float weight does not lift)."""
    def promote(operands):
        for x in operands[:2]:
            dt = getattr(x, "dtype", None)
            if dt is not None and not dt.is_floating_point:
                raise NotImplementedError(f'"{kernel}" not implemented for \'{TORCH_NAMES[dt.name]}\'')
        t = D.result_type(*operands)
        return t, t

    return promote


def _float_refusing_bool(exc, message):
    """The dtype rule of a PyTorch composite: ints lift to the default float, bools raise."""
    def promote(operands):
        t = D.result_type(*operands)
        if t is D.bool_:
            raise exc(message)
        t = t if t.is_floating_point else D.get_default_dtype()
        return t, t

    return promote


def _square(x, g):
    """x * x as PyTorch's int64 square: on wgpu without shader-int64 (int64 kept in i32) it wraps past
    46341, so it is taken in float32 there and rounded to the gradient's dtype (as int64 + float rounds in PyTorch)."""
    if x.dtype is D.int64 and D.int64_is_narrow(x):  # (int32 wraps in PyTorch too)
        x = x.to(D.float32)
        return (x * x).to(g.dtype)
    return x * x


def _atan2_grads(n, g, a, b, y):
    """d/da = b / (a² + b²), d/db = -a / (a² + b²); 0 where a² + b² is 0 (PyTorch's masked form)."""
    den = _square(a, g) + _square(b, g)
    return (g * b / den).where(den != 0, 0.0), (-g * a / den).where(den != 0, 0.0)


def _softsign_dtypes(operands):
    t = D.result_type(*operands)
    if t is D.bool_:
        raise NotImplementedError('"abs_cpu" not implemented for \'Bool\'')
    if t.is_floating_point:
        return t, t
    wraps_i32 = t is D.int64 and any(D.int64_is_narrow(x) for x in operands)
    return (D.get_default_dtype() if wraps_i32 else t), D.get_default_dtype()


def _no_floor_divide_grad(n, g, a, b, y):
    raise RuntimeError("derivative for floor_divide is not implemented")


def _where_dtypes(operands):
    t = D.result_type(*operands[1:])
    return t, t


def _square_dtypes(operands):
    t = operands[0].dtype if len(operands) == 1 and hasattr(operands[0], "dtype") else D.result_type(*operands)
    t = D.int64 if t is D.bool_ else t  # PyTorch: square of bool is int64
    return t, t


def _U(name, doc, array, wgsl, wgsl_int=None, grad=None, **kw):
    return Elementwise(name, doc, array, wgsl, wgsl_int, grad, arity=1, **kw)


def _B(name, doc, array, wgsl, wgsl_int=None, grad=None, **kw):
    return Elementwise(name, doc, array, wgsl, wgsl_int, grad, arity=2, **kw)


def _F(name, doc, array, wgsl, grad, **kw):
    """A unary float function: integer inputs compute in the default float."""
    return _U(name, doc, array, wgsl, None, grad, result="float", accepts=_FLOAT_ONLY, inplace=True, **kw)


_NOT_BOOL = {"b": (NotImplementedError, None)}

define(
    # -- unary ------------------------------------------------------------------------------------
    _U("copy", "A copy of input, cast to the output dtype.", "copy(a)", "a", "a", lambda n, g, a, y: (g,),
       method=False, function=False),
    _U("neg", "-input.", "xp.negative", "-a", "-a", lambda n, g, a, y: (-g,), accepts="if",
       refuse={"b": (RuntimeError, _BOOL_NEG)}, inplace=True, aliases=("negative",)),
    # abs' gradient is sign(x) with sign(NaN) = 0, as in PyTorch.
    _U("abs", "|input|.", "xp.abs", "abs(a)", "abs(a)", lambda n, g, a, y: (g * (a > 0) - g * (a < 0),),
       accepts="if", inplace=True, aliases=("absolute",)),
    _F("exp", "e to the power of input.", "xp.exp", "exp(a)", lambda n, g, a, y: (g * y,)),
    _F("log", "The natural logarithm.", "xp.log", "log_(a)", lambda n, g, a, y: (g / a,)),
    _F("sqrt", "The square root.", "xp.sqrt", "sqrt(a)", lambda n, g, a, y: (g * 0.5 / y,)),
    _F("rsqrt", "1 / sqrt(input).", "1 / xp.sqrt(a)", "inverseSqrt(a)", lambda n, g, a, y: (g * -0.5 * y * y * y,)),
    _F("sin", "The sine.", "xp.sin", "sin_(a)", lambda n, g, a, y: (g * a.cos(),)),
    _F("cos", "The cosine.", "xp.cos", "cos_(a)", lambda n, g, a, y: (-g * a.sin(),)),
    _F("tanh", "The hyperbolic tangent.", "xp.tanh", "tanh_(a)", lambda n, g, a, y: (g * (1 - y * y),)),
    _F("sigmoid", "1 / (1 + exp(-input)).", "1 / (1 + xp.exp(-a))", "1.0 / (1.0 + exp(-a))",
       lambda n, g, a, y: (g * y * (1 - y),)),
    _F("reciprocal", "1 / input.", "1 / a", "1.0 / a", lambda n, g, a, y: (-g * y * y,)),
    _F("log1p", "log(1 + input), accurate for small input.", "xp.log1p", "log1p_(a)",
       lambda n, g, a, y: (g / (1 + a),)),
    _F("expm1", "exp(input) - 1, accurate for small input.", "xp.expm1", "expm1_(a)",
       lambda n, g, a, y: (g * (y + 1),)),
    _F("erf", "The error function.", "erf(a)", "erf_(a)",
       lambda n, g, a, y: (g * 1.1283791670955126 * (-a * a).exp(),)),
    _U("relu", "max(input, 0); NaN stays NaN.", "xp.maximum(a, a.dtype.type(0))", "select(0.0, a, !(a <= 0.0))",
       "max(a, TC(0))", lambda n, g, a, y: (g * (a <= 0).logical_not(),), accepts="if",  # NaN passes g on
       refuse={"b": (RuntimeError, "Boolean inputs not supported for relu")}, inplace=True),
    _U("gelu", "x·Φ(x) (exact, through erf).", "0.5 * a * (1 + erf(a * _f32_or_wider(a, 0.7071067811865476)))",
       "0.5 * a * (1.0 + erf_(a * 0.7071067811865476))", None, _gelu_grad, accepts="f", method=False,
       function=False),
    _U("gelu_tanh", "gelu by its tanh approximation.",
       "0.5 * a * (1 + xp.tanh(0.7978845608028654 * (a + 0.044715 * a * a * a)))",
       "0.5 * a * (1.0 + tanh_(0.7978845608028654 * (a + 0.044715 * a * a * a)))", None, _gelu_tanh_grad,
       accepts="f", method=False, function=False),
    _U("silu", "x·sigmoid(x).", "a / (1 + xp.exp(-a))", "a / (1.0 + exp(-a))", None, _silu_grad, accepts="f",
       function=False),
    _U("sign", "-1, 0 or 1 by the sign of input (0 for NaN, as in PyTorch).", "xp.where(a != a, 0, xp.sign(a))",
       "sign_f(a)", "sign(a)", _zeros,
       inplace=True),
    _U("floor", "Round down.", "xp.floor", "floor(a)", "a", _zeros, accepts="if", inplace=True),
    _U("ceil", "Round up.", "xp.ceil", "ceil(a)", "a", _zeros, accepts="if", inplace=True),
    _U("round", "Round half to even.", "xp.round", "round(a)", "a", _zeros, accepts="if", inplace=True),
    _U("trunc", "Round towards zero.", "xp.trunc", "trunc(a)", "a", _zeros, accepts="if", inplace=True,
       aliases=("fix",)),
    _U("square", "input * input.", "xp.square", "a * a", "a * a", lambda n, g, a, y: (2 * g * a,),
       promote=_square_dtypes, inplace=True),
    _U("isnan", "Whether each element is NaN.", "xp.isnan", "is_nan(a)", "false", result="bool"),
    _U("isinf", "Whether each element is ±inf.", "xp.isinf", "is_inf(a)", "false", result="bool"),
    _U("isfinite", "Whether each element is finite.", "xp.isfinite", "!(is_nan(a) || is_inf(a))", "true",
       result="bool"),
    _U("logical_not", "Whether each element is zero.", "xp.logical_not", "a == TC(0)", "a == TC(0)",
       result="bool", inplace=True),
    _F("tan", "The tangent.", "xp.tan", "tan_(a)", lambda n, g, a, y: (g * (1 + y * y),)),
    _F("asin", "The arcsine.", "xp.arcsin", "asin_(a)", lambda n, g, a, y: (g / (1 - a * a).sqrt(),),
       aliases=("arcsin",)),
    _F("acos", "The arccosine.", "xp.arccos", "acos_(a)", lambda n, g, a, y: (-g / (1 - a * a).sqrt(),),
       aliases=("arccos",)),
    _F("atan", "The arctangent.", "xp.arctan", "select(atan(a), a, is_nan(a))", lambda n, g, a, y: (g / (1 + a * a),),
       aliases=("arctan",)),
    _F("sinh", "The hyperbolic sine.", "xp.sinh", "sinh(a)", lambda n, g, a, y: (g * a.cosh(),)),
    _F("cosh", "The hyperbolic cosine.", "xp.cosh", "cosh(a)", lambda n, g, a, y: (g * a.sinh(),)),
    _F("asinh", "The inverse hyperbolic sine.", "xp.arcsinh", "asinh_(a)",
       lambda n, g, a, y: (g / (a * a + 1).sqrt(),), aliases=("arcsinh",)),
    _F("acosh", "The inverse hyperbolic cosine.", "xp.arccosh", "acosh_(a)",
       lambda n, g, a, y: (g / (a * a - 1).sqrt(),), aliases=("arccosh",)),
    _F("atanh", "The inverse hyperbolic tangent.", "xp.arctanh", "atanh(a)", lambda n, g, a, y: (g / (1 - a * a),),
       aliases=("arctanh",)),
    _F("log2", "The base-2 logarithm.", "xp.log2", "log_(a) * 1.4426950408889634",
       lambda n, g, a, y: (g / (a * 0.6931471805599453),)),
    _F("log10", "The base-10 logarithm.", "xp.log10", "log_(a) * 0.4342944819032518",
       lambda n, g, a, y: (g / (a * 2.302585092994046),)),
    _F("exp2", "2 to the power of input.", "xp.exp2", "exp2(a)", lambda n, g, a, y: (g * y * 0.6931471805599453,)),
    _F("deg2rad", "Degrees to radians.", "a * _f32_or_wider(a, 0.017453292519943295)", "a * 0.017453292519943295",
       lambda n, g, a, y: (g * 0.017453292519943295,)),
    _F("rad2deg", "Radians to degrees.", "a * _f32_or_wider(a, 57.29577951308232)", "a * 57.29577951308232",
       lambda n, g, a, y: (g * 57.29577951308232,)),
    _U("frac", "input - trunc(input) (the sign of input).", "a - xp.trunc(a)", "a - trunc(a)", None,
       lambda n, g, a, y: (g,), accepts="f", inplace=True),
    # -- activations of nn.functional (F.<name>; the parameters are positional here) ----------------
    _U("hardsigmoid", "relu6(x + 3) / 6.", "xp.minimum(xp.maximum(a + 3, 0), 6) / 6",
       "min_nan(max_nan(a + 3.0, 0.0), 6.0) / 6.0", None,
       lambda n, g, a, y: (g * ((a > -3) & (a < 3)) / 6,), accepts="f", method=False, function=False),
    _U("hardswish", "x · relu6(x + 3) / 6.", "a * xp.minimum(xp.maximum(a + 3, 0), 6) / 6",
       "a * min_nan(max_nan(a + 3.0, 0.0), 6.0) / 6.0", None,
       _hardswish_grad, accepts="f", method=False, function=False),
    _U("mish", "x · tanh(softplus(x)).", "a * xp.tanh(xp.logaddexp(0, a))",
       "a * tanh_(max(a, 0.0) + log1p_(exp(-abs(a))))", None, _mish_grad, accepts="f", method=False,
       function=False),
    _U("selu", "scale · (max(0, x) + min(0, alpha · (exp(x) - 1))), PyTorch's alpha and scale.",
       f"_f32_or_wider(a, {_SELU_SCALE}) * xp.where(a > 0, a, _f32_or_wider(a, {_SELU_ALPHA})"
       " * xp.expm1(xp.minimum(a, 0)))",
       f"{_SELU_SCALE} * select({_SELU_ALPHA} * expm1_(a), a, a > 0.0)", None,
       _selu_grad, accepts="f",
       method=False, function=False),
    # softsign and tanhshrink are compositions in PyTorch: ints lift to float, bools fail in abs / sub.
    # softsign of ints: PyTorch's |x| + 1 is integer arithmetic (wrapping at INT_MIN and INT_MAX of
    # int32), then a float division; so ints compute in their own type (but int64 stored as i32 on
    # wgpu, which would wrap).
    _U("softsign", "x / (1 + |x|).", "a / (1 + xp.abs(a))", "a / (1.0 + abs(a))", "f32(a) / f32(1 + abs(a))",
       lambda n, g, a, y: ((g / ((1 + a.abs()) * (1 + a.abs()))).where(a.isinf().logical_not(), math.nan),),
       result="float", promote=_softsign_dtypes,  # (NaN at +-inf, as PyTorch's composite: 0 - inf / inf)
       method=False, function=False),
    _U("tanhshrink", "x - tanh(x).", "a - xp.tanh(a)", "a - tanh_(a)", None,
       lambda n, g, a, y: (g * a.tanh() * a.tanh(),), result="float",
       promote=_float_refusing_bool(RuntimeError, _BOOL_SUB), method=False, function=False),
    _U("logsigmoid", "log(sigmoid(x)), stable for large |x|.", "xp.minimum(a, 0) - xp.log1p(xp.exp(-xp.abs(a)))",
       "min(a, 0.0) - log1p_(exp(-abs(a)))", None, lambda n, g, a, y: (g * (-a).sigmoid(),), accepts="f",
       method=False, function=False),
    # -- unary with scalar parameters (nn.functional's activations) --------------------------------
    Elementwise("softplus", "log(1 + exp(beta·x)) / beta, linear past threshold.",
                "xp.where(a * b > c, a, xp.logaddexp(0, a * b) / b)",
                "select((max(a * b, 0.0) + log1p_(exp(-abs(a * b)))) / b, a, a * b > c)", None,
                lambda n, g, a, beta, thr, y: (g.where(a * beta > thr, g * (a * beta).sigmoid()), None, None),
                arity=3, params=("beta", "threshold"), accepts="f", method=False, function=False),
    Elementwise("leaky_relu", "x for x ≥ 0, negative_slope·x below.", "xp.where(a >= 0, a, a * b)",
                "select(a * b, a, a >= 0.0)", None,
                lambda n, g, a, s, y: (g.where(a > 0, g * s), None),
                arity=2, params=("negative_slope",), accepts="f", method=False, function=False),
    Elementwise("elu", "x for x > 0, alpha·(exp(x) - 1) below.", "xp.where(a > 0, a, b * xp.expm1(xp.minimum(a, 0)))",
                "select(b * expm1_(a), a, a > 0.0)", None,
                lambda n, g, a, alpha, y: ((g * (y + alpha)).where(a <= 0, g), None),
                arity=2, params=("alpha",), accepts="f", method=False, function=False),
    Elementwise("hardtanh", "input limited to [min_val, max_val].", "xp.minimum(xp.maximum(a, b), c)",
                "min_nan(max_nan(a, b), c)", "min(max(a, b), c)",
                lambda n, g, a, lo, hi, y: (g * ((a <= lo) | (a >= hi)).logical_not(), None, None),
                arity=3, params=("min_val", "max_val"), accepts="if",
                refuse={"b": (RuntimeError, "Bool inputs not supported for hardtanh")}, method=False,
                function=False),
    Elementwise("celu", "max(0, x) + min(0, alpha · (exp(x / alpha) - 1)).",
                "xp.where(a > 0, a, b * xp.expm1(xp.minimum(a, 0) / b))", "select(b * expm1_(a / b), a, a > 0.0)",
                None, lambda n, g, a, alpha, y: ((g * (a / alpha).exp()).where(a <= 0, g), None),
                arity=2, params=("alpha",), accepts="f", method=False, function=False),
    Elementwise("hardshrink", "0 where -lambd <= x <= lambd, else x (NaN stays).",
                "xp.where((a >= -b) & (a <= b), 0, a)", "select(a, 0.0, a >= -b && a <= b)", None,
                lambda n, g, a, lambd, y: (g * ((a >= -lambd) & (a <= lambd)).logical_not(), None),
                arity=2, params=("lambd",), accepts="f", method=False, function=False),
    Elementwise("softshrink", "0 where -lambd <= x <= lambd, else x ∓ lambd (NaN stays).",
                "xp.where((a >= -b) & (a <= b), 0, xp.where(a > 0, a - b, a + b))",
                "select(select(a + b, a - b, a > 0.0), 0.0, a >= -b && a <= b)", None,
                lambda n, g, a, lambd, y: (g * ((a >= -lambd) & (a <= lambd)).logical_not(), None),
                arity=2, params=("lambd",), accepts="f", method=False, function=False),
    Elementwise("threshold", "value where x <= threshold, else x (NaN stays).", "xp.where(a <= b, c, a)",
                "select(a, c, a <= b)", "select(a, c, a <= b)",
                lambda n, g, a, thr, value, y: (g * (a <= thr).logical_not(), None, None),
                arity=3, params=("threshold", "value"), accepts="if", refuse=_NOT_BOOL, method=False,
                function=False),
    # -- binary (either side may be a Python scalar) ----------------------------------------------
    _B("add", "input + other.", "xp.add", "a + b", "a + b", lambda n, g, a, b, y: (g, g), function=False,
       inplace=True),
    _B("sub", "input - other.", "xp.subtract", "a - b", "a - b", lambda n, g, a, b, y: (g, -g if n[1] else None),
       accepts="if", refuse={"b": (RuntimeError, _BOOL_SUB)}, function=False, inplace=True,
       aliases=("subtract",)),
    _B("mul", "input * other.", "xp.multiply", "a * b", "a * b",
       lambda n, g, a, b, y: (g * b if n[0] else None, g * a if n[1] else None), inplace=True,
       aliases=("multiply",)),
    _B("div", "input / other (true division).", "xp.true_divide", "a / b", None,
       # (other's as PyTorch's div_tensor_other_backward rounds it: -g * ((a / b) / b))
       lambda n, g, a, b, y: (g / b if n[0] else None, -g * (y / b) if n[1] else None), result="float",
       accepts=_FLOAT_ONLY, inplace=True, aliases=("divide", "true_divide")),
    _B("pow", "input to the power of other.", "ipow(a, b)", "pow_(a, b)", "TC(ipow_(i32(a), i32(b)))", _pow_grads,
       accepts="if", refuse=_NOT_BOOL, inplace=True),
    _B("maximum", "The larger of input and other; NaN propagates.", "xp.maximum", "max_nan(a, b)", "max(a, b)",
       lambda n, g, a, b, y: _max_grads(g, a, b, True)),
    _B("minimum", "The smaller of input and other; NaN propagates.", "xp.minimum", "min_nan(a, b)", "min(a, b)",
       lambda n, g, a, b, y: _max_grads(g, a, b, False)),
    _B("floor_divide", "floor(input / other).", "xp.floor_divide", "floordiv_f(a, b)",
       "TC(floordiv_i(i32(a), i32(b)))", _no_floor_divide_grad, accepts="if", refuse=_NOT_BOOL, inplace=True,
       divides=True),
    _B("remainder", "input - floor(input / other) * other (the sign of other, as Python's %).", "xp.remainder",
       "rem_f(a, b)", "TC(rem_i(i32(a), i32(b)))",
       lambda n, g, a, b, y: (g if n[0] else None, -g * a.floor_divide(b) if n[1] else None), accepts="if",
       refuse=_NOT_BOOL, inplace=True, divides=True),
    _B("atan2", "The angle of (other, input), in (-π, π].", "xp.arctan2", "atan2_(a, b)", None,
       _atan2_grads, result="float",
       accepts=_FLOAT_ONLY, inplace=True, aliases=("arctan2",)),
    _B("fmod", "C's fmod: input - trunc(input / other) * other (the sign of input).", "xp.fmod", "fmod_(a, b)",
       "a % b", lambda n, g, a, b, y: (g if n[0] else None, -g * (a / b).trunc() if n[1] else None),
       accepts="if", refuse=_NOT_BOOL, inplace=True, divides=True),
    _B("copysign", "|input| with the sign of other.", "xp.copysign", "copysign_(a, b)", None,
       lambda n, g, a, b, y: ((g * y / a).where(a != 0, 0.0) if n[0] else None,
                              g.new_zeros(g.shape) if n[1] else None),
       result="float", accepts=_FLOAT_ONLY, inplace=True),
    _B("hypot", "sqrt(input² + other²).", "xp.hypot", "hypot_(a, b)", None,
       lambda n, g, a, b, y: (g * a / y if n[0] else None, g * b / y if n[1] else None), accepts="f",
       inplace=True),
    # (PyTorch's gradient form: finite where one side is infinite and the other not)
    _B("logaddexp", "log(exp(input) + exp(other)), stable.", "xp.logaddexp", "logaddexp_(a, b)", None,
       lambda n, g, a, b, y: (g / (1 + (b - a).exp()) if n[0] else None, g / (1 + (a - b).exp()) if n[1] else None),
       accepts="f"),
    _B("xlogy", "input · log(other), 0 where input is 0 (unless other is NaN).",
       "xp.where((a == 0) & ~xp.isnan(b), 0, a * xp.log(b))", "select(a * log(b), 0.0, a == 0.0 && !is_nan(b))",
       None, lambda n, g, a, b, y: (g.xlogy(b).masked_fill((a == 0) & (b <= 0), 0) if n[0] else None,
                                    g * a / b if n[1] else None),
       result="float", accepts=_FLOAT_ONLY, inplace=True),
    _B("bitwise_and", "input & other (logical for bool).", "xp.bitwise_and", None, "a & b", accepts="bi",
       inplace=True),
    _B("bitwise_or", "input | other (logical for bool).", "xp.bitwise_or", None, "a | b", accepts="bi", inplace=True),
    _B("bitwise_xor", "input ^ other (logical for bool).", "xp.bitwise_xor", None, "a ^ b", accepts="bi",
       inplace=True),
    # naga emits an ordered != (false on NaN), so float `ne` is written as not-equal.
    _B("eq", "input == other.", "xp.equal", "a == b", "a == b", result="bool", inplace=True),
    _B("ne", "input != other.", "xp.not_equal", "!(a == b)", "a != b", result="bool", inplace=True,
       aliases=("not_equal",)),
    _B("lt", "input < other.", "xp.less", "a < b", "a < b", result="bool", inplace=True, aliases=("less",)),
    _B("le", "input <= other.", "xp.less_equal", "a <= b", "a <= b", result="bool", inplace=True,
       aliases=("less_equal",)),
    _B("gt", "input > other.", "xp.greater", "a > b", "a > b", result="bool", inplace=True, aliases=("greater",)),
    _B("ge", "input >= other.", "xp.greater_equal", "a >= b", "a >= b", result="bool", inplace=True,
       aliases=("greater_equal",)),
    # !(x == 0), not x != 0: NaN is truthy, and != is an ordered comparison on some drivers.
    _B("logical_and", "Whether both are non-zero.", "xp.logical_and", "!(a == TC(0)) && !(b == TC(0))",
       "(a != TC(0)) && (b != TC(0))", result="bool", inplace=True),
    _B("logical_or", "Whether either is non-zero.", "xp.logical_or", "!(a == TC(0)) || !(b == TC(0))",
       "(a != TC(0)) || (b != TC(0))", result="bool", inplace=True),
    _B("logical_xor", "Whether exactly one is non-zero.", "xp.logical_xor", "!(a == TC(0)) != !(b == TC(0))",
       "(a != TC(0)) != (b != TC(0))", result="bool", inplace=True),
    # -- ternary ------------------------------------------------------------------------------------
    Elementwise("where", "input where condition, else other (the condition is bool).", "where(a, b, c)",
                "select(c, b, !(a == TC(0)))", "select(c, b, a != TC(0))",
                lambda n, g, c, a, b, y: (None, g.where(c, 0.0), g.where(c.logical_not(), 0.0)),
                arity=3, promote=_where_dtypes, method=False, function=False),
    # PyTorch's two-sided form with a fused multiply-add: exact at weight 0 and 1, its NaN/Inf
    # cases, and no overflow in the product for huge operands (fma(w - 1, end - start, end)).
    Elementwise("lerp", "input + weight · (end - input).", "lerp(a, b, c)",
                "lerp_(a, b, c)", None,
                lambda n, g, a, b, w, y: (g * (1 - w), g * w, g * (b - a)), arity=3, accepts="f",
                promote=_float_tensors_only("lerp_kernel_scalar"), wide=(2,), inplace=True),
    # clamp's bounds are operands (tensors or scalars); the front end fills a missing one with the
    # dtype's extreme. min(max(x, lo), hi): NaN anywhere propagates, crossed bounds give hi.
    # (a bound replaces x only where it is strictly past it, so clamp(-0.0, min=0) is -0.0, as in PyTorch)
    Elementwise("clamp", "input limited to [min, max]; NaN stays NaN.",
                "xp.where((xp.where((a < b) | (b != b), b, a) > c) | (c != c), c, xp.where((a < b) | (b != b), b, a))",
                "select(select(a, b, a < b || is_nan(b)), c, select(a, b, a < b || is_nan(b)) > c || is_nan(c))",
                "min(max(a, b), c)", _clamp_grads, arity=3, accepts="if",
                refuse=_NOT_BOOL, method=False, function=False),
)

#: every elementwise op, by name.
OPS = REGISTRY
#: ops whose result is bool whatever the compute dtype.
PREDICATES = frozenset(name for name, op in OPS.items() if op.result == "bool")

# -- gcd, lcm, logaddexp2 (randmisc) ---------------------------------------------------------------
_LCM = "xp.abs(xp.where(xp.gcd(a, b) == 0, 0, a // xp.where(xp.gcd(a, b) == 0, 1, xp.gcd(a, b)) * b))"
define(
    # Euclid's algorithm on |a|, |b| (WGSL loop in shaders/elementwise.wgsl), as PyTorch's calc_gcd.
    _B("gcd", "The greatest common divisor of |input| and |other| (0 for gcd(0, 0)).", "igcd(a, b)", None,
       "TC(gcd_i(i32(a), i32(b)))", accepts="i", inplace=True),
    # |a / gcd * b|, wrapping on overflow as PyTorch's does
    _B("lcm", "The least common multiple of |input| and |other| (0 if either is 0).", _LCM, None,
       "TC(lcm_i(i32(a), i32(b)))", accepts="i", inplace=True),
    # (PyTorch's gradient form, as logaddexp's: finite where one side is infinite and the other not)
    _B("logaddexp2", "log2(2**input + 2**other), stable.", "xp.logaddexp2", "logaddexp2_(a, b)", None,
       lambda n, g, a, b, y: (g / (1 + (b - a).exp2()) if n[0] else None, g / (1 + (a - b).exp2()) if n[1] else None),
       accepts="f"),
)

_C10_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16"}
_lerp_base_promote = REGISTRY["lerp"].promote


def _lerp_promote(operands):
    """PyTorch's lerp does not promote: end, and a weight tensor with dimensions, must have
    input's dtype (a 0-d weight may differ); the result has input's dtype."""
    compute = _lerp_base_promote(operands)
    dt = getattr(operands[0], "dtype", None)
    if dt is None:
        return compute
    for label, x, zero_dim_ok in (("end", operands[1], False), ("weight", operands[2], True)):
        other = getattr(x, "dtype", None)
        if other is not None and other is not dt and not (zero_dim_ok and x.ndim == 0):
            raise RuntimeError(f"expected dtype {_C10_NAMES.get(dt.name, dt.name)} for `{label}` but got dtype "
                               f"{_C10_NAMES.get(other.name, other.name)}")
    return dt, dt


REGISTRY["lerp"].promote = _lerp_promote
