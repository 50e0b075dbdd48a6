"""Models: ``XKDModel`` (HF encoder + pooling + head) and the builders around it.

Importing this package loads no model and imports ``transformers`` only when a function needs it.
"""

from xkd.models.builders import (
    build_student,
    freeze,
    hub_reachable,
    layer_indices,
    load_model,
    minilm_path,
    model_size,
    scratch_model,
    student_from_teacher,
    train_tokenizer,
)
from xkd.models.model import POOLINGS, AttentionPooling, EncoderOutput, XKDModel

__all__ = [
    "POOLINGS",
    "AttentionPooling",
    "EncoderOutput",
    "XKDModel",
    "build_student",
    "freeze",
    "hub_reachable",
    "layer_indices",
    "load_model",
    "minilm_path",
    "model_size",
    "scratch_model",
    "student_from_teacher",
    "train_tokenizer",
]
