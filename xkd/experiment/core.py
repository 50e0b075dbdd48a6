"""The experiment: one object whose steps each do one job, in the documented order.

``Experiment(config).run()`` trains a KD student (and a no-KD baseline) into a run folder:

1. ``load_data``: the dataset, the target languages and the training rows (the parallel pairs
   from ``data.parallel_corpus`` when set: :mod:`xkd.experiment.data`);
2. ``load_teacher``: the teacher, checked against the data's labels (a teacher with its own
   head or classifier keeps it when the labels match in any order; ``model.teacher_head``);
3. ``build_student``: the student, built and checked before any expensive work (a bad
   ``from-teacher:K`` or an ``model.extend_vocab: true`` the student cannot take fails here);
   ``model.extend_vocab: auto`` extends a WordPiece student and is skipped, with a note, otherwise;
4. ``fit_lengths``: a note for each model that accepts fewer tokens than ``data.max_length``
   (each model is then fed at most what it accepts: :meth:`~xkd.models.XKDModel.fit_length`);
5. ``build_losses``: the recipe's terms, which also say which teacher layers to cache;
   then ``fine_tune_teacher``: only when ``model.teacher_freeze`` is not ``head`` and the
   teacher has no head: cross-entropy on the source rows, before anything reads the teacher's
   outputs; a ``from-teacher:K`` student is built again from the fine-tuned blocks (its head
   is copied once the teacher's head is fitted, step 7);
6. ``cache_teacher``: the teacher's outputs for every text training and evaluation read,
   computed once (and reused from the run folder on resume);
7. ``fit_teacher_head``: a head fitted on the cached embeddings when the teacher has none;
   then ``prepare_teachers``: the other ``teachers``, each as the first, mixed (:mod:`.teachers`);
8. ``train_baseline``: the no-KD student (same initial weights, source labels only); the
   alignment health of the student's initial weights and of the teacher is measured first
   (step 0, :func:`~xkd.experiment.probes.start_alignment`);
9. ``train_student``: the KD student, its alignment health measured along the way;
10. ``evaluate``: ``eval.json`` (headline), ``embeddings.parquet``, ``predictions.parquet``; the map.

``Experiment.reevaluate(run_dir)`` evaluates an existing run again from its saved models and its
cached teacher outputs. The device lock is taken here, so the CLI, the app's launcher and a
notebook queue or are refused alike.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from xkd.config import RunConfig
from xkd.errors import DataError, ResourceError, XKDError
from xkd.experiment import student as student_steps
from xkd.experiment import teacher as teacher_steps
from xkd.experiment import teachers as teachers_steps
from xkd.experiment.alignment import check_recipe as check_alignment_recipe
from xkd.experiment.evaluation import write_test_map
from xkd.experiment.progress import (
    RunStopped,
    RunWriter,
    is_out_of_memory,
    out_of_memory_message,
    set_seed,
)
from xkd.experiment.shared import SharedStore
from xkd.experiment.state import ExperimentState, RunResult, as_config, model_card
from xkd.experiment.trackers import check_installed, close_trackers, tracker_callbacks
from xkd.experiment.training import reuse_baseline, train_example_facts, train_phase
from xkd.runs.folder import RunFolder
from xkd.runs.lock import acquire_device
from xkd.train.callbacks import Callback, CallbackList
from xkd.train.examples import dev_examples, kd_examples, resolve_targets, source_examples
from xkd.train.precision import run_precision
from xkd.train.processes import broadcast
from xkd.train.processes import start as start_processes

__all__ = ["Experiment"]


class Experiment:
    """One KD experiment writing one run folder (see the module docstring for the steps).

    ``config``: a :class:`~xkd.config.RunConfig`, a dict, or a YAML file path.
    ``run_dir``: the run folder (default: a new one in ``runs_dir``). ``runs_dir``: where the
    device lock lives (default: the run folder's parent). ``wait``: queue behind a run that
    holds the device instead of refusing. ``resume``: continue from the folder's checkpoints.
    ``shared``: a sweep's :class:`~xkd.experiment.shared.SharedStore` (the teacher cache, the
    teacher head and the no-KD baseline are taken from it when their fingerprints match).

    Under ``torchrun`` or ``accelerate launch`` with several processes, the main process owns
    the run folder (it creates it, takes the device, writes status, metrics, checkpoints,
    models and the evaluation, and runs ``callbacks``); the others split each batch with it,
    encode a share of the teacher's texts, and write nothing (:mod:`xkd.train.processes`).
    """

    def __init__(
        self,
        config: RunConfig | dict | str | os.PathLike,
        *,
        run_dir: str | os.PathLike | None = None,
        runs_dir: str | os.PathLike | None = None,
        callbacks: list[Callback] | None = None,
        resume: bool = False,
        wait: bool = False,
        shared: SharedStore | None = None,
    ) -> None:
        from xkd.runs import create_run_folder, default_runs_dir

        self.cfg = as_config(config)
        check_installed(self.cfg.train.report_to)  # every process, before any folder or work
        self.procs = start_processes(self.cfg.train.device)
        if run_dir is None and self.procs.is_main:
            _, run_dir = create_run_folder(runs_dir or default_runs_dir(), self.cfg.name or None)
        self.folder = RunFolder(broadcast(str(run_dir) if self.procs.is_main else None, self.procs))
        self.runs_dir = Path(runs_dir) if runs_dir is not None else self.folder.path.parent
        self.resume = resume
        self.wait = wait
        self.shared = shared if not self.procs.distributed else None
        mine: list[Callback] = []
        if self.procs.is_main:  # the run writer first: metrics.jsonl before any mirror of it
            trackers = tracker_callbacks(self.cfg, self.folder)
            mine = [RunWriter(self.folder), *trackers, *(callbacks or [])]
        self.callbacks = CallbackList(mine)
        self.state = ExperimentState()

    # ------------------------------------------------------------------------------ run
    def run(self) -> RunResult:
        """Take the device, run every step, record the outcome; returns a :class:`RunResult`.

        A stop request ends as state ``stopped`` (checkpoint saved). A user error becomes
        ``failed`` with its message and is re-raised; running out of memory is re-raised as a
        :class:`~xkd.errors.ResourceError` that says which settings to lower.
        """
        if not self.procs.is_main:
            return self._follow()
        self.folder.path.mkdir(parents=True, exist_ok=True)
        if not self.resume or not self.folder.config_path.exists():
            self.folder.write_config(self.cfg.to_yaml())
        lock = self._acquire_device()
        try:
            return self._run_steps()
        finally:
            close_trackers(self.callbacks)  # finished, failed or stopped: complete event files
            lock.release()

    def _acquire_device(self):
        def queued(reason: str) -> None:
            self.folder.write_status("queued", pid=os.getpid(), error=None, note=reason)

        try:
            return acquire_device(
                self.runs_dir,
                self.cfg.train.device,
                run_id=self.folder.run_id,
                wait=self.wait,
                on_queued=queued,
            )
        except XKDError as exc:
            self.folder.write_status("failed", error=str(exc))
            raise

    def _run_steps(self) -> RunResult:
        cfg, folder = self.cfg, self.folder
        if not self.resume:
            env = {"processes": self.procs.record(), "mixed_precision": run_precision(cfg.train)}
            folder.write_env(env)
        folder.write_status("running", pid=os.getpid(), error=None, phase="data")
        t0 = time.perf_counter()
        try:
            self._train_steps()
            result = self._timed("eval", self.evaluate)
            self._timed("map", lambda: write_test_map(self.folder, self.note))
        except RunStopped:
            folder.write_status("stopped", error=None)
            return RunResult(run_dir=folder.path, state="stopped")
        except XKDError as exc:
            folder.log_exception()
            folder.write_status("failed", error=str(exc))
            raise
        except BaseException as exc:  # noqa: BLE001 - record every failure, then re-raise
            folder.log_exception()
            if is_out_of_memory(exc):
                msg = out_of_memory_message(exc, cfg)
                folder.write_status("failed", error=msg)
                raise ResourceError(msg) from exc
            state = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
            folder.write_status(state, error=f"{type(exc).__name__}: {exc}".strip())
            raise
        result["timings"] = {k: round(v, 2) for k, v in self.state.timings.items()}
        result["timings"]["total"] = round(time.perf_counter() - t0, 2)
        folder.write_eval(result)
        self.callbacks.on_step("eval", 1, 1, {})
        folder.write_status("finished", phase="done", error=None)
        return RunResult.from_eval(folder.path, result)

    def _train_steps(self) -> None:
        set_seed(self.cfg.train.seed)
        torch.set_num_threads(max(1, torch.get_num_threads()))
        self._timed(
            "load",
            self.load_data,
            self.load_teacher,
            self.build_student,
            self.fit_lengths,
            self.build_losses,
        )
        teacher = (self.fine_tune_teacher, self.cache_teacher, self.fit_teacher_head)
        self._timed("teacher", *teacher, self.prepare_teachers)
        self._timed("baseline", self.train_baseline)
        self._timed("student", self.train_student)

    def _follow(self) -> RunResult:
        """A process other than the main one: the training steps, no writes; the main process
        evaluates. A stop (seen by the main process) stops every process."""
        try:
            self._train_steps()
        except RunStopped:
            return RunResult(run_dir=self.folder.path, state="stopped")
        return RunResult(run_dir=self.folder.path, state="trained")

    def _timed(self, name: str, *steps) -> Any:
        start = time.perf_counter()
        out = None
        for step in steps:
            out = step()
        self.state.timings[name] = time.perf_counter() - start
        return out

    # ---------------------------------------------------------------------------- steps
    def load_data(self) -> None:
        from xkd.experiment.data import load_run_data
        from xkd.models import StudentSpec

        cfg, s = self.cfg, self.state
        self.callbacks.on_phase("data", 1)
        s.student_spec = StudentSpec.parse(cfg.student)  # a bad spec fails before any loading
        s.dataset, pairs = load_run_data(cfg)
        try:
            s.targets = resolve_targets(cfg.data, s.dataset.languages())
            frame, labels = s.dataset.frame, s.dataset.labels
            s.source = source_examples(frame, cfg.data, labels)
            s.kd = kd_examples(frame, cfg.data, labels, s.targets, pairs_frame=pairs)
        except DataError as e:  # dataset-wide problems: name the data source too
            if e.file is not None:
                raise
            raise DataError(e.detail, file=cfg.data.path, row=e.row, field=e.field) from None
        s.dev = dev_examples(frame, labels, [cfg.data.source_language, *s.targets])

    def load_teacher(self) -> None:
        from xkd.models import load_model

        cfg, s = self.cfg, self.state
        self.callbacks.on_phase("teacher", 1)
        s.teacher = load_model(
            cfg.teacher,
            pooling=cfg.model.chosen_pooling,
            trust_remote_code=cfg.model.trust_remote_code,
        )
        s.teacher_info |= teacher_steps.check_teacher_labels(
            s.teacher, name=cfg.teacher, labels=s.dataset.labels, setting=cfg.model.teacher_head
        )
        for text in [*s.teacher.notes, *teachers_steps.load_teachers(cfg, s)]:
            self.note(text)

    def fine_tune_teacher(self) -> None:
        s = self.state
        if s.teacher.has_head or self.cfg.model.teacher_freeze == "head" or not s.dataset.labels:
            return
        teacher_steps.fine_tune_teacher(
            s.teacher, s.source, labels=s.dataset.labels, cfg=self.cfg, callbacks=self.callbacks
        )
        s.teacher_info["head"] = "fine-tuned"
        s.teacher_info["teacher_fine_tuned"] = self.cfg.model.teacher_freeze
        if s.student is not None and s.student_spec.from_teacher:
            self.build_student(notes=False)  # copy the fine-tuned blocks

    def build_student(self, *, notes: bool = True) -> None:
        texts = student_steps.build_student(self.cfg, self.state)
        for text in texts if notes else ():
            self.note(text)

    def fit_lengths(self) -> None:
        for text in student_steps.fit_lengths(self.cfg, self.state):
            self.note(text)

    def build_losses(self) -> None:
        from xkd.losses import build_recipe

        s = self.state
        n = len(s.dataset.labels)
        if not n:
            check_alignment_recipe(self.cfg)
        s.recipe = build_recipe(
            self.cfg.distill,
            student_dims=s.student.dims(n),
            teacher_dims=s.teacher.dims(n),
            extra_teacher_dims=[extra.model.dims(n) for extra in s.extra_teachers],
        )
        same = s.teacher.tokenizer.get_vocab() == s.student.tokenizer.get_vocab()
        s.recipe.check_tokenizers(same_vocabulary=same)

    def cache_teacher(self) -> None:
        s = self.state
        main = self.procs.is_main
        s.cache, texts = teacher_steps.new_cache(self.cfg, s, folder=self.folder if main else None)
        if self.resume and main:
            s.teacher_info["cache_reused"] = s.cache.load(self.folder.teacher_cache_path, texts)
        if self.shared is not None:
            s.shared_keys["cache"] = self.shared.cache_key(self.cfg, s)
            found = self.shared.load_cache(s.shared_keys["cache"], s.cache, texts)
            s.teacher_info["cache_shared"] = found
        loaded = list(s.cache.index)
        self.callbacks.on_phase("teacher", max(1, len(s.cache.missing(texts))))

        def progress(done, total):
            self.callbacks.on_step("teacher", done, total, {})

        s.teacher_info["teacher_texts_encoded"] = teacher_steps.fill_cache(
            s.cache, texts, procs=self.procs, loaded=loaded, progress=progress
        )
        if main:
            s.cache.save(self.folder.teacher_cache_path)
        if self.shared is not None and s.teacher_info["teacher_texts_encoded"]:
            self.shared.offer_cache(s.shared_keys["cache"], self.folder.cache_dir)

    def fit_teacher_head(self) -> None:
        cfg, s = self.cfg, self.state
        if not s.teacher.has_head and s.dataset.labels:
            s.teacher_info |= teacher_steps.fitted_head(cfg, s, shared=self.shared)
            teacher_steps.share_head(s.teacher, self.procs)
            s.cache.refresh_logits()
        if s.student_spec.from_teacher:
            s.student_info |= teacher_steps.copy_head_to_student(s.teacher, s.student)
        s.baseline_init = copy.deepcopy(s.student) if cfg.baseline and s.dataset.labels else None
        if cfg.baseline and not s.dataset.labels:
            self.note("no labels (an alignment-only run): no no-KD baseline is trained")

    def prepare_teachers(self) -> None:
        teachers_steps.prepare_teachers(self)

    def train_baseline(self) -> None:
        from xkd.losses import Recipe

        s = self.state
        if s.baseline_init is None:
            return
        key = self.shared.baseline_key(self.cfg, s) if self.shared is not None else None
        source = self.shared.find_baseline(key) if key is not None and not self.resume else None
        if source is not None:
            s.baseline = reuse_baseline(self, source)
            s.teacher_info["baseline_shared_from"] = source.name
            self.note(f"the no-KD baseline is {source.name}'s (same initial student, data, seed)")
            return
        train_phase(self, "baseline", s.baseline_init, Recipe.hard_labels(), s.source, cache=None)
        s.baseline = s.baseline_init
        if self.procs.is_main:
            s.baseline.save_pretrained(self.folder.baseline_dir, card=self._card("no-KD baseline"))
        if key is not None:
            self.shared.offer_baseline(key, self.folder.path)

    def train_student(self) -> None:
        s = self.state
        train_phase(self, "student", s.student, s.recipe, s.kd, cache=s.mix or s.cache)
        if not self.procs.is_main:
            return
        s.student.save_pretrained(self.folder.student_dir, card=self._card("KD student"))
        s.teacher.save_pretrained(self.folder.teacher_dir, card=self._card("teacher"))

    def evaluate(self) -> dict:
        from xkd.experiment.evaluation import evaluate_run, model_sizes, write_cards

        cfg, s, folder = self.cfg, self.state, self.folder
        self.callbacks.on_phase("eval", 1)
        sizes = model_sizes(folder, teacher=s.teacher, student=s.student)
        result = evaluate_run(
            folder, cfg=cfg, state=s, sizes=sizes, measure_speed=True, split="test"
        )
        s.student_info["parameters"] = sizes["student"]["parameters"]
        result["teacher_info"] = s.teacher_info
        result["student_info"] = s.student_info
        result["train_examples"] = train_example_facts(cfg, s)
        write_cards(folder, cfg=cfg, state=s, result=result)
        return result

    # -------------------------------------------------------------------------- helpers
    def note(self, text: str) -> None:
        """One line about a setting adapted to the models: ``logs/run.log``, stderr, the state."""
        self.state.notes.append(text)
        if not self.procs.is_main:
            return
        self.folder.append_log(f"note: {text}")
        print(f"xkd: note: {text}", file=sys.stderr, flush=True)

    def _card(self, role: str) -> dict:
        return model_card(self.cfg, targets=self.state.targets, role=role)

    @classmethod
    def reevaluate(cls, run_dir: str | os.PathLike, *, split: str = "test") -> dict:
        """Evaluate a finished run again from its saved models and cached teacher outputs; with
        ``split="test"`` ``eval.json`` and the tables are rewritten (timings, sizes and training
        facts of the original run kept). Returns the evaluation."""
        from xkd.experiment.evaluation import reevaluate_run

        return reevaluate_run(RunFolder(run_dir), split=split)
