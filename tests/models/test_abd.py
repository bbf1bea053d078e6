import pytest
import torch

from vireid.errors import ShapeError
from vireid.models.abd import CAM, PAM


def _x(seed=0, shape=(2, 16, 5, 3)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("module", [CAM(16), PAM(16)])
def test_identity_at_init_and_shapes(module):
    x = _x()
    assert module.gamma.item() == 0.0
    y = module(x)
    assert y.shape == x.shape
    assert torch.equal(y, x)


def test_cam_matches_einsum_reference():
    cam = CAM(16)
    with torch.no_grad():
        cam.gamma.fill_(0.7)
    x = _x(1) * 0.3
    f = x.flatten(2)
    energy = torch.einsum("bcn,bdn->bcd", f, f)
    att = torch.softmax(-energy, dim=-1)  # == softmax(max - energy): shift invariance
    ref = 0.7 * torch.einsum("bcd,bdn->bcn", att, f).reshape(x.shape) + x
    torch.testing.assert_close(cam(x), ref, atol=1e-5, rtol=1e-5)


def _saved_bytes(fn) -> int:
    """Bytes autograd keeps for backward while ``fn`` runs (unique storages)."""
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def test_cam_in_chunks_gives_the_same_values_and_keeps_no_attention(monkeypatch):
    """A batch larger than CAM_CHUNK_BYTES is attended in chunks recomputed in backward: outputs
    and gradients as in one piece, and no (B, C, C) matrix kept (DEEN + ABD's attentive branch at
    the authors' batch kept four 2.4 GB ones)."""
    import vireid.models.abd as abd

    cam = CAM(16)
    with torch.no_grad():
        cam.gamma.fill_(0.7)
    x = _x(2, shape=(12, 16, 2, 2))

    def run():
        xi = x.clone().requires_grad_(True)
        out = cam(xi)
        out.square().sum().backward()
        grads = (xi.grad, cam.gamma.grad.clone())
        cam.gamma.grad = None
        return out.detach(), grads

    whole, whole_grads = run()
    kept_whole = _saved_bytes(lambda: cam(x.clone().requires_grad_(True)).sum())
    monkeypatch.setattr(abd, "CAM_CHUNK_BYTES", 16 * 16 * 4 * 3)  # 3 samples per chunk: 4 chunks
    chunked, chunked_grads = run()
    kept_chunked = _saved_bytes(lambda: cam(x.clone().requires_grad_(True)).sum())
    torch.testing.assert_close(chunked, whole, atol=0, rtol=0)
    for a, b in zip(chunked_grads, whole_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    feats, attention = 12 * 16 * 4 * 4, 12 * 16 * 16 * 4  # bytes of (B, C, N) and (B, C, C)
    assert kept_whole >= 2 * feats + attention
    assert kept_chunked <= 2 * feats + 64  # the input and the output (for gamma's gradient) only
    with torch.no_grad():  # evaluation: chunks, nothing to recompute
        torch.testing.assert_close(cam(x), whole, atol=0, rtol=0)


def test_cam_traced_for_export_is_one_piece_at_any_batch(monkeypatch):
    """Traced (ONNX export, dynamic batch) CAM records the one-piece attention, without a Python
    branch on traced shapes: a traced chunk split would fix the batch it was traced at."""
    import vireid.models.abd as abd

    monkeypatch.setattr(abd, "CAM_CHUNK_BYTES", 16 * 16 * 4 * 3)  # 3 samples per chunk
    cam = CAM(16).eval()
    with torch.no_grad():
        cam.gamma.fill_(0.7)
    traced = torch.jit.trace(cam, _x(3, shape=(7, 16, 2, 2)))
    for b in (2, 7, 12):
        x = _x(4, shape=(b, 16, 2, 2))
        with torch.no_grad():
            torch.testing.assert_close(traced(x), cam(x), atol=1e-6, rtol=1e-6)


def test_pam_matches_einsum_reference():
    torch.manual_seed(0)
    pam = PAM(16, reduction=8)
    with torch.no_grad():
        pam.gamma.fill_(-0.4)
    assert pam.query_conv.out_channels == 2 and pam.value_conv.out_channels == 16
    x = _x(2)
    f = x.flatten(2)

    def conv(c, t):
        return torch.einsum("oc,bcn->bon", c.weight[:, :, 0, 0], t) + c.bias[None, :, None]

    q, k, v = conv(pam.query_conv, f), conv(pam.key_conv, f), conv(pam.value_conv, f)
    att = torch.softmax(torch.einsum("bon,bom->bnm", q, k), dim=-1)  # rows: query positions
    ref = -0.4 * torch.einsum("bcm,bnm->bcn", v, att).reshape(x.shape) + x
    torch.testing.assert_close(pam(x), ref, atol=1e-5, rtol=1e-5)


def test_gradients_reach_gamma_and_convs():
    for module in (CAM(16), PAM(16)):
        x = _x(3)
        module(x).pow(2).sum().backward()
        assert module.gamma.grad.abs().item() > 0  # gamma learns from 0
        module.zero_grad()
        with torch.no_grad():
            module.gamma.fill_(0.5)
        xg = x.clone().requires_grad_(True)
        module(xg).pow(2).sum().backward()
        for name, p in module.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        assert xg.grad.abs().sum() > 0


def test_state_dict_names_and_bad_input():
    assert set(PAM(16).state_dict()) == {
        "gamma",
        "query_conv.weight",
        "query_conv.bias",
        "key_conv.weight",
        "key_conv.bias",
        "value_conv.weight",
        "value_conv.bias",
    }
    assert set(CAM(16).state_dict()) == {"gamma"}
    with pytest.raises(ShapeError, match=r"\(B, 16, H, W\)"):
        CAM(16)(torch.randn(2, 8, 4, 4))
    with pytest.raises(ShapeError):
        PAM(16)(torch.randn(16, 4, 4))
