"""Sweeps and ablations: a base config plus variations, run one member after another with the
teacher paid once (:mod:`xkd.sweep.runner`), summarised with intervals (:mod:`xkd.sweep.summary`).
"""

from xkd.sweep.ablations import ABLATIONS, ablation
from xkd.sweep.folder import Manifest, MemberRecord, SweepFolder, find_sweep, list_sweeps
from xkd.sweep.runner import SweepResult, resume_sweep, run_sweep, start_sweep
from xkd.sweep.spec import Member, SweepSpec, Variant, load_sweep

__all__ = [
    "ABLATIONS",
    "Manifest",
    "Member",
    "MemberRecord",
    "SweepFolder",
    "SweepResult",
    "SweepSpec",
    "Variant",
    "ablation",
    "find_sweep",
    "list_sweeps",
    "load_sweep",
    "resume_sweep",
    "run_sweep",
    "start_sweep",
]
