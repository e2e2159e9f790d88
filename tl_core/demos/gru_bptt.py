"""One GRU layer of k stacked models with its backward pass written out (backpropagation through
time): what the transfer engine trains target models with, batched, on the CPU.

Autograd differentiating the written-out loop of `rnn_model.stacked` records every operation of
every step, saves a tensor for each, and replays them backward one by one, copying and summing
as it goes; at the demo's sizes (32 hidden units, a few dozen sequences per model) most of a
training step is that bookkeeping. Here the forward pass writes each step's gates into buffers
made once, and the backward pass is a dozen operations per step, with the weights' gradients
summed step by step by matrix products. About 1.5x faster per layer than autograd on a CPU
(benchmarks/bench_rnn.py times whole sweeps).

For one step, with gates in torch's order (r, z, n), g = W_hh h_{t−1} + b_hh and i = W_ih x_t + b_ih:

    r, z = σ(i_rz + g_rz),   n = tanh(i_n + r g_n),   h_t = n + z (h_{t−1} − n)

and for the gradient dh reaching h_t (from the output and from step t + 1):

    da_n = dh (1 − z)(1 − n²)                    (a_n = i_n + r g_n)
    dg_n = da_n r,   da_r = da_n g_n r (1 − r),   da_z = dh (h_{t−1} − n) z (1 − z)
    dh_{t−1} += dh z + [da_r, da_z, dg_n] W_hh

where dg_rz = di_rz = [da_r, da_z] and di_n = da_n. Each step's four are kept side by side as
[dg_n, da_r, da_z, da_n], so that [:3H] is dg in gate order (n, r, z) and [H:] is di in (r, z, n).
"""

from __future__ import annotations

import torch

_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input  # dy σ(1 − σ), written into grad_input


class StackedGRU(torch.autograd.Function):
    """apply(pooled, x, w_ih, w_hh, b_ih, b_hh): what `rnn_model.stacked("gru", ...)` returns, the
    hidden states (k, B, T, H) of k models' layers, or with `pooled` their mean over the steps
    (k, B, H); arguments laid out as it takes them, with the models on the first axis."""

    @staticmethod
    def forward(ctx, pooled, x, w_ih, w_hh, b_ih, b_hh):
        k, batch, steps, n_in = x.shape
        hidden = w_hh.shape[-1]
        # The inputs' part of every step's gates at once, step-major: (T, k, B, 3H).
        if n_in == 1:
            from_input = torch.addcmul(b_ih.unsqueeze(1), x.permute(2, 0, 1, 3), w_ih.mT)
        else:
            from_input = torch.baddbmm(b_ih.unsqueeze(1), x.transpose(1, 2).reshape(k, -1, n_in), w_ih.mT)
            from_input = from_input.view(k, steps, batch, -1).transpose(0, 1).contiguous()
        i_rz, i_n = _steps(from_input, 0, 2 * hidden), _steps(from_input, 2 * hidden, 3 * hidden)
        # Every step's h, g, σ(r, z) and n, kept for the backward pass; step t's views made once.
        h = x.new_empty(steps + 1, k, batch, hidden)
        h[0].zero_()
        g = x.new_empty(steps, k, batch, 3 * hidden)
        rz = x.new_empty(steps, k, batch, 2 * hidden)
        n = x.new_empty(steps, k, batch, hidden)
        h_, g_, rz_, n_ = h.unbind(0), g.unbind(0), rz.unbind(0), n.unbind(0)
        g_rz, g_n = _steps(g, 0, 2 * hidden), _steps(g, 2 * hidden, 3 * hidden)
        r_, z_ = _steps(rz, 0, hidden), _steps(rz, hidden, 2 * hidden)
        w_hh_t, b_hh_ = w_hh.mT, b_hh.unsqueeze(1)
        for t in range(steps):
            torch.baddbmm(b_hh_, h_[t], w_hh_t, out=g_[t])
            torch.add(i_rz[t], g_rz[t], out=rz_[t]).sigmoid_()
            torch.addcmul(i_n[t], r_[t], g_n[t], out=n_[t]).tanh_()
            torch.lerp(n_[t], h_[t], z_[t], out=h_[t + 1])
        ctx.pooled = pooled
        ctx.save_for_backward(x, w_ih, w_hh, h, g, rz, n)
        states = h[1:]
        return states.mean(0) if pooled else states.permute(1, 2, 0, 3).contiguous()

    @staticmethod
    def backward(ctx, grad):
        x, w_ih, w_hh, h, g, rz, n = ctx.saved_tensors
        k, batch, steps, n_in = x.shape
        hidden = w_hh.shape[-1]
        wants_x, wants_w_ih, wants_w_hh, wants_b_ih, wants_b_hh = ctx.needs_input_grad[1:]
        # What the output sends each h_t: with `pooled`, the mean's grad/T to every step.
        from_output = [grad / steps] * steps if ctx.pooled else grad.permute(2, 0, 1, 3).unbind(0)
        d = x.new_empty(steps, k, batch, 4 * hidden)  # [dg_n, da_r, da_z, da_n] per step
        d_g, d_i = _steps(d, 0, 3 * hidden), _steps(d, hidden, 4 * hidden)
        d_gn, d_rz = _steps(d, 0, hidden), _steps(d, hidden, 3 * hidden)
        d_r, d_z, d_an = (_steps(d, (j + 1) * hidden, (j + 2) * hidden) for j in range(3))
        h_, rz_, n_, x_ = h.unbind(0), rz.unbind(0), n.unbind(0), x.unbind(2)
        r_, z_, g_n = _steps(rz, 0, hidden), _steps(rz, hidden, 2 * hidden), _steps(g, 2 * hidden, 3 * hidden)
        w_hh_nrz = torch.cat([w_hh[:, 2 * hidden :], w_hh[:, : 2 * hidden]], 1)  # rows as d_g's gates
        dw_hh = x.new_zeros(k, 3 * hidden, hidden)  # rows (n, r, z)
        dw_ih = x.new_zeros(k, 3 * hidden, n_in)
        dn, work = x.new_empty(k, batch, hidden), x.new_empty(k, batch, hidden)  # reused every step
        dh = from_output[-1].contiguous()
        for t in range(steps - 1, -1, -1):
            torch.addcmul(dh, dh, z_[t], value=-1, out=dn)  # dh (1 − z)
            torch.mul(n_[t], n_[t], out=work)
            torch.addcmul(dn, dn, work, value=-1, out=d_an[t])  # da_n
            torch.mul(d_an[t], r_[t], out=d_gn[t])
            torch.mul(d_an[t], g_n[t], out=d_r[t])
            torch.sub(h_[t], n_[t], out=work)
            torch.mul(dh, work, out=d_z[t])
            _sigmoid_backward(d_rz[t], rz_[t], grad_input=d_rz[t])  # da_r, da_z
            if wants_w_hh:
                dw_hh.baddbmm_(d_g[t].mT, h_[t])
            if wants_w_ih:
                dw_ih.baddbmm_(d_i[t].mT, x_[t])
            if t:
                dh = torch.addcmul(from_output[t - 1], dh, z_[t]).baddbmm_(d_g[t], w_hh_nrz)
        sums = d.sum(0).sum(1) if wants_b_ih or wants_b_hh else None  # (k, 4H)
        return (
            None,
            torch.matmul(d[..., hidden:], w_ih).permute(1, 2, 0, 3) if wants_x else None,
            dw_ih if wants_w_ih else None,
            _nrz_to_rzn(dw_hh, hidden) if wants_w_hh else None,
            sums[:, hidden:] if wants_b_ih else None,
            _nrz_to_rzn(sums[:, : 3 * hidden], hidden) if wants_b_hh else None,
        )


def _steps(buffer: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, ...]:
    """Step t's view of a step-major buffer's last-axis columns [start, stop), for every t."""
    return buffer[..., start:stop].unbind(0)


def _nrz_to_rzn(t: torch.Tensor, hidden: int) -> torch.Tensor:
    """Rows of the gates (n, r, z) along axis 1 put back in torch's order (r, z, n)."""
    return torch.cat([t[:, hidden:], t[:, :hidden]], 1)
