"""Library helpers behind the Streamlit app (``app.py`` and ``pages/``).

The pages stay thin: they read widgets, call a function from here and draw what comes back.
Nothing in this package imports streamlit, and importing it has no side effects (torch,
transformers and plotly are imported inside the functions that need them).

One module per page's data:

- :mod:`xkd.app.accuracy` (Accuracy: per-language table, transfer ratio, heatmap),
  :mod:`xkd.app.alignment` (Alignment: projections, translation links, neighbours),
  :mod:`xkd.app.distributions` (Distributions: probabilities, calibration, agreement),
  :mod:`xkd.app.runs_view` (Runs: overview, config diff), :mod:`xkd.app.losslab` (Loss lab);
- the Lab: :mod:`xkd.app.form` (LabForm <-> RunConfig, widget keys), :mod:`xkd.app.estimate`
  (a rough time and memory estimate), :mod:`xkd.app.model_choices` (suggested teachers and
  students, and whether each is in the local Hugging Face cache), :mod:`xkd.app.commands`
  (the equivalent command lines),
  :mod:`xkd.app.tokenizer_report` (unknown-token rate and tokens per word per language),
  :mod:`xkd.app.files` (uploads, data summary, model zip export);
- shared: :mod:`xkd.app.rundata` (curves, progress, ETA, logs of a run), :mod:`xkd.app.labels`
  (one label per concept), :mod:`xkd.app.fmt` (lookups and display formatting).

Launching a run and the busy-device policy live next to the device lock, in
:mod:`xkd.runs.launch` and :mod:`xkd.runs.lock`.
"""
