"""SAM 3's text tokenizer: CLIP's byte-level BPE, as Meta's sam3 tokenizer_ve.SimpleTokenizer
applies it (lower-case cleaning, start / end tokens, a fixed context with zero padding). Pure
Python (numpy, regex, ftfy): it imports neither torch nor the model package, so it serves the ONNX
concept graphs in onnxruntime alone (token_array).

The merges come from CLIP's bpe_simple_vocab_16e6.txt.gz, a file the user gives (it is not part
of the sam3 pip package). The ids are Meta's exactly: the same cleaning (ftfy, twice-applied HTML
unescaping, Unicode whitespace collapsed, lower case), the same pre-token pattern (the `regex`
module's Unicode letter / number classes) and the same merge order.
"""

from __future__ import annotations

import gzip
import html
import os
import zlib
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import regex

from .errors import UserError

MERGES_FILE_NAME = "bpe_simple_vocab_16e6.txt.gz"
CLIP_VOCAB_SIZE = 49408  # 256 bytes, 256 word-final bytes, 48894 merges, start and end
CONTEXT_LENGTH = 32  # what SAM 3's text encoder asks the tokenizer for
START_TOKEN = "<start_of_text>"
END_TOKEN = "<end_of_text>"
WORD_END = "</w>"
PADDING_ID = 0
# CLIP's file holds more merges than its vocabulary uses: the first line (a version header) is
# skipped and only the merges that fit a 49152-entry BPE table are read
MERGES_READ = 49152 - 256 - 2
MAX_MERGES_FILE_BYTES = 64 * 2**20  # decompressed; CLIP's file is about 1.7 MB
MERGES_HEADER = "#version: 0.2"  # CLIP's first line (skipped when read)

_WHITESPACE_RUN = regex.compile(r"\s+")


class TokenizerFileError(UserError):
    """The BPE merges file is missing, unreadable, or not CLIP's merges list."""


@lru_cache
def byte_symbols() -> dict[int, str]:
    """Each byte -> a printable character (bytes that print stand for themselves; the others take
    the characters from U+0100 on, in byte order), so BPE works on visible symbols only."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    others = [b for b in range(256) if b not in printable]
    symbols = {b: chr(b) for b in printable}  # insertion order = vocabulary order
    symbols.update({b: chr(256 + n) for n, b in enumerate(others)})
    return symbols


def clean_text(text: str) -> str:
    """Meta's "lower" cleaning: ftfy's repairs, HTML entities unescaped (twice, for
    double-escaped text), whitespace runs made one space, trimmed, lower case."""
    import ftfy  # here, not when the model package is imported (~0.2 s)

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return _WHITESPACE_RUN.sub(" ", text).strip().lower()


def _read_merges(path: Path, vocab_size: int | None) -> list[tuple[str, str]]:
    """The merge pairs of a gzipped CLIP merges file, checked to give `vocab_size` ids (None:
    any count, for checking a file before the model that reads it is loaded)."""
    what = f"give the path of CLIP's {MERGES_FILE_NAME} (from Meta's sam3 repository, assets/)"
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise TokenizerFileError(f"BPE merges file {path} {problem}; {what}")
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read(MAX_MERGES_FILE_BYTES + 1)
        if len(raw) > MAX_MERGES_FILE_BYTES:
            raise TokenizerFileError(
                f"BPE merges file {path} decompresses to over {MAX_MERGES_FILE_BYTES} bytes; {what}"
            )
        lines = raw.decode("utf-8").split("\n")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as err:
        raise TokenizerFileError(
            f"BPE merges file {path} is not a readable gzipped UTF-8 text ({err}); {what}"
        ) from err
    merges = []
    for number, line in enumerate(lines[1 : MERGES_READ + 1], start=2):
        pair = tuple(line.split())
        if len(pair) != 2:
            raise TokenizerFileError(
                f"BPE merges file {path} line {number} is not two symbols ({line[:40]!r}); {what}"
            )
        merges.append(pair)
    found = vocab_size_of(len(merges))
    if vocab_size is not None and found != vocab_size:
        raise TokenizerFileError(
            f"BPE merges file {path} gives {found} token ids, the text encoder has {vocab_size}; "
            f"{what}"
        )
    return merges


def vocab_size_of(merge_count: int) -> int:
    """The token ids a merges file of this many merges gives: both byte tables, the merges, the
    start and end tokens."""
    return 2 * 256 + merge_count + 2


def learn_merges(text: str, count: int) -> list[tuple[str, str]]:
    """A merges list learnt from a text (for a small model's own vocabulary, CLIP's file being
    too big for it): up to `count` times, the adjacent symbol pair most frequent over the text's
    lower-cased words (letter runs, digits, other runs, split as the tokenizer splits them) is
    joined everywhere; ties go to the larger pair. Fewer when nothing is left to join."""
    words = Counter(regex.findall(r"[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", text.lower()))
    spelled = {}
    for word in words:
        symbols = [byte_symbols()[b] for b in word.encode("utf-8")]
        symbols[-1] += WORD_END
        spelled[word] = symbols
    merges: list[tuple[str, str]] = []
    while len(merges) < count:
        pairs = Counter()
        for word, symbols in spelled.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += words[word]
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))
        merges.append(best)
        spelled = {word: _merge(symbols, {best: 0}) for word, symbols in spelled.items()}
    return merges


def merges_text(merges: Sequence[tuple[str, str]]) -> str:
    """A merges file's text: CLIP's header line, then one "left right" merge a line (no newline
    at the end: Meta's reader would take an empty last line for a merge)."""
    return "\n".join([MERGES_HEADER, *(f"{a} {b}" for a, b in merges)])


def write_merges_file(path: str | os.PathLike, merges: Sequence[tuple[str, str]]) -> int:
    """Write a gzipped merges file in CLIP's layout, the same bytes for the same merges (gzip's
    time stamp 0); returns the vocabulary size it gives."""
    Path(path).write_bytes(gzip.compress(merges_text(merges).encode("utf-8"), mtime=0))
    return vocab_size_of(len(merges))


def _merge(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Apply BPE to one word's symbols: repeatedly join every occurrence (left to right, without
    overlap) of the adjacent pair that ranks first among the merges."""
    while len(symbols) > 1:
        ranked = [(ranks[p], p) for p in zip(symbols, symbols[1:]) if p in ranks]
        if not ranked:
            break
        first, second = min(ranked)[1]
        joined, i = [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and symbols[i] == first and symbols[i + 1] == second:
                joined.append(first + second)
                i += 2
            else:
                joined.append(symbols[i])
                i += 1
        symbols = joined
    return symbols


class ClipTokenizer:
    """Text -> CLIP BPE ids, `context_length` per text: start, the text's tokens, end, then
    PADDING_ID (0). A text too long keeps its first context_length - 1 ids and ends with the end
    id. Id 0 is also the byte "!" when BPE leaves it unmerged inside a word (e.g. "!?"): Meta's
    padding mask (id == 0) counts it as padding too; we keep that (text_encoder.padding_mask)."""

    def __init__(
        self,
        merges_path: str | os.PathLike,
        context_length: int = CONTEXT_LENGTH,
        vocab_size: int | None = CLIP_VOCAB_SIZE,
    ) -> None:
        merges = _read_merges(Path(merges_path).expanduser(), vocab_size)
        symbols = list(byte_symbols().values())
        vocab = symbols + [s + WORD_END for s in symbols] + ["".join(m) for m in merges]
        vocab += [START_TOKEN, END_TOKEN]
        self.ids = {token: i for i, token in enumerate(vocab)}
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.start_id = self.ids[START_TOKEN]
        self.end_id = self.ids[END_TOKEN]
        self.context_length = context_length
        # the special tokens are matched first, so a text that spells one gets its id
        self.pattern = regex.compile(
            rf"{START_TOKEN}|{END_TOKEN}|'s|'t|'re|'ve|'m|'ll|'d|[\p{{L}}]+|[\p{{N}}]"
            r"|[^\s\p{L}\p{N}]+",
            regex.IGNORECASE,
        )
        self._word_ids: dict[str, list[int]] = {
            START_TOKEN: [self.start_id],
            END_TOKEN: [self.end_id],
        }

    def word_ids(self, word: str) -> list[int]:
        """The ids of one pre-token (its UTF-8 bytes as symbols, the last marked word-final)."""
        cached = self._word_ids.get(word)
        if cached is None:
            chars = [byte_symbols()[b] for b in word.encode("utf-8")]
            chars[-1] += WORD_END
            cached = [self.ids[s] for s in _merge(chars, self.ranks)]
            self._word_ids[word] = cached
        return cached

    def encode(self, text: str) -> list[int]:
        """The ids of a text's tokens, without start / end."""
        ids: list[int] = []
        for word in self.pattern.findall(clean_text(text)):
            ids.extend(self.word_ids(word))
        return ids

    def token_array(self, texts: str | list[str]) -> np.ndarray:
        """Token ids, int64 numpy (len(texts), context_length), zero-padded: what the ONNX text
        encoder takes (no torch needed)."""
        if isinstance(texts, str):
            texts = [texts]
        out = np.full((len(texts), self.context_length), PADDING_ID, dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.start_id, *self.encode(text), self.end_id]
            if len(ids) > self.context_length:
                ids = ids[: self.context_length - 1] + [self.end_id]
            out[row, : len(ids)] = ids
        return out

    def __call__(self, texts: str | list[str]):
        """Token ids, a torch int64 tensor (len(texts), context_length), zero-padded."""
        import torch  # here: the tokenizer itself runs without torch (token_array)

        return torch.from_numpy(self.token_array(texts))
