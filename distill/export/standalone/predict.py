"""Label Chinese text with a student distilled by cld: needs only numpy and onnxruntime (jieba for a word student).

    python predict.py "这家酒店很好"                 # the label and every label's probability
    python predict.py --file texts.txt --out out.csv  # one text a line in, a CSV out (stdout without --out)
    python predict.py --int8 "这家酒店很好"          # the int8 model: smaller and faster, near-identical answers

A pair student (it judges two texts together: matching, paraphrase, inference) takes two texts:

    python predict.py "怎么开通花呗" "花呗如何开通"      # one pair: the label and every label's probability
    python predict.py --file pairs.tsv --out out.csv  # two tab-separated texts a line in, a CSV out

A tagging student (named entities) finds entities with character offsets:

    python predict.py "江泽民在北京"                 # one line a text: the text, a tab, its entities as JSON
    python predict.py --file texts.txt --out out.jsonl  # one text a line in, JSON Lines out

or from Python, with this folder on the path:

    from predict import Predictor
    predictor = Predictor(".")                       # the unpacked zip
    predictor.probabilities(["这家酒店很好"])         # (N, C) numpy array, columns in predictor.labels order
    predictor.predict(["这家酒店很好"])               # [(label, probability), ...]
    predictor.predict(["怎么开通花呗"], ["花呗如何开通"])  # a pair student: first texts, then second texts
    predictor.entities(["江泽民在北京"])              # a tagging student: [[{"start", "end", "label", "text"}, ...]]

The tokenizer here is a copy of the one the student was trained with (cld's distill/tokens/tokenizer.py):
same normalisation, same vocabulary, same truncation; cld's tests check both give the same ids. This file
is copied unchanged into every download, so it reads everything it needs from the files beside it.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import unicodedata
from pathlib import Path

import numpy as np
import onnxruntime

BATCH_SIZE = 64  # texts per forward pass; sorted by length first, so little padding is computed


class Predictor:
    """The student in ``folder`` (model.onnx or model.int8.onnx, vocab.json, labels.json, config.json)."""

    def __init__(self, folder: str | Path = ".", *, int8: bool = False, threads: int = 0) -> None:
        folder = Path(folder)
        self.labels: list[str] = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.max_length = int(config.get("max_length", 128))
        self.pairs = config.get("task") == "pair"  # the student judges two texts together
        self.tagging = config.get("task") == "tagging"  # one tag per character; labels are the tags
        self.tokenizer = load_tokenizer(folder / "vocab.json")
        crf_path = folder / "crf.json"  # a CRF tagger's start, transition and end scores: decoded by Viterbi
        self.crf = json.loads(crf_path.read_text(encoding="utf-8")) if crf_path.is_file() else None
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        model = folder / ("model.int8.onnx" if int8 else "model.onnx")
        if int8 and not model.is_file():
            # Left out when it disagreed with the trained student too often (README.md, "Export check").
            raise FileNotFoundError(f"{model} is not in this download (see README.md, Export check); use model.onnx")
        self.session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def encode(self, text: str, second: str | None = None) -> list[int]:
        return self.tokenizer.encode(text, self.max_length, second)

    def logits(self, texts: list[str], seconds: list[str] | None = None) -> np.ndarray:
        """(N, C) float32, in the order of ``texts``; a pair student also needs the ``seconds`` texts."""
        if self.tagging:
            raise ValueError("this student tags characters; use entities(), tags() or emissions()")
        seconds = self._seconds(texts, seconds)
        token_ids = [self.encode(text, second) for text, second in zip(texts, seconds)]
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for rows, scores in self._run_batches(token_ids):
            out[rows] = scores
        return out

    def _run_batches(self, token_ids: list[list[int]]):
        """The graph's output for the non-empty rows, batched by length: yields (row indices, scores)."""
        order = sorted((i for i in range(len(token_ids)) if token_ids[i]), key=lambda i: len(token_ids[i]))
        for begin in range(0, len(order), BATCH_SIZE):
            rows = order[begin:begin + BATCH_SIZE]
            width = max(len(token_ids[i]) for i in rows)
            input_ids = np.full((len(rows), width), self.tokenizer.pad_id, dtype=np.int64)  # (B, T)
            attention_mask = np.zeros((len(rows), width), dtype=np.int64)  # (B, T)
            for row, index in enumerate(rows):
                input_ids[row, :len(token_ids[index])] = token_ids[index]
                attention_mask[row, :len(token_ids[index])] = 1
            yield rows, self.session.run(["logits"], {"input_ids": input_ids, "attention_mask": attention_mask})[0]

    def probabilities(self, texts: list[str], seconds: list[str] | None = None) -> np.ndarray:
        """Every label's probability (N, C), columns in the order of ``labels``."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        logits = self.logits(texts, seconds)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))  # minus the row's max: exp never overflows
        return shifted / shifted.sum(axis=-1, keepdims=True)

    def predict(self, texts: list[str], seconds: list[str] | None = None) -> list[tuple[str, float]]:
        """(label, probability of that label) per text (per pair, for a pair student)."""
        probabilities = self.probabilities(texts, seconds)
        return [(self.labels[int(best)], float(row[best])) for row, best in zip(probabilities, probabilities.argmax(-1))]

    def emissions(self, texts: list[str]) -> list[np.ndarray]:
        """A tagging student's scores per text: (L, C) float32 for its first L = min(len(text), max_length)
        characters, columns in ``labels`` (tag) order."""
        token_ids = [self.tokenizer.encode_characters(text, self.max_length) for text in texts]
        out = [np.zeros((0, len(self.labels)), dtype=np.float32) for _ in texts]
        for rows, scores in self._run_batches(token_ids):  # scores (B, T, C)
            for row, index in enumerate(rows):
                out[index] = scores[row, :len(token_ids[index])]  # (L, C)
        return out

    def tags(self, texts: list[str]) -> list[list[str]]:
        """One tag per character read (the first max_length): the CRF's Viterbi path, or each character's best tag."""
        if not self.tagging:
            raise ValueError("this student labels whole texts; use predict() or probabilities()")
        decoded = []
        for scores in self.emissions(texts):
            if self.crf is None:
                ids = [int(best) for best in scores.argmax(axis=-1)] if len(scores) else []
            else:
                ids = viterbi_decode(scores, np.asarray(self.crf["start"]), np.asarray(self.crf["transitions"]),
                                     np.asarray(self.crf["end"]))
            decoded.append([self.labels[index] for index in ids])
        return decoded

    def entities(self, texts: list[str]) -> list[list[dict]]:
        """Per text its entities, ``{"start", "end", "label", "text"}`` with character offsets into the text."""
        return [[{"start": start, "end": end, "label": label, "text": text[start:end]}
                 for start, end, label in bio_spans(tags)] for text, tags in zip(texts, self.tags(texts))]

    def _seconds(self, texts: list[str], seconds: list[str] | None) -> list[str | None]:
        if not self.pairs:
            if seconds is not None:
                raise ValueError("this student reads one text at a time; give no second texts")
            return [None] * len(texts)
        if seconds is None or len(seconds) != len(texts):
            raise ValueError("this pair student needs a second text for every first text")
        return list(seconds)


# --- tagging: a CRF student's best tag sequence --------------------------------------------------------------

def viterbi_decode(emissions: np.ndarray, start: np.ndarray, transitions: np.ndarray, end: np.ndarray) -> list[int]:
    """The tag ids maximising start[y_0] + Σ_t emissions[t, y_t] + Σ_t transitions[y_(t-1), y_t] + end[y_last].

    The graph gives a tagger's emissions (T, C) for one text's tokens; the CRF's start (C,), transitions
    (C, C: row = previous tag) and end (C,) scores come with the download, so decoding needs numpy only
    and gives the tags cld's PyTorch CRF (torchcrf) decodes.
    """
    emissions = np.asarray(emissions, dtype=np.float64)
    transitions = np.asarray(transitions, dtype=np.float64)
    if len(emissions) == 0:
        return []
    score = np.asarray(start, dtype=np.float64) + emissions[0]  # (C,): best path ending in each tag so far
    backpointers = []
    for step in emissions[1:]:
        candidates = score[:, None] + transitions + step[None, :]  # (C previous, C next)
        backpointers.append(candidates.argmax(axis=0))  # (C,)
        score = candidates.max(axis=0)
    best = [int((score + np.asarray(end, dtype=np.float64)).argmax())]
    for pointers in reversed(backpointers):
        best.append(int(pointers[best[-1]]))
    return best[::-1]


def bio_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, label) of the entities of a tag sequence, read leniently as conlleval does (cld's
    tasks/tagging_schemes.bio_to_spans): an I-X that continues nothing of type X starts a new entity."""
    spans: list[tuple[int, int, str]] = []
    start, open_label = 0, ""
    for position, tag in enumerate(tags):
        prefix, _, label = tag.partition("-")
        if prefix not in ("B", "I") or not label:
            prefix, label = "O", ""
        if open_label and (prefix != "I" or label != open_label):
            spans.append((start, position, open_label))
            open_label = ""
        if prefix != "O" and not open_label:
            start, open_label = position, label
    if open_label:
        spans.append((start, len(tags), open_label))
    return spans


def encode_characters(token_to_id: dict[str, int], unk_id: int, text: str, max_length: int) -> list[int]:
    """One id per character of the first ``max_length`` (cld's distill/tokens/characters.py): each character's
    NFKC form when that is one character, else the character; whitespace and unknown characters are [UNK]."""
    ids = []
    for char in text[:max_length]:
        normalized = unicodedata.normalize("NFKC", char)
        token = normalized if len(normalized) == 1 else char
        ids.append(unk_id if char.isspace() else token_to_id.get(token, unk_id))
    return ids


# --- tokenizers: the same ids as cld's student tokenizers ------------------------------------------------------

UNK_MARKERS = re.compile(r"(\[MASK\]|\[UNK\])")  # a literal "[MASK]" or "[UNK]" in a text is one unknown token


class VocabTokenizer:
    """cld's char and word tokenizers: a token list with [PAD]=0, [UNK]=1."""

    pad_id = 0
    unk_id = 1

    def __init__(self, kind: str, tokens: list[str]) -> None:
        self.kind = kind
        self.token_to_id = {token: index for index, token in enumerate(tokens)}
        if kind == "word":
            try:
                import jieba
            except ImportError:
                sys.exit("this student reads jieba words: pip install jieba")
            import logging
            jieba.setLogLevel(logging.WARNING)
            self.jieba = jieba

    def tokenize(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text)
        tokens: list[str] = []
        for index, piece in enumerate(UNK_MARKERS.split(text)):  # odd pieces are the markers
            if index % 2:
                tokens.append("[UNK]")
            elif self.kind == "char":
                tokens.extend(char for char in piece if not char.isspace())
            else:
                tokens.extend(word for word in self.jieba.lcut(piece) if word.strip())
        return tokens

    def encode(self, text: str, max_length: int, second: str | None = None) -> list[int]:
        if second is not None:  # first [SEP] second, both cut to share max_length, as in training
            first_ids, second_ids = self._ids(text), self._ids(second)
            keep_first, keep_second = pair_lengths(len(first_ids), len(second_ids), max(max_length - 1, 2))
            return [*(first_ids[:keep_first] or [self.unk_id]), self.token_to_id.get("[SEP]", self.unk_id),
                    *(second_ids[:keep_second] or [self.unk_id])]
        return self._ids(text)[:max_length] or [self.unk_id]  # every text keeps one token, as in training

    def _ids(self, text: str) -> list[int]:
        return [self.token_to_id.get(token, self.unk_id) for token in self.tokenize(text)]

    def encode_characters(self, text: str, max_length: int) -> list[int]:
        """A tagging student's ids: one per character, so tags line up with the text."""
        if self.kind != "char":
            sys.exit("a tagging student reads one token per character; this vocab.json is not a char tokenizer")
        return encode_characters(self.token_to_id, self.unk_id, text, max_length)


def pair_lengths(first: int, second: int, budget: int) -> tuple[int, int]:
    """Tokens kept of each text of a pair: the longer cut first, down to an even share ("longest_first")."""
    if first + second <= budget:
        return first, second
    short, long = sorted((first, second))
    long = short if short > budget else max(short, budget - short)
    if short + long > budget:
        short = budget // 2
        long = short + budget % 2
    return (short, long) if first <= second else (long, short)


class BertWordPieceTokenizer:
    """The teacher's BERT WordPiece tokenizer (a tokenizer.json), read without the tokenizers package.

    Covers what BERT-style checkpoints use: BertNormalizer, BertPreTokenizer, WordPiece and a
    [CLS] ... [SEP] post-processor. Anything else is refused rather than tokenised differently.
    """

    def __init__(self, spec: dict, pad_id: int, unk_id: int) -> None:
        normalizer, pre_tokenizer, model = spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}, spec["model"]
        if (normalizer.get("type") != "BertNormalizer" or pre_tokenizer.get("type") != "BertPreTokenizer"
                or model.get("type") != "WordPiece"):
            raise SystemExit(f"this predict.py reads BERT WordPiece tokenizers only (found {normalizer.get('type')}, "
                             f"{pre_tokenizer.get('type')}, {model.get('type')}); use the PyTorch files with cld instead")
        self.pad_id, self.unk_id = pad_id, unk_id
        self.clean_text = normalizer.get("clean_text", True)
        self.chinese_chars = normalizer.get("handle_chinese_chars", True)
        self.lowercase = normalizer.get("lowercase", True)
        strip = normalizer.get("strip_accents")
        self.strip_accents = self.lowercase if strip is None else strip
        self.vocab: dict[str, int] = model["vocab"]
        self.unk_token = model.get("unk_token", "[UNK]")
        self.prefix = model.get("continuing_subword_prefix", "##")
        self.max_word_chars = model.get("max_input_chars_per_word", 100)
        self.before, self.after = self._template(spec.get("post_processor"))
        self.pair_template = self._pair_template(spec.get("post_processor"))
        specials = [token["content"] for token in spec.get("added_tokens", []) if token.get("special")]
        self.specials = re.compile("(" + "|".join(map(re.escape, sorted(specials, key=len, reverse=True))) + ")") \
            if specials else None

    def _template(self, processor: dict | None) -> tuple[list[int], list[int]]:
        """Ids added before and after a single text."""
        if not processor:
            return [], []
        if processor.get("type") == "BertProcessing":
            return [processor["cls"][1]], [processor["sep"][1]]
        if processor.get("type") == "TemplateProcessing":
            before: list[int] = []
            after: list[int] = []
            seen_text = False
            for piece in processor["single"]:
                if "Sequence" in piece:
                    seen_text = True
                    continue
                ids = processor["special_tokens"][piece["SpecialToken"]["id"]]["ids"]
                (after if seen_text else before).extend(ids)
            return before, after
        raise SystemExit(f"this predict.py does not know the post-processor {processor.get('type')}")

    def _pair_template(self, processor: dict | None) -> tuple[list[int], list[int], list[int]]:
        """Ids added before, between and after the two texts of a pair."""
        if not processor:
            return [], [], []
        if processor.get("type") == "BertProcessing":
            return [processor["cls"][1]], [processor["sep"][1]], [processor["sep"][1]]
        parts: list[list[int]] = [[]]
        for piece in processor["pair"]:
            if "Sequence" in piece:
                parts.append([])
                continue
            parts[-1].extend(processor["special_tokens"][piece["SpecialToken"]["id"]]["ids"])
        return parts[0], parts[1], parts[2]

    def encode(self, text: str, max_length: int, second: str | None = None) -> list[int]:
        if second is not None:
            before, middle, after = self.pair_template
            first_ids, second_ids = self._ids(text), self._ids(second)
            budget = max(max_length - len(before) - len(middle) - len(after), 0)
            keep_first, keep_second = pair_lengths(len(first_ids), len(second_ids), budget)
            return before + first_ids[:keep_first] + middle + second_ids[:keep_second] + after
        room = max(max_length - len(self.before) - len(self.after), 0)
        return self.before + self._ids(text)[:room] + self.after

    def _ids(self, text: str) -> list[int]:
        ids: list[int] = []
        pieces = self.specials.split(text) if self.specials else [text]
        for index, piece in enumerate(pieces):
            if index % 2:  # a special token written in the text, matched before normalisation
                ids.append(self.vocab[piece])
            else:
                for word in self._words(self._normalize(piece)):
                    ids.extend(self._word_pieces(word))
        return ids

    def _normalize(self, text: str) -> str:
        out = []
        for char in text:
            if self.clean_text:
                if char in "\x00\ufffd" or (_is_control(char)):
                    continue
                if _is_whitespace(char):
                    char = " "
            if self.chinese_chars and _is_chinese(char):
                char = f" {char} "
            out.append(char)
        text = "".join(out)
        if self.strip_accents:
            text = "".join(char for char in unicodedata.normalize("NFD", text) if unicodedata.category(char) != "Mn")
        return text.lower() if self.lowercase else text

    @staticmethod
    def _words(text: str) -> list[str]:
        words: list[str] = []
        for chunk in text.split():
            current = ""
            for char in chunk:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def _word_pieces(self, word: str) -> list[int]:
        if len(word) > self.max_word_chars:
            return [self.vocab[self.unk_token]]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                candidate = word[start:end] if start == 0 else self.prefix + word[start:end]
                if candidate in self.vocab:
                    ids.append(self.vocab[candidate])
                    break
                end -= 1
            else:
                return [self.vocab[self.unk_token]]  # one piece unknown: the whole word is
            start = end
        return ids


def _is_whitespace(char: str) -> bool:
    return char.isspace()  # asked after control characters are gone, as the Rust normalizer does


def _is_control(char: str) -> bool:
    return char not in "\t\n\r" and unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn")


def _is_punctuation(char: str) -> bool:
    return (char.isascii() and not char.isalnum() and char.isprintable() and not char.isspace()) \
        or unicodedata.category(char).startswith("P")


def _is_chinese(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in (
        (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))


def load_tokenizer(path: Path) -> VocabTokenizer | BertWordPieceTokenizer:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("kind") in ("char", "word"):
        return VocabTokenizer(raw["kind"], raw["tokens"])
    if raw.get("kind") == "teacher":
        return BertWordPieceTokenizer(raw["tokenizer"], raw["pad_id"], raw["unk_id"])
    raise SystemExit(f"{path} is not a cld student tokenizer (kind={raw.get('kind')!r})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Label texts with this cld student.")
    parser.add_argument("texts", nargs="*", help="texts to label (a pair student: the two texts of one pair)")
    parser.add_argument("--file", help="a UTF-8 text file, one text a line (a pair student: two texts a line, "
                                       "separated by a tab); writes a CSV")
    parser.add_argument("--out", help="where the CSV (a tagging student: JSON Lines) goes (default: stdout)")
    parser.add_argument("--int8", action="store_true", help="use model.int8.onnx")
    args = parser.parse_args(argv)
    if not args.texts and not args.file:
        parser.error("give texts or --file")
    try:
        predictor = Predictor(Path(__file__).resolve().parent, int8=args.int8)
    except FileNotFoundError as missing:
        parser.error(str(missing))
    if predictor.tagging:
        return _tag(predictor, args)
    if args.file:
        lines = Path(args.file).read_text(encoding="utf-8-sig").splitlines()
        if predictor.pairs:
            cells = [line.split("\t", 1) for line in lines]
            short = next((number for number, parts in enumerate(cells, 1) if len(parts) < 2), 0)
            if short:
                parser.error(f"{args.file}, line {short}: a pair student needs two texts separated by a tab")
            texts, seconds = [parts[0] for parts in cells], [parts[1] for parts in cells]
        else:
            texts, seconds = lines, None
        probabilities = predictor.probabilities(texts, seconds)
        stream = open(args.out, "w", encoding="utf-8", newline="") if args.out else sys.stdout
        try:
            writer = csv.writer(stream)
            writer.writerow(["text", *(["second_text"] if seconds else []), "label", *predictor.labels])
            for index, (text, row) in enumerate(zip(texts, probabilities)):
                writer.writerow([text, *([seconds[index]] if seconds else []), predictor.labels[int(row.argmax())],
                                 *(f"{p:.6f}" for p in row)])
        finally:
            if args.out:
                stream.close()
        return 0
    if predictor.pairs:
        if len(args.texts) != 2:
            parser.error("this pair student judges two texts together: give exactly two (or --file with pairs)")
        texts, seconds = [args.texts[0]], [args.texts[1]]
    else:
        texts, seconds = list(args.texts), None
    for index, row in enumerate(predictor.probabilities(texts, seconds)):
        shown = "  ".join(f"{label}={p:.4f}" for label, p in zip(predictor.labels, row))
        pair = f"\t{seconds[index]}" if seconds else ""
        print(f"{predictor.labels[int(row.argmax())]}\t{shown}\t{texts[index]}{pair}")
    return 0


def _tag(predictor: Predictor, args: argparse.Namespace) -> int:
    """A tagging student's command line: a line per text with its entities; --file writes JSON Lines."""
    if args.file:
        texts = Path(args.file).read_text(encoding="utf-8-sig").splitlines()
        stream = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
        try:
            for text, entities in zip(texts, predictor.entities(texts)):
                stream.write(json.dumps({"text": text, "entities": entities}, ensure_ascii=False) + "\n")
        finally:
            if args.out:
                stream.close()
        return 0
    for text, entities in zip(args.texts, predictor.entities(list(args.texts))):
        print(f"{text}\t{json.dumps(entities, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
