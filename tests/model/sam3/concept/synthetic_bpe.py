"""A small merges file in the layout of CLIP's bpe_simple_vocab_16e6.txt.gz (gzip, a version
header line, one "left right" merge a line), learnt here by counting adjacent symbol pairs over a
short English text, so common words merge into whole tokens as they do with CLIP's file."""

import gzip
from collections import Counter
from pathlib import Path

import regex

from samhq_train.clip_tokenizer import WORD_END, byte_symbols

CORPUS = """
A cat sits on the mat beside the window, and the dog sleeps under the table in the kitchen.
Two people walk along the river at sunset; a red car passes over the old stone bridge.
The children play football in the park while their parents read newspapers on a bench.
Photographs of mountains, forests and lakes hang on the walls of the small wooden house.
A naive waiter at the cafe serves creme brulee and a cold drink to the tourists near the door.
The striped cat watches the birds in the garden; the dogs bark at the postman every morning.
Zebras, giraffes and elephants gather at the water hole during the dry season in the savanna.
Cafés à Paris: crème brûlée, naïve façades, jalapeño, Zürich, São Paulo, smörgåsbord.
"""


def learn_merges(text: str, count: int) -> list[tuple[str, str]]:
    """Up to `count` most frequent adjacent pairs, merged greedily one after another, over the
    text's words (letter runs, digits, other runs, as the tokenizer splits)."""
    words = Counter(regex.findall(r"[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", text.lower()))
    spelled = {}
    for word in words:
        symbols = [byte_symbols()[b] for b in word.encode("utf-8")]
        symbols[-1] += WORD_END
        spelled[word] = symbols
    merges = []
    while len(merges) < count:
        pairs = Counter()
        for word, symbols in spelled.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += words[word]
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))
        merges.append(best)
        for word, symbols in spelled.items():
            joined, i = [], 0
            while i < len(symbols):
                if tuple(symbols[i : i + 2]) == best:
                    joined.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    joined.append(symbols[i])
                    i += 1
            spelled[word] = joined
    return merges


def write_merges_file(path: Path, count: int = 250, pad_to: int = 0, tail: str = "") -> int:
    """Write the file (no trailing newline: Meta would read an empty line as a merge); returns
    the vocabulary size it gives (both byte tables, the merges, start and end). pad_to: filler
    merges of symbols no text spells, up to that many merges; tail: lines after them."""
    merges = learn_merges(CORPUS, count)
    merges += [(f"q{i}", "zz") for i in range(pad_to - len(merges))]
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges] + tail.splitlines()
    path.write_bytes(gzip.compress("\n".join(lines).encode("utf-8")))
    return 2 * 256 + len(merges) + 2
