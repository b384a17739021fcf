"""The tokenizers a student reads with: characters, jieba words, or the teacher's own WordPiece."""
from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import jieba
from tokenizers import Tokenizer

from ..config import StudentConfig
from ..errors import ConfigError
from ..tasks.pair import split_pair


@runtime_checkable
class StudentTokenizer(Protocol):
    kind: str
    pad_id: int
    unk_id: int

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str, max_length: int) -> list[int]: ...

    def save(self, path: str | Path) -> None: ...


PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
SEP_TOKEN = "[SEP]"  # between the two texts of a pair (tasks/pair.py); in a vocabulary only when pairs were read
# Literal markers a transfer-set text may hold where a word was masked (distill/transfer): each is one
# unknown token, not six characters, so a masked text reads as the sentence with a gap.
UNK_MARKERS = re.compile(r"(\[MASK\]|\[UNK\])")


class _VocabTokenizer:
    """Shared part of the char and word tokenizers: a token list with [PAD]=0, [UNK]=1."""

    kind: ClassVar[str] = ""
    pad_id = 0
    unk_id = 1

    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != [PAD_TOKEN, UNK_TOKEN]:
            raise ValueError("a vocabulary starts with [PAD], [UNK]")
        self.tokens = list(tokens)
        self.token_to_id = {token: index for index, token in enumerate(self.tokens)}

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @property
    def sep_id(self) -> int:
        """The id between a pair's two texts; [UNK] for a vocabulary built from single texts only."""
        return self.token_to_id.get(SEP_TOKEN, self.unk_id)

    def tokenize(self, text: str) -> list[str]:
        """Tokens of ``text`` (NFKC-normalised); a "[MASK]" or "[UNK]" in it is one UNK_TOKEN; a pair is
        its first text's tokens, SEP_TOKEN, its second text's tokens."""
        first, second = split_pair(text)
        if second is not None:
            return [*self._tokenize_text(first), SEP_TOKEN, *self._tokenize_text(second)]
        return self._tokenize_text(text)

    def _tokenize_text(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text)
        if "[" not in text:  # the common case: no marker, the text is one piece
            return self.tokenize_piece(text)
        tokens: list[str] = []
        for index, piece in enumerate(UNK_MARKERS.split(text)):
            # split() with a group alternates text and marker: the odd pieces are the markers.
            tokens.extend([UNK_TOKEN] if index % 2 else self.tokenize_piece(piece))
        return tokens

    def tokenize_piece(self, text: str) -> list[str]:
        """Tokens of normalised text without markers."""
        raise NotImplementedError

    def encode(self, text: str, max_length: int) -> list[int]:
        first, second = split_pair(text)
        if second is not None:
            # A pair: both texts share max_length (the [SEP] included), the longer one cut first,
            # as the teacher's tokenizer cuts its pairs; each keeps at least one token.
            ids_first, ids_second = self._ids(first), self._ids(second)
            keep_first, keep_second = pair_lengths(len(ids_first), len(ids_second), max(max_length - 1, 2))
            return [*(ids_first[:keep_first] or [self.unk_id]), self.sep_id, *(ids_second[:keep_second] or [self.unk_id])]
        # Every sequence keeps at least one token so recurrent students never see length 0.
        return self._ids(text)[:max_length] or [self.unk_id]

    def _ids(self, text: str) -> list[int]:
        return [self.token_to_id.get(token, self.unk_id) for token in self._tokenize_text(text)]

    @classmethod
    def build(cls, texts: Iterable[str], min_frequency: int = 1, max_vocab_size: int = 50_000) -> "_VocabTokenizer":
        """Most frequent tokens first (ties by token, for reproducible ids), capped at ``max_vocab_size``."""
        counts: Counter[str] = Counter()
        tokenizer = cls([PAD_TOKEN, UNK_TOKEN])
        for text in texts:
            counts.update(tokenizer.tokenize(text))
        ranked = sorted((item for item in counts.items() if item[1] >= min_frequency and item[0] != UNK_TOKEN),
                        key=lambda kv: (-kv[1], kv[0]))
        room = max(max_vocab_size - 2, 0)
        return cls([PAD_TOKEN, UNK_TOKEN, *(token for token, _ in ranked[:room])])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"kind": self.kind, "tokens": self.tokens}, ensure_ascii=False),
                              encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "_VocabTokenizer":
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if raw.get("kind") != cls.kind:
            raise ValueError(f"{path} holds a {raw.get('kind')!r} tokenizer, not {cls.kind!r}")
        return cls(raw["tokens"])


class CharTokenizer(_VocabTokenizer):
    """One token per character (NFKC-normalised, whitespace dropped): the natural unit for Chinese."""

    kind = "char"

    def tokenize_piece(self, text: str) -> list[str]:
        return [char for char in text if not char.isspace()]


class WordTokenizer(_VocabTokenizer):
    """jieba words: fewer, more meaningful tokens than characters, at the cost of a bigger vocabulary."""

    kind = "word"

    def tokenize_piece(self, text: str) -> list[str]:
        return [word for word in _jieba().lcut(text) if word.strip()]


def _jieba() -> Any:
    # jieba logs its dictionary loading at DEBUG/INFO on every process start.
    jieba.setLogLevel(logging.WARNING)
    logging.getLogger("jieba").setLevel(logging.WARNING)
    return jieba


def pair_lengths(first: int, second: int, budget: int) -> tuple[int, int]:
    """How many tokens of each text of a pair fit in ``budget``: the longer one is cut first, down to an even
    share. The rule of the tokenizers library's "longest_first" truncation (its tests check they agree), so a
    student's pair is cut where its teacher's is."""
    if first + second <= budget:
        return first, second
    short, long = sorted((first, second))
    long = short if short > budget else max(short, budget - short)
    if short + long > budget:
        short = budget // 2
        long = short + budget % 2
    return (short, long) if first <= second else (long, short)


class TeacherTokenizer:
    """The teacher's own WordPiece tokenizer, for students that share its vocabulary.

    Works on a private copy of the Hugging Face tokenizer's backend, so setting
    truncation here never changes how the teacher itself tokenizes.
    """

    kind = "teacher"

    def __init__(self, hf_tokenizer: Any = None, *, backend: Any = None) -> None:
        if backend is None:
            source = getattr(hf_tokenizer, "backend_tokenizer", None)
            if source is None:
                raise ConfigError("the teacher tokenizer has no fast (Rust) backend and cannot be shared",
                                  code="teacher_tokenizer_unsupported")
            backend = Tokenizer.from_str(source.to_str())
        backend.no_padding()
        backend.no_truncation()
        self.backend = backend
        self.hf_tokenizer = hf_tokenizer
        pad = backend.token_to_id(getattr(hf_tokenizer, "pad_token", None) or PAD_TOKEN)
        unk = backend.token_to_id(getattr(hf_tokenizer, "unk_token", None) or UNK_TOKEN)
        self.pad_id = 0 if pad is None else pad
        self.unk_id = self.pad_id if unk is None else unk
        self._truncation: int | None = None

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, max_length: int) -> list[int]:
        if self._truncation != max_length:
            self.backend.enable_truncation(max_length)  # "longest_first" for pairs, as the teacher is called
            self._truncation = max_length
        first, second = split_pair(text)
        return self.backend.encode(first, second).ids

    def encode_batch(self, texts: Sequence[str], max_length: int) -> list[list[int]]:
        """Same ids as ``encode`` per text; the Rust tokenizer spreads a long list over all cores."""
        self.encode("", max_length)  # sets truncation once for the whole batch
        inputs = [split_pair(text) for text in texts]
        return [encoding.ids for encoding in self.backend.encode_batch(
            [first if second is None else (first, second) for first, second in inputs])]

    def token_to_id(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    def save(self, path: str | Path) -> None:
        payload = {"kind": self.kind, "tokenizer": json.loads(self.backend.to_str()),
                   "pad_id": self.pad_id, "unk_id": self.unk_id}
        Path(path).write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "TeacherTokenizer":
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        tokenizer = cls(backend=Tokenizer.from_str(json.dumps(raw["tokenizer"])))
        tokenizer.pad_id, tokenizer.unk_id = raw["pad_id"], raw["unk_id"]
        return tokenizer


_TOKENIZER_KINDS: dict[str, Any] = {"char": CharTokenizer, "word": WordTokenizer, "teacher": TeacherTokenizer}


def load_tokenizer(path: str | Path) -> StudentTokenizer:
    """Load any tokenizer written by ``save``; the JSON names its kind."""
    kind = json.loads(Path(path).read_text(encoding="utf-8")).get("kind")
    if kind not in _TOKENIZER_KINDS:
        raise ValueError(f"{path} is not a saved tokenizer (kind={kind!r})")
    return _TOKENIZER_KINDS[kind].load(path)


def build_student_tokenizer(kind: str, texts: Iterable[str], cfg: StudentConfig,
                            teacher_tokenizer: Any = None) -> StudentTokenizer:
    """The tokenizer a student reads with: built from the training texts, or the teacher's own."""
    if kind == "char":
        return CharTokenizer.build(texts, cfg.min_frequency, cfg.max_vocab_size)
    if kind == "word":
        return WordTokenizer.build(texts, cfg.min_frequency, cfg.max_vocab_size)
    if kind == "teacher":
        if teacher_tokenizer is None:
            raise ConfigError("the 'teacher' student tokenizer needs the teacher's tokenizer",
                              code="teacher_tokenizer_missing")
        return teacher_tokenizer if isinstance(teacher_tokenizer, TeacherTokenizer) else TeacherTokenizer(teacher_tokenizer)
    raise ConfigError(f"unknown student tokenizer {kind!r}; choose one of {', '.join(_TOKENIZER_KINDS)}",
                      code="unknown_tokenizer", tokenizer=kind)


def encode_texts(tokenizer: StudentTokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of every text, computed once so every epoch only pads."""
    if isinstance(tokenizer, TeacherTokenizer):
        return tokenizer.encode_batch(texts, max_length)
    return [tokenizer.encode(text, max_length) for text in texts]
