"""Features of a free-text column: normalised tokens, hashed term frequencies or TF-IDF.

Preprocessing, in order: lowercase, strip accents (Unicode NFKD, combining marks removed, like
scikit-learn's ``strip_accents="unicode"``), tokenise with scikit-learn's default pattern (words
of two or more word characters), remove stop words, lemmatise (simplemma, its data ships with the
package), stem (nltk's Porter or English Snowball stemmer, no corpora needed). A null text is an
empty document. ``lemmatize="wordnet"`` uses NLTK's WordNet lemmatiser instead (English, nouns)
when the WordNet corpus is installed (``python -m nltk.downloader wordnet``, or ``NLTK_DATA``);
without it the configuration check fails at the start and says so.

``method="hashing"`` is stateless (scikit-learn's ``HashingVectorizer``, ``alternate_sign=False``,
l2-normalised rows). ``method="tfidf"`` is fitted in one streaming pass with bounded memory: the
fit counts, per term, the documents containing it and its total occurrences. When more than
``100 * max_features`` distinct terms are held, only the ``10 * max_features`` terms with the most
occurrences (ties by term) are kept, and the counts of the pruned terms are lost: a term pruned
early that becomes frequent later is under-counted. That is the approximation. Without pruning,
``vocabulary_`` and ``idf_`` equal those of scikit-learn's ``TfidfVectorizer`` (default smooth
idf, ``max_features`` keeping the terms with the most occurrences, ties by term).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dataframe_pipeline.core.batch import BatchResult
from dataframe_pipeline.core.columns import require_columns
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Self

METHODS = ("hashing", "tfidf")
OUTPUTS = ("dense", "tokens")
STEMMERS = (None, "porter", "snowball")
WORDNET = "wordnet"
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
#: the term counts are pruned when they hold more than PRUNE_AT * max_features terms ...
PRUNE_AT = 100
#: ... down to KEEP_AFTER_PRUNE * max_features terms
KEEP_AFTER_PRUNE = 10
_FITTED = ("vocabulary_", "idf_", "n_documents_", "pruned_")


def strip_accents(text: str) -> str:
    """``text`` without combining marks after NFKD decomposition (scikit-learn's ``strip_accents_unicode``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _check_wordnet() -> None:
    import nltk

    try:
        nltk.data.find("corpora/wordnet")
    except LookupError:
        raise ConfigurationError(
            "lemmatize",
            WORDNET,
            f"needs NLTK's WordNet corpus, not found in {list(nltk.data.path)}: install it with "
            "'python -m nltk.downloader wordnet' (or point NLTK_DATA at it), or use a simplemma "
            "language code such as 'en', whose data ships with the package",
        ) from None


def _wordnet_lemmatize(lemmatizer: Any) -> Callable[..., str]:
    def lemmatize(token: str, lang: str | None = None) -> str:
        return lemmatizer.lemmatize(token)

    return lemmatize


def _stemmer(name: str | None) -> Callable[[str], str] | None:
    if name is None:
        return None
    from nltk.stem import PorterStemmer, SnowballStemmer

    return PorterStemmer().stem if name == "porter" else SnowballStemmer("english").stem


def _identity(tokens: list[str]) -> list[str]:
    return tokens


class TextFeatures(BatchTransformer):
    """Add features of the text column ``column`` (kept in the output).

    ``output="dense"`` adds float32 columns ``<prefix>0`` ... (``n_features`` with hashing,
    ``len(vocabulary_)`` with tfidf: column ``i`` is the term ``vocabulary_[i]``, sorted);
    ``output="tokens"`` adds one ``str`` column ``<prefix>tokens`` with the preprocessed tokens
    joined by spaces (no fit needed). Fitted attributes (tfidf): ``vocabulary_`` (sorted terms),
    ``idf_`` (list of floats), ``n_documents_`` and ``pruned_`` (whether the counts were pruned).

    :param column: the text column.
    :param lowercase: lowercase the text.
    :param strip_accents: remove accents.
    :param stop_words: ``"english"`` (scikit-learn's list), a list of words, or ``None``; compared
        with the tokens after lowercasing and accent stripping.
    :param stemmer: ``None``, ``"porter"`` or ``"snowball"`` (English).
    :param lemmatize: ``None``, a simplemma language code (``"en"``, ``"fr"`` ...) or ``"wordnet"``
        (NLTK's WordNet lemmatiser; needs the WordNet corpus).
    :param method: ``"hashing"`` or ``"tfidf"``.
    :param n_features: number of hashed columns.
    :param max_features: bound of the tfidf vocabulary.
    :param prefix: prefix of the new columns.
    :param output: ``"dense"`` or ``"tokens"``.
    """

    def __init__(
        self,
        column: str,
        *,
        lowercase: bool = True,
        strip_accents: bool = True,
        stop_words: str | list[str] | None = "english",
        stemmer: str | None = None,
        lemmatize: str | None = None,
        method: str = "hashing",
        n_features: int = 2**10,
        max_features: int = 1000,
        prefix: str = "txt_",
        output: str = "dense",
    ) -> None:
        self.column = column
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.stop_words = stop_words
        self.stemmer = stemmer
        self.lemmatize = lemmatize
        self.method = method
        self.n_features = n_features
        self.max_features = max_features
        self.prefix = prefix
        self.output = output

    @property
    def stateful(self) -> bool:  # type: ignore[override]
        """Only TF-IDF feature columns need a fit."""
        return self.method == "tfidf" and self.output == "dense"

    @property
    def dynamic_features(self) -> bool:  # type: ignore[override]
        """The TF-IDF vocabulary (so the number of columns) depends on the data."""
        return self.stateful

    # -- configuration -----------------------------------------------------------------------

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        if not isinstance(self.column, str) or (columns is not None and self.column not in columns):
            raise ConfigurationError("column", self.column, "must name an input column")
        for field in ("lowercase", "strip_accents"):
            if not isinstance(getattr(self, field), bool):
                raise ConfigurationError(field, getattr(self, field), "must be True or False")
        self._check_words()
        for field, allowed in (("method", METHODS), ("output", OUTPUTS)):
            if getattr(self, field) not in allowed:
                raise ConfigurationError(field, getattr(self, field), f"must be one of {allowed}")
        for field in ("n_features", "max_features"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(field, value, "must be an integer >= 1")
        if not isinstance(self.prefix, str) or not self.prefix:
            raise ConfigurationError("prefix", self.prefix, "must be a non-empty string")

    def _check_words(self) -> None:
        words = self.stop_words
        ok = words is None or words == "english"
        ok = ok or (isinstance(words, list | tuple | set | frozenset) and all(isinstance(w, str) for w in words))
        if not ok:
            raise ConfigurationError("stop_words", words, 'must be "english", a list of words or None')
        if self.stemmer not in STEMMERS:
            raise ConfigurationError("stemmer", self.stemmer, f"must be one of {STEMMERS}")
        if self.lemmatize == WORDNET:
            _check_wordnet()
        elif self.lemmatize is not None:
            from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES

            if self.lemmatize not in SUPPORTED_LANGUAGES:
                raise ConfigurationError(
                    "lemmatize", self.lemmatize, "must be None, a simplemma language code or 'wordnet'"
                )

    # -- preprocessing -----------------------------------------------------------------------

    def _stop_words(self) -> frozenset[str]:
        if self.stop_words is None:
            return frozenset()
        if self.stop_words == "english":
            from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

            return ENGLISH_STOP_WORDS
        return frozenset(self.stop_words)

    def _normaliser(self) -> Callable[[str], str] | None:
        """Lemmatise then stem one token (``None``: nothing to do)."""
        stem = _stemmer(self.stemmer)
        lang = self.lemmatize
        if lang is None:
            return stem
        if lang == WORDNET:
            from nltk.stem import WordNetLemmatizer

            lemmatize = _wordnet_lemmatize(WordNetLemmatizer())
        else:
            from simplemma import lemmatize
        if stem is None:
            return lambda token: lemmatize(token, lang=lang)
        return lambda token: stem(lemmatize(token, lang=lang))

    def tokenize(self, texts: pd.Series) -> list[list[str]]:
        """The preprocessed tokens of each text (a null text gives no token)."""
        stop = self._stop_words()
        normalise = self._normaliser()
        cache: dict[str, str] = {}
        docs: list[list[str]] = []
        for value in texts.tolist():
            if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
                docs.append([])
                continue
            tokens = [t for t in TOKEN_PATTERN.findall(self._prepare(str(value))) if t not in stop]
            if normalise is not None:
                tokens = [cache[t] if t in cache else cache.setdefault(t, normalise(t)) for t in tokens]
            docs.append(tokens)
        return docs

    def _prepare(self, text: str) -> str:
        text = text.lower() if self.lowercase else text
        return strip_accents(text) if self.strip_accents else text

    def _texts(self, batch: pd.DataFrame) -> pd.Series:
        require_columns(batch, [self.column], self.rule_name)
        values = batch[self.column]
        if not (pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values)):
            raise DataContractError(f"{self.rule_name}: column {self.column!r} has dtype {values.dtype}, expected text")
        return values

    # -- fit (tfidf) -------------------------------------------------------------------------

    def _reset(self) -> None:
        self._df: Counter[str] | None = None
        self._tf: Counter[str] | None = None
        self._docs = 0
        self._pruned = False
        for name in _FITTED:
            self.__dict__.pop(name, None)

    def _accumulators(self) -> tuple[Counter[str], Counter[str]]:
        df, tf = getattr(self, "_df", None), getattr(self, "_tf", None)
        if df is None or tf is None:  # set and cleared together
            self._reset()
            df, tf = self._df, self._tf = Counter(), Counter()
        return df, tf

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Count documents and occurrences per term; prune when the counts grow too large."""
        self.check_params()
        if not self.stateful:
            return self
        doc_freq, term_freq = self._accumulators()
        docs = self.tokenize(self._texts(batch))
        self._docs += len(docs)
        for tokens in docs:
            term_freq.update(tokens)
            doc_freq.update(set(tokens))
        if len(term_freq) > PRUNE_AT * self.max_features:
            self._prune(doc_freq, term_freq)
        return self

    def _prune(self, doc_freq: Counter[str], term_freq: Counter[str]) -> None:
        keep = {term for term, _ in _ranked(term_freq)[: KEEP_AFTER_PRUNE * self.max_features]}
        for term in [t for t in term_freq if t not in keep]:
            del term_freq[term]
            del doc_freq[term]
        self._pruned = True

    def finish_fit(self) -> Self:
        """Set ``vocabulary_``, ``idf_``, ``n_documents_`` and ``pruned_``; release the counts."""
        self.check_params()
        if not self.stateful:
            return self
        doc_freq, term_freq = self._accumulators()
        kept = sorted(term for term, _ in _ranked(term_freq)[: self.max_features])
        n = self._docs
        self.vocabulary_ = kept
        self.idf_ = [float(np.log((1 + n) / (1 + doc_freq[t])) + 1.0) for t in kept]
        self.n_documents_ = int(n)
        self.pruned_ = bool(self._pruned)
        self._df = self._tf = None
        self._docs = 0
        self._pruned = False
        return self

    # -- transform ---------------------------------------------------------------------------

    def _new_names(self) -> list[str]:
        if self.output == "tokens":
            return [f"{self.prefix}tokens"]
        if self.method == "hashing":
            return [f"{self.prefix}{i}" for i in range(self.n_features)]
        return [f"{self.prefix}{i}" for i in range(len(getattr(self, "vocabulary_", [])))]

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        return [*input_features, *self._new_names()]

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Add the feature columns; rows are neither removed nor reordered."""
        self.check_params()
        if self.stateful and not hasattr(self, "vocabulary_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or finish_fit() first")
        docs = self.tokenize(self._texts(batch))
        names = self._new_names()
        clash = [c for c in names if c in batch.columns]
        if clash:
            raise DataContractError(f"{self.rule_name}: output column(s) {clash[:5]} already exist in the input")
        if self.output == "tokens":
            tokens = pd.Series([" ".join(t) for t in docs], index=batch.index, dtype="str")
            return BatchResult(data=batch.assign(**{names[0]: tokens}))
        matrix = self._hashed(docs) if self.method == "hashing" else self._tfidf(docs)
        features = pd.DataFrame(matrix, index=batch.index, columns=names)
        return BatchResult(data=pd.concat([batch, features], axis=1))

    def _hashed(self, docs: list[list[str]]) -> np.ndarray:
        from sklearn.feature_extraction.text import HashingVectorizer

        if not docs:
            return np.zeros((0, self.n_features), dtype="float32")
        vectorizer = HashingVectorizer(analyzer=_identity, n_features=self.n_features, alternate_sign=False)
        return vectorizer.transform(docs).toarray().astype("float32")

    def _tfidf(self, docs: list[list[str]]) -> np.ndarray:
        from scipy.sparse import diags
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        vocabulary = {term: i for i, term in enumerate(self.vocabulary_)}
        if not vocabulary or not docs:
            return np.zeros((len(docs), len(vocabulary)), dtype="float32")
        counts = CountVectorizer(analyzer=_identity, vocabulary=vocabulary).transform(docs)
        weighted = normalize(counts.astype("float64") @ diags(np.asarray(self.idf_)), norm="l2")
        return weighted.toarray().astype("float32")


def _ranked(term_freq: Counter[str]) -> list[tuple[str, int]]:
    """Terms by decreasing count, ties by term."""
    return sorted(term_freq.items(), key=lambda item: (-item[1], item[0]))
