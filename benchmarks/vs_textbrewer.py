"""``vs_textbrewer``: logit KD (KL, T=4), xkd vs TextBrewer's ``GeneralDistiller``.

Same teacher (MiniLM with a head fitted on the demo's English labels, frozen encoder, as the
demo preset does), same student (``from-teacher:3``, the same initial weights), same data (the
demo's training texts: labelled English rows + target-language texts; teacher and student read
the same text), batch size 32, epochs, AdamW (lr 1e-4, weight decay 0.01), linear schedule with
10 % warm-up, gradient clipping 1.0, seed 0.

Loss equivalence: xkd's ``kl`` is ``T^2 * KL(p_T || p_S)``; TextBrewer's ``kd_loss_type='ce'``
is the soft cross-entropy ``-sum p_T log p_S = KL + H(p_T)`` (no T^2), so it runs with
``kd_loss_weight = T^2``: identical gradients.

TextBrewer's ``GeneralDistiller`` runs the teacher on every batch (it sets
``is_caching_logits = False``); xkd runs the teacher once per text into its ``TeacherCache``.
The figure counts that: xkd's time = filling the cache for the training texts + ``train_model``;
TextBrewer's time = ``distiller.train``. Throughput = training texts / seconds; ratio xkd/TB.
TextBrewer gets a DataLoader with dynamic padding (pad to the longest text of each batch), the
fastest reasonable setup (its examples pad every batch to ``max_seq_length``). Runs alternate
(ABBA). Accuracy: test split, English and the mean over target languages.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from benchmarks import kdsetup
from benchmarks.common import (
    Context,
    Figure,
    abba_order,
    median,
    padding_ratio,
    random_batches,
    ratio,
    recording_adamw,
    same_adamw,
    skipped,
)

NAME = "vs_textbrewer"
FIGURES = (NAME,)
TARGET = 2.0
TEMPERATURE = 4.0


def textbrewer_status() -> tuple[bool, str]:
    """Whether TextBrewer imports here, and why not."""
    try:
        import textbrewer  # noqa: F401
        from textbrewer import DistillationConfig, GeneralDistiller, TrainingConfig  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - report any import failure
        return False, f"textbrewer cannot be imported: {type(exc).__name__}: {exc}"
    return True, "ok"


def training_rows(setup):
    """Same-text rows: labelled source rows + target-language training texts (no label)."""
    from xkd.train.examples import source_examples, unlabeled_examples

    rows = source_examples(setup.frame, setup.cfg.data, setup.labels)
    rows.extend(unlabeled_examples(setup.frame, setup.cfg.data, setup.targets))
    return rows


def accuracies(predict, setup) -> dict:
    import numpy as np

    f = setup.frame
    test = f[(f["split"] == "test") & f["label"].notna()]
    index = {name: i for i, name in enumerate(setup.labels)}
    out = {}
    for lang in [setup.source_language, *setup.targets]:
        rows = test[test["language"] == lang]
        if rows.empty:
            continue
        y = np.array([index[x] for x in rows["label"]])
        out[lang] = 100 * float((predict(rows["text"].tolist()).argmax(1) == y).mean())
    targets = [out[t] for t in setup.targets if t in out]
    out["target_mean"] = sum(targets) / len(targets) if targets else float("nan")
    return out


def run(ctx: Context) -> list[Figure]:
    ok, why = textbrewer_status()
    if not ok:
        ctx.log(f"{NAME}: {why}; xkd's side runs alone")
    import torch
    from torch.utils.data import DataLoader

    from xkd.config import TrainConfig
    from xkd.losses import Recipe, Term, build_loss
    from xkd.train.loop import tokenize_examples, train_model
    from xkd.train.objective import KDObjective

    setup = kdsetup.prepare(ctx)
    rows = training_rows(setup)
    if ctx.quick and not ctx.tiny:
        keep = list(range(0, len(rows), 6))  # every 6th row: ~300 texts
        rows = type(rows)(
            [rows.student_texts[i] for i in keep],
            [rows.teacher_texts[i] for i in keep],
            [rows.labels[i] for i in keep],
            [rows.languages[i] for i in keep],
        )
    epochs = 1 if ctx.tiny else 2  # quick: fewer texts, but 2 epochs like the full run
    repeats = 1 if (ctx.quick or ctx.tiny) else 2
    batch_size, lr, seed, max_len = 32, 1e-4, 0, setup.cfg.data.max_length
    n_texts = len(rows) * epochs
    work = Path(ctx.work_dir) / "textbrewer"

    def xkd_run(rep: int, rows=rows, epochs=epochs):
        from xkd.train.cache import TeacherCache

        # a fresh cache: the teacher pass over the training texts is part of xkd's time
        cache = TeacherCache(setup.teacher, max_length=max_len)
        student = setup.new_student()
        kl = build_loss("kl", temperature=TEMPERATURE)
        n = len(setup.labels)
        kl.setup(student.dims(n), setup.teacher.dims(n))
        start = time.perf_counter()
        cache.ensure(rows.teacher_texts)
        cached = time.perf_counter()
        recipe = Recipe(terms=(Term("kl", 1.0, kl),), alpha=0.0, temperature=TEMPERATURE)
        objective = KDObjective(student, recipe, cache)
        data = tokenize_examples(rows, student.tokenizer, max_len, cache.ids(rows.teacher_texts))
        cfg = TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=0.01,
            warmup_ratio=0.1,
            grad_clip=1.0,
            seed=seed,
            device="cpu",
            log_every=50,
        )
        with recording_adamw(adamw_seen):
            state = train_model(objective, data, cfg)
        end = time.perf_counter()
        return {
            "seconds": end - start,
            "teacher_cache_s": cached - start,
            "train_s": end - cached,
            "steps": state.step,
            "model": student,
        }

    def tb_run(rep: int, rows=rows, epochs=epochs):
        from textbrewer import DistillationConfig, GeneralDistiller, TrainingConfig
        from transformers import get_linear_schedule_with_warmup

        student = setup.new_student()
        teacher = setup.teacher
        texts = rows.student_texts
        enc = student.tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]
        pad = student.tokenizer.pad_token_id or 0

        def collate_fn(idx):
            width = max(len(enc[i]) for i in idx)
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, : len(enc[i])] = torch.as_tensor(enc[i])
                mask[r, : len(enc[i])] = 1
            return {"input_ids": ids, "attention_mask": mask}

        gen = torch.Generator().manual_seed(seed)
        loader = DataLoader(
            list(range(len(texts))),
            batch_size=batch_size,
            shuffle=True,
            generator=gen,
            collate_fn=collate_fn,
        )
        out_dir = work / f"out-{rep}"
        train_cfg = TrainingConfig(
            device="cpu", output_dir=str(out_dir), log_dir=None, ckpt_epoch_frequency=epochs
        )
        distill_cfg = DistillationConfig(
            temperature=TEMPERATURE,
            kd_loss_type="ce",
            kd_loss_weight=TEMPERATURE**2,
            hard_label_weight=0.0,
        )

        def adaptor(batch, out):
            return {"logits": out.logits}

        distiller = GeneralDistiller(train_cfg, distill_cfg, teacher, student, adaptor, adaptor)
        params = [p for p in student.parameters() if p.requires_grad]
        opt = same_adamw(params, adamw_seen, lr, 0.01)  # xkd's loop settings (fused, ...)
        total = len(loader) * epochs
        torch.manual_seed(seed)
        start = time.perf_counter()
        with distiller:
            distiller.train(
                opt,
                loader,
                num_epochs=epochs,
                scheduler_class=get_linear_schedule_with_warmup,
                scheduler_args={
                    "num_warmup_steps": int(0.1 * total),
                    "num_training_steps": total,
                },
                max_grad_norm=1.0,
            )
        seconds = time.perf_counter() - start
        student.eval()
        teacher.eval()
        return {"seconds": seconds, "steps": total, "model": student}

    from xkd.train.loop import epoch_batches

    lens = [
        len(x)
        for x in setup.teacher.tokenizer(rows.student_texts, truncation=True, max_length=max_len)[
            "input_ids"
        ]
    ]
    padding = {
        "xkd_length_grouped": padding_ratio(
            lens, [b for e in range(epochs) for b in epoch_batches(lens, batch_size, seed, e)]
        ),
        "textbrewer_shuffled_estimate": padding_ratio(
            lens, random_batches(len(lens), batch_size, seed, epochs)
        ),
    }
    adamw_seen: dict = {}  # filled by xkd's first (warm-up) run, before TextBrewer builds one
    sides = {"xkd": xkd_run} | ({"textbrewer": tb_run} if ok else {})
    runs: dict[str, list[dict]] = {k: [] for k in sides}
    models = {}
    work.mkdir(parents=True, exist_ok=True)
    # untimed warm-up of each side on 3 batches (first-call costs: imports, allocator, ...)
    few = type(rows)(
        *(
            list(x[: 3 * batch_size])
            for x in (rows.student_texts, rows.teacher_texts, rows.labels, rows.languages)
        )
    )
    for side, fn in sides.items():
        ctx.log(f"{NAME}: warm-up {side} (3 steps)")
        fn(-1, rows=few, epochs=1)
    for rep in range(repeats):
        for side in abba_order(list(sides), rep):
            ctx.log(f"{NAME}: {side} run {rep + 1}/{repeats} ({n_texts} texts)")
            res = sides[side](rep)
            models[side] = res.pop("model")
            runs[side].append(res)
    shutil.rmtree(work, ignore_errors=True)
    acc = {
        side: accuracies(lambda t, m=m: m.predict_logits(t, max_length=max_len), setup)
        for side, m in models.items()
    }
    acc["teacher"] = accuracies(
        lambda t: setup.teacher.predict_logits(t, max_length=max_len), setup
    )
    xkd_s = median([r["seconds"] for r in runs["xkd"]])
    details = {
        "texts_per_epoch": len(rows),
        "epochs": epochs,
        "batch_size": batch_size,
        "runs": runs,
        "xkd_texts_per_s": n_texts / xkd_s,
        "accuracy_percent": acc,
        "padded_tokens_per_real_token": padding,
        "optimizer": {"xkd_loop_adamw_kwargs": adamw_seen, "textbrewer": "same AdamW settings"},
        "loss": f"xkd kl(T={TEMPERATURE}) x1 | TextBrewer ce(T={TEMPERATURE}) x T^2",
        "textbrewer": why,
    }
    if not ok:
        fig = skipped(
            NAME,
            f"{why}; xkd alone: {n_texts / xkd_s:.1f} texts/s, English accuracy "
            f"{acc['xkd'].get(setup.source_language, float('nan')):.1f}%",
            target=TARGET,
            op=">=",
            quick=ctx.quick,
        )
        fig.details = details
        return [fig]
    tb_s = median([r["seconds"] for r in runs["textbrewer"]])
    xkd_train = median([r["train_s"] for r in runs["xkd"]])
    value = ratio(tb_s, xkd_s)
    details.update(
        {
            "textbrewer_texts_per_s": n_texts / tb_s,
            "ratio_training_only": ratio(tb_s, xkd_train),
            "value": "TextBrewer seconds / xkd seconds (teacher cache fill included for xkd)",
        }
    )
    src = setup.source_language
    summary = (
        f"xkd/TextBrewer KD throughput; accuracy {src} xkd {acc['xkd'][src]:.1f}% "
        f"TB {acc['textbrewer'][src]:.1f}%, targets xkd {acc['xkd']['target_mean']:.1f}% "
        f"TB {acc['textbrewer']['target_mean']:.1f}%"
    )
    return [Figure(NAME, value, TARGET, ">=", summary=summary, details=details, quick=ctx.quick)]
