"""Training and evaluation jobs, run on a GPU host without Django.

The GPU worker (training/gpu_worker.py) writes a
:class:`~training.jobs.contract.JobSpec` as JSON and calls
:func:`training.jobs.runner.run_in_child`, which starts
``python -m training.jobs SPEC.json`` and follows its JSON-line events.

    contract.py  the spec, the events, the metric names: all the portal may import from here
    revision.py  which exact model a job loads: hub commit or local files' hash
    tiny.py      a tiny local Mistral + tokenizer for tests and first runs (also ``python -m``)
    data.py      snapshot shards -> packed (CPT) or chat-templated (SFT) examples
    loading.py   device, precision and model loading, shared by train.py and evaluate.py
    train.py     the training loop: full or LoRA, checkpoints, resume
    evaluate.py  per-language multiple choice and perplexity, lm-eval's definitions
    events.py    the JSON-line event stream and its heartbeat
    runner.py    the child process, as the worker sees it

The object store's client (training/run_store.py) lives beside the package:
the portal uploads snapshots with it and the jobs fetch them. Only this package
imports torch, transformers and peft, and it never imports Django. Importing
the package itself imports nothing heavy: contract.py, revision.py, events.py
and runner.py use the standard library alone at import time.
"""
