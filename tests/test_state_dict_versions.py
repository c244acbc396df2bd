"""State dicts carry PyTorch's per-module versions (``_metadata``), so a BatchNorm checkpoint from
before ``num_batches_tracked`` existed loads as in PyTorch, and a current one missing it does not."""

from __future__ import annotations

import io

import pytest

import wgtorch

torch = pytest.importorskip("torch", reason="PyTorch (the dev extra's CPU wheel) is the oracle here")


def _model(lib):
    return lib.nn.Sequential(lib.nn.Conv2d(1, 2, 3), lib.nn.BatchNorm2d(2), lib.nn.Linear(3, 3))


def test_metadata_matches_pytorch():
    ours, theirs = _model(wgtorch).state_dict(), _model(torch).state_dict()
    assert list(ours) == list(theirs)
    assert {k: v["version"] for k, v in ours._metadata.items()} == {
        k: v["version"] for k, v in theirs._metadata.items()}


@pytest.mark.parametrize("with_versions", [False, True])
def test_missing_num_batches_tracked_follows_pytorch(with_versions):
    results = []
    for lib in (wgtorch, torch):
        model = _model(lib)
        model[1].num_batches_tracked.fill_(5)
        sd = model.state_dict()
        del sd["1.num_batches_tracked"]
        if not with_versions:
            sd = dict(sd)  # an old checkpoint or a plain dict: no versions
        try:
            model.load_state_dict(sd)
            results.append(("ok", int(model[1].num_batches_tracked.item())))
        except RuntimeError as e:
            results.append(("error", "num_batches_tracked" in str(e)))
    assert results[0] == results[1]


def test_versions_survive_a_checkpoint_round_trip_with_pytorch():
    buf = io.BytesIO()
    torch.save(_model(torch).state_dict(), buf)
    buf.seek(0)
    sd = wgtorch.load(buf)
    assert sd._metadata["1"]["version"] == 2
    buf = io.BytesIO()
    wgtorch.save(_model(wgtorch).state_dict(), buf)
    buf.seek(0)
    assert torch.load(buf)._metadata["1"]["version"] == 2
