"""The training loop, built from small functions (Accelerate: CPU, one GPU, or many).

``train_model`` optimises a :class:`~xkd.train.objective.KDObjective` (a model plus its
recipe) over pre-tokenised examples. Teacher outputs come from a
:class:`~xkd.train.cache.TeacherCache`; the teacher itself never runs here. Progress goes to
callbacks; checkpoints make a run resumable exactly (weights, optimizer, scheduler, RNG, data
position). The KD student's epochs may be language-balanced (:mod:`xkd.train.balance`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xkd.config import TrainConfig
from xkd.train.balance import epoch_order, epoch_size, language_counts
from xkd.train.callbacks import Callback, CallbackList
from xkd.train.checkpoints import (
    TrainState,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from xkd.train.examples import Examples
from xkd.train.objective import KDObjective
from xkd.train.precision import run_precision, trains_on_cpu
from xkd.train.processes import Processes, any_true, broadcast, mean_across

# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class TokenizedExamples:
    input_ids: list[list[int]]
    labels: list[int]
    teacher_ids: list[int]  # rows of the teacher cache (-1 when no teacher is used)
    same_text: list[bool]
    pad_id: int
    languages: list[str] | None = None  # the student text's language (language balancing)


def tokenize_examples(
    examples: Examples, tokenizer, max_length: int, teacher_ids: list[int] | None
) -> TokenizedExamples:
    enc = tokenizer(examples.student_texts, truncation=True, max_length=max_length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return TokenizedExamples(
        input_ids=list(enc["input_ids"]),
        labels=list(examples.labels),
        teacher_ids=list(teacher_ids) if teacher_ids is not None else [-1] * len(examples),
        same_text=examples.same_text,
        pad_id=pad,
        languages=list(examples.languages),
    )


def epoch_batches(
    lengths: list[int],
    batch_size: int,
    seed: int,
    epoch: int,
    order: list[int] | None = None,
) -> list[list[int]]:
    """Shuffled batches grouped by length (less padding), deterministic in (seed, epoch).

    Indices are shuffled (or taken from ``order``, an already shuffled epoch such as
    :func:`xkd.train.balance.epoch_order`'s), cut into chunks of 50 batches, sorted by length
    inside each chunk, cut into batches, and the batch order is shuffled again.
    """
    rng = random.Random(seed * 100_003 + epoch)
    if order is None:
        order = list(range(len(lengths)))
        rng.shuffle(order)
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(data: TokenizedExamples, idx: list[int]) -> dict[str, torch.Tensor]:
    width = max(len(data.input_ids[i]) for i in idx)
    ids = torch.full((len(idx), width), data.pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for r, i in enumerate(idx):
        seq = data.input_ids[i]
        ids[r, : len(seq)] = torch.as_tensor(seq)
        mask[r, : len(seq)] = 1
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "labels": torch.as_tensor([data.labels[i] for i in idx], dtype=torch.long),
        "teacher_ids": torch.as_tensor([data.teacher_ids[i] for i in idx], dtype=torch.long),
        "same_text": torch.as_tensor([data.same_text[i] for i in idx], dtype=torch.bool),
    }


# ---------------------------------------------------------------------------------------------
# Loop


def make_accelerator(cfg: TrainConfig):
    from accelerate import Accelerator

    cpu = trains_on_cpu(cfg.device)
    mp = run_precision(cfg)
    _forget_other_precision(mp)
    # several processes: some trainable parameters may get no gradient in a step (a head that
    # an alignment-only recipe never reads), so DDP must look for unused ones
    from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs

    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    # the processes split each batch (local_part), so the schedule steps once per batch
    split = DataLoaderConfiguration(split_batches=True)
    return Accelerator(cpu=cpu, mixed_precision=mp, kwargs_handlers=[ddp], dataloader_config=split)


def _forget_other_precision(mp: str) -> None:
    """Accelerate keeps one ``AcceleratorState`` per process and refuses a second Accelerator
    with another mixed precision. A process that trains twice (a notebook, a sweep, the tests)
    may ask for another one, so that state is dropped first; the process state (device,
    process group) is kept."""
    from accelerate.state import AcceleratorState

    shared = AcceleratorState._shared_state
    if shared and shared.get("_mixed_precision") not in (None, mp):
        AcceleratorState._reset_state()


#: devices with a fused AdamW kernel in every torch xkd supports (>= 2.4)
FUSED_ADAMW_DEVICES = ("cpu", "cuda")


def make_optimizer(params: list[nn.Parameter], cfg: TrainConfig, device: torch.device):
    """AdamW over ``params``, fused on CPU and CUDA: one kernel for all the parameters instead
    of a loop of small operations per tensor (profiled on 2 CPU cores: the per-tensor loop took
    23 % of a parallel-KD step, most of it on the student's word embeddings)."""
    fused = torch.device(device).type in FUSED_ADAMW_DEVICES and all(
        p.is_floating_point() for p in params
    )
    return torch.optim.AdamW(
        params, lr=cfg.lr, weight_decay=cfg.weight_decay, **({"fused": True} if fused else {})
    )


def clip_gradients(accelerator, params: list[nn.Parameter], max_norm: float) -> float:
    """``torch.nn.utils.clip_grad_norm_`` (after Accelerate unscales fp16 gradients) without its
    multiply when nothing is clipped: torch scales every gradient by
    ``min(1, max_norm / (norm + 1e-6))``, a pass over all of them (the word embeddings' too)
    that changes nothing while the norm is below the limit. Returns the norm."""
    accelerator.unscale_gradients()
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norm = float(
        torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    )
    if not norm + 1e-6 <= max_norm:  # also a nan or inf norm, as torch does
        coef = max_norm / (norm + 1e-6)
        for g in grads:
            g.mul_(coef)
    return norm


def linear_schedule(optimizer, warmup: int, total: int):
    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def local_part(batch: list[int], procs: Processes) -> tuple[list[int], float]:
    """This process's share of one batch and the weight of its loss.

    Several processes split every batch (``batch[rank::world]``), so the steps, the batch and
    the schedule are those of one process. The weight ``n_rank * world / n`` makes DDP's mean
    of the processes' gradients the gradient of the whole batch's mean loss. A process left
    without an example (a batch smaller than the launch) takes the first one with weight 0.
    """
    if not procs.distributed:
        return batch, 1.0
    mine = batch[procs.rank :: procs.world_size]
    if not mine:
        return batch[:1], 0.0
    return mine, len(mine) * procs.world_size / len(batch)


#: the phases whose examples are language-balanced (``train.sampling_exponent``,
#: ``train.oversample_min``): the KD student's; the teacher and the baseline train on the source
#: language's rows only
BALANCED_PHASES = ("student",)


def balance_order(data: TokenizedExamples, cfg: TrainConfig, phase: str, epoch: int):
    """The epoch's balanced example order, or ``None`` (the plain permutation)."""
    if phase not in BALANCED_PHASES or data.languages is None:
        return None
    return epoch_order(
        data.languages,
        exponent=cfg.sampling_exponent,
        oversample_min=cfg.oversample_min,
        seed=cfg.seed,
        epoch=epoch,
    )


def epoch_examples(data: TokenizedExamples, cfg: TrainConfig, phase: str) -> int:
    """Examples per epoch: their number, plus the copies oversampling adds."""
    if phase not in BALANCED_PHASES or data.languages is None:
        return len(data.input_ids)
    return epoch_size(language_counts(data.languages), cfg.oversample_min)


def total_steps_for(n: int, cfg: TrainConfig) -> int:
    per_epoch = steps_per_epoch(n, cfg.batch_size)
    total = math.ceil(per_epoch * cfg.epochs)
    return min(total, cfg.max_steps) if cfg.max_steps else total


def train_model(
    objective: KDObjective,
    data: TokenizedExamples,
    cfg: TrainConfig,
    *,
    phase: str = "student",
    callbacks: Callback | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    probes: Sequence = (),
) -> TrainState:
    """Optimise ``objective`` on ``data``; returns the final :class:`TrainState`.

    ``probes`` (:mod:`xkd.experiment.probes`) run on the main process at the steps they are
    due (step 0 before the first update included), with the model in eval mode and under the
    training's autocast (``train.mixed_precision``); their records go to ``callbacks.on_log``.

    With ``checkpoint_dir``, a checkpoint is written every ``cfg.checkpoint_every`` steps (or at
    each epoch end) and when a stop is requested; with ``resume`` the loop continues from it.
    """
    cb = callbacks or CallbackList()
    accelerator = make_accelerator(cfg)
    procs = Processes(
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
        local_rank=accelerator.local_process_index,
    )
    torch.manual_seed(cfg.seed)
    params = [p for p in objective.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, cfg, accelerator.device)
    total = total_steps_for(epoch_examples(data, cfg, phase), cfg)
    scheduler = linear_schedule(optimizer, int(cfg.warmup_ratio * total), total)
    state = TrainState(total_steps=total)
    ckpt = checkpoint_dir / phase if checkpoint_dir is not None and procs.is_main else None
    found = latest_checkpoint(ckpt) if resume and ckpt is not None else None
    if found is not None:
        state = load_checkpoint(found, objective, optimizer, scheduler)
        state.total_steps = total
    if resume and procs.distributed:
        state = _share_resumed(state, optimizer, scheduler, procs)
    # DDP starts every process from the main process's weights (resumed ones included)
    model, optimizer, scheduler = accelerator.prepare(objective, optimizer, scheduler)
    lengths = [len(x) for x in data.input_ids]
    cb.on_phase(phase, total)
    if state.step == 0 and probes:
        model.eval()
        with accelerator.autocast():
            _run_probes(probes, state, phase, 0.0, cb, procs)
    model.train()
    running: dict[str, float] = {}
    n_running = 0
    while state.step < total:
        order = balance_order(data, cfg, phase, state.epoch)
        batches = epoch_batches(lengths, cfg.batch_size, cfg.seed, state.epoch, order)
        for b_idx in range(state.batch_in_epoch, len(batches)):
            if state.step >= total:
                break
            part, weight = local_part(batches[b_idx], procs)
            batch = {k: v.to(accelerator.device) for k, v in collate(data, part).items()}
            with accelerator.autocast():
                loss, terms = model(batch)
            if procs.distributed:
                loss = loss * weight
                terms = {name: value * weight for name, value in terms.items()}
            accelerator.backward(loss)
            if cfg.grad_clip:
                clip_gradients(accelerator, params, cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            state.batch_in_epoch = b_idx + 1
            running["loss"] = running.get("loss", 0.0) + float(loss.detach())
            for name, value in terms.items():
                running[name] = running.get(name, 0.0) + float(value.detach())
            n_running += 1
            logs: dict[str, Any] = {}
            if state.step % max(1, cfg.log_every) == 0 or state.step == total:
                logs = mean_across({k: v / n_running for k, v in running.items()}, procs)
                record = {  # a "train" record of metrics.jsonl (xkd/runs/schema.py)
                    "kind": "train",
                    "phase": phase,
                    "step": state.step,
                    "epoch": _epoch(state, len(batches)),
                    "loss": round(logs["loss"], 6),
                    "lr": scheduler.get_last_lr()[0],
                    "terms": {k: round(v, 6) for k, v in logs.items() if k != "loss"},
                }
                state.history.append(record)
                cb.on_log(phase, record)
                running, n_running = {}, 0
            if any(p.due(state.step, total) for p in probes):
                model.eval()
                with accelerator.autocast():  # measured in the training's arithmetic
                    _run_probes(probes, state, phase, _epoch(state, len(batches)), cb, procs)
                model.train()
            cb.on_step(phase, state.step, total, logs)
            at_epoch_end = state.batch_in_epoch == len(batches)
            periodic = cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0
            stop = any_true(cb.should_stop(), procs)  # the main process reads the request
            if ckpt is not None and (
                stop or periodic or (at_epoch_end and not cfg.checkpoint_every)
            ):
                _advance_if_epoch_end(state, len(batches))
                save_checkpoint(ckpt, accelerator.unwrap_model(model), optimizer, scheduler, state)
                cb.on_checkpoint(phase, state.step, str(ckpt))
            if stop:
                state.stopped = True
                model.eval()
                return state
        if state.batch_in_epoch >= len(batches):
            _advance_if_epoch_end(state, len(batches))
    model.eval()
    return state


def _run_probes(probes, state: TrainState, phase: str, epoch: float, cb, procs) -> None:
    if not procs.is_main:
        return
    for probe in probes:
        if probe.due(state.step, state.total_steps):
            for record in probe(state.step):
                cb.on_log(phase, {**record, "phase": phase, "step": state.step, "epoch": epoch})


def _share_resumed(state: TrainState, optimizer, scheduler, procs: Processes) -> TrainState:
    """Give every process the main process's resumed optimizer, schedule and position."""
    meta = {k: getattr(state, k) for k in ("step", "epoch", "batch_in_epoch", "total_steps")}
    shared = broadcast(
        (optimizer.state_dict(), scheduler.state_dict(), meta) if procs.is_main else None, procs
    )
    if not procs.is_main:
        optimizer.load_state_dict(shared[0])
        scheduler.load_state_dict(shared[1])
        state = TrainState(**shared[2])
    return state


def _epoch(state: TrainState, n_batches: int) -> float:
    return round(state.epoch + state.batch_in_epoch / n_batches, 4)


def _advance_if_epoch_end(state: TrainState, n_batches: int) -> None:
    if state.batch_in_epoch >= n_batches:
        state.epoch += 1
        state.batch_in_epoch = 0
