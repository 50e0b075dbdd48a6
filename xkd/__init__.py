"""xkd: a lab for knowledge distillation in cross-lingual transfer learning.

Importing ``xkd`` is cheap: heavy modules (torch, transformers) load when a submodule needs them.
"""

__version__ = "0.1.0"
