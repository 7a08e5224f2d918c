"""A BPE tokenizer trained with Qwen2's own pipeline, so that it survives a save/load round trip.

`AutoTokenizer.from_pretrained` on a `qwen2` model directory returns `Qwen2Tokenizer`, which
rebuilds its normalizer and pre-tokenizer (NFC, Qwen's split regex, ByteLevel without regex)
from vocab and merges alone. A tokenizer trained with any other pipeline would tokenize
differently after reload, so we train with exactly that one and save through that class.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import Qwen2Tokenizer
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

EOS = "<|endoftext|>"


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Qwen2Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]
    return Qwen2Tokenizer(vocab=tok.get_vocab(), merges=merges, padding_side="left")
