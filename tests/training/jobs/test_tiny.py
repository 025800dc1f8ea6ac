from transformers import AutoModelForCausalLM, AutoTokenizer, MistralForCausalLM


def test_tiny_model_loads_with_the_auto_classes(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, use_safetensors=True, trust_remote_code=False)

    assert isinstance(model, MistralForCausalLM)
    assert model.config.sliding_window is None
    assert model.config.vocab_size >= len(tokenizer)
    assert (tiny_model / "model.safetensors").is_file()
    assert not list(tiny_model.glob("*.bin"))
    assert tokenizer.bos_token == "<s>" and tokenizer.eos_token == "</s>" and tokenizer.pad_token == "<pad>"


def test_byte_level_tokenizer_round_trips_any_text(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    text = "Grüße aus Köln — São Paulo, Łódź, Ελλάδα, 日本"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text


def test_chat_template_is_mistral_instruct(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    chat = [
        {"role": "system", "content": "Sei kurz."},
        {"role": "user", "content": "Hallo"},
        {"role": "assistant", "content": "Servus"},
        {"role": "user", "content": "Wie geht's?"},
    ]
    rendered = tokenizer.apply_chat_template(chat, tokenize=False)
    assert rendered == "<s>[INST] Sei kurz.\n\nHallo [/INST] Servus</s>[INST] Wie geht's? [/INST]"
