"""Models: ``XKDModel`` (HF encoder + pooling + head), loading, students, freezing and sizes.

Modules by job: ``hf`` (the Hugging Face adapter: finding and loading encoders and tokenizers),
``model`` (``XKDModel``: forward, batched inference, save/load), ``pooling``, ``outputs``,
``classifier`` (a Hub sequence classifier kept whole), ``saving`` (save/load folders),
``loading`` (``load_model``), ``students`` (``StudentSpec``, ``build_student``), ``wordpiece``
(tokenizers trained on the data), ``freezing`` (``freeze``, ``model_size``), ``dims``
(``ModelDims``, the sizes other layers read), ``vocab`` (vocabulary extension), ``st``
(a sentence-transformers model's own pooling, Dense and Normalize modules; writing that layout).

Importing this package loads no model and imports ``transformers`` only when a function needs it.
"""

from xkd.models.dims import ModelDims
from xkd.models.freezing import freeze, model_size
from xkd.models.hf import hub_reachable, minilm_path
from xkd.models.loading import load_model
from xkd.models.model import XKDModel
from xkd.models.outputs import EncoderOutput, InferenceResult
from xkd.models.pooling import POOLINGS, AttentionPooling
from xkd.models.students import (
    StudentSpec,
    build_student,
    layer_indices,
    scratch_model,
    student_from_teacher,
)
from xkd.models.wordpiece import train_tokenizer

__all__ = [
    "POOLINGS",
    "AttentionPooling",
    "EncoderOutput",
    "InferenceResult",
    "ModelDims",
    "StudentSpec",
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
