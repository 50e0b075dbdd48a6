"""xkd: a lab for knowledge distillation in cross-lingual transfer learning.

Importing ``xkd`` is cheap: heavy modules (torch, transformers) load when a submodule needs them.

    import xkd

    result = xkd.distill("my.yaml", runs_dir="runs")  # or xkd.Experiment(config).run()
    print(result.run_dir, result.state, result.headline.kd_gain)
    run = xkd.load_run(result.run_dir)                # the run folder, read back

(The training loop lives in the subpackage ``xkd.train``, hence ``distill`` for the call.)
"""

__version__ = "0.1.0"

_LAZY = {
    "Experiment": "xkd.experiment",
    "RunResult": "xkd.experiment",
    "distill": "xkd.experiment",
    "Run": "xkd.runs",
    "load_run": "xkd.runs",
    "list_runs": "xkd.runs",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xkd' has no attribute {name!r}")
