"""How a strategy's model is scored, and what its result holds.

``target_metric``/``target_loss``: accuracy and mean cross-entropy on the target test set.
``source_metric``/``source_loss``: on the source test set, with the SOURCE head applied to the
strategy's (possibly changed) blocks; where the strategy trains that same head itself (same
classes: scratch, fine-tune, partial, regularized, joint; or joint's own source head) the
strategy's model is used as it is. So feature extraction keeps the source accuracy exactly and
fine-tuning shows what the shared blocks forgot.

``history`` (epoch 0 = before training, then every ``history_every`` epochs and always the last
one; by default every epoch): "step" (the true epoch numbers), "source_metric",
"target_metric", "source_loss", "target_loss". Measuring never changes training, so the final
metrics do not depend on ``history_every``; a sweep that needs only them measures the two ends.
With ``history_rows`` the epochs before the last are measured on that many rows of each test set
(a fixed, stratified subset: :mod:`tl_core.subsets`), the last epoch, whose numbers are the
final metrics, on every row.

``extras``: "confusion_matrix" (target test, rows = true class, sklearn's convention) and
"misclassified" (up to ``N_MISCLASSIFIED`` target test examples, one of each of the commonest
confusions first: index, true, predicted, input as nested lists).

Evaluation runs under ``torch.inference_mode``, one model at a time (on the CPU it is
compute-bound, and a vmapped recurrence or grouped convolution is slower there), a model's source
and target test sets in one pass; the models of a batched group side by side in threads when
cores are spare (:class:`Measurers`). A measurement is reused where the same weights meet the
same test data again (:func:`measure_group`).
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix
from torch import nn

from tl_core.engine.plans import Twin
from tl_core.engine.types import Domain, Inspect
from tl_core.result import StrategyResult
from tl_core.runtime import one_core_threads
from tl_core.strategies import SOURCE_ONLY
from tl_core.subsets import stratified_rows

N_MISCLASSIFIED = 8


def scores(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy and mean cross-entropy over the last-but-one axis (works batched over models)."""
    accuracy = (logits.argmax(-1) == labels).float().mean(-1)
    loss = F.cross_entropy(
        logits.transpose(-1, -2) if logits.dim() == 3 else logits, labels, reduction="none"
    ).mean(-1)
    return accuracy, loss


@torch.inference_mode()
def evaluate(model: nn.Module, domain: Domain) -> dict[str, float]:
    """Accuracy and mean cross-entropy of a plain model on a domain's test set, as floats."""
    model.eval()
    accuracy, loss = scores(model(domain.x_test), domain.y_test)
    return {"accuracy": float(accuracy), "loss": float(loss)}


@torch.inference_mode()
def measure(twin: Twin, source: Domain, target: Domain) -> dict[str, float]:
    """A twin's four numbers: its source score (source head) and its target score."""
    twin.eval()
    source_accuracy, source_loss = scores(twin(source.x_test, head="source"), source.y_test)
    target_accuracy, target_loss = scores(twin(target.x_test), target.y_test)
    return {
        "source_metric": float(source_accuracy),
        "target_metric": float(target_accuracy),
        "source_loss": float(source_loss),
        "target_loss": float(target_loss),
    }


@torch.inference_mode()
def predict(twin: Twin, target: Domain) -> np.ndarray:
    twin.eval()
    return twin(target.x_test).argmax(-1).cpu().numpy()


def history_test_sets(domains: list[tuple[Domain, Domain]], rows: int | None) -> list[tuple[Domain, Domain]]:
    """Each (source, target) pair with its test sets cut to the `rows` the history measures
    before the last epoch (a fixed, stratified subset: tl_core.subsets). Domains that share test
    tensors share the cut ones, so that a measurement of equal weights is reused there too."""
    cut: dict[int, Domain] = {}

    def subset(d: Domain) -> Domain:
        if id(d.x_test) not in cut:
            idx = torch.as_tensor(stratified_rows(d.y_test.cpu().numpy(), rows), device=d.device)
            cut[id(d.x_test)] = (
                d
                if len(idx) == len(d.y_test)
                else Domain(d.x_train, d.y_train, d.x_test[idx], d.y_test[idx], d.classes)
            )
        return cut[id(d.x_test)]

    return [(subset(source), subset(target)) for source, target in domains]


def empty_history() -> dict[str, list[float]]:
    return {"step": [], "source_metric": [], "target_metric": [], "source_loss": [], "target_loss": []}


def append(history: dict[str, list], step: int, numbers: dict[str, float]) -> None:
    history["step"].append(step)
    for key, value in numbers.items():
        history[key].append(value)


def strategy_result(
    strategy: str,
    history: dict,
    predicted: np.ndarray,
    target: Domain,
    wall_time: float,
    twin: Twin,
    inspect: Inspect,
) -> StrategyResult:
    """A trained strategy's result: its last measured numbers, its history and its extras."""
    last = {key: values[-1] for key, values in history.items() if key != "step"}
    extras = target_extras(predicted, target)
    if inspect:
        extras.update(inspect(twin.model))
    return StrategyResult(strategy=strategy, history=history, wall_time=wall_time, extras=extras, **last)


def source_only(
    source_model: nn.Module, source: Domain, target: Domain, inspect: Inspect = None
) -> StrategyResult:
    """The source_only strategy: the source model measured as it is, nothing trained."""
    start = time.perf_counter()
    twin = Twin(source_model, None)
    numbers = measure(twin, source, target)
    extras = target_extras(predict(twin, target), target)
    if inspect:
        extras.update(inspect(source_model))
    return StrategyResult(
        strategy=SOURCE_ONLY, wall_time=time.perf_counter() - start, extras=extras, **numbers
    )


def target_extras(predicted: np.ndarray, target: Domain) -> dict:
    """Confusion matrix on the target test set and a few misclassified examples."""
    truth = target.y_test.cpu().numpy()
    matrix = confusion_matrix(truth, predicted, labels=list(range(target.n_classes)))
    wrong = telling_mistakes(truth, predicted, matrix)[:N_MISCLASSIFIED]
    inputs = target.x_test[torch.as_tensor(wrong, device=target.device)].cpu()
    misclassified = [
        {"index": int(i), "true": int(truth[i]), "predicted": int(predicted[i]), "input": x.tolist()}
        for i, x in zip(wrong, inputs)
    ]
    return {"confusion_matrix": matrix.tolist(), "misclassified": misclassified}


def telling_mistakes(truth: np.ndarray, predicted: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The misclassified test examples in the order worth showing: one of each confusion (true
    class, predicted class), the commonest confusion first, then a second of each, and so on;
    equals in test-set order. The first few are then the mistakes the confusion matrix shows
    most, not the first in the test set (which is sorted by class)."""
    wrong = np.flatnonzero(predicted != truth)
    pairs = list(zip(truth[wrong].tolist(), predicted[wrong].tolist()))
    nth, seen = [], Counter()  # nth[j]: earlier mistakes of the same confusion
    for pair in pairs:
        nth.append(seen[pair])
        seen[pair] += 1
    order = sorted(range(len(wrong)), key=lambda j: (nth[j], -matrix[pairs[j]], wrong[j]))
    return wrong[order]


def digest(chunks) -> bytes:
    """A short digest of some bytes, in order (equal digests: equal bytes)."""
    hasher = hashlib.blake2b(digest_size=16)
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.digest()


def fingerprint(tensors: list[torch.Tensor]) -> bytes:
    """A short digest of the exact values of some tensors (equal digests: equal values)."""
    return digest(t.detach().cpu().numpy().tobytes() for t in tensors)


class Measurers:
    """Threads that measure members side by side, each with its own copy of the group's Twin:
    functional_call swaps a module's parameters in while it runs, so two threads must never
    call it on the same module at once."""

    def __init__(self, base: Twin, threads: int):
        self.base, self.pool = base, one_core_threads(threads, "tl-measure")
        self.copies: dict[int, Twin] = {}

    def twin(self) -> Twin:
        """This thread's copy (made at its first use, with the group's current `skip`)."""
        ident = threading.get_ident()
        if ident not in self.copies:
            self.copies[ident] = copy.deepcopy(self.base)
        return self.copies[ident]

    def map(self, fn, items):
        return self.pool.map(fn, items)

    def shutdown(self) -> None:
        self.pool.shutdown()


def measure_group(
    base: Twin,
    stacked: dict,
    domains: list[tuple[Domain, Domain]],
    seen: dict,
    pool: Measurers | None = None,
) -> dict[str, list]:
    """Each member's scores on its own source and target test sets, and its target predictions.

    `stacked` holds a batched group's parameters, member first; `domains[i]` is member i's
    (source, target) as its steps read them (after any frozen blocks). Member by member, not
    vmapped; with a `pool`, members are measured in its threads (the evaluations release the
    GIL). A member's two test sets go through its blocks in one pass (Twin.pair). A measurement
    is reused when the same parameter values meet the same pair of test sets again (`seen`
    remembers them, keyed by a digest of the values): at epoch 0 the members of one seed start
    alike whatever their target size, and the source score of feature extraction never changes
    (frozen blocks, the source's own head). Reuse is exact: a score is always one of the same
    pass, whatever was measured before.
    """
    from torch.func import functional_call

    # The parameters each score reads: not the head it does not use, nor the frozen blocks its
    # inputs have passed already (the inputs, told apart by identity, stand for those).
    skipped = tuple(f"model.blocks.{name}." for name in list(base.model.blocks)[: base.skip])
    unused = {
        "source": ("source_head." if base.tied else "model.head.",) + skipped,
        "target": ("source_head.",) + skipped,
    }

    def key(i: int, domain: str, pair: tuple[Domain, Domain]) -> tuple:
        path = [t[i] for n, t in stacked.items() if not n.startswith(unused[domain])]
        test_sets = tuple(id(t) for d in pair for t in (d.x_test, d.y_test))
        return (domain, test_sets, fingerprint(path))

    def measure_member(i: int) -> tuple[tuple, tuple]:
        source, target = domains[i]
        with torch.inference_mode():  # per thread: a pool's threads do not inherit the mode
            params = {n: t[i] for n, t in stacked.items()}
            twin = pool.twin() if pool else base
            target_logits, source_logits = functional_call(
                twin, params, (target.x_test,), {"x_source": source.x_test}
            )
            return tuple(
                (float(accuracy), float(loss), logits.argmax(-1))
                for logits, labels in ((source_logits, source.y_test), (target_logits, target.y_test))
                for accuracy, loss in [scores(logits, labels)]
            )

    keys = [(key(i, "source", pair), key(i, "target", pair)) for i, pair in enumerate(domains)]
    todo = {}  # each pair of keys not measured yet, and the first member that has it
    for i, pair_keys in enumerate(keys):
        if not all(k in seen for k in pair_keys):
            todo.setdefault(pair_keys, i)
    for pair_keys, numbers in zip(todo, (pool.map if pool else map)(measure_member, todo.values())):
        seen.update(zip(pair_keys, numbers))
    columns: dict[str, list] = {}
    for pair_keys in keys:
        for domain, k in zip(("source", "target"), pair_keys):
            accuracy, loss, predicted = seen[k]
            columns.setdefault(f"{domain}_metric", []).append(accuracy)
            columns.setdefault(f"{domain}_loss", []).append(loss)
            if domain == "target":
                columns.setdefault("predicted", []).append(predicted)
    return columns
