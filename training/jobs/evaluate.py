"""The evaluation job: per-language multiple choice and perplexity, lm-eval's way.

A suite is a folder with one JSONL file per language, named by its code
(``de.jsonl``, ``pt-BR.jsonl``). Each line is either

* a multiple-choice item ``{"question", "choices", "answer"}`` (answer: index
  or the text of the right choice),
* a preference pair ``{"prompt", "chosen", "rejected"}`` in TRL's layout
  (``prompt``: a string or a conversation, a list of ``{role, content}``;
  ``rejected``: one answer, or a ranking's worse ones as a list), or
* a perplexity document ``{"text"}``.

An optional ``"task"`` key names the task; the default is the folder's name.

The numbers follow lm-evaluation-harness (``lm_eval/api/task.py``,
``lm_eval/api/metrics.py``, ``lm_eval/models/huggingface.py``) so they can be
compared with published results:

* a choice's score is the summed log-likelihood of ``" " + choice`` given the
  question; ``acc`` takes the argmax of the scores, ``acc_norm`` the argmax of
  score / len(choice) in characters;
* ``pref_acc``: a pair counts when the summed log-likelihood of ``chosen``
  given the prompt is higher than that of every ``rejected`` answer. Summed,
  not normalised by length: it is what lm-eval's ``loglikelihood`` returns and
  what DPO's implicit reward and a reward model's pairwise accuracy compare,
  so a DPO run's reward accuracy and this number measure the same preference
  (it does favour the shorter answer where two differ much in length). The
  prompt is rendered with the tokenizer's chat template where it has one
  (as the SFT and DPO jobs train), the answer being the assistant's turn;
  without a template, the prompt is the context and ``" " + answer`` the
  continuation, lm-eval's ``target_delimiter``;
* a document's log-likelihood is computed in rolling, disjoint windows of the
  model's context length, the first one conditioned on the BOS (else EOS)
  token; ``word_perplexity = exp(-sum_ll / words)`` with
  ``words = len(re.split(r"\\s+", doc))``, ``byte_perplexity`` and
  ``bits_per_byte`` use ``len(doc.encode("utf-8"))``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoTokenizer

from training import run_store
from training.jobs.contract import (
    HIGHER_IS_BETTER, METRICS, MODEL_FILES, Done, ItemScores, JobSpec, Progress, Start, code_version, is_store_uri,
    pack_bits, pack_floats,
)  # fmt: skip
from training.jobs.events import Emit, EventWriter, heartbeat
from training.jobs.loading import check_model_reference, load_causal_lm, pick_device
from training.jobs.revision import hub_revision, resolve_revision
from training.jobs.stderr import mean_stderr, perplexities, perplexity_stderrs

TASK_VERSION = 1.0


@dataclass
class TaskData:
    items: list[dict] = field(default_factory=list)  # multiple choice
    pairs: list[dict] = field(default_factory=list)  # preference
    docs: list[str] = field(default_factory=list)  # perplexity


@dataclass
class Suite:
    name: str
    path: Path
    tasks: dict[tuple[str, str], TaskData]  # (language, task) -> data
    sha256: dict[str, str]  # language -> sha256 of its JSONL file


# -- suites ----------------------------------------------------------------------


def load_suite(path: str | Path, max_items: int | None = None) -> Suite:
    """Read every ``<lang>.jsonl`` of a suite folder; keep the first ``max_items`` per task."""
    root = Path(path)
    files = sorted(root.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no <lang>.jsonl files in suite folder {root}")
    tasks: dict[tuple[str, str], TaskData] = {}
    hashes = {}
    for file in files:
        language = file.stem
        raw = file.read_bytes()
        hashes[language] = hashlib.sha256(raw).hexdigest()
        for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            data = tasks.setdefault((language, record.get("task") or root.name), TaskData())
            if "choices" in record:
                if max_items is None or len(data.items) < max_items:
                    data.items.append(_mc_item(record, f"{file}:{number}"))
            elif "chosen" in record:
                if max_items is None or len(data.pairs) < max_items:
                    data.pairs.append(_preference_item(record, f"{file}:{number}"))
            elif "text" in record:
                if max_items is None or len(data.docs) < max_items:
                    data.docs.append(record["text"])
            else:
                raise ValueError(f"{file}:{number}: neither a multiple-choice item, a preference pair nor a text")
    return Suite(name=root.name, path=root, tasks=tasks, sha256=hashes)


def _mc_item(record: dict, where: str) -> dict:
    choices = [str(c) for c in record["choices"]]
    answer = record["answer"]
    if isinstance(answer, str) and not answer.isdigit():
        if answer not in choices:
            raise ValueError(f"{where}: answer {answer!r} is not among the choices")
        answer = choices.index(answer)
    answer = int(answer)
    if not 0 <= answer < len(choices):
        raise ValueError(f"{where}: answer index {answer} out of range")
    return {"question": record["question"], "choices": choices, "answer": answer}


def _preference_item(record: dict, where: str) -> dict:
    prompt, chosen, rejected = record.get("prompt"), record.get("chosen"), record.get("rejected")
    rejected = [rejected] if isinstance(rejected, str) else rejected
    turns_ok = isinstance(prompt, list) and all(isinstance(t, dict) and {"role", "content"} <= set(t) for t in prompt)
    if not (isinstance(prompt, str) or turns_ok):
        raise ValueError(f"{where}: prompt must be a string or a list of {{role, content}} turns")
    if not isinstance(chosen, str) or not rejected or not all(isinstance(r, str) for r in rejected):
        raise ValueError(f"{where}: a preference pair needs a chosen answer and at least one rejected one")
    return {"prompt": prompt, "chosen": chosen, "rejected": list(rejected)}


# -- log-likelihoods (lm-eval's HFLM semantics) ----------------------------------


def get_rolling_token_windows(token_list: list[int], prefix_token: int, max_seq_len: int, context_len: int):
    """lm-eval's rolling windows: (input tokens, tokens to predict) covering every token once."""
    assert 1 <= context_len <= max_seq_len
    if not token_list:
        return
    pred_len = max_seq_len - context_len + 1
    predicted = 0
    first_seq_len = min(max_seq_len, len(token_list))
    yield [prefix_token] + token_list[: first_seq_len - 1], token_list[:first_seq_len]
    predicted += first_seq_len
    while predicted < len(token_list):
        window_pred_len = min(len(token_list) - predicted, pred_len)
        window_end = predicted + window_pred_len
        yield (
            token_list[window_end - max_seq_len - 1 : window_end - 1],
            token_list[window_end - window_pred_len : window_end],
        )
        predicted += window_pred_len


def make_disjoint_window(pair: tuple[list[int], list[int]]) -> tuple[list[int], list[int]]:
    """Drop from the context the tokens that the continuation repeats."""
    context, continuation = pair
    return context[: len(context) - (len(continuation) - 1)], continuation


class Scorer:
    """Log-likelihoods of continuations under a causal LM, batched."""

    def __init__(self, model, tokenizer, *, max_length: int, batch_size: int = 8, add_bos_token: bool = False):
        self.model = model
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        self.max_length = max_length
        self.batch_size = batch_size
        self.add_bos_token = add_bos_token
        bos = tokenizer.bos_token_id
        self.prefix_token_id = bos if bos is not None else tokenizer.eos_token_id

    def tok_encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=self.add_bos_token)["input_ids"]

    def encode_pairs(self, pairs: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        """Tokenise context+continuation together, so merges across the seam match what a model saw.

        Trailing whitespace of the context moves to the continuation; an empty
        context becomes the prefix token. Two batched tokenizer calls in all.
        """
        moved = []
        for context, continuation in pairs:
            spaces = len(context) - len(context.rstrip())
            if spaces:
                context, continuation = context[:-spaces], context[-spaces:] + continuation
            moved.append((context, continuation))

        def encode(texts: list[str]) -> list[list[int]]:
            return self.tokenizer(texts, add_special_tokens=self.add_bos_token)["input_ids"] if texts else []

        contexts = encode([context for context, _ in moved])
        wholes = encode([context + continuation for context, continuation in moved])
        continuations = encode([continuation for context, continuation in moved if not context])
        encoded = []
        for (context, _), context_ids, whole in zip(moved, contexts, wholes):
            if not context:
                encoded.append(([self.prefix_token_id], continuations.pop(0)))
            else:
                encoded.append((context_ids, whole[len(context_ids) :]))
        return encoded

    @torch.inference_mode()
    def loglikelihood(self, requests: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        """(sum of log p(continuation | context), whether it is the greedy continuation)."""
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        # Longest first, as lm-eval does: similar lengths share a batch and an OOM shows at once.
        order = sorted(range(len(requests)), key=lambda i: -len(requests[i][0]) - len(requests[i][1]))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            inputs = [(requests[i][0] + requests[i][1])[-(self.max_length + 1) :][:-1] for i in chunk]
            continuations = [requests[i][1] for i in chunk]
            targets = _right_pad(continuations, 0).to(self.device, non_blocking=True)
            # Right padding needs no attention mask in a causal model (lm-eval passes none either).
            logits = self.model(input_ids=_right_pad(inputs, pad).to(self.device)).logits
            sums, greedy = [], []
            for row, continuation in enumerate(continuations):
                end = len(inputs[row])
                logprobs = F.log_softmax(logits[row, end - len(continuation) : end].float(), dim=-1)
                target = targets[row, : len(continuation)]
                sums.append(logprobs.gather(1, target[:, None]).sum())
                greedy.append((logprobs.argmax(dim=-1) == target).all())
            # one transfer per batch, not two per request
            for index, value, is_greedy in zip(chunk, torch.stack(sums).tolist(), torch.stack(greedy).tolist()):
                results[index] = (value, is_greedy)
        return results  # type: ignore[return-value]

    def rolling_requests(self, text: str) -> list[tuple[list[int], list[int]]]:
        windows = get_rolling_token_windows(
            token_list=self.tok_encode(text),
            prefix_token=self.prefix_token_id,
            max_seq_len=self.max_length,
            context_len=1,
        )
        return [make_disjoint_window(window) for window in windows]


# -- metrics ------------------------------------------------------------------------


def _right_pad(rows: list[list[int]], value: int) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def score_multiple_choice(scorer: Scorer, items: list[dict]) -> dict:
    """acc and acc_norm with lm-eval's definitions, and their standard errors."""
    requests = scorer.encode_pairs([(item["question"], " " + choice) for item in items for choice in item["choices"]])
    lls = [ll for ll, _ in scorer.loglikelihood(requests)]
    acc, acc_norm = [], []
    cursor = 0
    for item in items:
        scores = lls[cursor : cursor + len(item["choices"])]
        cursor += len(item["choices"])
        # A suite from elsewhere may hold an empty choice: lm-eval would divide by zero; it counts one character.
        lengths = [float(max(1, len(choice))) for choice in item["choices"]]
        acc.append(1.0 if _argmax(scores) == item["answer"] else 0.0)
        acc_norm.append(1.0 if _argmax([s / n for s, n in zip(scores, lengths)]) == item["answer"] else 0.0)
    return {
        "acc": _mean(acc),
        "acc_stderr": mean_stderr(acc),
        "acc_norm": _mean(acc_norm),
        "acc_norm_stderr": mean_stderr(acc_norm),
        "n_mc": len(items),
        "item_bits": {"acc": acc, "acc_norm": acc_norm},
    }


def score_preference(scorer: Scorer, pairs: list[dict]) -> dict:
    """pref_acc: the share of pairs whose ``chosen`` has the highest summed log-likelihood; its stderr."""
    requests = []
    for pair in pairs:
        requests.extend(preference_texts(scorer.tokenizer, pair["prompt"], [pair["chosen"], *pair["rejected"]]))
    lls = [ll for ll, _ in scorer.loglikelihood(scorer.encode_pairs(requests))]
    correct, cursor = [], 0
    for pair in pairs:
        chosen, *rejected = lls[cursor : cursor + 1 + len(pair["rejected"])]
        cursor += 1 + len(pair["rejected"])
        correct.append(1.0 if chosen > max(rejected) else 0.0)  # a tie is no preference
    return {"pref_acc": _mean(correct), "pref_acc_stderr": mean_stderr(correct), "n_pairs": len(pairs),
            "item_bits": {"pref_acc": correct}}  # fmt: skip


def preference_texts(tokenizer, prompt: str | list[dict], answers: list[str]) -> list[tuple[str, str]]:
    """(context, continuation) of each answer to ``prompt``, as the model would see it in a conversation."""
    turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    if getattr(tokenizer, "chat_template", None):
        context = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        pairs = []
        for answer in answers:
            whole = tokenizer.apply_chat_template([*turns, {"role": "assistant", "content": answer}], tokenize=False)
            # A template that renders the prompt differently once answered: fall back to the plain answer.
            pairs.append((context, whole[len(context) :] if whole.startswith(context) else " " + answer))
        return pairs
    context = prompt if isinstance(prompt, str) else "\n\n".join(turn["content"] for turn in turns)
    return [(context, " " + answer) for answer in answers]


def score_perplexity(scorer: Scorer, docs: list[str]) -> dict:
    """Corpus-level (weighted) perplexities over documents, lm-eval's aggregation; bootstrap stderrs."""
    requests, owners = [], []
    for index, doc in enumerate(docs):
        for request in scorer.rolling_requests(doc):
            requests.append(request)
            owners.append(index)
    doc_ll = [0.0] * len(docs)
    for owner, (ll, _) in zip(owners, scorer.loglikelihood(requests)):
        doc_ll[owner] += ll
    words = [count_words(doc) for doc in docs]
    n_bytes = [len(doc.encode("utf-8")) for doc in docs]
    return {
        **perplexities(sum(doc_ll), sum(words), sum(n_bytes)),
        **perplexity_stderrs(doc_ll, words, n_bytes),
        "loglikelihood": sum(doc_ll),
        "words": sum(words),
        "bytes": sum(n_bytes),
        "n_docs": len(docs),
        "document_sums": {"loglikelihood": doc_ll, "words": words, "bytes": n_bytes},
    }


def count_words(doc: str) -> int:
    return len(re.split(r"\s+", doc))


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)  # first maximum, like numpy


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


# -- the whole evaluation -------------------------------------------------------------


def evaluate_suites(scorer: Scorer, suites: list[Suite], emit: Emit | None = None) -> dict:
    """``{language: {task: {<METRICS>, <metric>_stderr, n, suite, data_sha256, items}}}`` (contract.Done)."""
    scores: dict[str, dict[str, dict]] = {}
    for suite in suites:
        for (language, task), data in sorted(suite.tasks.items()):
            started = time.perf_counter()
            entry: dict = dict.fromkeys(METRICS)
            items = ItemScores(n_items=len(data.items) or len(data.pairs), n_docs=len(data.docs))
            if data.items and data.pairs:
                raise ValueError(f"{suite.name} {task}_{language}: multiple-choice items and preference pairs "
                                 "in one task; give them different tasks")  # fmt: skip
            for scored in (
                score_multiple_choice(scorer, data.items) if data.items else {},
                score_preference(scorer, data.pairs) if data.pairs else {},
                score_perplexity(scorer, data.docs) if data.docs else {},
            ):
                items.bits.update({name: pack_bits(values) for name, values in scored.pop("item_bits", {}).items()})
                items.floats.update({name: pack_floats(v) for name, v in scored.pop("document_sums", {}).items()})
                entry.update(scored)
            entry["items"] = items.to_dict()
            entry["n"] = len(data.items) + len(data.pairs) + len(data.docs)
            entry["suite"] = suite.name
            entry["data_sha256"] = suite.sha256[language]
            scores.setdefault(language, {})[task] = entry
            if emit:
                seconds = time.perf_counter() - started
                emit(Progress(
                    language=language, task=task, n=entry["n"],
                    items_per_second=round(entry["n"] / max(seconds, 1e-9), 2),
                ))  # fmt: skip
    return scores


def run_evaluation(spec: JobSpec, emit: Emit | None = None) -> dict:
    """Evaluate ``spec.base_model`` on ``spec.eval.suites``; write results; return the done event's fields.

    A model in the object store (``s3://…/final``) is fetched first: its
    config, safetensors and tokenizer files only, each checked against the
    folder's COMPLETE marker. With ``output_uri`` the results are copied there.
    """
    emit = EventWriter(run_id=spec.run_id) if emit is None else emit
    with heartbeat(emit, spec.train.heartbeat_seconds):
        out = Path(spec.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(spec.train.seed)
        device, dtype = pick_device(spec.train.bf16)
        uses_store = bool(spec.output_uri) or is_store_uri(spec.base_model)
        store = run_store.Store.from_env() if uses_store else None
        source = local_model(spec.base_model, store)
        check_model_reference(source)
        revision = resolve_revision(source, spec.base_model_revision)
        pin = hub_revision(source, revision)
        tokenizer = AutoTokenizer.from_pretrained(source, **pin, trust_remote_code=False)
        model = load_causal_lm(source, pin, device=device, dtype=dtype).to(device)
        model.eval()
        suites = [load_suite(path, spec.eval.max_items) for path in spec.eval.suites]
        max_length = spec.eval.max_length or model_max_length(model, tokenizer)
        scorer = Scorer(
            model, tokenizer, max_length=max_length,
            batch_size=spec.eval.batch_size, add_bos_token=spec.eval.add_bos_token,
        )  # fmt: skip
        emit(Start(kind="evaluate", model=spec.base_model, base_model_revision=revision, device=str(device),
                   max_length=max_length, tasks=sum(len(s.tasks) for s in suites)))  # fmt: skip
        started = time.time()
        scores = evaluate_suites(scorer, suites, emit)
        meta = {
            "model_name": spec.base_model,
            "revision": revision,
            "batch_size": spec.eval.batch_size,
            "device": str(device),
            "limit": spec.eval.max_items,
            "seed": spec.train.seed,
            "max_length": max_length,
            "started": started,
            "suite_paths": {s.name: str(s.path) for s in suites},
        }
        results = to_lm_eval_results(scores, **meta)
        (out / "results.json").write_text(json.dumps(results, indent=2))
        (out / "scores.json").write_text(json.dumps(scores, indent=2))
        if spec.output_uri:
            run_store.upload_folder(store, out, spec.output_uri, names=["results.json", "scores.json"])
        summary = {"scores": scores, "results_path": str(out / "results.json"),
                   "results_uri": run_store.join_uri(spec.output_uri, "results.json") if spec.output_uri else None}
        emit(Done(**summary))
        return summary


def local_model(reference: str, store: run_store.Store | None) -> str:
    """A local folder or hub id as it is; an ``s3://`` model fetched into the cache (no pickle, no code)."""
    if is_store_uri(reference):
        return str(run_store.fetch_model(reference, MODEL_FILES, store=store))
    return reference


def model_max_length(model, tokenizer) -> int:
    """lm-eval's rule: the model config's context length, else the tokenizer's, else 2048."""
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(model.config, attr, None)
        if value:
            return int(value)
    if getattr(tokenizer, "model_max_length", 0) and tokenizer.model_max_length < 1e9:
        return int(tokenizer.model_max_length)
    return 2048


# -- lm-evaluation-harness results layout --------------------------------------------


def to_lm_eval_results(
    scores: dict,
    *,
    model_name: str,
    revision: str | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    limit: int | None = None,
    seed: int | None = None,
    max_length: int | None = None,
    started: float | None = None,
    suite_paths: dict[str, str] | None = None,
) -> dict:
    """Scores in the JSON layout lm-eval writes (``results_<date>.json``); tasks are ``<task>_<lang>``."""
    results, configs, versions, n_shot, higher, n_samples, hashes = {}, {}, {}, {}, {}, {}, {}
    for language, tasks in sorted(scores.items()):
        for task, entry in sorted(tasks.items()):
            name = f"{task}_{language}"
            metrics = [m for m in METRICS if entry.get(m) is not None]
            row: dict = {"alias": name}
            for metric in metrics:
                row[f"{metric},none"] = entry[metric]
                stderr = entry.get(f"{metric}_stderr")
                row[f"{metric}_stderr,none"] = stderr if stderr is not None else "N/A"
            results[name] = row
            is_mc = entry.get("acc") is not None or entry.get("pref_acc") is not None
            configs[name] = {
                "task": name,
                "tag": [task],
                "dataset_path": (suite_paths or {}).get(entry.get("suite", ""), entry.get("suite")),
                "dataset_name": language,
                "output_type": "multiple_choice" if is_mc else "loglikelihood_rolling",
                "target_delimiter": " ",
                "num_fewshot": 0,
                "metric_list": [{"metric": m, "higher_is_better": m in HIGHER_IS_BETTER} for m in metrics],
                "metadata": {"version": TASK_VERSION, "language": language},
            }
            versions[name] = TASK_VERSION
            n_shot[name] = 0
            higher[name] = {m: m in HIGHER_IS_BETTER for m in metrics}
            n_samples[name] = {"original": entry["n"], "effective": entry["n"]}
            hashes[name] = entry.get("data_sha256")
    now = time.time()
    return {
        "results": results,
        "group_subtasks": {name: [] for name in results},
        "configs": configs,
        "versions": versions,
        "n-shot": n_shot,
        "higher_is_better": higher,
        "n-samples": n_samples,
        "config": {
            "model": "hf",
            "model_args": f"pretrained={model_name}" + (f",revision={revision}" if revision else "")
            + (f",max_length={max_length}" if max_length else ""),
            "batch_size": batch_size,
            "device": device,
            "limit": limit,
            "random_seed": seed,
            "numpy_seed": seed,
            "torch_seed": seed,
            "fewshot_seed": seed,
        },
        "git_hash": code_version(),
        "date": started or now,
        "task_hashes": hashes,
        "model_source": "hf",
        "model_name": model_name,
        "model_revision": revision,
        "model_name_sanitized": re.sub(r"[\"<>:/|\\?*\[\]]+", "__", model_name),
        "total_evaluation_time_seconds": str(now - started) if started else None,
    }

