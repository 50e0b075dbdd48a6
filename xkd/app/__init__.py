"""Library helpers behind the Streamlit app (``app.py`` and ``pages/``).

The pages stay thin: they read widgets, call a function from here and draw what comes back.
Nothing in this package imports streamlit, and importing it has no side effects (torch,
transformers and plotly are imported inside the functions that need them).

- :mod:`xkd.app.rundata`: reading a run folder for the app (status, curves, progress, ETA,
  tables), the device name, the default run.
- :mod:`xkd.app.views`: tables and frames the pages draw (accuracy, heatmap, distributions,
  calibration, alignment, projections, config diffs).
- :mod:`xkd.app.estimate`: a rough time and memory estimate and the equivalent commands.
- :mod:`xkd.app.tokenizer_report`: unknown-token rate and tokens per word per language.
- :mod:`xkd.app.losslab`: each loss term's value, share and gradient for hand-typed logits.
- :mod:`xkd.app.launch`: building a config from the Lab form, uploads, launching and
  exporting runs.
"""
