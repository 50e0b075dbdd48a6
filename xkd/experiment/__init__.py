"""The experiment: load data and teacher, cache the teacher, build and train the student and
the no-KD baseline, evaluate, all into one run folder.

    import xkd
    result = xkd.Experiment("my.yaml").run()      # or a RunConfig, or a dict
    print(result.run_dir, result.headline.kd_gain)

See :mod:`xkd.experiment.core` for the steps and their order.
"""

from xkd.experiment.core import Experiment
from xkd.experiment.progress import RunStopped
from xkd.experiment.state import ExperimentState, RunResult

__all__ = ["Experiment", "ExperimentState", "RunResult", "RunStopped", "distill"]


def distill(config, **options) -> RunResult:
    """``Experiment(config, **options).run()``: train one run and return its :class:`RunResult`."""
    return Experiment(config, **options).run()
