"""The recurrent classifier of the RNN demo: RNN, GRU or LSTM layers, read out by their mean state.

One recurrent layer turns a sequence x_1..x_T into hidden states h_1..h_T:

- plain RNN:  h_t = tanh(W_hh h_{t-1} + W_xh x_t + b)
- GRU:        r = σ(W_xr x_t + W_hr h_{t-1} + b_r),  z = σ(W_xz x_t + W_hz h_{t-1} + b_z),
              n = tanh(W_xn x_t + b_xn + r ⊙ (W_hn h_{t-1} + b_hn)),  h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
- LSTM:       i, f, o = σ(·), g = tanh(·) of W_x x_t + W_h h_{t-1} + b,
              c_t = f ⊙ c_{t-1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)

with h_0 = c_0 = 0. Layer l > 1 reads the hidden states of layer l − 1 as its input.

The class scores are a linear head on a dense layer, tanh(W_d h̄ + b_d), of the mean hidden state
h̄ = (1/T) Σ_t h_t of the last layer. MNIST-1D moves each digit along its sequence; the mean reads
the digit wherever it sits, while the last state holds only what the cell chose to keep, which a
model trained from scratch on a few labelled sequences learns poorly.

The model follows the transfer engine's convention: `blocks` holds one block per recurrent layer
("layer1", "layer2", ...) and then "dense", so partial fine-tuning can freeze the recurrent layers
and retrain the dense layer, between feature extraction (everything frozen) and fine-tuning
(nothing frozen); `head` is the classifier.

Three ways to compute the same recurrence, all reading the same parameters, laid out as torch's
modules lay them out:

- torch's fused kernels (nn.RNN / nn.GRU / nn.LSTM) train the source model;
- the loop above written out in tensor operations runs inside torch.func transforms: the
  transfer engine trains target models stacked, with vmap, which the fused kernels do not
  support. Under vmap the loop runs once for all the stacked models, in batched operations
  (:func:`stacked`, through :class:`_Recurrence`'s vmap rule); the GRU's with its backward
  pass written out too (:mod:`tl_core.demos.gru_bptt`);
- without autograd on a CPU (every measurement of a test set), :func:`evaluating`: the loop
  tuned for large batches, faster than the fused kernels there (on a GPU the fused kernels
  run a whole sequence in a few launches, and stay).

:data:`PRESETS` says how the source model of each cell trains, per quality.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tl_core.demos.gru_bptt import StackedGRU

CELLS = ("rnn", "gru", "lstm")
_MODULES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def _inside_torch_func() -> bool:
    """Whether a torch.func transform (vmap, grad) is running: the fused kernels cannot be used."""
    return torch._C._functorch.maybe_current_level() is not None


def stacked(
    cell: str,
    x: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
    pooled: bool = False,
) -> torch.Tensor:
    """Hidden states of one layer of k models at once, step by step (see module doc).

    Every argument has the models on its first axis: inputs x (k, B, T, n_in), weights as torch's
    modules lay them out (k, gates·H, n_in) and (k, gates·H, H), biases (k, gates·H). Returns the
    states (k, B, T, H), or with `pooled` their mean over the steps (k, B, H), which is all a
    classifier reads from its last layer. Gate order is torch's: GRU (r, z, n), LSTM (i, f, g, o).
    """
    k, batch, steps, n_in = x.shape
    hidden = w_hh.shape[-1]
    # W_x x_t + b for every step at once (it does not depend on h), laid out step-major and split
    # into one tensor per step: indexing [:, t] instead would make autograd's backward write a
    # full-size zero gradient for every step.
    from_input = torch.baddbmm(b_ih.unsqueeze(1), x.reshape(k, batch * steps, n_in), w_ih.transpose(1, 2))
    from_input = from_input.view(k, batch, steps, -1).permute(2, 0, 1, 3)
    w_hh_t, b_hh = w_hh.transpose(1, 2).contiguous(), b_hh.unsqueeze(1)
    h = x.new_zeros(k, batch, hidden)
    c = x.new_zeros(k, batch, hidden)
    states = []
    if cell == "gru":  # r and z in one sigmoid, and h = n + z(h − n) as one lerp: fewer operations
        x_rz, x_n = (gate.unbind(0) for gate in from_input.split([2 * hidden, hidden], dim=-1))
        for t in range(steps):
            h_rz, h_n = torch.baddbmm(b_hh, h, w_hh_t).split([2 * hidden, hidden], dim=-1)
            r, z = torch.sigmoid(x_rz[t] + h_rz).chunk(2, dim=-1)
            n = torch.tanh(x_n[t] + r * h_n)
            h = torch.lerp(n, h, z)
            states.append(h)
    else:
        per_step = from_input.unbind(0)
        for t in range(steps):
            gates = torch.baddbmm(per_step[t], h, w_hh_t) + b_hh
            if cell == "rnn":
                h = torch.tanh(gates)
            else:
                i, f, g, o = gates.chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            states.append(h)
    states = torch.stack(states, dim=2)
    return states.mean(2) if pooled else states


def _tanh_(t: torch.Tensor) -> torch.Tensor:
    """tanh(a) in place, given t = 2a, as 2σ(2a) − 1: on a CPU torch's sigmoid runs about twice
    as fast as its tanh, which dominates evaluating a large batch."""
    return t.sigmoid_().mul_(2).sub_(1)


@torch.no_grad()
def evaluating(
    cell: str,
    x: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
    pooled: bool = False,
) -> torch.Tensor:
    """The hidden states of one model's layer (x (B, T, n_in) in; (B, T, H), or with `pooled`
    their mean over the steps (B, H), out), for evaluation only: no autograd. On a CPU it
    evaluates the large batches of test sets 1.5 to 1.9 times faster than torch's fused kernels
    (1000 to 1500 sequences), as fast at 200: every step writes into buffers made once, its
    operands laid out contiguously; each tanh is a sigmoid (_tanh_), its argument's doubling
    folded into the weights; the GRU's gate z comes out as 1 − z = σ(−a), from negated weights,
    so that h moves toward n in one in-place lerp. With `pooled` the states are summed as they
    come, into one buffer.
    """
    batch, steps, n_in = x.shape
    hidden = w_hh.shape[-1]
    gates = w_hh.shape[0] // hidden
    # Row scale of each gate's weights: 2 where a tanh reads it (see _tanh_), −1 for GRU's z.
    scale = x.new_ones(gates, hidden)
    if cell == "rnn":
        scale[0] = 2
    elif cell == "gru":
        scale[1], scale[2] = -1, 2
    else:
        scale[2] = 2  # LSTM's g
    scale = scale.view(-1, 1)
    w_ih, w_hh, b_ih, b_hh = w_ih * scale, w_hh * scale, b_ih * scale[:, 0], b_hh * scale[:, 0]
    states = x.new_empty(batch, steps, hidden) if not pooled else x.new_zeros(batch, hidden)
    h_x = x.new_zeros(batch, hidden + n_in)  # [h_{t-1}, x_t]: one matmul for both
    h = h_x[:, :hidden]
    if cell == "gru":  # the input and hidden parts of n stay apart: r multiplies only the latter
        rows = slice(0, 2 * hidden)
        w_rz = torch.cat([w_hh[rows], w_ih[rows]], 1).t().contiguous()
        b_rz = b_ih[rows] + b_hh[rows]
        w_hn, w_in = w_hh[2 * hidden :].t().contiguous(), w_ih[2 * hidden :].t().contiguous()
        b_hn, b_in = b_hh[2 * hidden :], b_ih[2 * hidden :]
        rz, h_n, n = (x.new_empty(batch, size) for size in (2 * hidden, hidden, hidden))
        r, z_complement = rz[:, :hidden], rz[:, hidden:]
    else:
        w = torch.cat([w_hh, w_ih], 1).t().contiguous()
        b = b_ih + b_hh
        a = x.new_empty(batch, gates * hidden)
        c, tanh_c = x.new_zeros(batch, hidden), x.new_empty(batch, hidden)
    for t in range(steps):
        x_t = x[:, t]
        h_x[:, hidden:] = x_t
        if cell == "gru":
            torch.addmm(b_rz, h_x, w_rz, out=rz).sigmoid_()
            torch.addmm(b_hn, h, w_hn, out=h_n)
            torch.addmm(b_in, x_t, w_in, out=n)
            _tanh_(n.addcmul_(r, h_n))
            h.lerp_(n, z_complement)  # h + (1 − z)(n − h) = (1 − z) n + z h
        elif cell == "rnn":
            h.copy_(_tanh_(torch.addmm(b, h_x, w, out=a)))
        else:
            i, f, g, o = torch.addmm(b, h_x, w, out=a).sigmoid_().chunk(4, dim=-1)
            c.mul_(f).addcmul_(i, g.mul_(2).sub_(1))  # g = 2σ(2a) − 1 = tanh(a)
            torch.mul(_tanh_(torch.mul(c, 2, out=tanh_c)), o, out=h)
        if pooled:
            states.add_(h)
        else:
            states[:, t] = h
    return states.div_(steps) if pooled else states


class _Recurrence(torch.autograd.Function):
    """One layer's recurrence as torch.func transforms see it.

    Under vmap (the transfer engine trains target models stacked) its vmap rule runs every
    model's weights at once: a GRU on the CPU through gru_bptt.StackedGRU, whose backward pass
    is written out; otherwise through `stacked`, in plain batched operations that autograd records
    directly. Either is faster than vmap working through the loop's operations one by one
    (about 1.5x at a few models on a CPU; the fused kernels cannot be vmapped at all). Under
    other transforms (torch.func.grad of one model) it is `stacked` for a single model.
    """

    generate_vmap_rule = False

    @staticmethod
    def forward(cell, pooled, x, w_ih, w_hh, b_ih, b_hh):
        return stacked(cell, *(t.unsqueeze(0) for t in (x, w_ih, w_hh, b_ih, b_hh)), pooled).squeeze(0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.cell, ctx.pooled = inputs[:2]
        ctx.save_for_backward(*inputs[2:])

    @staticmethod
    def backward(ctx, grad):
        # Not on the engine's path (autograd differentiates the vmap rule's operations): the
        # layer is recomputed and differentiated by torch.func, which works inside transforms.
        from torch.func import vjp

        _, pullback = vjp(lambda *t: _Recurrence.forward(ctx.cell, ctx.pooled, *t), *ctx.saved_tensors)
        return (None, None, *pullback(grad))

    @staticmethod
    def vmap(info, in_dims, cell, pooled, *tensors):
        tensors = [
            t.movedim(d, 0) if d is not None else t.expand(info.batch_size, *t.shape)
            for t, d in zip(tensors, in_dims[2:])
        ]
        # Not inside another transform (torch.func.grad needs `stacked`), nor on a GPU: measured
        # on CPUs only, where its saving is autograd's per-operation bookkeeping.
        if cell == "gru" and tensors[0].device.type == "cpu" and not _inside_torch_func():
            return StackedGRU.apply(pooled, *tensors), 0
        return stacked(cell, *tensors, pooled), 0


def _initialise(rnn: nn.Module, cell: str, hidden: int) -> None:
    """Start each cell where it learns long sequences well (torch's uniform init otherwise).

    Plain RNN: an orthogonal W_hh keeps ‖h‖ from exploding or vanishing over the 40 steps at the
    start. LSTM: a forget-gate bias of 1 lets the cell remember by default (Jozefowicz et al.
    2015). The GRU needs neither.
    """
    with torch.no_grad():
        if cell == "rnn":
            nn.init.orthogonal_(rnn.weight_hh_l0)
        elif cell == "lstm":
            rnn.bias_ih_l0[hidden : 2 * hidden].fill_(1.0)
            rnn.bias_hh_l0[hidden : 2 * hidden].fill_(0.0)


class RecurrentLayer(nn.Module):
    """One recurrent layer: a sequence (B, T, n_in), or (B, T) of one number per step, in; every
    hidden state (B, T, H) out, or with `pooled` (the classifier's last layer) their mean over the
    steps (B, H)."""

    def __init__(self, cell: str, n_in: int, hidden: int, pooled: bool = False):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
        self.cell, self.pooled = cell, pooled
        self.rnn = _MODULES[cell](n_in, hidden, batch_first=True)  # nn.RNN's default is tanh
        _initialise(self.rnn, cell, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.states(x, self.pooled)

    def states(self, x: torch.Tensor, pooled: bool = False) -> torch.Tensor:
        """Every hidden state (B, T, H), or with `pooled` their mean over the steps (B, H)."""
        x = x.unsqueeze(-1) if x.dim() == 2 else x
        r = self.rnn
        weights = (r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0)
        if _inside_torch_func():
            return _Recurrence.apply(self.cell, pooled, x, *weights)
        if not torch.is_grad_enabled() and x.device.type == "cpu":  # a GPU's kernels are faster
            return evaluating(self.cell, x, *weights, pooled)
        states = r(x)[0]
        return states.mean(1) if pooled else states


class SequenceClassifier(nn.Module):
    """Recurrent layers on a 1-D sequence, a dense layer on the mean hidden state, a linear head.

    features(x) = tanh(W_d h̄ + b_d): the blocks in order, the last recurrent layer handing on
    only the mean h̄ of its hidden states to the dense block "dense"; the head turns it into class
    scores.
    """

    def __init__(self, n_classes: int, cell: str = "gru", hidden: int = 32, layers: int = 1):
        super().__init__()
        sizes = [1] + [hidden] * layers
        blocks = {
            f"layer{i + 1}": RecurrentLayer(cell, sizes[i], hidden, pooled=i == layers - 1)
            for i in range(layers)
        }
        blocks["dense"] = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())
        self.blocks = nn.ModuleDict(blocks)
        self.head = nn.Linear(hidden, n_classes)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden states of the last recurrent layer at every step: (B, T) in, (B, T, H) out."""
        *first, last = [block for name, block in self.blocks.items() if name != "dense"]
        for layer in first:
            x = layer(x)
        return last.states(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the head reads: the dense layer on h̄, the mean hidden state of the last layer."""
        for block in self.blocks.values():
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# ----------------------------------------------------------------------------------------------
# How the source model of each cell trains


@dataclass(frozen=True)
class SourcePreset:
    """How the source model is trained (Adam on mean cross-entropy), tuned on the 2000 training
    sequences of digits 0-4 (PRESET_SEQUENCES)."""

    epochs: int
    lr: float
    batch_size: int
    clip_grad_norm: float | None = None  # gradient norm cap (None = no clipping)
    # A source set k times as large (the ten digits of `shift`: k = 2) trains in batches k times
    # as large at k times the learning rate (the linear scaling rule): as many steps, so about
    # the same time, and as accurate for the gated cells. The plain RNN's clipped gradients do
    # not take the larger steps (it learns less): it keeps its batches and lr.
    scales_with_source: bool = True

    def for_source(self, n_train: int) -> dict:
        """The source training's settings (the engine's SourceSettings) on `n_train` sequences."""
        scale = max(1, round(n_train / PRESET_SEQUENCES)) if self.scales_with_source else 1
        return {
            "epochs": self.epochs,
            "lr": self.lr * scale,
            "batch_size": self.batch_size * scale,
            "clip_grad_norm": self.clip_grad_norm,
        }


# Source training per (quality, cell). "fast" takes seconds, for the lecture; "full" trains long
# enough for the GRU to pass the published MNIST-1D GRU accuracy (91%) on all ten digits.
# The plain RNN's gradient explodes now and then over 40 steps, so its norm is clipped at 1 and
# it takes small steps: it learns slowly, while the gated cells learn either preset well (the
# lesson of gates). The fast GRU (the default model) takes large steps, clipped at norm 1, so
# that it trains in the few seconds a lecture can wait on a 2-core CPU. benchmarks/bench_rnn.py
# prints each preset's time and source accuracy.
PRESETS = {
    ("fast", "gru"): SourcePreset(epochs=12, lr=2e-2, batch_size=96, clip_grad_norm=1.0),
    ("fast", "lstm"): SourcePreset(epochs=20, lr=1e-2, batch_size=64),
    ("fast", "rnn"): SourcePreset(
        epochs=50, lr=1e-3, batch_size=32, clip_grad_norm=1.0, scales_with_source=False
    ),
    ("full", "gru"): SourcePreset(epochs=40, lr=5e-3, batch_size=64),
    ("full", "lstm"): SourcePreset(epochs=40, lr=5e-3, batch_size=64),
    ("full", "rnn"): SourcePreset(
        epochs=100, lr=3e-3, batch_size=64, clip_grad_norm=1.0, scales_with_source=False
    ),
}
PRESET_SEQUENCES = 2000  # the source training set the presets are tuned on (digits 0-4)
