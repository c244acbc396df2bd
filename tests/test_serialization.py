"""wgtorch.save / wgtorch.load with ``.safetensors`` paths: round trips on cpu and wgpu, files
written by other tools (the safetensors package, PyTorch's byte layout), map_location, and clear
errors for corrupt, truncated and unsupported input. (PyTorch's own format: test_checkpoint.py.)"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile

import numpy as np
import pytest
import safetensors.numpy
from safetensors import safe_open

import wgtorch
import wgtorch.serialization  # noqa: F401  (wgtorch.serialization.* below; imported lazily by wgtorch)

from .helpers import assert_close


def _state(device):
    rng = np.random.default_rng(0)
    sd = {
        "layer.weight": wgtorch.tensor(rng.standard_normal((65, 3)).astype(np.float32), device=device),
        "layer.bias": wgtorch.tensor(rng.standard_normal(65).astype(np.float32), device=device),
        "steps": wgtorch.tensor(np.array(7, np.int64), device=device),          # 0-d
        "ids": wgtorch.tensor(np.array([-3, 0, 2**31 - 1], np.int32), device=device),
        "mask": wgtorch.tensor(np.array([True, False, True]), device=device),
        "empty": wgtorch.zeros(0, 4, device=device),
        "half": wgtorch.tensor(np.array([1.5, -2.25, 65504.0], np.float16), device=device),
        "special": wgtorch.tensor(np.array([np.nan, np.inf, -np.inf, -0.0], np.float32), device=device),
    }
    sd["transposed"] = sd["layer.weight"].t()  # a non-contiguous view is written out whole
    if device == "cpu":
        sd["double"] = wgtorch.tensor(np.array([1e-300, 1.0 / 3.0]), device=device)
        sd["bytes"] = wgtorch.tensor(np.array([0, 255], np.uint8), device=device)
    return sd


def _assert_same(loaded, original, device):
    assert list(loaded) == list(original)  # the key order survives
    for k, v in original.items():
        got = loaded[k]
        assert got.device.type == wgtorch.device(device).type, k
        assert got.dtype is v.dtype and tuple(got.shape) == tuple(v.shape), k
        assert_close(got, v.numpy(), rtol=0, atol=0)


def test_round_trip(device, tmp_path):
    sd = _state(device)
    path = tmp_path / "model.safetensors"
    wgtorch.save(sd, path)
    _assert_same(wgtorch.load(path, map_location=device), sd, device)
    _assert_same(wgtorch.load(str(path), map_location=wgtorch.device(device)), sd, device)


def test_default_location_is_cpu_and_map_location_moves(device, tmp_path):
    sd = _state(device)
    path = tmp_path / "m.safetensors"
    wgtorch.save(sd, path)
    on_cpu = wgtorch.load(path)
    assert all(t.device == wgtorch.device("cpu") for t in on_cpu.values())
    assert_close(on_cpu["layer.weight"], sd["layer.weight"].numpy(), rtol=0, atol=0)
    if device == "wgpu":
        cpu_path = tmp_path / "cpu.safetensors"
        wgtorch.save(on_cpu, cpu_path)
        _assert_same(wgtorch.load(cpu_path, map_location="wgpu:0"), sd, "wgpu")


def test_parameters_are_saved_detached(tmp_path):
    p = wgtorch.tensor([1.0, 2.0], requires_grad=True)
    wgtorch.save({"p": p * 2}, tmp_path / "p.safetensors")
    loaded = wgtorch.load(tmp_path / "p.safetensors")
    assert not loaded["p"].requires_grad
    assert_close(loaded["p"], [2.0, 4.0])


def test_file_objects_and_bytes(device):
    sd = _state(device)
    buf = io.BytesIO()
    wgtorch.save(sd, buf)
    buf.seek(0)
    _assert_same(wgtorch.load(buf, map_location=device), sd, device)
    _assert_same(wgtorch.load(buf.getvalue(), map_location=device), sd, device)


def test_our_files_are_standard_safetensors(tmp_path):
    sd = _state("cpu")
    path = tmp_path / "m.safetensors"
    wgtorch.save(sd, path)
    arrays = safetensors.numpy.load_file(path)
    assert set(arrays) == set(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(arrays[k], v.numpy())
    with safe_open(path, framework="np") as f:
        assert f.metadata()["format"] == "pt"


def test_file_written_by_safetensors_numpy(device, tmp_path):
    arrays = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1, 2], np.int64),
              "flag": np.array(True)}
    path = tmp_path / "np.safetensors"
    safetensors.numpy.save_file(arrays, path)
    loaded = wgtorch.load(path, map_location=device)
    assert sorted(loaded) == sorted(arrays)
    for k, a in arrays.items():
        assert loaded[k].dtype is wgtorch.tensor(a).dtype
        assert_close(loaded[k], a, rtol=0, atol=0)


def _torch_style_file(entries, metadata=None):
    """Bytes laid out as PyTorch's safetensors writer lays them: an 8-byte little-endian header
    length, a JSON header padded with spaces to a multiple of 8, then the raw little-endian data."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in entries.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def test_file_laid_out_like_pytorch(device, tmp_path):
    weight = np.array([[1.0, -2.0, 3.5], [0.25, 0.0, -1e-3]], np.float32)
    # bfloat16 is the top 16 bits of a float32: these values are exact in it.
    bf16_values = np.array([1.0, -2.5, 0.15625, 2.0 ** 127], np.float32)
    bf16 = (bf16_values.view(np.uint32) >> 16).astype("<u2").tobytes()
    data = _torch_style_file({
        "fc.weight": ("F32", weight.shape, weight.astype("<f4").tobytes()),
        "fc.bias": ("F16", (2,), np.array([0.5, -4.0], "<f2").tobytes()),
        "num_batches_tracked": ("I64", (), np.array(12, "<i8").tobytes()),
        "emb": ("BF16", (4,), bf16),
        "small": ("I8", (3,), np.array([-128, 0, 127], np.int8).tobytes()),
    }, metadata={"format": "pt"})
    path = tmp_path / "torch.safetensors"
    path.write_bytes(data)
    loaded = wgtorch.load(path, map_location=device)
    assert_close(loaded["fc.weight"], weight, rtol=0, atol=0, dtype=wgtorch.float32)
    assert_close(loaded["fc.bias"], [0.5, -4.0], rtol=0, atol=0, dtype=wgtorch.float16)
    assert_close(loaded["num_batches_tracked"], np.array(12), dtype=wgtorch.int64)
    # bfloat16 on cpu; float32 (exactly) on wgpu, which has no bf16 type
    assert loaded["emb"].dtype is (wgtorch.bfloat16 if device == "cpu" else wgtorch.float32)
    assert_close(loaded["emb"].float(), bf16_values, rtol=0, atol=0, dtype=wgtorch.float32)
    assert_close(loaded["small"], [-128, 0, 127], dtype=wgtorch.int32)


def test_unsupported_dtype_names_the_tensor(tmp_path):
    path = tmp_path / "u64.safetensors"
    path.write_bytes(_torch_style_file({"big": ("U64", (1,), np.array([1], "<u8").tobytes())}))
    with pytest.raises(TypeError, match="tensor 'big' has dtype U64"):
        wgtorch.load(path)


def test_corrupt_and_truncated_files_name_the_file(tmp_path):
    good = tmp_path / "good.safetensors"
    wgtorch.save(_state("cpu"), good)
    data = good.read_bytes()
    cases = {
        "truncated.safetensors": data[:-10],                 # data cut short
        "cut_header.safetensors": data[:40],                 # header cut short
        "tiny.safetensors": data[:5],                        # not even the length
        "garbage.safetensors": bytes(range(7, 250)) * 3,     # random bytes
        "bad_json.safetensors": struct.pack("<Q", 8) + b"{nope!!}" + b"\0" * 8,
        "not_object.safetensors": struct.pack("<Q", 8) + b"[1,2,3] ",
        "bad_offsets.safetensors": _torch_style_file({"x": ("F32", (4,), b"\0" * 8)}),  # 4 floats in 8 bytes
        "empty.safetensors": b"",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(RuntimeError, match=name):
            wgtorch.load(path)


def test_files_are_told_apart_by_content_not_name(tmp_path):
    # A zip archive is read as a PyTorch checkpoint whatever its name: a broken one says so.
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 60)
    with pytest.raises(RuntimeError, match="model.safetensors' is not a valid PyTorch checkpoint"):
        wgtorch.load(path)
    # A safetensors file under another name still loads.
    wgtorch.save({"w": wgtorch.ones(2)}, tmp_path / "w.safetensors")
    (tmp_path / "w.bin").write_bytes((tmp_path / "w.safetensors").read_bytes())
    assert_close(wgtorch.load(tmp_path / "w.bin")["w"], [1.0, 1.0])


def test_save_refuses_non_tensors(tmp_path):
    with pytest.raises(TypeError, match="value of 'epoch' is a int, not a tensor"):
        wgtorch.save({"w": wgtorch.ones(2), "epoch": 3}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="keys must be strings"):
        wgtorch.save({1: wgtorch.ones(2)}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="dict of name -> tensor"):
        wgtorch.save([wgtorch.ones(2)], tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()  # nothing half-written


def test_bad_map_location(tmp_path):
    wgtorch.save({"w": wgtorch.ones(2)}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="map_location must be a device"):
        wgtorch.load(tmp_path / "x.safetensors", map_location={"cuda:0": "cpu"})
    with pytest.raises(RuntimeError, match="Expected one of cpu"):
        wgtorch.load(tmp_path / "x.safetensors", map_location="tpu")


def test_float64_to_wgpu_needs_shader_f64(wgpu_device, tmp_path):
    wgtorch.save({"d": wgtorch.tensor(np.array([1.0 + 2.0**-52]))}, tmp_path / "d.safetensors")
    if wgtorch.wgpu.get_device_properties().float64:
        d = wgtorch.load(tmp_path / "d.safetensors", map_location=wgpu_device)["d"]
        assert d.dtype is wgtorch.float64 and d.item() == 1.0 + 2.0**-52
    else:
        with pytest.raises(TypeError, match="shader-f64"):
            wgtorch.load(tmp_path / "d.safetensors", map_location=wgpu_device)


def test_empty_dict(tmp_path):
    wgtorch.save({}, tmp_path / "e.safetensors")
    assert wgtorch.load(tmp_path / "e.safetensors") == {}


def _mlp(device):
    nn = wgtorch.nn
    return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).to(device)


def test_module_state_dict_round_trip(device, tmp_path):
    wgtorch.manual_seed(0)
    model = _mlp(device)
    path = tmp_path / "mlp.safetensors"
    wgtorch.save(model.state_dict(), path)
    wgtorch.manual_seed(1)
    other = _mlp(device)
    other.load_state_dict(wgtorch.load(path, map_location=device))
    x = wgtorch.tensor(np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32), device=device)
    assert_close(other(x), model(x).detach().numpy(), rtol=0, atol=0)


def test_module_load_state_dict_mismatch_leaves_module_unchanged(device, tmp_path):
    model = _mlp(device)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    good = {k: wgtorch.zeros_like(v) for k, v in model.state_dict().items()}
    bad_shape = dict(good, **{"2.weight": wgtorch.zeros(2, 4, device=device)})
    missing = {k: v for k, v in good.items() if k != "0.bias"}
    for name, sd in (("shape", bad_shape), ("missing", missing)):
        path = tmp_path / f"{name}.safetensors"
        wgtorch.save(sd, path)
        with pytest.raises(RuntimeError, match="size mismatch for 2.weight|Missing key"):
            model.load_state_dict(wgtorch.load(path, map_location=device))
        for k, v in model.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), before[k])  # nothing was half-copied


# -- PyTorch's format: weights_only, safe globals, damaged files ----------------------------------
class Point:
    """A class of the test's own: not a global weights_only allows until told."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


def _zip_bytes(obj) -> bytes:
    buf = io.BytesIO()
    wgtorch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture
def no_safe_globals():
    wgtorch.serialization.clear_safe_globals()
    yield
    wgtorch.serialization.clear_safe_globals()


def test_weights_only_refuses_a_custom_class_until_allowed(no_safe_globals):
    data = _zip_bytes({"w": wgtorch.ones(2), "origin": Point(1, 2)})
    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL tests\.test_serialization\.Point is not an allowed "
                                                     r"global.*wgtorch\.serialization\.add_safe_globals"):
        wgtorch.load(io.BytesIO(data))
    assert wgtorch.load(io.BytesIO(data), weights_only=False)["origin"] == Point(1, 2)
    with wgtorch.serialization.safe_globals([Point]):
        assert wgtorch.serialization.get_safe_globals() == [Point]
        assert wgtorch.load(io.BytesIO(data))["origin"] == Point(1, 2)
    assert wgtorch.serialization.get_safe_globals() == []  # the context manager put the list back
    with pytest.raises(pickle.UnpicklingError):
        wgtorch.load(io.BytesIO(data))
    wgtorch.serialization.add_safe_globals([Point])
    got = wgtorch.load(io.BytesIO(data))
    assert got["origin"] == Point(1, 2) and got["w"].tolist() == [1.0, 1.0]
    wgtorch.serialization.clear_safe_globals()
    assert wgtorch.serialization.get_safe_globals() == []
    # (object, "module.name"): an object allowed under the name a file pickled it by.
    wgtorch.serialization.add_safe_globals([(Point, "tests.test_serialization.Point")])
    assert wgtorch.load(io.BytesIO(data))["origin"] == Point(1, 2)


def test_weights_only_refuses_code_execution(no_safe_globals):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    data = _zip_bytes({"x": Evil()})
    with pytest.raises(pickle.UnpicklingError, match="GLOBAL builtins.print is not an allowed global"):
        wgtorch.load(io.BytesIO(data))


def test_add_safe_globals_checks_its_argument(no_safe_globals):
    with pytest.raises(TypeError, match="list of classes"):
        wgtorch.serialization.add_safe_globals(Point)
    with pytest.raises(TypeError, match=r"\(object, 'module.name'\)"):
        wgtorch.serialization.add_safe_globals([(Point, 3)])
    assert wgtorch.serialization.get_safe_globals() == []


def _model_and_checkpoint(tmp_path):
    nn = wgtorch.nn
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    path = tmp_path / "good.pt"
    wgtorch.save({k: wgtorch.zeros_like(v) for k, v in model.state_dict().items()}, path)
    return model, path.read_bytes()


def _replace_record(data: bytes, suffix: str, content: bytes | None) -> bytes:
    """The archive with the record ending in ``suffix`` replaced (None: left out)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename.endswith(suffix):
                if content is not None:
                    dst.writestr(info.filename, content)
            else:
                dst.writestr(info.filename, src.read(info))
    return out.getvalue()


def test_damaged_checkpoints_raise_and_leave_the_model_alone(tmp_path):
    model, data = _model_and_checkpoint(tmp_path)
    info = next(i for i in zipfile.ZipFile(io.BytesIO(data)).infolist() if i.filename.endswith("/data/0"))
    storage = info.filename
    flipped = bytearray(data)
    flipped[info.header_offset + 30 + len(storage) + len(info.extra) + 5] ^= 0xFF  # inside storage 0's bytes
    cases = {
        "truncated_end.pt": (RuntimeError, data[:-30]),
        "truncated_half.pt": (RuntimeError, data[: len(data) // 2]),
        "zip_header_only.pt": (RuntimeError, data[:4]),
        "crc_mismatch.pt": (RuntimeError, bytes(flipped)),
        "missing_storage.pt": (RuntimeError, _replace_record(data, storage, None)),
        "short_storage.pt": (RuntimeError, _replace_record(data, storage, b"\0" * 8)),
        "garbage_pickle.pt": (pickle.UnpicklingError, _replace_record(data, "data.pkl", b"\x80\x02}q\x00(X\x01")),
        "not_a_pickle.pt": (pickle.UnpicklingError, _replace_record(data, "data.pkl", b"hello world")),
        "no_data_pkl.pt": (RuntimeError, _replace_record(data, "data.pkl", None)),
    }
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    for name, (error, content) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(error, match=name):
            model.load_state_dict(wgtorch.load(path))
        for k, v in model.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), before[k])
    model.load_state_dict(wgtorch.load(tmp_path / "good.pt"))  # the intact file still loads
    assert all(not v.numpy().any() for v in model.state_dict().values())


def test_a_view_past_its_storage_is_refused(tmp_path):
    data = _zip_bytes({"w": wgtorch.ones(4)})
    path = tmp_path / "short.pt"
    # The pickle says 4 elements; the record holds 4 elements of a 2-element storage claim.
    pkl = zipfile.ZipFile(io.BytesIO(data)).read("archive/data.pkl")
    path.write_bytes(_replace_record(_replace_record(data, "data.pkl", pkl.replace(b"K\x04t", b"K\x02t")),
                                     "data/0", b"\0" * 8))
    with pytest.raises(RuntimeError, match="reaches past the end of its storage of 2 elements"):
        wgtorch.load(path)


def test_save_to_a_path_or_file_writes_the_pytorch_format(tmp_path):
    obj = {"w": wgtorch.ones(2), "epoch": 1, "note": "first"}
    for target in (tmp_path / "c.pt", str(tmp_path / "c.bin")):
        wgtorch.save(obj, target)
        assert zipfile.is_zipfile(target)
        got = wgtorch.load(target)
        assert got["epoch"] == 1 and got["note"] == "first" and got["w"].tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="f must be a path or a binary file object"):
        wgtorch.save(obj, 3)
    with pytest.raises(TypeError, match="f must be a path, a binary file object or bytes"):
        wgtorch.load(3)
    with pytest.raises(ValueError, match="pickle_protocol"):
        wgtorch.save(obj, tmp_path / "p.pt", pickle_protocol=1)
    with pytest.raises(pickle.PicklingError):
        wgtorch.save({"f": lambda: 0}, tmp_path / "lambda.pt")
    assert not (tmp_path / "lambda.pt").exists() and not (tmp_path / "p.pt").exists()  # nothing half-written
