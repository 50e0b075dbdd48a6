"""Old name of :mod:`xkd.app.files`, kept only until ``pages/runs.py`` imports that module.

Launching moved to :mod:`xkd.runs.launch`, the Lab form to :mod:`xkd.app.form`.
"""

from xkd.app.files import model_zip

__all__ = ["model_zip"]
