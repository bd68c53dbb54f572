"""Atomic writes: a crash mid-write leaves no half file and no checkpoint that loads wrongly."""

import pytest
import torch

from pipeline.core.network.model import build_model, load_checkpoint, save_checkpoint
from pipeline.core.process import files


def test_a_crash_while_writing_leaves_the_old_file_intact(tmp_path):
    target = tmp_path / "results.csv"
    files.atomic_write_text(target, "old,complete\n")
    with pytest.raises(RuntimeError), files.atomic_writer(target) as handle:
        handle.write(b"new,half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old,complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"], "no temporary left behind"


def test_a_crash_while_saving_a_checkpoint_never_leaves_one_that_loads_wrongly(
    tmp_path, monkeypatch
):
    first = build_model("relu", hidden_sizes=(8,), seed=1)
    save_checkpoint(first, tmp_path)

    def crashing_save(obj, handle):
        handle.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError):
        save_checkpoint(build_model("relu", hidden_sizes=(8,), seed=2), tmp_path)
    monkeypatch.undo()
    loaded = load_checkpoint(tmp_path)
    assert all(
        torch.equal(a, b)
        for a, b in zip(loaded.state_dict().values(), first.state_dict().values(), strict=True)
    )
