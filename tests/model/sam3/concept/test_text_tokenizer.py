"""Our CLIP BPE tokenizer gives Meta's sam3 SimpleTokenizer's ids (as SAM 3's text encoder calls
it, context 32) on a synthetic merges file in CLIP's layout; a bad merges file is one error line."""

import gzip
import random

import pytest
import torch

from samhq_train.clip_tokenizer import (
    CLIP_VOCAB_SIZE,
    MERGES_READ,
    ClipTokenizer,
    TokenizerFileError,
)
from samhq_train.errors import UserError

from .synthetic_bpe import CORPUS, write_merges_file

tokenizer_ve = pytest.importorskip("sam3.model.tokenizer_ve")

CONTEXT = 32

HAND_PICKED = [
    "a cat",
    "cat",
    "",
    "   ",
    "The  Striped\tCAT\n on   the MAT",
    "a dog's bone, the cats' toys; they're here, we'll go, I'd say, you've seen, I'm ok",
    "!",
    "!?",
    "?!...",
    "hello!!! world???",
    "2 dogs and 17 cats, 3.14159, 1,000,000 stars, #42",
    "Café crème brûlée, naïve façade, jalapeño, Zürich, São Paulo, smörgåsbord",
    "ÉCOLE ÀÈÌÒÙ İstanbul straße ΣΊΣΥΦΟΣ",
    "emoji 🐱🐶 and 👍🏽 flags 🇫🇷 zwj 👩‍👩‍👧",
    "fish &amp; chips &lt;b&gt; &quot;quoted&quot; &#39;single&#39; &amp;amp; &nbsp;x",
    "curly “quotes” and ‘single’ — dashes – ellipsis…",
    "ligature ﬁsh ﬂower, fullwidth ＣＡＴ １２３",
    "mojibake cafÃ© and naÃ¯ve",
    "中文 日本語のテキスト 한국어 العربية עברית हिन्दी",
    "tabs\tand\u00a0nbsp\u2003em-space\u200bzero-width",
    "<start_of_text> spelled out <end_of_text> and <START_OF_TEXT>",
    "under_score snake_case CamelCase kebab-case e-mail@example.com http://x.org/a?b=c",
    "control \x00\x07 chars \x1c\x1d\x1e\x1f sep",
    " ".join(["a long prompt with many words about the striped cat on the mat"] * 5),
    "x" * 200,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    CORPUS,
]


def random_texts(count: int, seed: int = 0) -> list[str]:
    alphabet = (
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        " \t\n.,;:!?'\"-_()[]{}<>/&#@%*+=~`|\\éèàüöñçßøÅ€£¥°²½"
        "αβγΩ中文字🐱👍🏽\u00a0\u200b’“”…"
    )
    entities = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&amp;lt;", "'s", "'ll"]
    words = CORPUS.split()
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 25)):
            kind = rng.random()
            if kind < 0.5:
                word = rng.choice(words)
                parts.append(word.upper() if rng.random() < 0.1 else word)
            elif kind < 0.6:
                parts.append(rng.choice(entities))
            else:
                parts.append("".join(rng.choices(alphabet, k=rng.randint(1, 6))))
            parts.append(rng.choice([" ", " ", "  ", "", "\t"]))
        texts.append("".join(parts))
    return texts


@pytest.fixture(scope="module")
def merges(tmp_path_factory):
    path = tmp_path_factory.mktemp("bpe") / "merges.txt.gz"
    vocab_size = write_merges_file(path)
    return path, vocab_size


def test_ids_equal_meta(merges):
    path, vocab_size = merges
    meta = tokenizer_ve.SimpleTokenizer(bpe_path=str(path))
    ours = ClipTokenizer(path, context_length=CONTEXT, vocab_size=vocab_size)
    assert meta.vocab_size == vocab_size
    texts = HAND_PICKED + random_texts(400)
    expected = meta(texts, context_length=CONTEXT)
    got = ours(texts)
    assert got.dtype == expected.dtype == torch.long
    assert got.shape == (len(texts), CONTEXT)
    bad = [t for t, a, b in zip(texts, got, expected) if not torch.equal(a, b)]
    assert not bad, f"{len(bad)} texts differ, e.g. {bad[0]!r}"
    # the cases the test is meant to reach: truncation, padding, merged words, id 0 inside a text
    lengths = (expected != 0).sum(1)
    assert (lengths == CONTEXT).any() and (lengths < CONTEXT).any()
    ends = (expected == meta.eot_token_id).int().argmax(1)
    assert any((row[:end] == 0).any() for row, end in zip(expected, ends))  # "!" unmerged: id 0
    assert (expected >= 512).logical_and(expected < vocab_size - 2).any()
    assert got[texts.index("a cat"), 2] == ours.ids["cat</w>"]
    # without the context cut (Meta's encode) also equal, word by word
    for text in texts[:60]:
        assert ours.encode(text) == meta.encode(text), text


def test_single_text_and_default_context(merges):
    path, vocab_size = merges
    ours = ClipTokenizer(path, vocab_size=vocab_size)
    meta = tokenizer_ve.SimpleTokenizer(bpe_path=str(path))
    assert torch.equal(ours("a striped cat"), meta("a striped cat", context_length=CONTEXT))


def test_a_full_size_file_reads_the_merges_clip_uses(tmp_path):
    """CLIP's file holds more merges than its 49408 ids take: both read the same first ones."""
    path = tmp_path / "full.txt.gz"
    write_merges_file(path, pad_to=MERGES_READ, tail="a b\nnot a merge line at all\n")
    meta = tokenizer_ve.SimpleTokenizer(bpe_path=str(path))
    ours = ClipTokenizer(path)
    assert ours.end_id == meta.eot_token_id == CLIP_VOCAB_SIZE - 1
    texts = HAND_PICKED + random_texts(50, seed=1)
    assert torch.equal(ours(texts), meta(texts, context_length=CONTEXT))


def _gz(path, text: str | bytes):
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data))
    return path


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda d: d / "absent.txt.gz", "does not exist"),
        (lambda d: d, "is not a file"),
        (lambda d: (d / "plain.txt").write_text("#v\na b") and d / "plain.txt", "gzipped"),
        (lambda d: _gz(d / "latin1.gz", b"#v\n\xe9 b"), "gzipped UTF-8"),
        (lambda d: _gz(d / "three.gz", "#v\na b\nc d e"), "line 3"),
        (lambda d: _gz(d / "trailing.gz", "#v\na b\n"), "line 3"),
        (lambda d: _gz(d / "short.gz", "#v\na b\nc d"), "gives 516 token ids"),
    ],
)
def test_bad_merges_file_is_one_user_error(tmp_path, make, says):
    path = make(tmp_path)
    with pytest.raises(TokenizerFileError) as err:
        ClipTokenizer(path)
    message = str(err.value)
    assert isinstance(err.value, UserError)
    assert str(path) in message and says in message and "\n" not in message
    assert "bpe_simple_vocab_16e6.txt.gz" in message
