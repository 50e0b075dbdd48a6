"""Library helpers behind the Streamlit app (``app.py`` and ``pages/``).

The pages stay thin: they read widgets, call a function from here and draw what comes back.
Nothing in this package imports streamlit, and importing it has no side effects (torch,
transformers and plotly are imported inside the functions that need them).

- :mod:`xkd.lab.rundata`: reading a run folder for the app (status, curves, progress, ETA,
  tables), the device name, the default run.
- :mod:`xkd.lab.views`: tables and frames the pages draw (accuracy, heatmap, distributions,
  calibration, alignment, projections, config diffs).
- :mod:`xkd.lab.estimate`: a rough time and memory estimate and the equivalent commands.
- :mod:`xkd.lab.tokenizer_report`: unknown-token rate and tokens per word per language.
- :mod:`xkd.lab.losslab`: each loss term's value, share and gradient for hand-typed logits.
- :mod:`xkd.lab.launch`: building a config from the Lab form, uploads, launching and
  exporting runs.
"""
