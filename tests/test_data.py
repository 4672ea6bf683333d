"""Tests for crate_mae.data: array folders, sources, transforms, batched augmentation, the loader.

Datasets absent on the machine are skipped with a visible reason; nothing is downloaded.
"""
import gzip, json, os, struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DistributedSampler

from crate_mae import data as D
from crate_mae.data import (ArrayDataset, ArrayLoader, ShardedSampler, batch_randaugment, batch_resized_crop,
                            canonical_name, channel_stats, data_roots, dataset_info, default_data_root,
                            eval_transform, find_array_folder, load_array_dataset, load_dataset,
                            load_digits_arrays, load_image_folder, load_torchvision, make_loader, mix_seed,
                            prepare, pretrain_transform, read_arrays, read_idx, sample_crop_boxes, write_arrays)


def _shared_data():
    "The shared data root holding cifar10/train.npz: $CRATE_MAE_DATA, or shared/data beside the repo."
    repo = Path(__file__).resolve().parents[1]
    for c in [os.environ.get(D.ENV_VAR), repo.parent/'shared'/'data', repo/'shared'/'data']:
        if c and (Path(c)/'cifar10'/'train.npz').is_file(): return Path(c)
    return None


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    "No $CRATE_MAE_DATA and an empty cache, so lookups see only what the test puts in tmp_path."
    monkeypatch.delenv(D.ENV_VAR, raising=False)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path/'cache'))
    return tmp_path


@pytest.fixture(scope='module')
def digits():
    return load_array_dataset('digits')


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path/'folder'
    for s in ('train', 'val'):
        for c in ('cat', 'dog'):
            (root/s/c).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(np.full((12 + i, 10, 3), 40 * i, np.uint8)).save(root/s/c/f'{i}.png')
    return root


# --- registry and data roots -----------------------------------------------------------------------

def test_registry_and_aliases():
    assert canonical_name('CIFAR-10') == 'cifar10' and canonical_name('fmnist') == 'fashion_mnist'
    assert dataset_info('pets').num_classes == 37 and dataset_info('digits').in_chans == 1
    with pytest.raises(ValueError, match='known:'): dataset_info('nope')
    with pytest.raises(ValueError): canonical_name('')


def test_data_root_order(isolated, monkeypatch):
    assert data_roots() == [isolated/'cache'/'crate_mae']
    monkeypatch.setenv(D.ENV_VAR, '/tmp/env_root')
    assert data_roots('/tmp/explicit') == [Path('/tmp/explicit'), Path('/tmp/env_root'), isolated/'cache'/'crate_mae']
    assert default_data_root() == Path('/tmp/env_root')
    assert default_data_root('/tmp/explicit') == Path('/tmp/explicit')


# --- array folder ----------------------------------------------------------------------------------

def test_write_read_roundtrip_atomic(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (7, 5, 4, 3), dtype=np.uint8)
    p = write_arrays(tmp_path/'toy'/'train.npz', x, np.arange(7, dtype=np.int32))
    xi, yi = read_arrays(p)
    np.testing.assert_array_equal(xi, x)
    assert yi.dtype == np.int64
    assert [f.name for f in (tmp_path/'toy').iterdir()] == ['train.npz']
    xg, _ = read_arrays(write_arrays(tmp_path/'g.npz', x[..., 0], np.arange(7), compress=True))
    assert xg.shape == (7, 5, 4, 1)


def test_read_errors_name_file_and_remedy(tmp_path):
    x = np.zeros((3, 4, 4, 3), np.uint8)
    with pytest.raises(FileNotFoundError, match='crate-mae prepare toy'): read_arrays(tmp_path/'toy'/'train.npz')
    good = write_arrays(tmp_path/'good.npz', x, np.arange(3))
    (tmp_path/'trunc.npz').write_bytes(good.read_bytes()[:150])
    with pytest.raises(ValueError, match='truncated or corrupted'): read_arrays(tmp_path/'trunc.npz')
    (tmp_path/'junk.npz').write_bytes(b'not a zip at all')
    with pytest.raises(ValueError, match='junk.npz'): read_arrays(tmp_path/'junk.npz')
    np.savez(tmp_path/'keys.npz', images=x)
    with pytest.raises(ValueError, match=r"lacks \['labels'\]"): read_arrays(tmp_path/'keys.npz')
    np.savez(tmp_path/'float.npz', images=x.astype(np.float32), labels=np.arange(3))
    with pytest.raises(ValueError, match='must be uint8'): read_arrays(tmp_path/'float.npz')
    np.savez(tmp_path/'flab.npz', images=x, labels=np.arange(3.))
    with pytest.raises(ValueError, match='integer'): read_arrays(tmp_path/'flab.npz')
    np.savez(tmp_path/'chans.npz', images=np.zeros((3, 4, 4, 2), np.uint8), labels=np.arange(3))
    with pytest.raises(ValueError, match=r'C in \(1, 3\)'): read_arrays(tmp_path/'chans.npz')
    with pytest.raises(ValueError, match='empty'): write_arrays(tmp_path/'e.npz', x[:0], np.arange(0))
    with pytest.raises(ValueError, match=r'shape \(3,\)'): write_arrays(tmp_path/'n.npz', x, np.arange(2))


def test_read_only_folder_is_refused(tmp_path):
    (tmp_path/'ro').mkdir(mode=0o555)
    with pytest.raises(PermissionError, match='is read-only'):
        write_arrays(tmp_path/'ro'/'sub'/'train.npz', np.zeros((2, 4, 4, 3), np.uint8), np.arange(2))
    assert list((tmp_path/'ro').iterdir()) == []
    with pytest.raises(PermissionError, match='--data-root'): prepare('digits', data_root=tmp_path/'ro')


def test_channel_stats_and_digits():
    x = np.stack([np.zeros((2, 2, 1)), np.full((2, 2, 1), 255)]).astype(np.uint8)
    m, s = channel_stats(x)
    assert m == pytest.approx((0.5,)) and s == pytest.approx((0.5,))
    tr, te = load_digits_arrays('train'), load_digits_arrays('test')
    assert tr[0].shape == (1437, 8, 8, 1) and te[0].shape == (360, 8, 8, 1)
    m, s = channel_stats(np.concatenate([tr[0], te[0]]))
    assert m == pytest.approx(dataset_info('digits').mean, abs=1e-4)
    assert s == pytest.approx(dataset_info('digits').std, abs=1e-4)
    with pytest.raises(ValueError): load_digits_arrays('val')


def test_array_dataset_and_lookup(isolated):
    x = np.random.default_rng(1).integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)
    write_arrays(isolated/'root'/'toy'/'train.npz', x, np.array([0, 1, 2, 0, 1, 2]))
    (isolated/'root'/'toy'/'classes.txt').write_text('a\nb\nc\n')
    assert find_array_folder('toy', isolated/'root') == isolated/'root'/'toy'
    assert find_array_folder('toy', isolated/'root', 'test') is None
    ds = load_array_dataset('toy', data_root=isolated/'root')
    assert ds.images.shape == (6, 3, 4, 4) and ds.images.is_contiguous() and ds.classes == ['a', 'b', 'c']
    img, lab = ds[1]
    assert torch.equal(img, torch.from_numpy(x[1]).permute(2, 0, 1)) and lab == 1
    assert ds.mean == pytest.approx(channel_stats(x)[0])
    with pytest.raises(FileNotFoundError, match='crate-mae prepare toy'): load_array_dataset('toy', 'test', isolated/'root')
    with pytest.raises(ValueError, match='one per channel'): ArrayDataset(x, np.arange(6), mean=(0.5,), std=(0.5,))


@pytest.mark.skipif(_shared_data() is None, reason='CIFAR-10 array folder not found (no $CRATE_MAE_DATA, no shared/data)')
def test_cifar10_shared_array_folder():
    root = _shared_data()
    ds = load_array_dataset('cifar10', 'test', data_root=root)
    assert len(ds) == 10000 and ds.images.shape[1:] == (3, 32, 32) and ds.classes[0] == 'airplane'
    assert torch.bincount(ds.labels).tolist() == [1000] * 10
    m, s = channel_stats(ds.images, chw=True)
    assert m == pytest.approx(ds.mean, abs=5e-3) and s == pytest.approx(ds.std, abs=5e-3)


# --- torchvision, ImageFolder, IDX, prepare ----------------------------------------------------------

def test_torchvision_absent_is_clear_and_never_downloads(isolated):
    for name in ('cifar10', 'cifar100', 'fashion_mnist', 'flowers102', 'pets'):
        with pytest.raises(FileNotFoundError, match='download=True') as e:
            load_torchvision(name, data_root=isolated/'none')
        assert '--data-root' in str(e.value)
    assert not (isolated/'none').exists() and not (isolated/'cache').exists()
    with pytest.raises(ValueError, match='not a torchvision dataset'): load_torchvision('digits')
    with pytest.raises(ValueError, match='split'): load_torchvision('cifar10', 'val')


def test_image_folder(image_folder, tmp_path):
    assert load_image_folder(image_folder).classes == ['cat', 'dog']
    assert len(load_image_folder(image_folder, 'test')) == 6  # test falls back to val
    (tmp_path/'empty'/'train'/'cat').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='holds no images'): load_image_folder(tmp_path/'empty')
    with pytest.raises(FileNotFoundError, match='has no train folder'): load_image_folder(tmp_path/'missing')


def test_read_idx(tmp_path):
    hdr = bytes([0, 0, 0x08, 3]) + struct.pack('>3i', 2, 3, 4)
    with gzip.open(tmp_path/'a-idx3-ubyte.gz', 'wb') as f: f.write(hdr + bytes(range(24)))
    np.testing.assert_array_equal(read_idx(tmp_path/'a-idx3-ubyte.gz'), np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    (tmp_path/'i4-idx1-ubyte').write_bytes(bytes([0, 0, 0x0C, 1]) + struct.pack('>i', 2) + struct.pack('>2i', -1, 7))
    assert read_idx(tmp_path/'i4-idx1-ubyte').tolist() == [-1, 7]
    (tmp_path/'short').write_bytes(hdr + bytes(5))
    with pytest.raises(ValueError, match='truncated'): read_idx(tmp_path/'short')
    (tmp_path/'bad').write_bytes(b'\x01\x02\x03\x04')
    with pytest.raises(ValueError, match='not an IDX file'): read_idx(tmp_path/'bad')


def test_prepare_digits_folder_idx(isolated, image_folder):
    root = isolated/'root'
    out = prepare('digits', data_root=root)
    assert set(out) == {'train', 'test'} and all(p.is_file() for p in out.values())
    assert json.loads((root/'digits'/'meta.json').read_text())['shape'] == [8, 8, 1]
    with pytest.raises(ValueError, match='different sizes'): prepare('pics', src=image_folder, data_root=root)
    prepare('pics', src=image_folder, data_root=root, size=8)
    ds = load_dataset('pics', 'test', data_root=root)
    assert isinstance(ds, ArrayDataset) and ds.images.shape == (6, 3, 8, 8) and ds.classes == ['cat', 'dog']
    assert sorted(p.name for p in (root/'pics').iterdir()) == ['meta.json', 'test.npz', 'train.npz']
    idx = isolated/'idx'; idx.mkdir()
    for pre, n in (('train', 5), ('t10k', 3)):
        with gzip.open(idx/f'{pre}-images-idx3-ubyte.gz', 'wb') as f:
            f.write(bytes([0, 0, 8, 3]) + struct.pack('>3i', n, 4, 4) + bytes(range(n * 16)))
        with gzip.open(idx/f'{pre}-labels-idx1-ubyte.gz', 'wb') as f:
            f.write(bytes([0, 0, 8, 1]) + struct.pack('>i', n) + bytes([i % 2 for i in range(n)]))
    prepare('mini', src=idx, data_root=root)
    mini = load_array_dataset('mini', data_root=root)
    assert mini.images.shape == (5, 1, 4, 4) and mini.labels.tolist() == [0, 1, 0, 1, 0]
    with pytest.raises(ValueError, match='do not know how'): prepare('mystery', src=root/'pics', data_root=root)
    with pytest.raises(FileNotFoundError, match='download=True'): prepare('cifar10', data_root=root)
    with pytest.raises(FileNotFoundError, match='not found'): prepare('pics', src=isolated/'nowhere', data_root=root)


def _fake_torchvision_fashion_mnist(root, n_train=6, n_test=4):
    "Tiny uncompressed IDX files where torchvision's FashionMNIST looks for them (<root>/FashionMNIST/raw)."
    raw = root/'FashionMNIST'/'raw'; raw.mkdir(parents=True)
    for pre, n in (('train', n_train), ('t10k', n_test)):
        (raw/f'{pre}-images-idx3-ubyte').write_bytes(bytes([0, 0, 8, 3]) + struct.pack('>3i', n, 28, 28) + bytes(n * 784))
        (raw/f'{pre}-labels-idx1-ubyte').write_bytes(bytes([0, 0, 8, 1]) + struct.pack('>i', n) + bytes(range(n)))


def test_torchvision_found_under_root_and_prepared(isolated):
    _fake_torchvision_fashion_mnist(isolated/'root'/'torchvision')
    ds = load_torchvision('fashion_mnist', 'test', data_root=isolated/'root', transform=eval_transform(28, (0.5,), (0.5,), 1, 1))
    x, y = ds[3]
    assert len(ds) == 4 and x.shape == (1, 28, 28) and y == 3
    assert len(load_dataset('fashion_mnist', 'train', data_root=isolated/'root')) == 6  # no array folder yet: torchvision
    out = prepare('fashion_mnist', src=isolated/'root'/'torchvision', data_root=isolated/'out')
    arr = load_dataset('fashion_mnist', 'train', data_root=isolated/'out')
    assert isinstance(arr, ArrayDataset) and arr.images.shape == (6, 1, 28, 28) and arr.classes[-1] == 'Ankle boot'
    assert arr.mean == dataset_info('fashion_mnist').mean and out['test'].parent == isolated/'out'/'fashion_mnist'


@pytest.mark.skipif(not D.DEBIAN_FASHION_MNIST.is_dir(), reason='Debian Fashion-MNIST absent (apt-get install dataset-fashion-mnist)')
def test_prepare_debian_fashion_mnist(isolated):
    prepare('fashion_mnist', data_root=isolated/'root')
    ds = load_array_dataset('fashion-mnist', 'test', data_root=isolated/'root')
    assert ds.images.shape == (10000, 1, 28, 28) and ds.classes[0] == 'T-shirt/top'
    assert torch.bincount(ds.labels).tolist() == [1000] * 10


def test_load_dataset_dispatch(isolated, image_folder):
    assert isinstance(load_dataset('digits', 'test'), ArrayDataset)
    assert len(load_dataset(str(image_folder), 'train')) == 6
    with pytest.raises(FileNotFoundError, match='ImageNet not found'): load_dataset('imagenet', data_root=isolated)
    with pytest.raises(FileNotFoundError, match='download=True'): load_dataset('cifar10', data_root=isolated)
    with pytest.raises(FileNotFoundError, match='crate-mae prepare nosuch'): load_dataset('nosuch', data_root=isolated)


# --- transforms --------------------------------------------------------------------------------------

def test_pil_transforms():
    im = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50), dtype=np.uint8))
    x = pretrain_transform(32, randaugment=True)(im)
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert eval_transform(28, (0.5,), (0.5,), in_chans=1)(im).shape == (1, 28, 28)
    with pytest.raises(ValueError, match='crop_pct'): eval_transform(32, crop_pct=1.5)
    with pytest.raises(ValueError, match='in_chans'): pretrain_transform(32, in_chans=2)


def test_crop_boxes_in_range():
    b = sample_crop_boxes(5000, 32, 24, generator=torch.Generator().manual_seed(0))
    area, ratio = b[:, 2] * b[:, 3] / (32 * 24), b[:, 2] / b[:, 3]
    assert area.min() >= 0.2 - 1e-5 and area.max() <= 1 + 1e-5
    assert ratio.min() >= 0.75 - 1e-5 and ratio.max() <= 4 / 3 + 1e-5
    assert (b[:, :2] >= 0).all() and (b[:, 0] + b[:, 2] <= 24 + 1e-4).all() and (b[:, 1] + b[:, 3] <= 32 + 1e-4).all()
    # a scale no candidate can meet falls back to the centered box
    fb = sample_crop_boxes(4, 10, 100, scale=(1., 1.), ratio=(1., 1.))
    assert torch.allclose(fb, torch.tensor([[45., 0, 10, 10]]).repeat(4, 1))
    with pytest.raises(ValueError, match='ratio'): sample_crop_boxes(2, 8, 8, ratio=(2., 1.))


def test_batch_resized_crop_exact_cases():
    x = torch.randint(0, 256, (6, 3, 10, 12), dtype=torch.uint8)
    full = torch.tensor([[0., 0, 12, 10]]).repeat(6, 1)
    q = lambda t: t.round().to(torch.uint8)
    assert torch.equal(q(batch_resized_crop(x, full, (10, 12))), x)
    flip = torch.tensor([True, False] * 3)
    ref = torch.where(flip[:, None, None, None], x.flip(-1), x)
    assert torch.equal(q(batch_resized_crop(x, full, (10, 12), flip)), ref)
    assert torch.equal(q(batch_resized_crop(x, torch.tensor([[3., 2, 5, 5]]).repeat(6, 1), 5)), x[..., 2:7, 3:8])
    assert batch_resized_crop(x, full, 20, mode='bicubic').max() <= 255
    with pytest.raises(ValueError, match='boxes'): batch_resized_crop(x, full[:2], 8)
    with pytest.raises(ValueError, match=r'\(B, C, H, W\)'): batch_resized_crop(x[0], full, 8)


def test_batch_randaugment_deterministic(digits):
    x = digits.images[:40]
    a = batch_randaugment(x, seed=5, group=8)
    assert torch.equal(a, batch_randaugment(x, seed=5, group=8)) and a.shape == x.shape and a.dtype == torch.uint8
    with pytest.raises(ValueError, match='uint8'): batch_randaugment(x.float(), 0)
    with pytest.raises(ValueError, match='group'): batch_randaugment(x, 0, group=0)


# --- sampler and loader ---------------------------------------------------------------------------------

@pytest.mark.parametrize('n,ws,drop_last,shuffle', [(10, 3, False, True), (10, 3, True, True), (2, 3, False, True),
                                                    (7, 1, False, False), (100, 4, True, True)])
def test_sharded_sampler_matches_distributed_sampler(n, ws, drop_last, shuffle):
    for rank in range(ws):
        ours = ShardedSampler(n, shuffle, 7, rank, ws, drop_last)
        ref = DistributedSampler(range(n), ws, rank, shuffle, 7, drop_last)
        for epoch in (0, 3):
            ours.set_epoch(epoch); ref.set_epoch(epoch)
            assert list(ours) == list(ref) and len(ours) == len(ref)
        ours.set_epoch(3, start=1)
        assert list(ours) == list(ref)[1:]
    with pytest.raises(ValueError): ShardedSampler(0)
    with pytest.raises(ValueError, match='rank'): ShardedSampler(5, rank=3, world_size=3)


def test_mix_seed():
    assert mix_seed(1, 2, 3) == mix_seed(1, 2, 3) and mix_seed(1, 2, 3) != mix_seed(1, 3, 2)
    assert 0 <= mix_seed(0) < 2**63


def test_loader_deterministic_and_resumable(digits):
    kw = dict(batch_size=200, seed=3, randaugment=True, ra_group=20)
    a = ArrayLoader(digits, **kw); a.set_epoch(2)
    run = list(a)
    assert len(run) == len(a) == 1437 // 200 and a.step == 0  # a finished pass rewinds
    b = ArrayLoader(digits, **kw)
    b.load_state_dict(dict(epoch=2, step=5, seed=3, rank=0, world_size=1))
    rest = list(b)
    assert len(rest) == len(run) - 5
    for (xa, ya), (xb, yb) in zip(run[5:], rest):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert torch.equal(a.batch(4, epoch=2)[0], run[4][0])
    assert not torch.equal(a.batch(4, epoch=3)[0], run[4][0])
    it = iter(a); next(it); next(it)
    assert a.state_dict() == dict(epoch=2, step=2, seed=3, rank=0, world_size=1)
    with pytest.raises(ValueError, match='cannot resume'): b.load_state_dict(dict(epoch=0, step=0, seed=4, rank=0, world_size=1))
    with pytest.raises(ValueError, match='step'): a.set_epoch(0, step=len(a) + 1)
    with pytest.raises(ValueError, match='step'): a.batch(len(a))


def test_loader_batches_and_sharding(digits):
    a = ArrayLoader(digits, 64, seed=0)
    x, y = a.batch(0)
    assert x.shape == (64, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert abs(x.mean().item()) < 1.0 and 0.3 < x.std().item() < 2.0
    x3, _ = ArrayLoader(digits, 16, in_chans=3, img_size=12).batch(0)
    assert x3.shape == (16, 3, 12, 12) and torch.equal(x3[:, 0], x3[:, 1])
    with pytest.raises(ValueError, match='ArrayDataset'): ArrayLoader(list(range(3)))
    with pytest.raises(ValueError, match='batch_size'): ArrayLoader(digits, 0)
    r = [ArrayLoader(digits, 50, seed=1, rank=k, world_size=3) for k in range(3)]
    idx = [set(l.sampler.indices(0).tolist()) for l in r]
    assert set().union(*idx) == set(range(len(digits))) and sum(map(len, idx)) == 3 * 479
    assert not torch.equal(r[0].batch(0)[1], r[1].batch(0)[1])


def test_eval_loader_exact(digits):
    ev = ArrayLoader(digits, 500, train=False)
    batches = list(ev)
    assert [len(b[1]) for b in batches] == [500, 500, 437]
    assert torch.equal(torch.cat([b[1] for b in batches]), digits.labels)
    m, s = torch.tensor(digits.mean).view(1, -1, 1, 1), torch.tensor(digits.std).view(1, -1, 1, 1)
    torch.testing.assert_close(batches[0][0], (digits.images[:500] / 255 - m) / s, atol=1e-5, rtol=0)
    assert len(list(ev)) == 3  # iterating again repeats the epoch
    assert ArrayLoader(digits, 10, train=False, img_size=4).batch(0)[0].shape == (10, 1, 4, 4)


def test_make_loader(digits, image_folder):
    assert isinstance(make_loader(digits, 32), ArrayLoader)
    ds = load_image_folder(image_folder, transform=eval_transform(8, crop_pct=1))
    dl = make_loader(ds, batch_size=4, train=True)
    x, y = next(iter(dl))
    assert x.shape == (4, 3, 8, 8) and len(dl) == 1
    with pytest.raises(ValueError, match='ArrayDataset only'): make_loader(ds, 4, img_size=8)
