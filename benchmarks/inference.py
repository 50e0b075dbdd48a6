"""``student_vs_teacher_throughput``: inference speed of the student over the teacher on CPU.

``XKDModel.encode(texts, batch_size=64)`` on the same demo texts (test split, all languages),
student ``from-teacher:3`` vs the MiniLM teacher (6 layers); interleaved repetitions (ABBA).
Figure = student sentences/s / teacher sentences/s (no target was set; > 1 means faster).
"""

from __future__ import annotations

from benchmarks import kdsetup
from benchmarks.common import Context, Figure, compare, interleaved

NAME = "student_vs_teacher_throughput"
FIGURES = (NAME,)


def run(ctx: Context) -> list[Figure]:
    import torch

    setup = kdsetup.prepare(ctx)
    f = setup.frame
    texts = f[f["split"] == "test"]["text"].tolist()
    texts = texts[: 128 if (ctx.quick or ctx.tiny) else 512]
    student = setup.new_student().eval()
    teacher = setup.teacher.eval()
    max_len = setup.cfg.data.max_length
    models = {"student": student, "teacher": teacher}

    def runner(name):
        return lambda rep: models[name].encode(texts, batch_size=64, max_length=max_len)

    repeats = 2 if (ctx.quick or ctx.tiny) else 6
    samples = interleaved({k: runner(k) for k in models}, repeats=repeats, warmup=1)
    cmp = compare(samples, "teacher", "student")  # time ratio teacher/student = speed ratio
    value = cmp["ratio_of_medians"]
    sps = {k: len(texts) / cmp[k]["median"] for k in models}
    return [
        Figure(
            NAME,
            value,
            None,
            "info",
            summary=(
                f"student {sps['student']:.0f} vs teacher {sps['teacher']:.0f} sentences/s "
                f"(batch 64, CPU, {student.num_layers} vs {teacher.num_layers} layers)"
            ),
            details={
                "sentences_per_s": sps,
                "texts": len(texts),
                "batch_size": 64,
                "max_length": max_len,
                "threads": torch.get_num_threads(),
                "comparison_seconds": cmp,
            },
            quick=ctx.quick,
        )
    ]
