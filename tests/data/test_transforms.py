import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from vireid.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TestTransform,
    TrainTransform,
    channel_adapt_gray_,
    channel_exchange_,
    deen_train_transform,
    grayscale,
    pad_crop,
    random_erasing_,
    to_tensor_normalized,
)

H, W = 32, 16
MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


@pytest.fixture()
def img():
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _none(**kw):
    base = dict(height=H, width=W, padding=0, flip_p=0, grayscale_p=0, erasing_p=0)
    base.update(kw)
    return TrainTransform(**base)


def rng(seed=0):
    return np.random.default_rng(seed)


def test_pad_crop_equals_pil_pad_then_crop(img):
    padded = ImageOps.expand(Image.fromarray(img), border=10, fill=0)
    for top, left in [(0, 0), (20, 20), (3, 17), (20, 0), (11, 9)]:
        ref = np.asarray(padded.crop((left, top, left + W, top + H)))
        assert np.array_equal(pad_crop(img, H, W, 10, top, left), ref)


def test_grayscale_is_pil_luminance_formula(img):
    x = img.astype(np.int64)
    ref = (x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 0x8000) >> 16
    out = grayscale(img[:, ::-1])[:, ::-1]  # also on a flipped (negative-stride) view
    assert out.dtype == np.uint8 and all(np.array_equal(out[..., c], ref) for c in range(3))


def test_normalisation(img):
    t = to_tensor_normalized(img)
    ref = (torch.from_numpy(img).permute(2, 0, 1).double() / 255 - MEAN.double()) / STD.double()
    assert t.dtype == torch.float32 and t.shape == (3, H, W)
    assert torch.allclose(t.double(), ref, atol=1e-6)


def test_full_transform_shape_dtype_determinism(img):
    tf = deen_train_transform("sysu", height=H, width=W, channel_aug="exchange", channel_p=0.5)
    a, b = tf(img, rng(5)), tf(img, rng(5))
    assert a.shape == (3, H, W) and a.dtype == torch.float32 and a.is_contiguous()
    assert torch.equal(a, b)
    assert any(not torch.equal(a, tf(img, rng(s))) for s in range(6, 10))
    assert tf.erasing_area == (0.2, 0.8) and deen_train_transform("llcm").erasing_area == (0.02, 0.4)
    with pytest.raises(ValueError, match="preset"):
        deen_train_transform("market")


def test_identity_when_all_probabilities_are_zero(img):
    base = to_tensor_normalized(img)
    assert torch.equal(_none()(img, rng(1)), base)
    assert torch.equal(_none(channel_aug="exchange", channel_p=0.0)(img, rng(1)), base)


def test_pad_crop_changes_image(img):
    outs = [_none(padding=10)(img, rng(s)) for s in range(5)]
    assert all(o.shape == (3, H, W) for o in outs)
    assert any(not torch.equal(o, to_tensor_normalized(img)) for o in outs)


def test_flip(img):
    assert torch.equal(_none(flip_p=1.0)(img, rng(2)), to_tensor_normalized(img[:, ::-1]))


def test_random_grayscale(img):
    out = _none(grayscale_p=1.0)(img, rng(3)) * STD + MEAN  # back to [0, 1]
    assert torch.allclose(out[0], out[1], atol=1e-5) and torch.allclose(out[1], out[2], atol=1e-5)
    assert not torch.allclose(to_tensor_normalized(img) * STD + MEAN, out, atol=1e-3)


def test_random_erasing_fills_one_rectangle_with_the_mean(img):
    base = to_tensor_normalized(img)
    for seed in range(5):
        out = _none(erasing_p=1.0, erasing_area=(0.02, 0.4))(img, rng(seed))
        changed = (out != base).any(0)
        ys, xs = torch.nonzero(changed, as_tuple=True)
        assert changed.any()
        box = out[:, ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        assert torch.equal(box, MEAN.expand_as(box))  # DEEN fills with the mean values (a rectangle)
        assert 0.01 <= box[0].numel() / (H * W) <= 0.45
    t = base.clone()
    assert torch.equal(random_erasing_(t, rng(0), p=0.0), base)


def test_channel_augmentations(img):
    t = channel_exchange_(to_tensor_normalized(img), rng(0), gray=2)
    assert torch.equal(t[0], t[1]) and torch.equal(t[1], t[2])
    ks = set()
    for s in range(20):
        t = channel_exchange_(to_tensor_normalized(img), rng(s), gray=2)
        ks.add(next(c for c in range(3) if torch.equal(t[0], to_tensor_normalized(img)[c])))
    assert ks == {0, 1, 2}
    t = channel_exchange_(to_tensor_normalized(img), np.random.default_rng(0), gray=3)
    assert torch.equal(t[0], t[2])
    seen_identity = False
    for s in range(30):
        t = channel_adapt_gray_(to_tensor_normalized(img), rng(s), p=0.0)
        seen_identity |= torch.equal(t, to_tensor_normalized(img))
    assert seen_identity  # k == 3 with p == 0 keeps the image
    out = _none(channel_aug="exchange", channel_p=1.0)(img, rng(4))
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
    with pytest.raises(ValueError, match="channel_aug"):
        TrainTransform(channel_aug="swap")


def test_test_transform_resizes_and_normalises(img):
    out = TestTransform(height=16, width=8)(img)
    ref = np.asarray(Image.fromarray(img).resize((8, 16), Image.Resampling.LANCZOS))
    assert out.shape == (3, 16, 8) and torch.allclose(out, to_tensor_normalized(ref))


def test_single_channel_input_equals_its_rgb_version(img, tmp_path):
    from vireid.data.image import load_resized

    gray = img[..., 1]
    rgb = np.repeat(gray[..., None], 3, axis=2)
    tf = TrainTransform(height=H, width=W, erasing_p=1.0, flip_p=0.5, grayscale_p=0.5)
    for seed in range(4):
        assert torch.equal(tf(gray, rng(seed)), tf(rgb, rng(seed)))
    assert torch.equal(TestTransform(height=16, width=8)(gray), TestTransform(height=16, width=8)(rgb))
    Image.fromarray(gray, "L").save(tmp_path / "ir.png")
    one = load_resized(tmp_path / "ir.png", 20, 10)
    three = load_resized(tmp_path / "ir.png", 20, 10, keep_gray=False)
    assert one.shape == (20, 10) and three.shape == (20, 10, 3)
    assert all(np.array_equal(three[..., c], one) for c in range(3))
