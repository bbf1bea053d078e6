"""keep_fp32: float32 islands under autocast, the plain function outside it."""

from __future__ import annotations

import torch

from vireid.utils.precision import fp32_pins, is_pinned, keep_fp32, upcast


@keep_fp32
def product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a @ b) / a.shape[-1]


def plain_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a @ b) / a.shape[-1]


def test_float32_under_autocast_and_reduced_inputs_are_upcast():
    a, b = torch.randn(4, 16), torch.randn(16, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert plain_product(a, b).dtype == torch.bfloat16
        out = product(a, b)
        low = product(a.bfloat16(), b.bfloat16())
    assert out.dtype == torch.float32
    assert torch.equal(out, plain_product(a, b))  # float32 inputs: exactly the float32 result
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, (a.bfloat16().float() @ b.bfloat16().float()) / 16)


def test_outside_autocast_the_plain_function_bit_for_bit():
    a, b = torch.randn(4, 16), torch.randn(16, 3)
    assert torch.equal(product(a, b), plain_product(a, b))
    d = product(a.double(), b.double())
    assert d.dtype == torch.float64  # no downcast of float64 references
    bf = product(a.bfloat16(), b.bfloat16())
    assert bf.dtype == torch.bfloat16  # a model cast to bf16 entirely stays bf16


def test_pins_can_be_switched_off_and_are_visible():
    a, b = torch.randn(4, 16), torch.randn(16, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with fp32_pins(False):
            assert product(a, b).dtype == torch.bfloat16
        assert product(a, b).dtype == torch.float32
    assert is_pinned(product) and not is_pinned(plain_product)


def test_upcast_nested():
    x = [torch.ones(2, dtype=torch.bfloat16), (torch.ones(1, dtype=torch.float16), 3)]
    y = upcast(x)
    assert y[0].dtype == torch.float32 and y[1][0].dtype == torch.float32 and y[1][1] == 3
