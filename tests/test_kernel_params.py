"""Kernel parameter blocks (`_backends/wgpu/params.py`) and the shared prelude (`shaders/prelude.wgsl`):
one declaration gives the WGSL struct and the host packing, and the GPU reads what the host wrote."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import wgtorch as torch
from wgtorch._backends.wgpu import elementwise, index, matmul, nn, optim, random, reduce, rnn
from wgtorch._backends.wgpu.kernels import PRELUDE, families, family_source
from wgtorch._backends.wgpu.params import ParamBlock
from wgtorch._device import get_backend

FAMILY_BLOCKS = [elementwise.PARAMS, matmul.PARAMS, nn.PARAMS, optim.PARAMS, random.PARAMS, rnn.PARAMS,
                 reduce.PARAMS, index.PARAMS]


def test_a_block_packs_as_declared():
    block = ParamBlock("n: u32", "lo: i32", "_pad0: u32", "_pad1: u32", "v: vec4<f32>", "s: array<array<u32, 2>, 3>")
    assert block.struct.format == "<IiIIffffIIIIII" and block.size == 56
    assert "struct Meta {" in block.wgsl and "v: vec4<f32>," in block.wgsl
    assert "var<storage, read> P: Meta" in block.wgsl
    assert block.through("v").size == 32


def test_a_misaligned_field_is_refused():
    with pytest.raises(ValueError, match="alignment 16"):
        ParamBlock("n: u32", "v: vec4<f32>")
    with pytest.raises(ValueError, match="not 'f16'"):
        ParamBlock("h: f16")


def test_family_blocks_are_the_packings_the_kernels_were_written_for():
    assert elementwise.META.format == "<" + "IIII" + "f" * 4 + "i" * 4 + "I" * 8 + "I" * 4 + "I" * 32
    assert nn.META.format == "<" + "I" * 12 + "i" + "III" + "ffff"
    assert reduce.META.format == "<" + "I" * 8 + "I" * 40  # 8 scalars, 5 arrays of 8
    assert index.META.format == "<" + "I" * 8 + "I" * 4 + "I" * 8 + "I" * 24
    for block in FAMILY_BLOCKS:
        assert block.struct.size <= 256  # one slot of the runtime's parameter ring


def test_no_family_declares_its_own_meta_or_prelude_helpers():
    from wgtorch._backends.wgpu.kernels import _F32_ONLY, _F64_BLOCK

    prelude = family_source(PRELUDE)
    f64_block = _F64_BLOCK.search(prelude).group(1)

    def names(text):
        return [line.split("(")[0] for line in text.splitlines() if line.startswith("fn ")]

    helpers, f64_helpers = names(_F64_BLOCK.sub("", prelude)), names(f64_block)
    assert PRELUDE not in families()
    for family in families():
        src = family_source(family)
        for helper in helpers:
            assert f"\n{helper}(" not in src, f"{family}.wgsl defines {helper} again (it is in {PRELUDE}.wgsl)"
        # the f64 block's helpers have f32 twins in a family's //@f32 sections (dropped in f64 kernels)
        for helper in f64_helpers:
            assert f"\n{helper}(" not in _F32_ONLY.sub("", src), f"{family}.wgsl defines {helper} outside //@f32"
    for family in ("elementwise", "matmul", "nn", "optim", "random", "rnn", "reduce", "index"):
        assert "struct Meta {" not in family_source(family), family


def test_the_gpu_reads_every_field_as_the_host_packed_it(wgpu_device):
    """A kernel that copies each parameter word to its output: host layout == WGSL layout."""
    block = ParamBlock("off: u32", "b: i32", "c: f32", "d: u32", "v: vec4<f32>", "w: array<u32, 3>", "x: f32",
                       "m: array<array<i32, 2>, 2>")
    words = ["P.off", "bitcast<u32>(P.b)", "bitcast<u32>(P.c)", "P.d"] + \
        [f"bitcast<u32>(P.v[{k}])" for k in range(4)] + [f"P.w[{k}]" for k in range(3)] + \
        ["bitcast<u32>(P.x)"] + [f"bitcast<u32>(P.m[{i}][{j}])" for i in range(2) for j in range(2)]
    body = "\n".join(f"    out[P.off + {k}u] = {w};" for k, w in enumerate(words))
    source = (block.wgsl + "@group(0) @binding(1) var<storage, read_write> out: array<u32>;\n"
              f"@compute @workgroup_size(1)\nfn main() {{\n{body}\n}}\n")
    be = get_backend("wgpu")
    out = be.empty((len(words),), torch.int32)  # sub-allocated: the kernel writes from its offset
    values = [out.offset, -3, 1.5, 2**31 + 5, 0.25, -0.5, 8.0, 1e-3, 11, 12, 13, -2.5, -7, 8, 9, -10]
    p = be.rt.pipeline(("test-params", source), lambda: source, ("rw",), "test:params")
    be.rt.dispatch(p, (out.buffer,), block.struct, values, 1)
    got = be.to_numpy(out).view(np.uint32)
    np.testing.assert_array_equal(got, np.frombuffer(struct.pack(block.struct.format, *values), np.uint32))


def test_index_kernels_are_sections_of_their_family():
    """index.wgsl keeps one `//@kernel` section per store variant (no snippets cut from comments),
    and each specialised kernel holds exactly one `store`."""
    src = family_source("index")
    assert "//!" not in src and "/*" not in src
    for op, dt, to, ti in [("gather", torch.float32, "f32", "i32"), ("index_select", torch.int32, "i32", "i64"),
                           ("scatter_add", torch.float32, "f32", "i32"), ("scatter_add", torch.float16, "f16", "i64"),
                           ("scatter_add", torch.int64, "i32", "i32"), ("scatter_add", torch.int64, "i64", "i64"),
                           ("scatter_add", torch.bool, "u32", "i32")]:
        section = index._store_section(op, dt, to)
        assert f"//@kernel {section}\n" in src
        kernel = index._source(op, dt, to, ti, 2)
        assert kernel.count("fn store(") == 1 and "\n//@kernel" not in kernel and "struct Meta {" in kernel
        # i64 text only in kernels that use i64 (WGSL without shader-int64 cannot compile it)
        code = "\n".join(line.split("//")[0] for line in kernel.splitlines())
        assert ("i64" in code) == ("i64" in (to, ti)), (op, to, ti)


def test_an_unknown_section_is_refused():
    from wgtorch._backends.wgpu.kernels import specialise

    with pytest.raises(KeyError, match="no kernel section 'nope'"):
        specialise("index", {"TO": "f32", "TOUT": "f32"}, {"NDIM": 1, "WG": 64}, section="nope")
