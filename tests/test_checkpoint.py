"""wgtorch.save / wgtorch.load in PyTorch's checkpoint format: files written by PyTorch load in
wgtorch (without importing torch), files written by wgtorch load in PyTorch (weights_only too),
wgtorch round trips on cpu and wgpu, shared storage, dtypes, map_location, and optimizers that
continue where they stopped, on another device."""

from __future__ import annotations

import collections
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import wgtorch
from wgtorch.serialization import TypedStorage

from .helpers import assert_close

ROOT = Path(__file__).resolve().parents[1]
# (torch dtype name, NumPy dtype) of every dtype wgtorch has.
DTYPES = [("float32", np.float32), ("float64", np.float64), ("float16", np.float16), ("int64", np.int64),
          ("int32", np.int32), ("uint8", np.uint8), ("bool", np.bool_)]


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is needed to write or read its files in these tests")


def _values(np_dtype, n=12):
    rng = np.random.default_rng(3)
    if np_dtype == np.bool_:
        return rng.integers(0, 2, n).astype(bool)
    if np.issubdtype(np_dtype, np.integer):
        info = np.iinfo(np_dtype)
        return np.concatenate([[info.min, info.max], rng.integers(-100 if info.min else 0, 100, n - 2)]) \
            .astype(np_dtype)
    return np.concatenate([[np.inf, -0.0], rng.standard_normal(n - 2)]).astype(np_dtype)


def _torch_bytes(obj):
    torch = _torch()
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _ours_bytes(obj):
    buf = io.BytesIO()
    wgtorch.save(obj, buf)
    return buf.getvalue()


def _torch_load(data, weights_only=True):
    return _torch().load(io.BytesIO(data), weights_only=weights_only)


# -- files written by PyTorch --------------------------------------------------------------------
@pytest.mark.parametrize("name,np_dtype", DTYPES)
def test_torch_file_every_dtype(name, np_dtype):
    torch = _torch()
    arr = _values(np_dtype).reshape(3, 4)
    loaded = wgtorch.load(io.BytesIO(_torch_bytes({"x": torch.from_numpy(arr.copy())})))
    assert loaded["x"].dtype is getattr(wgtorch, "bool" if name == "bool" else name)
    assert_close(loaded["x"], arr, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["int8", "int16", "complex64"])  # (bfloat16: tests/test_bfloat16.py)
def test_torch_file_with_a_dtype_wgtorch_lacks_names_it(name):
    torch = _torch()
    data = _torch_bytes({"x": torch.ones(3, dtype=getattr(torch, name))})
    with pytest.raises(TypeError, match=f"torch.{name}, which wgtorch does not have"):
        wgtorch.load(io.BytesIO(data))
    with pytest.raises(TypeError, match=f"torch.{name}, which wgtorch does not have"):
        wgtorch.load(io.BytesIO(_torch_bytes({"dtype": getattr(torch, name)})))


def test_torch_file_views_share_storage_after_loading(device):
    torch = _torch()
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = {"base": base, "t": base.t(), "corner": base[1:, 2:], "every_other": base[:, ::2],
             "row": base[2], "scalar": base[3, 5], "expanded": base[0, :1].expand(3, 4)}
    loaded = wgtorch.load(io.BytesIO(_torch_bytes(views)), map_location=device)
    for k, v in views.items():
        got = loaded[k]
        assert got.device.type == device and tuple(got.shape) == tuple(v.shape), k
        assert got.stride() == v.stride(), k
        assert_close(got, v.numpy(), rtol=0, atol=0)
    assert not loaded["t"].is_contiguous() and loaded["scalar"].ndim == 0
    loaded["base"][3, 5] = -1.0  # one storage again: every view sees the write
    assert loaded["scalar"].item() == -1.0 and loaded["t"][5, 3].item() == -1.0
    assert loaded["corner"][2, 3].item() == -1.0


def test_torch_file_nested_checkpoint():
    torch = _torch()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    ckpt = {"epoch": 7, "loss": 0.125, "name": "run-1", "history": [1.5, 0.75, (2, "x")], "best": None,
            "cfg": {"layers": [3, 4, 2], "act": "relu", "dropout": False, "shape": torch.Size([2, 3]),
                    "dtype": torch.float16, "device": torch.device("cpu")},
            "counts": collections.OrderedDict(a=1, b=2), "empty": torch.zeros(0, 3), "zero_d": torch.tensor(2.5),
            "model": model.state_dict()}
    loaded = wgtorch.load(io.BytesIO(_torch_bytes(ckpt)))
    for k in ("epoch", "loss", "name", "history", "best", "counts"):
        assert loaded[k] == ckpt[k] and type(loaded[k]) is type(ckpt[k]), k
    cfg = loaded["cfg"]
    assert cfg["layers"] == [3, 4, 2] and cfg["act"] == "relu" and cfg["dropout"] is False
    assert cfg["shape"] == (2, 3) and isinstance(cfg["shape"], wgtorch.Size)
    assert cfg["dtype"] is wgtorch.float16 and cfg["device"] == wgtorch.device("cpu")
    assert tuple(loaded["empty"].shape) == (0, 3) and loaded["zero_d"].item() == 2.5
    assert list(loaded["model"]) == list(ckpt["model"])
    for k, v in ckpt["model"].items():
        assert_close(loaded["model"][k], v.numpy(), rtol=0, atol=0, dtype=wgtorch.float32)


def test_torch_state_dict_loads_into_the_same_wgtorch_model(device):
    torch = _torch()
    torch.manual_seed(1)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.LayerNorm(5), torch.nn.Linear(5, 2))
    nn = wgtorch.nn
    wm = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.LayerNorm(5), nn.Linear(5, 2)).to(device)
    wm.load_state_dict(wgtorch.load(io.BytesIO(_torch_bytes(tm.state_dict())), map_location=device))
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    expected = tm(torch.from_numpy(x)).detach().numpy()
    assert_close(wm(wgtorch.tensor(x, device=device)), expected, rtol=1e-5, atol=1e-6)


def test_torch_parameters_keep_requires_grad():
    torch = _torch()
    loaded = wgtorch.load(io.BytesIO(_torch_bytes({"p": torch.nn.Parameter(torch.ones(2)),
                                                   "g": torch.ones(2, requires_grad=True), "n": torch.ones(2)})))
    assert isinstance(loaded["p"], wgtorch.nn.Parameter) and loaded["p"].requires_grad
    assert loaded["g"].requires_grad and not isinstance(loaded["g"], wgtorch.nn.Parameter)
    assert not loaded["n"].requires_grad


def test_torch_optimizer_continues_in_wgtorch(device):
    torch = _torch()
    torch.manual_seed(2)
    tm = torch.nn.Linear(4, 3)
    topt = torch.optim.Adam(tm.parameters(), lr=0.05, betas=(0.8, 0.95), weight_decay=0.01)
    x = torch.randn(8, 4)
    for _ in range(3):
        topt.zero_grad()
        tm(x).square().sum().backward()
        topt.step()
    data = _torch_bytes({"model": tm.state_dict(), "optim": topt.state_dict()})
    ckpt = wgtorch.load(io.BytesIO(data), map_location=device)
    wm = wgtorch.nn.Linear(4, 3).to(device)
    wm.load_state_dict(ckpt["model"])
    wopt = wgtorch.optim.Adam(wm.parameters(), lr=1.0)
    wopt.load_state_dict(ckpt["optim"])
    assert wopt.param_groups[0]["lr"] == 0.05 and wopt.param_groups[0]["betas"] == (0.8, 0.95)
    wx = wgtorch.tensor(x.numpy(), device=device)
    for _ in range(3):
        topt.zero_grad()
        tm(x).square().sum().backward()
        topt.step()
        wopt.zero_grad()
        wm(wx).square().sum().backward()
        wopt.step()
    assert_close(wm.weight, tm.weight.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert_close(wm.bias, tm.bias.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_torch_file_written_to_a_path(tmp_path):
    torch = _torch()
    path = tmp_path / "weights.pt"  # PyTorch names the archive's records after the file
    torch.save({"w": torch.ones(2, 2)}, path)
    assert zipfile.ZipFile(path).namelist()[0].startswith("weights/")
    assert_close(wgtorch.load(path)["w"], np.ones((2, 2)), rtol=0, atol=0)
    assert_close(wgtorch.load(str(path))["w"], np.ones((2, 2)), rtol=0, atol=0)


def test_torch_legacy_format_is_refused_clearly():
    torch = _torch()
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf, _use_new_zipfile_serialization=False)
    with pytest.raises(RuntimeError, match="legacy"):
        wgtorch.load(io.BytesIO(buf.getvalue()))


def test_loading_a_torch_file_does_not_import_torch(tmp_path):
    torch = _torch()
    base = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    torch.save({"w": base, "t": base.t(), "n": 3, "od": collections.OrderedDict(k=torch.tensor([True]))},
               tmp_path / "c.pt")
    script = (
        "import sys\n"
        "sys.modules['torch'] = None  # any import of torch now fails\n"
        "import wgtorch\n"
        f"ck = wgtorch.load({str(tmp_path / 'c.pt')!r})\n"
        f"ck2 = wgtorch.load({str(tmp_path / 'c.pt')!r}, weights_only=False)\n"
        "assert ck['t'].tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]] and ck['n'] == 3\n"
        "assert ck['od']['k'].dtype is wgtorch.bool and ck2['w'].dtype is wgtorch.float64\n"
        "assert sys.modules['torch'] is None\n"
        "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# -- files written by wgtorch, read by PyTorch ---------------------------------------------------
@pytest.mark.parametrize("weights_only", [True, False])
def test_our_file_loads_in_torch(device, weights_only):
    torch = _torch()
    base = wgtorch.arange(12, dtype=wgtorch.float32, device=device).reshape(3, 4)
    ckpt = {"base": base, "t": base.t(), "corner": base[1:, 1:], "zero_d": wgtorch.tensor(4, device=device),
            "empty": wgtorch.zeros(0, 2, device=device), "epoch": 3, "lr": 1e-3, "tag": "x", "pair": (1, 2),
            "cfg": collections.OrderedDict(dtype=wgtorch.float16, shape=base.shape, hidden=[8, 8])}
    got = _torch_load(_ours_bytes(ckpt), weights_only=weights_only)
    for k in ("base", "t", "corner", "zero_d", "empty"):
        assert isinstance(got[k], torch.Tensor) and tuple(got[k].shape) == tuple(ckpt[k].shape), k
        np.testing.assert_array_equal(got[k].numpy(), ckpt[k].numpy())
        if k != "empty":  # an empty tensor is written with contiguous strides
            assert got[k].stride() == ckpt[k].stride(), k
    assert got["t"].untyped_storage().data_ptr() == got["base"].untyped_storage().data_ptr()  # saved once
    assert got["epoch"] == 3 and got["lr"] == 1e-3 and got["tag"] == "x" and got["pair"] == (1, 2)
    assert type(got["cfg"]) is collections.OrderedDict and got["cfg"]["hidden"] == [8, 8]
    assert got["cfg"]["dtype"] is torch.float16 and got["cfg"]["shape"] == torch.Size([3, 4])


@pytest.mark.parametrize("name,np_dtype", DTYPES)
def test_our_file_every_dtype_in_torch(name, np_dtype):
    torch = _torch()
    arr = _values(np_dtype)
    got = _torch_load(_ours_bytes({"x": wgtorch.tensor(arr)}))["x"]
    assert got.dtype is getattr(torch, name)
    np.testing.assert_array_equal(got.numpy(), arr)


def test_our_state_dicts_load_into_torch(device):
    torch = _torch()
    nn = wgtorch.nn
    wgtorch.manual_seed(3)
    wm = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2)).to(device)
    wopt = wgtorch.optim.AdamW(wm.parameters(), lr=0.01)
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    for _ in range(2):
        wopt.zero_grad()
        wm(wgtorch.tensor(x, device=device)).square().sum().backward()
        wopt.step()
    got = _torch_load(_ours_bytes({"model": wm.state_dict(), "optim": wopt.state_dict()}))
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    tm.load_state_dict(got["model"])
    topt = torch.optim.AdamW(tm.parameters(), lr=0.5)
    topt.load_state_dict(got["optim"])  # PyTorch accepts our optimizer state as its own
    assert topt.param_groups[0]["lr"] == 0.01 and float(topt.state[tm[0].weight]["step"]) == 2.0
    expected = wm(wgtorch.tensor(x, device=device)).detach().numpy()
    np.testing.assert_allclose(tm(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_torch_can_memory_map_our_files(tmp_path):
    torch = _torch()
    # mmap needs every storage record aligned in the file, as PyTorch aligns them.
    wgtorch.save({"a": wgtorch.ones(3), "b": wgtorch.arange(5), "c": wgtorch.tensor([True])}, tmp_path / "m.pt")
    got = torch.load(tmp_path / "m.pt", mmap=True, weights_only=True)
    assert got["a"].tolist() == [1.0] * 3 and got["b"].tolist() == list(range(5)) and got["c"].tolist() == [True]
    for info in zipfile.ZipFile(tmp_path / "m.pt").infolist():
        if "/data/" in info.filename:
            assert (info.header_offset + 30 + len(info.filename) + len(info.extra)) % 64 == 0


def test_builtin_values_both_ways():
    _torch()
    values = {"set": {1, 2}, "bytes": b"\x00ab", "complex": 1 + 2j, "bytearray": bytearray(b"x"),
              "counter": collections.Counter("aab"), "none": None, "big": 2**70, "nested": [{"a": (1, [2])}]}
    for data in (_ours_bytes(values), _torch_bytes(values)):
        for got in (_torch_load(data), wgtorch.load(io.BytesIO(data))):
            assert got == values and type(got["counter"]) is collections.Counter
    with pytest.raises(Exception, match="frozenset"):  # what PyTorch refuses, wgtorch refuses too
        wgtorch.load(io.BytesIO(_ours_bytes({"f": frozenset([1])})))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickle_protocols(protocol):
    torch = _torch()
    base = torch.arange(6.0).reshape(2, 3)
    buf = io.BytesIO()
    torch.save({"t": base.t(), "s": {1}, "b": b"x"}, buf, pickle_protocol=protocol)
    got = wgtorch.load(io.BytesIO(buf.getvalue()))
    assert got["t"].tolist() == base.t().tolist() and got["s"] == {1} and got["b"] == b"x"
    buf = io.BytesIO()
    wgtorch.save({"t": wgtorch.arange(6.0).reshape(2, 3).t(), "s": {1}, "b": b"x"}, buf, pickle_protocol=protocol)
    # PyTorch's weights_only reader does not know protocol 4's FRAME (its own such files fail too).
    for got in (_torch_load(buf.getvalue(), weights_only=protocol == 2), wgtorch.load(io.BytesIO(buf.getvalue()))):
        assert got["t"].tolist() == base.t().tolist() and got["s"] == {1} and got["b"] == b"x"


def test_numpy_arrays_follow_torch_weights_only_rules():
    torch = _torch()
    ckpt = {"arr": np.arange(4, dtype=np.float32), "w": wgtorch.ones(2)}
    data = _ours_bytes(ckpt)
    np.testing.assert_array_equal(_torch_load(data, weights_only=False)["arr"], ckpt["arr"])
    with pytest.raises(Exception, match="_reconstruct"):  # PyTorch refuses them by default ...
        _torch_load(data)
    with pytest.raises(Exception, match="_reconstruct") as ours:  # ... and so does wgtorch
        wgtorch.load(io.BytesIO(data))
    assert "add_safe_globals" in str(ours.value)
    np.testing.assert_array_equal(wgtorch.load(io.BytesIO(data), weights_only=False)["arr"], ckpt["arr"])
    allowed = [np._core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.float32))]
    with wgtorch.serialization.safe_globals(allowed):
        np.testing.assert_array_equal(wgtorch.load(io.BytesIO(data))["arr"], ckpt["arr"])
    with torch.serialization.safe_globals(allowed):
        np.testing.assert_array_equal(_torch_load(data)["arr"], ckpt["arr"])


# -- wgtorch -> wgtorch ------------------------------------------------------------------------
def _checkpoint(device):
    base = wgtorch.tensor(np.arange(20, dtype=np.float32).reshape(4, 5), device=device)
    ckpt = {"base": base, "t": base.t(), "corner": base[2:, 1:4], "row": base[1], "zero_d": base[3, 4],
            "ids": wgtorch.tensor(np.array([-5, 0, 2**31 - 1]), device=device),
            "empty": wgtorch.zeros(0, device=device),
            "mask": wgtorch.tensor([True, False], device=device), "step": wgtorch.tensor(3.0, device=device),
            "half": wgtorch.tensor(np.array([0.5, -65504.0], np.float16), device=device),
            "epoch": 2, "cfg": {"sizes": [4, 5], "name": "m", "shape": base.shape, "dtype": wgtorch.int32}}
    if device == "cpu":
        ckpt["double"] = wgtorch.tensor(np.array([1e-300, 1 / 3]))
        ckpt["bytes"] = wgtorch.tensor(np.array([0, 255], np.uint8))
    return ckpt


def _assert_same_checkpoint(got, ckpt, device):
    assert list(got) == list(ckpt)
    for k, v in ckpt.items():
        if isinstance(v, wgtorch.Tensor):
            assert got[k].device.type == device and got[k].dtype is v.dtype, k
            assert tuple(got[k].shape) == tuple(v.shape), k
            assert_close(got[k], v.numpy(), rtol=0, atol=0)
        else:
            assert got[k] == v, k


def test_round_trip(device, tmp_path):
    ckpt = _checkpoint(device)
    wgtorch.save(ckpt, tmp_path / "c.pt")
    assert zipfile.is_zipfile(tmp_path / "c.pt")
    got = wgtorch.load(tmp_path / "c.pt", map_location=device)
    _assert_same_checkpoint(got, ckpt, device)
    assert got["t"].stride() == ckpt["t"].stride() and got["corner"].stride() == ckpt["corner"].stride()
    got["base"][3, 3] = 100.0  # the views share one storage again, on the device too
    got["base"][3, 4] = -7.0
    assert got["t"][3, 3].item() == 100.0 and got["corner"][1, 2].item() == 100.0 and got["zero_d"].item() == -7.0
    # Every storage tag is "cpu" (PyTorch knows no wgpu): with no map_location it all loads on the cpu.
    _assert_same_checkpoint(wgtorch.load(tmp_path / "c.pt"), ckpt, "cpu")


class _Stream(io.RawIOBase):
    """A pipe-like binary stream: no seeking."""

    def __init__(self, data=b""):
        self.chunks, self.data = [], io.BytesIO(data)

    def writable(self):
        return True

    def readable(self):
        return True

    def write(self, b):
        self.chunks.append(bytes(b))
        return len(b)

    def readinto(self, b):
        chunk = self.data.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def test_unseekable_streams():
    out = _Stream()
    wgtorch.save({"w": wgtorch.tensor([1.0, 2.0]), "n": 1}, out)
    got = wgtorch.load(_Stream(b"".join(out.chunks)))
    assert got["n"] == 1 and got["w"].tolist() == [1.0, 2.0]


def test_views_are_saved_once(device):
    big = wgtorch.zeros(1000, 100, device=device)
    data = _ours_bytes({"a": big, "b": big[10:20], "c": big.t(), "d": big[5]})
    storages = [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if "/data/" in n]
    assert len(storages) == 1 and len(data) < 1000 * 100 * 4 + 4096
    alone = _ours_bytes({"b": big[10:20]})  # a view alone: only the part it reaches is written
    assert len(alone) < 20_000


def test_map_location_forms(device, tmp_path):
    ckpt = {"w": wgtorch.tensor([1.0, 2.0]), "n": 4}
    wgtorch.save(ckpt, tmp_path / "c.pt")
    for ml in (device, wgtorch.device(device), {"cpu": device}, lambda storage, loc: storage.to(device)):
        got = wgtorch.load(tmp_path / "c.pt", map_location=ml)
        assert got["w"].device.type == device and got["n"] == 4
        assert_close(got["w"], [1.0, 2.0])
    seen = []

    def keep(storage, location):
        seen.append((type(storage), storage.device.type, location, len(storage), storage.dtype))
        return None  # None: restore as if no map_location was given

    assert wgtorch.load(tmp_path / "c.pt", map_location=keep)["w"].device.type == "cpu"
    assert seen == [(TypedStorage, "cpu", "cpu", 2, wgtorch.float32)]
    with pytest.raises(TypeError, match="map_location returned int"):
        wgtorch.load(tmp_path / "c.pt", map_location=lambda storage, loc: 3)
    with pytest.raises(TypeError, match="map_location must be a device"):
        wgtorch.load(tmp_path / "c.pt", map_location=3.5)
    with pytest.raises(RuntimeError, match="can't restore a storage saved on 'cpu' to 'tpu'"):
        wgtorch.load(tmp_path / "c.pt", map_location="tpu")


def test_cuda_tagged_storages(monkeypatch, tmp_path):
    from wgtorch.serialization import _writer

    monkeypatch.setattr(_writer, "_location", lambda t: "cuda:1")  # as written from a CUDA tensor
    wgtorch.save({"w": wgtorch.ones(3)}, tmp_path / "c.pt")
    monkeypatch.setattr(wgtorch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="Attempting to deserialize object on a CUDA device"):
        wgtorch.load(tmp_path / "c.pt")
    seen = []
    got = wgtorch.load(tmp_path / "c.pt", map_location=lambda s, loc: seen.append(loc) or s)
    assert seen == ["cuda:1"] and got["w"].device.type == "cpu"
    assert wgtorch.load(tmp_path / "c.pt", map_location={"cuda:1": "cpu"})["w"].device.type == "cpu"
    assert wgtorch.load(tmp_path / "c.pt", map_location="cpu")["w"].device.type == "cpu"


def test_big_endian_files_are_read(tmp_path):
    # A file from a big-endian machine: byteorder "big" and every storage's bytes swapped.
    data = _ours_bytes({"w": wgtorch.tensor([1.5, -2.0, 3.25]), "i": wgtorch.tensor([1, -2, 2**40])})
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            raw = src.read(info)
            if info.filename.endswith("/byteorder"):
                raw = b"big"
            elif "/data/" in info.filename:  # storage "0" is w's, "1" is i's
                kind = {"0": np.float32, "1": np.int64}[info.filename.rsplit("/", 1)[1]]
                raw = np.frombuffer(raw, kind).byteswap().tobytes()
            dst.writestr(info.filename, raw)
    got = wgtorch.load(io.BytesIO(out.getvalue()))
    assert_close(got["w"], [1.5, -2.0, 3.25], rtol=0, atol=0)
    assert got["i"].tolist() == [1, -2, 2**40]


def test_optimizer_trained_on_one_device_continues_on_another(device):
    other = "cpu" if device == "wgpu" else ("wgpu" if wgtorch.wgpu.is_available() else "cpu")
    x = np.random.default_rng(5).standard_normal((6, 3)).astype(np.float32)

    def make(dev, seed=0):
        wgtorch.manual_seed(seed)
        model = wgtorch.nn.Sequential(wgtorch.nn.Linear(3, 4), wgtorch.nn.Tanh(), wgtorch.nn.Linear(4, 1)).to(dev)
        return model, wgtorch.optim.Adam(model.parameters(), lr=0.02, weight_decay=0.1)

    def train(model, opt, dev, steps):
        for _ in range(steps):
            opt.zero_grad()
            model(wgtorch.tensor(x, device=dev)).square().mean().backward()
            opt.step()

    model, opt = make(device)
    train(model, opt, device, 3)
    data = _ours_bytes({"model": model.state_dict(), "optim": opt.state_dict()})
    train(model, opt, device, 3)  # the uninterrupted run
    ckpt = wgtorch.load(io.BytesIO(data), map_location=other)
    resumed, ropt = make(other, seed=9)
    resumed.load_state_dict(ckpt["model"])
    ropt.load_state_dict(ckpt["optim"])
    assert float(ropt.state[ropt.param_groups[0]["params"][0]]["step"]) == 3.0
    train(resumed, ropt, other, 3)
    for a, b in zip(model.state_dict().values(), resumed.state_dict().values()):
        assert b.device.type == other
        assert_close(b, a.numpy(), rtol=1e-5, atol=1e-6)


def test_whole_module_pickling(device, tmp_path):
    nn = wgtorch.nn
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(device)
    wgtorch.save(model, tmp_path / "m.pt")
    with pytest.raises(Exception, match="wgtorch.nn.modules.container.Sequential is not an allowed global"):
        wgtorch.load(tmp_path / "m.pt")  # weights_only=True by default, as in PyTorch
    loaded = wgtorch.load(tmp_path / "m.pt", weights_only=False, map_location=device)
    assert type(loaded) is nn.Sequential and isinstance(loaded[0].weight, nn.Parameter)
    assert loaded[0].weight.requires_grad and loaded[0].weight.device.type == device
    x = wgtorch.tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32), device=device)
    assert_close(loaded(x), model(x).detach().numpy(), rtol=0, atol=0)
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]


def test_fortran_ordered_memory():
    # A tensor over column-major memory (from_numpy keeps NumPy's layout) and a view of it.
    f = wgtorch.from_numpy(np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)))
    assert f.stride() == (1, 3)
    ckpt = {"f": f, "cols": f[:, 1:3], "t": f.t()}
    data = _ours_bytes(ckpt)
    assert sum("/data/" in n for n in zipfile.ZipFile(io.BytesIO(data)).namelist()) == 1
    got = wgtorch.load(io.BytesIO(data))
    for k, v in ckpt.items():
        assert got[k].stride() == v.stride(), k
        assert_close(got[k], v.numpy(), rtol=0, atol=0)
    got["f"][2, 1] = -1.0
    assert got["cols"][2, 0].item() == -1.0 and got["t"][1, 2].item() == -1.0


def test_memory_a_storage_cant_describe_is_written_as_a_copy():
    # Negative strides (no wgtorch op makes them, but an array backend could): PyTorch has no
    # such strides, so the tensor is written contiguously, on its own.
    from wgtorch._tensor import _wrap

    t = wgtorch.tensor([1.0, 2.0, 3.0])
    reversed_view = _wrap(t._data[::-1], t._be, t.dtype)
    data = _ours_bytes({"r": reversed_view, "t": t})
    got = wgtorch.load(io.BytesIO(data))
    assert got["r"].tolist() == [3.0, 2.0, 1.0] and got["r"].stride() == (1,)
    assert got["t"].tolist() == [1.0, 2.0, 3.0]
    assert sum("/data/" in n for n in zipfile.ZipFile(io.BytesIO(data)).namelist()) == 2
