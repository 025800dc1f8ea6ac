"""Training and evaluation jobs, run on a GPU host without Django.

The portal's GPU worker writes a :class:`~training.jobs.spec.JobSpec` as JSON and
calls :func:`training.jobs.runner.run_in_child`, which starts
``python -m training.jobs SPEC.json`` and follows its JSON-line events.

    spec.py      the spec and its hyper-parameters; path and URI confinement
    storage.py   the object store (s3://): snapshots fetched and checked, checkpoints kept
    revision.py  which exact model a job loads: hub commit or local files' hash
    tiny.py      a tiny local Mistral + tokenizer for tests and first runs
    data.py      snapshot shards -> packed (CPT) or chat-templated (SFT) examples
    train.py     the training loop: full or LoRA, checkpoints, resume
    evaluate.py  per-language multiple choice and perplexity, lm-eval's definitions
    events.py    the JSON-line event stream and its heartbeat
    runner.py    the child process, as the worker sees it

Only this package imports torch, transformers and peft (and boto3, in
storage.py), and it never imports Django. Importing the package itself imports
nothing heavy: spec.py, revision.py, events.py, runner.py and storage.py use the
standard library alone at import time (storage.py imports boto3 on first use).
"""
