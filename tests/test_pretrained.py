"""The weights that ship with the package: `create_model(name, pretrained=True)` loads them offline and
verifies their SHA-256; a missing or altered file is a clear error, and nothing is built from it."""
import shutil
import pytest
import torch
from safetensors.torch import load_file
import crate_mae.pretrained as P
from crate_mae.registry import create_model

NAME = "crate_mae_cifar"


def test_shipped_weights_load_offline():
    m = create_model(NAME, pretrained=True)
    sd = load_file(str(P.weights_dir()/P.PRETRAINED[NAME]["file"]))
    assert not m.training and m.name == NAME
    assert all(torch.equal(v, sd[k]) for k, v in m.state_dict().items())
    for k, v in P.PRETRAINED[NAME].get("overrides", {}).items(): assert getattr(m, k) == v
    assert P.sha256_file(P.weights_dir()/P.PRETRAINED[NAME]["file"]) in P.shipped_card(NAME)


def test_a_random_model_is_not_the_pretrained_one():
    a, b = create_model(NAME), create_model(NAME, pretrained=True)
    assert not all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_an_altered_file_is_refused(tmp_path, monkeypatch, damage):
    src = P.weights_dir()/P.PRETRAINED[NAME]["file"]
    raw = bytearray(src.read_bytes())
    if damage == "flip": raw[len(raw) // 3] ^= 0x10
    elif damage == "truncate": raw = raw[:-100]
    else: raw += b"\0"
    (tmp_path/src.name).write_bytes(bytes(raw))
    monkeypatch.setattr(P, "weights_dir", lambda: tmp_path)
    with pytest.raises(ValueError, match="altered or damaged"): create_model(NAME, pretrained=True)


def test_a_missing_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "weights_dir", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match="are missing"): create_model(NAME, pretrained=True)


def test_an_intact_copy_loads(tmp_path, monkeypatch):
    "The check accepts a byte-identical copy, so the refusals above are about the damage, not the place."
    src = P.weights_dir()/P.PRETRAINED[NAME]["file"]
    shutil.copy(src, tmp_path/src.name)
    monkeypatch.setattr(P, "weights_dir", lambda: tmp_path)
    create_model(NAME, pretrained=True)


def test_models_without_weights_say_so():
    with pytest.raises(ValueError, match="no pretrained weights for 'vit_mae_cifar'"):
        create_model("vit_mae_cifar", pretrained=True)
    with pytest.raises(ValueError, match="does not fit|do not fit"):
        create_model(NAME, pretrained=True, d=96)
