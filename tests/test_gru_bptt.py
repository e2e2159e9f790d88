"""The GRU layer whose backward pass is written out (tl_core.demos.gru_bptt): the engine trains
every GRU target model through it, so its gradients must be exactly what autograd would give."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tl_core.demos.gru_bptt import StackedGRU
from tl_core.demos.rnn_model import SequenceClassifier, stacked


def gru_inputs(k: int, batch: int, steps: int, n_in: int, hidden: int, dtype=torch.float64, seed: int = 0):
    """x and the weights of k models, as rnn_model.stacked takes them, each requiring grad."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [
        (k, batch, steps, n_in),
        (k, 3 * hidden, n_in),
        (k, 3 * hidden, hidden),
        (k, 3 * hidden),
        (k, 3 * hidden),
    ]
    return [(torch.randn(*s, generator=gen, dtype=dtype) * 0.5).requires_grad_() for s in shapes]


@pytest.mark.parametrize("pooled", [True, False])
@pytest.mark.parametrize("n_in", [1, 4])
def test_its_states_and_gradients_are_autograds_of_the_written_out_loop(pooled, n_in):
    inputs = gru_inputs(k=3, batch=5, steps=9, n_in=n_in, hidden=6)
    expected = stacked("gru", *inputs, pooled=pooled)
    got = StackedGRU.apply(pooled, *inputs)
    upstream = torch.randn_like(expected)
    assert torch.allclose(got, expected, atol=1e-12)
    for a, b in zip(
        torch.autograd.grad(got, inputs, upstream),
        torch.autograd.grad(expected, inputs, upstream),
        strict=True,
    ):
        assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("pooled", [True, False])
def test_its_gradients_match_finite_differences(pooled):
    inputs = gru_inputs(k=2, batch=3, steps=5, n_in=2, hidden=4)
    assert torch.autograd.gradcheck(lambda *t: StackedGRU.apply(pooled, *t), inputs)


def test_it_computes_only_the_gradients_asked_for():
    """Frozen weights (partial fine-tuning) and the data (the first layer) need no gradient."""
    x, w_ih, w_hh, b_ih, b_hh = gru_inputs(k=2, batch=3, steps=5, n_in=1, hidden=4)
    x.requires_grad_(False)
    w_ih.requires_grad_(False)
    out = StackedGRU.apply(True, x, w_ih, w_hh, b_ih, b_hh)
    grads = torch.autograd.grad(out.sum(), [w_hh, b_ih, b_hh])
    expected = torch.autograd.grad(
        stacked("gru", x, w_ih, w_hh, b_ih, b_hh, pooled=True).sum(), [w_hh, b_ih, b_hh]
    )
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(grads, expected, strict=True))


@pytest.mark.parametrize("layers", [1, 2])
def test_the_engines_way_gives_each_model_the_gradient_torchs_kernels_give_it_alone(layers):
    """The engine runs stacked models' forward pass under vmap and differentiates the sum of their
    losses with autograd (engine.batched.group_gradients): through this layer, each model's
    gradient must be the one nn.GRU gives it alone."""
    from torch.func import functional_call, vmap

    gen = torch.Generator().manual_seed(3)
    x, y = torch.randn(3, 8, 40, generator=gen), torch.randint(0, 5, (3, 8), generator=gen)
    models = [SequenceClassifier(5, "gru", hidden=16, layers=layers) for _ in range(3)]
    names = [n for n, _ in models[0].named_parameters()]
    stacked_params = {
        n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]).requires_grad_()
        for n in names
    }
    logits = vmap(lambda p, xi: functional_call(models[0], p, (xi,)))(stacked_params, x)
    losses = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)
    together = torch.autograd.grad(losses.sum(), [stacked_params[n] for n in names])
    for m, xi, yi, i in zip(models, x, y, range(3)):
        alone = torch.autograd.grad(F.cross_entropy(m(xi), yi), list(m.parameters()))
        for name, a, b in zip(names, alone, together, strict=True):
            assert torch.allclose(b[i], a, atol=1e-5), (name, i)
