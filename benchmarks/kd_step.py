"""``kd_step_overhead``: xkd's KD training step vs a bare student step on the same batches.

A (xkd): ``train_model`` on a ``KDObjective`` (``parallel_mse`` x10 + ``kl``, the demo recipe)
reading teacher outputs from a filled ``TeacherCache``. A step's time runs from the end of the
previous step's callbacks to this step's ``on_step`` callback, so it holds everything the loop
does per step: collate, student forward, cache lookup, losses, backward, gradient clipping,
AdamW, LR scheduler, logging.

B (bare): inside that same ``on_step`` callback, the same student takes one bare step on the
*same batch* (collated before timing): ``student(input_ids, attention_mask)``, a scalar loss on
the pooled output, ``backward``, ``AdamW.step`` (its own optimizer), ``zero_grad``. Nothing else.

So A and B alternate step by step (A B A B ...) on identical batches, and a load spike from
another process hits both sides alike. The first step of each side (AdamW state allocation) is
dropped. Figure = median(A) / median(B); the median of the paired per-step ratios is in the
details too.
"""

from __future__ import annotations

import time

from benchmarks import kdsetup
from benchmarks.common import Context, Figure, compare, recording_adamw, same_adamw

NAME = "kd_step_overhead"
FIGURES = (NAME,)
TARGET = 1.10


class ABSteps:
    """A ``train_model`` callback timing each KD step and running one bare step after it."""

    def __init__(self, bare_step) -> None:
        self.bare_step = bare_step  # bare_step(step) -> seconds
        self.kd: list[float] = []
        self.bare: list[float] = []
        self._mark = None

    # the Callback protocol (duck-typed: CallbackList only calls these)
    def on_phase(self, phase, total_steps):
        self._mark = time.perf_counter()

    def on_step(self, phase, step, total_steps, logs):
        self.kd.append(time.perf_counter() - self._mark)
        self.bare.append(self.bare_step(step))
        self._mark = time.perf_counter()

    def on_log(self, phase, record):
        pass

    def on_checkpoint(self, phase, step, path):
        pass

    def should_stop(self):
        return False


def run(ctx: Context) -> list[Figure]:
    import torch
    import torch.nn.functional as F

    from xkd.config import TrainConfig
    from xkd.train.callbacks import CallbackList
    from xkd.train.loop import collate, epoch_batches, tokenize_examples, train_model
    from xkd.train.objective import KDObjective

    setup = kdsetup.prepare(ctx)
    examples = _kd_examples(setup)
    student = setup.new_student()
    recipe = kdsetup.kd_recipe(student, setup.teacher, len(setup.labels))
    objective = KDObjective(student, recipe, setup.cache)
    data = tokenize_examples(
        examples,
        student.tokenizer,
        setup.cfg.data.max_length,
        setup.cache.ids(examples.teacher_texts),
    )
    lengths = [len(x) for x in data.input_ids]
    batch_size = setup.cfg.train.batch_size
    steps = 10 if ctx.tiny else (16 if ctx.quick else 40)
    seed = setup.cfg.train.seed
    lr = setup.cfg.train.lr
    batches = epoch_batches(lengths, batch_size, seed, 0)
    steps = min(steps, len(batches))
    ready = [collate(data, idx) for idx in batches[:steps]]
    params = [p for p in student.parameters() if p.requires_grad]
    seen: dict = {}  # the keyword arguments xkd's loop builds its AdamW with (fused, foreach...)
    bare: dict = {}

    def bare_step(step: int) -> float:
        if "opt" not in bare:  # same optimizer settings as the loop's (recorded below)
            bare["opt"] = same_adamw(params, seen, lr, setup.cfg.train.weight_decay)
        bare_opt = bare["opt"]
        b = ready[step - 1]  # the batch the KD step just used (epoch 0, same seed)
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = student(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
            loss = F.mse_loss(out.pooled.float(), torch.zeros_like(out.pooled.float()))
        loss.backward()
        bare_opt.step()
        bare_opt.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    from xkd.train.precision import run_precision

    cfg = TrainConfig(
        epochs=1,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device="cpu",
        max_steps=steps,
        log_every=setup.cfg.train.log_every,
        warmup_ratio=setup.cfg.train.warmup_ratio,
        grad_clip=setup.cfg.train.grad_clip,
        weight_decay=setup.cfg.train.weight_decay,
    )
    precision = run_precision(cfg)  # the loop's autocast, given to the bare step too
    ctx.log(f"{NAME}: {steps} KD steps, each followed by a bare step on the same batch")
    ab = ABSteps(bare_step)
    with recording_adamw(seen):
        train_model(objective, data, cfg, callbacks=CallbackList([ab]))
    samples = {"kd": ab.kd[1:], "bare": ab.bare[1:]}
    cmp = compare(samples, "kd", "bare")
    value = cmp["ratio_of_medians"]
    kd_ms = cmp["kd"]["median"] * 1000
    bare_ms = cmp["bare"]["median"] * 1000
    details = {
        "kd_step_ms_median": kd_ms,
        "bare_step_ms_median": bare_ms,
        "overhead_ms_median": kd_ms - bare_ms,
        "comparison": cmp,
        "steps": steps,
        "batch_size": batch_size,
        "examples": len(examples),
        "recipe": "parallel_mse x10 + kl(T=3) x1 over a filled TeacherCache (demo preset)",
        "student": setup.student_spec,
        "data": "demo (KD rows: English source rows + parallel pairs)",
        "threads": torch.get_num_threads(),
        "mixed_precision": precision,
        "bare_step": "forward + mse(pooled, 0) + backward + AdamW.step + zero_grad; batch collated before timing",
        "optimizer": {
            "xkd_loop_adamw_kwargs": seen
            if seen
            else "not seen (the loop does not build torch.optim.AdamW): torch defaults used",
            "bare": "torch.optim.AdamW with the same fused/foreach/weight_decay settings",
        },
        "kd_step": "one train_model step (collate, forward, cache lookup, losses, backward, clip, AdamW, scheduler, logging)",
    }
    summary = f"KD step {kd_ms:.1f} ms / bare step {bare_ms:.1f} ms (medians, alternating steps)"
    return [
        Figure(
            NAME,
            value,
            TARGET,
            "<=",
            summary=summary,
            details=details,
            quick=ctx.quick,
        )
    ]


def _kd_examples(setup):
    from xkd.train.examples import kd_examples

    return kd_examples(setup.frame, setup.cfg.data, setup.labels, setup.targets)
