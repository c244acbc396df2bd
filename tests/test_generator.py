"""wgtorch.Generator: seeding, state, independence from the global stream, ``generator=`` on
the random functions, and PyTorch's errors (checked against torch on the same inputs)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch as pt

import wgtorch as torch
from wgtorch import _dtype as D
from wgtorch._backends.random import generate


def _raises_like_torch(fn_wg, fn_pt):
    with pytest.raises(Exception) as expected:
        fn_pt()
    with pytest.raises(type(expected.value)) as got:
        fn_wg()
    return str(expected.value), str(got.value)


def test_defaults_and_manual_seed():
    g = torch.Generator()
    assert g.initial_seed() == pt.Generator().initial_seed()
    assert g.device == torch.device("cpu") and str(g.device) == str(pt.Generator().device)
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    for seed in (-1, -(2**63), 2**64 - 1, 0, 12345):
        assert g.manual_seed(seed).initial_seed() == pt.Generator().manual_seed(seed).initial_seed()
    assert torch.manual_seed(9) is torch.default_generator
    assert torch.initial_seed() == torch.default_generator.initial_seed() == 9


def test_seed_is_nondeterministic_and_sets_initial_seed():
    g = torch.Generator()
    s1, s2 = g.seed(), g.seed()
    assert 0 <= s1 < 2**64 and s1 != s2 and g.initial_seed() == s2
    s = torch.seed()
    assert torch.initial_seed() == s


@pytest.mark.parametrize("bad", ["a", 2**64, -(2**63) - 1, 1.5])
def test_manual_seed_errors_like_torch(bad):
    _raises_like_torch(lambda: torch.Generator().manual_seed(bad), lambda: pt.Generator().manual_seed(bad))


def test_same_stream_as_global_and_independent_of_it(device):
    torch.manual_seed(11)
    ref = torch.rand(7, device=device).numpy()
    g = torch.Generator(device=device).manual_seed(11)
    torch.manual_seed(11)
    np.testing.assert_array_equal(torch.rand(7, generator=g, device=device).numpy(), ref)
    np.testing.assert_array_equal(torch.rand(7, device=device).numpy(), ref)  # the global one did not move
    np.testing.assert_array_equal(torch.rand(7, generator=g.manual_seed(11), device=device).numpy(), ref)
    # the second draw of g continues its own stream: block 2, as after a 7-number draw
    np.testing.assert_array_equal(torch.rand(3, generator=g, device=device).numpy(),
                                  generate("uniform", 3, 11, 8, 0.0, 1.0, D.float32))


def test_every_random_function_takes_a_generator(device):
    fns = {
        "rand": lambda g: torch.rand(2, 3, generator=g, device=device),
        "randn": lambda g: torch.randn(5, generator=g, device=device),
        "randint": lambda g: torch.randint(3, 9, (6,), generator=g, device=device),
        "randint_high": lambda g: torch.randint(4, (6,), generator=g, device=device),
        "randint_keywords": lambda g: torch.randint(high=4, size=(6,), generator=g, device=device),
        "randperm": lambda g: torch.randperm(10, generator=g, device=device),
        "rand_like": lambda g: torch.rand_like(torch.zeros(4, device=device), generator=g),
        "randn_like": lambda g: torch.randn_like(torch.zeros(4, device=device), generator=g),
    }
    for name, fn in fns.items():
        a = fn(torch.Generator(device).manual_seed(1)).numpy()
        b = fn(torch.Generator(device).manual_seed(1)).numpy()
        c = fn(torch.Generator(device).manual_seed(2)).numpy()
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert not np.array_equal(a, c), name
    perm = torch.randperm(10, generator=torch.Generator(device).manual_seed(1), device=device)
    assert perm.dtype is torch.int64 and sorted(perm.tolist()) == list(range(10))
    assert torch.randperm(0, device=device).shape == (0,)


def test_cpu_and_wgpu_generators_give_the_same_numbers(wgpu_device):
    a = torch.rand(33, generator=torch.Generator("cpu").manual_seed(4)).numpy()
    b = torch.rand(33, generator=torch.Generator(wgpu_device).manual_seed(4), device=wgpu_device).numpy()
    np.testing.assert_array_equal(a, b)
    p = torch.randperm(20, generator=torch.Generator("cpu").manual_seed(4)).tolist()
    q = torch.randperm(20, generator=torch.Generator(wgpu_device).manual_seed(4), device=wgpu_device).tolist()
    assert p == q


def test_generator_device_must_match(wgpu_device):
    with pytest.raises(RuntimeError, match="Expected a 'wgpu' device type for generator but found 'cpu'"):
        torch.rand(3, generator=torch.Generator(), device=wgpu_device)
    with pytest.raises(RuntimeError, match="Expected a 'cpu' device type for generator but found 'wgpu'"):
        torch.randperm(3, generator=torch.Generator(wgpu_device))
    torch.rand(3, generator=torch.default_generator, device=wgpu_device)  # the global one serves every device


def test_not_a_generator_is_a_type_error():
    with pytest.raises(TypeError):
        pt.rand(3, generator=1)
    with pytest.raises(TypeError, match="argument 'generator' must be wgtorch.Generator, not int"):
        torch.rand(3, generator=1)
    with pytest.raises(TypeError):
        torch.randperm(3, generator=np.random.default_rng(0))


def test_randperm_negative_like_torch():
    expect, got = _raises_like_torch(lambda: torch.randperm(-1), lambda: pt.randperm(-1))
    assert got == expect


def test_full_64_bit_seed_is_used():
    a = torch.rand(8, generator=torch.Generator().manual_seed(3)).numpy()
    b = torch.rand(8, generator=torch.Generator().manual_seed(2**40 + 3)).numpy()
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(b, generate("uniform", 8, 2**40 + 3, 0, 0.0, 1.0, D.float32))


def test_get_state_set_state_round_trip():
    g = torch.Generator().manual_seed(21)
    torch.rand(5, generator=g)
    state = g.get_state()
    assert state.dtype is torch.uint8 and tuple(state.shape) == (16,) and state.device == torch.device("cpu")
    after = torch.randn(9, generator=g).numpy()
    torch.rand(100, generator=g)
    assert g.set_state(state) is g
    np.testing.assert_array_equal(torch.randn(9, generator=g).numpy(), after)
    other = torch.Generator().set_state(state)
    assert other.initial_seed() == 21
    np.testing.assert_array_equal(torch.randn(9, generator=other).numpy(), after)


def test_set_state_errors_like_torch():
    for bad_wg, bad_pt in [([1, 2], [1, 2]),
                           (torch.zeros(16), pt.zeros(16)),
                           (torch.zeros(3, dtype=torch.uint8), pt.zeros(3, dtype=pt.uint8))]:
        _raises_like_torch(lambda bad=bad_wg: torch.Generator().set_state(bad),
                           lambda bad=bad_pt: pt.Generator().set_state(bad))


def test_pickle_and_deepcopy_keep_the_stream():
    g = torch.Generator().manual_seed(8)
    torch.rand(3, generator=g)
    for clone in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g)):
        assert clone is not g and clone.initial_seed() == 8
        np.testing.assert_array_equal(torch.rand(4, generator=clone).numpy(),
                                      torch.rand(4, generator=copy.deepcopy(g)).numpy())


def test_nn_init_draws_from_a_given_generator(device):
    g = torch.Generator(device=device).manual_seed(3)
    a = torch.nn.init.uniform_(torch.empty(5, device=device), generator=g)
    g.manual_seed(3)
    b = torch.nn.init.normal_(torch.empty(5, device=device), generator=g)
    g.manual_seed(3)
    assert torch.nn.init.uniform_(torch.empty(5, device=device), generator=g).tolist() == a.tolist()
    assert b.tolist() != a.tolist()
