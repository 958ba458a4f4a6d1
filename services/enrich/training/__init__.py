"""Training and evaluation of the enrich text models (``make train-*`` / ``make eval-*``).

Development only: it needs the ``training`` dependency group (scikit-learn, scipy, the lexicon
packages) and the data under ``../shared/data``; the runtime loads the committed artifacts in
``services/enrich/models`` and never imports this package.
"""
