"""The tests' merges file in the layout of CLIP's bpe_simple_vocab_16e6.txt.gz, learnt by the
project's BPE learner (clip_tokenizer.learn_merges) over a short English text with accented
words, so common words merge into whole tokens as they do with CLIP's file."""

import gzip
from pathlib import Path

from samhq_train.clip_tokenizer import learn_merges, merges_text, vocab_size_of

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


def write_merges_file(path: Path, count: int = 250, pad_to: int = 0, tail: str = "") -> int:
    """Write the file; returns the vocabulary size it gives. pad_to: filler merges of symbols no
    text spells, up to that many merges; tail: lines after them (a malformed file's)."""
    merges = learn_merges(CORPUS, count)
    merges += [(f"q{i}", "zz") for i in range(pad_to - len(merges))]
    text = "\n".join([merges_text(merges), *tail.splitlines()])
    path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    return vocab_size_of(len(merges))
