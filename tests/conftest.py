"Fixtures shared by the test files."
import numpy as np
import pytest
from crate_mae.data import write_arrays


@pytest.fixture(scope="session")
def toy_root(tmp_path_factory):
    "A tiny array folder: 256 random 32x32 RGB images named 'toy' (train), its first 64 as 'test'."
    r = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (256, 32, 32, 3), dtype=np.uint8)
    x[:, 8:24, 8:24] //= 3  # some structure to learn
    write_arrays(r/"toy"/"train.npz", x, rng.integers(0, 10, 256))
    write_arrays(r/"toy"/"test.npz", x[:64], rng.integers(0, 10, 64))
    return r
