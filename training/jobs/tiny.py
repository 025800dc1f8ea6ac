"""A tiny Mistral-shaped model and tokenizer made from local text.

Tests, benchmarks and a first run on a laptop need a base model, and nothing
may be downloaded from a hub. ``create_tiny_model`` trains a byte-level BPE
tokenizer on the texts it is given and initialises a small ``MistralForCausalLM``
with random weights; the result is a folder that ``AutoTokenizer`` and
``AutoModelForCausalLM`` load like any hub checkpoint.

The portal's ``create_base_model --tiny`` runs it as a job, in a child process
(``python -m training.jobs.tiny``), so the portal never imports torch or this code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterable

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import MistralConfig, MistralForCausalLM, PreTrainedTokenizerFast

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "[INST]", "[/INST]"]

# Mistral's [INST] format. A system message is folded into the first user turn.
# The {% generation %} block marks what the assistant says, so that
# apply_chat_template(..., return_assistant_tokens_mask=True) can tell the
# training loop which tokens to learn (see data.encode_sft).
CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if messages[0]['role'] == 'system' %}"
    "{%- set system = messages[0]['content'] + '\\n\\n' %}{%- set loop_messages = messages[1:] %}"
    "{%- else %}{%- set system = '' %}{%- set loop_messages = messages %}{%- endif %}"
    "{%- for message in loop_messages %}"
    "{%- if message['role'] == 'user' %}"
    "{%- if loop.first %}{{- '[INST] ' + system + message['content'] + ' [/INST]' }}"
    "{%- else %}{{- '[INST] ' + message['content'] + ' [/INST]' }}{%- endif %}"
    "{%- elif message['role'] == 'assistant' %}"
    "{%- generation %}{{- ' ' + message['content'] + eos_token }}{%- endgeneration %}"
    "{%- else %}{{- raise_exception('only system, user and assistant roles are supported') }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '' }}{%- endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (any UTF-8 text encodes, no <unk> in practice)."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    # trim_offsets=False keeps the leading space inside each token's offsets,
    # which the assistant-mask computation relies on to cover whole tokens.
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=["[INST]", "[/INST]"],
        model_max_length=1_000_000,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def tiny_config(
    tokenizer: PreTrainedTokenizerFast,
    *,
    hidden_size: int = 256,
    num_layers: int = 4,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 1024,
    model_vocab_size: int | None = None,
) -> MistralConfig:
    """A Mistral config; ``model_vocab_size`` may exceed the tokenizer's (a padded embedding, as in real models)."""
    return MistralConfig(
        vocab_size=max(model_vocab_size or 0, len(tokenizer)),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or _round_up(hidden_size * 8 // 3, 64),
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        sliding_window=None,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def create_tiny_model(
    out_dir: str | Path,
    texts: Iterable[str],
    vocab_size: int = 2048,
    *,
    seed: int = 0,
    **config_kwargs,
) -> Path:
    """Train a tokenizer on ``texts``, initialise a small Mistral, save both to ``out_dir``.

    ``config_kwargs`` go to :func:`tiny_config` (hidden_size, num_layers, ...).
    Weights are written as safetensors. Returns ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    config = tiny_config(tokenizer, **config_kwargs)
    torch.manual_seed(seed)
    model = MistralForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _round_up(value: int, multiple: int) -> int:
    return (value + multiple - 1) // multiple * multiple


def main(argv: list[str] | None = None) -> int:
    """``python -m training.jobs.tiny OUT TEXTS.json [CONFIG.json]``: texts a JSON list of strings;
    config the keyword arguments of :func:`create_tiny_model` (vocab_size, hidden_size, num_layers, ...)."""
    parser = argparse.ArgumentParser(prog="python -m training.jobs.tiny")
    parser.add_argument("out")
    parser.add_argument("texts")
    parser.add_argument("config", nargs="?")
    args = parser.parse_args(argv)
    texts = json.loads(Path(args.texts).read_text(encoding="utf-8"))
    config = json.loads(Path(args.config).read_text(encoding="utf-8")) if args.config else {}
    create_tiny_model(args.out, texts, **config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
