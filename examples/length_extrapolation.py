"""Context extension that pays: fine-tune each RoPE scaling rule at 4x the training length, then test up to 8x.

    python examples/length_extrapolation.py            # about 10 minutes on a 2-core CPU; plots into docs/
    python examples/length_extrapolation.py --quick    # well under a minute: the CI smoke test

Two tasks, each learned from scratch with optax by a small causal transformer of rope_jax.nn.RoPEAttention
layers (width 64, 2 layers, 4 heads of 16) at a short length L = 32 with plain RoPE:

- copy: a stream of random tokens; at every position t >= 8 predict the token seen 8 steps earlier.
- passkey: random filler tokens hide a marker followed by a 3-token key at a random depth; the sequence ends
  with a query token, after which the model must produce the key. A sample counts only if all 3 key tokens are
  right (greedy decoding would then print the key exactly).

Then, for every context-extension rule (plain RoPE, linear/PI, NTK, YaRN, dynamic NTK, LongRoPE with
hand-set factors), the trained weights are fine-tuned at 4L with that rule for 0, 25, 100 and 400 steps (one
constant-learning-rate run, evaluated at each budget), on the same data for every rule, and evaluated at L,
2L, 4L and 8L, the passkey at five depths too. The rule stays what it was during fine-tuning (factor 4) at
every evaluation length, as a deployed model would keep it: 8L tests what a rule buys beyond the fine-tuned
length. Prints a table per task (mean and min-max over the random seeds) and writes three PNGs. Uses only the
public API of rope_jax.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import pathlib
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm import tqdm

import rope_jax
from rope_jax.nn import RoPEAttention

TRAIN_LENGTH = 32
EXTENSION_FACTOR = 4
EVAL_MULTIPLES = (1, 2, 4, 8)
WIDTH, DEPTH, HEADS, HEAD_DIM = 64, 2, 4, 16

COPY_LAG = 8
FILLER_TOKENS = 16  # tokens 0..15: copy-task stream and passkey filler
KEY_SYMBOLS = 10  # tokens 16..25: passkey symbols, never used as filler
KEY_LENGTH = 3
MARKER = FILLER_TOKENS + KEY_SYMBOLS  # precedes the hidden key
QUERY = MARKER + 1  # asks for the key at the end
VOCAB = QUERY + 1
PASSKEY_DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)

TASKS = ("copy", "passkey")
RULES = ("plain RoPE", "linear (PI)", "NTK", "YaRN", "dynamic NTK", "LongRoPE")


@dataclasses.dataclass(frozen=True)
class StudySize:
    """How much work the study does.

    Attributes:
        base_steps: Training steps from scratch at length L, per task and random seed.
        budgets: Fine-tuning budgets (steps at 4L) at which every rule is evaluated; 0 = inference-time only.
        seeds: Random seeds; each gives its own base model, fine-tuning data and evaluation data.
        batch_size: Sequences per training step (at 4L: a quarter, so steps cost about the same tokens).
        eval_samples: Evaluation sequences per length (and per depth, for the passkey).
    """

    base_steps: int
    budgets: tuple[int, ...]
    seeds: tuple[int, ...]
    batch_size: int
    eval_samples: int


DEFAULT_SIZE = StudySize(base_steps=800, budgets=(0, 25, 100, 400), seeds=(0, 1), batch_size=64, eval_samples=64)
QUICK_SIZE = StudySize(base_steps=20, budgets=(0, 2), seeds=(0,), batch_size=8, eval_samples=4)


def rule_rope(rule: str) -> rope_jax.RoPE:
    """The RoPE a rule uses from fine-tuning on, at every length (factor 4 = fine-tuning length / L)."""
    factor, pairs = float(EXTENSION_FACTOR), HEAD_DIM // 2
    if rule == "plain RoPE":
        scaling = rope_jax.Default()
    elif rule == "linear (PI)":
        scaling = rope_jax.Linear(factor)
    elif rule == "NTK":
        scaling = rope_jax.NTK(factor)
    elif rule == "YaRN":
        scaling = rope_jax.YaRN(factor=factor, original_max_position_embeddings=TRAIN_LENGTH)
    elif rule == "dynamic NTK":
        # factor 1: at length n > L the base grows as NTK(n / L) would set it, so no length is over-stretched.
        scaling = rope_jax.DynamicNTK(factor=1.0, max_position_embeddings=TRAIN_LENGTH)
    elif rule == "LongRoPE":
        # No evolutionary search: the two fastest pairs keep their frequency, the rest are divided by factors
        # rising geometrically to 4; plain RoPE (short_factor 1) up to L.
        long_factor = tuple(min(factor, max(1.0, factor ** ((pair - 1) / (pairs - 3)))) for pair in range(pairs))
        scaling = rope_jax.LongRoPE(
            short_factor=(1.0,) * pairs,
            long_factor=long_factor,
            original_max_position_embeddings=TRAIN_LENGTH,
            factor=factor,
        )
    else:
        raise ValueError(f"unknown rule {rule!r}; expected one of {RULES}")
    return rope_jax.RoPE(head_dim=HEAD_DIM, scaling=scaling)


class Transformer(nnx.Module):
    """A pre-norm causal transformer of RoPEAttention layers with a next-token head.

    Args:
        rope: The RoPE every attention layer applies.
        rngs: Parameter initialisation.
    """

    def __init__(self, rope: rope_jax.RoPE, rngs: nnx.Rngs):
        self.embed = nnx.Embed(VOCAB, WIDTH, rngs=rngs)
        self.attention = nnx.List(
            [RoPEAttention(HEADS, WIDTH, head_dim=HEAD_DIM, rope=rope, rngs=rngs) for _ in range(DEPTH)]
        )
        self.attention_norms = nnx.List([nnx.RMSNorm(WIDTH, rngs=rngs) for _ in range(DEPTH)])
        self.mlp_in = nnx.List([nnx.Linear(WIDTH, 4 * WIDTH, rngs=rngs) for _ in range(DEPTH)])
        self.mlp_out = nnx.List([nnx.Linear(4 * WIDTH, WIDTH, rngs=rngs) for _ in range(DEPTH)])
        self.mlp_norms = nnx.List([nnx.RMSNorm(WIDTH, rngs=rngs) for _ in range(DEPTH)])
        self.final_norm = nnx.RMSNorm(WIDTH, rngs=rngs)
        self.head = nnx.Linear(WIDTH, VOCAB, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        """Logits ``[B, T, VOCAB]`` for tokens ``[B, T]``."""
        x = self.embed(tokens)
        for layer in range(DEPTH):
            x = x + self.attention[layer](self.attention_norms[layer](x))
            x = x + self.mlp_out[layer](jax.nn.gelu(self.mlp_in[layer](self.mlp_norms[layer](x))))
        return self.head(self.final_norm(x))


# ------------------------------------------------------------------------------------------------- data


@functools.partial(jax.tree_util.register_dataclass, data_fields=["tokens", "targets", "weights"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class Batch:
    """Next-token training data: predict ``targets`` where ``weights`` is 1.

    Attributes:
        tokens, targets: int32 ``[B, T]``.
        weights: float32 ``[B, T]``, 1 at the scored positions.
    """

    tokens: np.ndarray
    targets: np.ndarray
    weights: np.ndarray


def copy_batch(rng: np.random.Generator, size: int, length: int) -> Batch:
    """Random tokens; from position COPY_LAG on, the target is the token COPY_LAG steps back."""
    tokens = rng.integers(0, FILLER_TOKENS, (size, length), dtype=np.int32)
    targets = np.zeros_like(tokens)
    targets[:, COPY_LAG:] = tokens[:, :-COPY_LAG]
    weights = np.zeros((size, length), np.float32)
    weights[:, COPY_LAG:] = 1.0
    return Batch(tokens, targets, weights)


def passkey_batch(rng: np.random.Generator, size: int, length: int, depth: float | None = None) -> Batch:
    """Filler with ``MARKER k1 k2 k3`` hidden at ``depth`` (0 = start, 1 = just before the query; None: random)
    and ``QUERY k1 k2 k3`` at the end; the targets are the key tokens after the query (teacher forcing)."""
    tokens = rng.integers(0, FILLER_TOKENS, (size, length), dtype=np.int32)
    keys = np.argsort(rng.random((size, KEY_SYMBOLS)), axis=1)[:, :KEY_LENGTH].astype(np.int32) + FILLER_TOKENS
    block = KEY_LENGTH + 1
    last_start = length - 2 * block
    if depth is None:
        starts = rng.integers(0, last_start + 1, size)
    else:
        starts = np.full(size, round(depth * last_start))
    rows = np.arange(size)[:, None]
    tokens[rows, starts[:, None] + np.arange(block)] = np.concatenate([np.full((size, 1), MARKER), keys], axis=1)
    tokens[:, -block:] = np.concatenate([np.full((size, 1), QUERY), keys], axis=1)
    targets = np.zeros_like(tokens)
    targets[:, -block:-1] = keys
    weights = np.zeros((size, length), np.float32)
    weights[:, -block:-1] = 1.0
    return Batch(tokens, targets, weights)


def training_batch(task: str, rng: np.random.Generator, size: int, length: int) -> Batch:
    """A batch of ``task`` at ``length`` (passkeys at random depths)."""
    return copy_batch(rng, size, length) if task == "copy" else passkey_batch(rng, size, length)


def evaluation_batch(task: str, seed: int, size: int, length: int) -> Batch:
    """Fixed evaluation data per (task, seed, length); for the passkey, ``size`` samples at every depth in
    PASSKEY_DEPTHS, stacked depth-major."""
    rng = np.random.default_rng((seed, TASKS.index(task), length, 2))
    if task == "copy":
        return copy_batch(rng, size, length)
    parts = [passkey_batch(rng, size, length, depth) for depth in PASSKEY_DEPTHS]
    return Batch(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Batch)))


# --------------------------------------------------------------------------------------- train and test


def masked_loss(logits: jax.Array, batch: Batch) -> jax.Array:
    """Mean cross-entropy over the scored positions."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch.targets)
    return (losses * batch.weights).sum() / batch.weights.sum()


@functools.partial(jax.jit, static_argnames=("graphdef", "optimizer"))
def train_step(graphdef, optimizer: optax.GradientTransformation, params, optimizer_state, batch: Batch):
    """One optax step; compiled once per (model graph, i.e. rule, optimizer, batch shape)."""

    def loss_of(params):
        return masked_loss(nnx.merge(graphdef, params)(batch.tokens), batch)

    loss, grads = jax.value_and_grad(loss_of)(params)
    updates, optimizer_state = optimizer.update(grads, optimizer_state, params)
    return optax.apply_updates(params, updates), optimizer_state, loss


@functools.partial(jax.jit, static_argnames=("graphdef", "task"))
def sample_scores(graphdef, params, batch: Batch, task: str) -> jax.Array:
    """Per-sample accuracy ``[B]``: the fraction of copied tokens right, or 1 if the whole passkey is right."""
    predictions = jnp.argmax(nnx.merge(graphdef, params)(batch.tokens), axis=-1)
    right = (predictions == batch.targets).astype(jnp.float32) * batch.weights
    if task == "copy":
        return right.sum(axis=1) / batch.weights.sum(axis=1)
    return (right.sum(axis=1) == batch.weights.sum(axis=1)).astype(jnp.float32)


def with_rope(rope: rope_jax.RoPE) -> nnx.GraphDef:
    """The graph of a Transformer using ``rope``: merged with trained parameters, it swaps the RoPE."""
    graphdef, _ = nnx.split(Transformer(rope, nnx.Rngs(0)))
    return graphdef


def train(graphdef, params, optimizer, batches: Callable[[], Batch], steps: int, on_step=None):
    """``steps`` optax steps from ``params`` on ``batches()``; ``on_step(step, params, loss)`` after each."""
    optimizer_state = optimizer.init(params)
    for step in range(1, steps + 1):
        params, optimizer_state, loss = train_step(graphdef, optimizer, params, optimizer_state, batches())
        if on_step is not None:
            on_step(step, params, loss)
    return params


def evaluate(graphdef, params, task: str, seed: int, size: StudySize) -> np.ndarray:
    """Accuracy at every evaluation length ``[lengths]``; for the passkey ``[depths, lengths]`` instead."""
    columns = []
    for multiple in EVAL_MULTIPLES:
        batch = evaluation_batch(task, seed, size.eval_samples, multiple * TRAIN_LENGTH)
        scores = np.asarray(sample_scores(graphdef, params, batch, task))
        columns.append(scores.mean() if task == "copy" else scores.reshape(len(PASSKEY_DEPTHS), -1).mean(axis=1))
    return np.stack(columns, axis=-1)


def finetune_and_evaluate(
    task: str, seed: int, rule: str, params, size: StudySize, optimizer, progress: tqdm
) -> np.ndarray:
    """Fine-tune trained ``params`` at 4L with ``rule`` and evaluate after every budget.

    Returns:
        Accuracies ``[budgets, lengths]`` (copy) or ``[budgets, depths, lengths]`` (passkey).
    """
    graphdef = with_rope(rule_rope(rule))
    long_index = EVAL_MULTIPLES.index(EXTENSION_FACTOR)
    by_budget = {}

    def checkpoint(step: int, tuned_params, loss: float | None) -> None:
        if step in size.budgets:
            by_budget[step] = evaluate(graphdef, tuned_params, task, seed, size)
            loss_text = "" if loss is None else f" loss {float(loss):.3f}"
            progress.update()
            progress.write(
                f"task={task} seed={seed} rule={rule} steps={step}{loss_text} "
                f"accuracy at 4L {by_budget[step][..., long_index].mean():.3f}",
                file=sys.stderr,
            )

    checkpoint(0, params, None)
    rng = np.random.default_rng((seed, TASKS.index(task), 1))  # the same fine-tuning data for every rule
    length, batch_size = EXTENSION_FACTOR * TRAIN_LENGTH, max(1, size.batch_size // EXTENSION_FACTOR)
    train(
        graphdef,
        params,
        optimizer,
        lambda: training_batch(task, rng, batch_size, length),
        max(size.budgets),
        on_step=checkpoint,
    )
    return np.stack([by_budget[budget] for budget in size.budgets])


def run_study(size: StudySize) -> dict[str, dict[str, np.ndarray]]:
    """Train a base model per task and seed, then fine-tune and evaluate it with every rule.

    Returns:
        ``results[task][rule]``: accuracies ``[seeds, budgets, lengths]`` (copy) or
        ``[seeds, budgets, depths, lengths]`` (passkey).
    """
    base_optimizer = optax.adamw(
        optax.warmup_cosine_decay_schedule(0.0, 3e-3, size.base_steps // 10 + 1, size.base_steps), weight_decay=0.01
    )
    # Constant after a short warm-up, so evaluating one run at 25, 100 and 400 steps equals three separate runs.
    finetune_optimizer = optax.adamw(optax.linear_schedule(0.0, 1e-3, 10), weight_decay=0.01)
    total = len(TASKS) * len(size.seeds) * (1 + len(RULES) * len(size.budgets))
    progress = tqdm(total=total, file=sys.stderr, unit="run", dynamic_ncols=True)
    results: dict[str, dict[str, list[np.ndarray]]] = {task: {rule: [] for rule in RULES} for task in TASKS}
    for task in TASKS:
        for seed in size.seeds:
            graphdef, params = nnx.split(Transformer(rule_rope("plain RoPE"), nnx.Rngs(seed)))
            rng = np.random.default_rng((seed, TASKS.index(task), 0))
            params = train(
                graphdef,
                params,
                base_optimizer,
                lambda rng=rng, task=task: training_batch(task, rng, size.batch_size, TRAIN_LENGTH),
                size.base_steps,
            )
            accuracy = evaluate(graphdef, params, task, seed, size)[..., 0].mean()
            progress.update()
            progress.write(
                f"task={task} seed={seed} base model trained at L, accuracy at L {accuracy:.3f}", file=sys.stderr
            )
            for rule in RULES:
                results[task][rule].append(
                    finetune_and_evaluate(task, seed, rule, params, size, finetune_optimizer, progress)
                )
    progress.close()
    return {task: {rule: np.stack(runs) for rule, runs in rules.items()} for task, rules in results.items()}


# ---------------------------------------------------------------------------------------------- report


def length_accuracy(results: np.ndarray) -> np.ndarray:
    """``[seeds, budgets, lengths]``: passkey results averaged over depths; copy results unchanged."""
    return results.mean(axis=2) if results.ndim == 4 else results


def print_tables(results: dict[str, dict[str, np.ndarray]], size: StudySize) -> None:
    """One table per task: a row per (rule, fine-tuning budget), mean (min-max over seeds) per length."""
    lengths = [multiple * TRAIN_LENGTH for multiple in EVAL_MULTIPLES]
    for task in TASKS:
        what = f"lag-{COPY_LAG} copy, token" if task == "copy" else "passkey (all depths), exact-key"
        print(
            f"\n{what} accuracy: trained at L={TRAIN_LENGTH}, fine-tuned at {EXTENSION_FACTOR}L; "
            f"mean (min-max) over {len(size.seeds)} seed(s)"
        )
        print(f"{'rule':12s} {'steps':>5s}" + "".join(f"{f'{n} ({n // TRAIN_LENGTH}L)':>19s}" for n in lengths))
        for rule in RULES:
            accuracy = length_accuracy(results[task][rule])
            for b, budget in enumerate(size.budgets):
                cells = (
                    f"{accuracy[:, b, i].mean():7.3f} ({accuracy[:, b, i].min():.2f}-{accuracy[:, b, i].max():.2f})"
                    for i in range(len(lengths))
                )
                print(f"{rule:12s} {budget:5d}" + "".join(f"{cell:>19s}" for cell in cells))


def best_and_worst_passkey_rules(results: dict[str, dict[str, np.ndarray]]) -> tuple[str, str]:
    """The rules with the highest and the lowest passkey accuracy after the largest budget (mean over lengths)."""
    score = {rule: length_accuracy(results["passkey"][rule])[:, -1].mean() for rule in RULES}
    return max(score, key=score.__getitem__), min(score, key=score.__getitem__)


def save_plots(results: dict[str, dict[str, np.ndarray]], size: StudySize, out: pathlib.Path) -> list[pathlib.Path]:
    """Accuracy vs fine-tuning steps, accuracy vs evaluation length, passkey depth x length heatmaps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    lengths = [multiple * TRAIN_LENGTH for multiple in EVAL_MULTIPLES]
    colors = dict(zip(RULES, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    spots = np.arange(len(size.budgets))
    paths = []

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True, sharey=True)
    for row, task in enumerate(TASKS):
        for column, multiple in enumerate((EXTENSION_FACTOR, EVAL_MULTIPLES[-1])):
            ax = axes[row, column]
            for rule in RULES:
                accuracy = length_accuracy(results[task][rule])[:, :, EVAL_MULTIPLES.index(multiple)]
                ax.plot(spots, accuracy.mean(0), marker="o", color=colors[rule], label=rule)
                ax.fill_between(spots, accuracy.min(0), accuracy.max(0), color=colors[rule], alpha=0.15)
            ax.set_title(f"{task}, evaluated at {multiple}L = {multiple * TRAIN_LENGTH}", fontsize=10)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(True, alpha=0.3)
    for ax in axes[1]:
        ax.set_xticks(spots, [str(budget) for budget in size.budgets])
        ax.set_xlabel(f"fine-tuning steps at {EXTENSION_FACTOR}L")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Accuracy vs fine-tuning budget (trained at L={TRAIN_LENGTH}; band: min-max over seeds)")
    fig.tight_layout()
    paths.append(out / "length_extrapolation_finetune.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True, sharey=True)
    for row, task in enumerate(TASKS):
        for column, budget_index in enumerate((0, len(size.budgets) - 1)):
            ax = axes[row, column]
            for rule in RULES:
                accuracy = length_accuracy(results[task][rule])[:, budget_index]
                ax.plot(lengths, accuracy.mean(0), marker="o", color=colors[rule], label=rule)
                ax.fill_between(lengths, accuracy.min(0), accuracy.max(0), color=colors[rule], alpha=0.15)
            ax.axvline(EXTENSION_FACTOR * TRAIN_LENGTH, color="k", ls="--", lw=1)
            ax.set_title(f"{task}, {size.budgets[budget_index]} fine-tuning steps", fontsize=10)
            ax.set_xscale("log", base=2)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(True, alpha=0.3)
    for ax in axes[1]:
        ax.set_xticks(lengths, [f"{n}\n({n // TRAIN_LENGTH}L)" for n in lengths])
        ax.set_xlabel("evaluation length (dashed: fine-tuning length)")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Accuracy vs evaluation length (trained at L={TRAIN_LENGTH})")
    fig.tight_layout()
    paths.append(out / "length_extrapolation_lengths.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    best, worst = best_and_worst_passkey_rules(results)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, label, rule in zip(axes, ("best", "worst"), (best, worst), strict=True):
        grid = results["passkey"][rule][:, -1].mean(axis=0)  # [depths, lengths]
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for (depth_index, length_index), value in np.ndenumerate(grid):
            color = "k" if value > 0.5 else "w"
            ax.text(length_index, depth_index, f"{value:.2f}", ha="center", va="center", fontsize=8, color=color)
        ax.set_xticks(range(len(lengths)), [str(n) for n in lengths])
        ax.set_yticks(range(len(PASSKEY_DEPTHS)), [f"{d:.0%}" for d in PASSKEY_DEPTHS])
        ax.set_xlabel("evaluation length")
        ax.set_title(f"{label}: {rule}, {size.budgets[-1]} steps", fontsize=10)
    axes[0].set_ylabel("key depth")
    fig.colorbar(image, ax=axes, label="passkey accuracy")
    paths.append(out / "length_extrapolation_passkey_depth.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Run the study, print the tables, save the plots; returns ``results[task][rule]`` (see run_study)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (one seed, few steps) for smoke tests")
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path(__file__).resolve().parent.parent / "docs",
        help="folder for the PNGs",
    )
    args = parser.parse_args(argv)
    size = QUICK_SIZE if args.quick else DEFAULT_SIZE
    start = time.perf_counter()
    results = run_study(size)
    print_tables(results, size)
    best, worst = best_and_worst_passkey_rules(results)
    print(f"\npasskey after {size.budgets[-1]} steps: best rule {best}, worst rule {worst}")
    for path in save_plots(results, size, args.out):
        print(f"plot written to {path}")
    print(f"wall time {time.perf_counter() - start:.0f} s")
    return results


if __name__ == "__main__":
    main()
