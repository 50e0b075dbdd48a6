"""One training phase of an experiment (the no-KD baseline or the KD student): freeze, build
the objective, tokenize, measure the starting alignment, run the loop with its probes."""

from __future__ import annotations

from xkd.experiment.progress import RunStopped

__all__ = ["reuse_baseline", "train_example_facts", "train_phase"]


def train_phase(exp, phase: str, model, recipe, examples, *, cache) -> None:
    """Train ``model`` on ``examples`` with ``recipe`` for ``exp`` (an
    :class:`~xkd.experiment.Experiment`); raises :class:`RunStopped` when a stop was requested."""
    from xkd.experiment.probes import start_alignment, training_probes
    from xkd.models import freeze
    from xkd.train.loop import tokenize_examples, train_model
    from xkd.train.objective import KDObjective

    cfg = exp.cfg
    freeze(model, cfg.train.freeze)
    objective = KDObjective(model, recipe, cache)
    teacher_ids = cache.rows(examples) if cache is not None else None
    max_length = model.fit_length(cfg.data.max_length)
    data = tokenize_examples(examples, model.tokenizer, max_length, teacher_ids)
    main = exp.folder if exp.procs.is_main else None
    for record in start_alignment(cfg, exp.state, folder=main, resume=exp.resume):
        exp.callbacks.on_log("student", record)
    probes = training_probes(
        cfg=cfg, state=exp.state, phase=phase, model=model, max_length=max_length
    )
    state = train_model(
        objective,
        data,
        cfg.train,
        phase=phase,
        callbacks=exp.callbacks,
        checkpoint_dir=exp.folder.checkpoints_dir,
        resume=exp.resume,
        probes=probes,
    )
    if state.stopped:
        raise RunStopped(phase)


def reuse_baseline(exp, source):
    """The no-KD baseline of the run folder ``source`` (same fingerprint: a sweep's
    :class:`~xkd.experiment.shared.SharedStore`) instead of training it: its model, training
    records and alignment maps are copied into ``exp``'s run folder. Returns the model."""
    import shutil

    from xkd.experiment.probes import start_alignment
    from xkd.models import load_model
    from xkd.runs.folder import RunFolder

    src = RunFolder(source)
    shutil.copytree(src.baseline_dir, exp.folder.baseline_dir, dirs_exist_ok=True)
    for record in start_alignment(exp.cfg, exp.state, folder=exp.folder, resume=exp.resume):
        exp.callbacks.on_log("student", record)
    for record in src.read_metrics():
        if record.get("phase") == "baseline":
            exp.callbacks.on_log("baseline", record)
    if exp.state.maps is not None:
        exp.state.maps.copy_phase(src, "baseline")
    return load_model(str(exp.folder.baseline_dir))


def train_example_facts(cfg, state) -> dict:
    """``eval.json["train_examples"]``: the KD and source rows, and how the KD student's
    epochs shared them out over languages (``train.sampling_exponent``, ``oversample_min``)."""
    from xkd.train.balance import balance_facts

    t = cfg.train
    balance = balance_facts(state.kd.languages, t.sampling_exponent, t.oversample_min)
    return {"kd": len(state.kd), "source": len(state.source), "balance": balance}
