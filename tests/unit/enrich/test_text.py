from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer

from dataframe_pipeline.enrich import text as text_module
from dataframe_pipeline.enrich.text import TextFeatures, strip_accents
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import split_batches

CORPUS = [
    "The café serves the best coffee in town.",
    "Coffee and tea: the café's menu is long!",
    "Running runners ran to the town hall",
    "Naïve questions about tea, coffee and cakes",
    "the THE The",
    "Cakes, cakes and more cakes in the town",
]


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame({"doc": CORPUS, "n": range(6)}, index=pd.RangeIndex(30, 36))


def test_tokens_by_hand(df: pd.DataFrame) -> None:
    out = TextFeatures("doc", output="tokens").transform(df).data
    assert out["txt_tokens"].tolist()[:3] == [
        "cafe serves best coffee town",
        "coffee tea cafe menu long",
        "running runners ran town hall",
    ]
    assert out["txt_tokens"].tolist()[4] == ""
    assert out["txt_tokens"].dtype == "str"


def test_stemming_lemmatising_and_custom_stop_words() -> None:
    df = pd.DataFrame({"t": ["Running runners ran", "The mice were running"]})
    porter = TextFeatures("t", stemmer="porter", output="tokens").transform(df).data["txt_tokens"].tolist()
    assert porter == ["run runner ran", "mice run"]
    snow = TextFeatures("t", stemmer="snowball", stop_words=None, output="tokens").transform(df).data
    assert snow["txt_tokens"].tolist() == ["run runner ran", "the mice were run"]
    lemma = TextFeatures("t", lemmatize="en", stop_words=["the"], output="tokens").transform(df).data
    assert lemma["txt_tokens"].tolist() == ["run runner run", "mouse be run"]


def test_strip_accents() -> None:
    assert strip_accents("Naïve café ŝ") == "Naive cafe s"
    df = pd.DataFrame({"t": ["Café"]})
    kept = TextFeatures("t", strip_accents=False, lowercase=False, output="tokens").transform(df).data
    assert kept["txt_tokens"].tolist() == ["Café"]


def test_hashing_matches_scikit_learn(df: pd.DataFrame) -> None:
    out = TextFeatures("doc", n_features=64).transform(df).data
    sk = HashingVectorizer(n_features=64, alternate_sign=False, stop_words="english", strip_accents="unicode")
    features = out[[f"txt_{i}" for i in range(64)]]
    assert (features.dtypes == np.float32).all()
    np.testing.assert_allclose(features.to_numpy(), sk.transform(CORPUS).toarray(), rtol=1e-6)
    assert list(out.columns[:2]) == ["doc", "n"]
    assert not TextFeatures("doc").stateful


@pytest.mark.parametrize("max_features", [1000, 5])
def test_tfidf_matches_scikit_learn(df: pd.DataFrame, max_features: int) -> None:
    ours = TextFeatures("doc", method="tfidf", max_features=max_features).fit_batches(split_batches(df, [2, 3]))
    sk = TfidfVectorizer(stop_words="english", strip_accents="unicode", max_features=max_features).fit(CORPUS)
    assert ours.vocabulary_ == list(sk.get_feature_names_out())
    np.testing.assert_allclose(ours.idf_, sk.idf_, rtol=1e-12)
    assert ours.pruned_ is False
    out = ours.transform(df).data
    names = [f"txt_{i}" for i in range(len(ours.vocabulary_))]
    assert list(out.columns) == ["doc", "n", *names]
    np.testing.assert_allclose(out[names].to_numpy(), sk.transform(CORPUS).toarray(), rtol=1e-6, atol=1e-7)
    unseen = ours.transform(pd.DataFrame({"doc": ["zebra quagga", None], "n": [0, 1]})).data
    assert (unseen[names].to_numpy() == 0).all()


@pytest.mark.parametrize("cuts", [[], [1], [0, 3, 3], [5]])
def test_tfidf_batch_split_invariance(df: pd.DataFrame, cuts: list[int]) -> None:
    whole = TextFeatures("doc", method="tfidf").fit(df)
    batched = TextFeatures("doc", method="tfidf").fit_batches(split_batches(df, cuts))
    assert (batched.vocabulary_, batched.idf_) == (whole.vocabulary_, whole.idf_)
    parts = [batched.transform(b).data for b in split_batches(df, cuts)]
    assert_frame_equal(pd.concat(parts), whole.transform(df).data)


def test_tfidf_pruning_bounds_the_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_module, "PRUNE_AT", 3)
    monkeypatch.setattr(text_module, "KEEP_AFTER_PRUNE", 2)
    t = TextFeatures("d", method="tfidf", max_features=1, stop_words=None)
    t._reset()
    t.partial_fit(pd.DataFrame({"d": ["aa aa aa bb bb cc dd"]}))  # 4 terms > 3: keep aa, bb
    assert sorted(t._tf) == ["aa", "bb"]
    t.partial_fit(pd.DataFrame({"d": ["cc cc cc cc"]}))
    t.finish_fit()
    # cc's first occurrence was pruned: it is under-counted (4 instead of 5) but still wins
    assert t.vocabulary_ == ["cc"]
    assert t.pruned_ is True
    assert t.n_documents_ == 2


def test_edge_cases(df: pd.DataFrame) -> None:
    empty = TextFeatures("doc", method="tfidf").fit(df.iloc[:0])
    assert empty.vocabulary_ == []
    assert list(empty.transform(df).data.columns) == ["doc", "n"]
    fitted = TextFeatures("doc", method="tfidf").fit(df)
    none = fitted.transform(df.iloc[:0]).data
    assert len(none) == 0
    assert (none.dtypes.iloc[2:] == np.float32).all()
    nulls = pd.DataFrame({"doc": pd.Series([None, None], dtype="str")})
    assert TextFeatures("doc", method="tfidf").fit(nulls).vocabulary_ == []
    hashed = TextFeatures("doc", n_features=4).transform(nulls).data
    assert list(TextFeatures("doc", n_features=4).transform(nulls.iloc[:0]).data.dtypes) == ["str", *[np.float32] * 4]
    assert (hashed.iloc[:, 1:].to_numpy() == 0).all()
    one = TextFeatures("doc", method="tfidf").fit(df.iloc[[0]])
    row = one.transform(df.iloc[[0]]).data.iloc[0, 2:].to_numpy(dtype="float64")
    np.testing.assert_allclose(row, np.full(5, 1 / np.sqrt(5)), rtol=1e-6)  # 5 distinct terms, idf 1


def test_errors(df: pd.DataFrame) -> None:
    with pytest.raises(NotFittedError):
        TextFeatures("doc", method="tfidf").transform(df)
    with pytest.raises(DataContractError, match="expected text"):
        TextFeatures("n").transform(df)
    with pytest.raises(DataContractError, match="already exist"):
        TextFeatures("doc", n_features=2).transform(df.assign(txt_1=0))
    for kwargs, field in (
        ({"method": "bm25"}, "method"),
        ({"stemmer": "lancaster"}, "stemmer"),
        ({"lemmatize": "xx"}, "lemmatize"),
        ({"stop_words": "french"}, "stop_words"),
        ({"n_features": 0}, "n_features"),
        ({"output": "sparse"}, "output"),
    ):
        with pytest.raises(ConfigurationError) as info:
            TextFeatures("doc", **kwargs).check_params(["doc"])
        assert info.value.field == field


# -- NLTK WordNet lemmatisation: a tiny corpus in WordNet's own file format, read by NLTK's reader ------

_WN_HEADER = (
    "  1 This software and database is being provided to you, the LICENSEE, by  \n  2 WordNet 3.0 Copyright 2006\n"
)


def _write_tiny_wordnet(root) -> None:
    """A few lemmas and exceptions, enough for WordNetLemmatizer (morphy) to run for real."""
    folder = root / "corpora" / "wordnet"
    folder.mkdir(parents=True)
    (folder / "lexnames").write_text(
        "00\tadj.all\t3\n01\tadj.pert\t3\n02\tadv.all\t4\n03\tnoun.Tops\t1\n04\tverb.body\t2\n"
    )
    for name, letter, lexfile, words in [
        ("noun", "n", 3, ["cake", "goose", "mouse", "runner"]),
        ("verb", "v", 4, ["run"]),
        ("adj", "a", 0, ["good"]),
        ("adv", "r", 2, ["well"]),
    ]:
        data, entries = _WN_HEADER, []
        for word in words:
            offset = len(data.encode())
            data += f"{offset:08d} {lexfile:02d} {letter} 01 {word} 0 000 | a {word}  \n"
            entries.append(f"{word} {letter} 1 0 1 0 {offset:08d}  \n")
        (folder / f"data.{name}").write_text(data)
        (folder / f"index.{name}").write_text(_WN_HEADER + "".join(sorted(entries)))
    (folder / "noun.exc").write_text("geese goose\nmice mouse\n")
    for name in ("verb.exc", "adj.exc", "adv.exc", "index.sense", "cntlist.rev"):
        (folder / name).write_text("")


def test_wordnet_lemmatiser_when_its_corpus_is_installed(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nltk

    _write_tiny_wordnet(tmp_path)
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    df = pd.DataFrame({"t": ["Geese and mice", "Cakes for the runners"]})
    transformer = TextFeatures("t", lemmatize="wordnet", output="tokens")
    transformer.check_params(["t"])
    assert transformer.transform(df).data["txt_tokens"].tolist() == ["goose mouse", "cake runner"]


def test_wordnet_without_its_corpus_fails_at_the_start_and_says_how_to_fix_it(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(ConfigurationError, match=r"lemmatize='wordnet'.*nltk.downloader wordnet") as error:
        TextFeatures("t", lemmatize="wordnet").check_params(["t"])
    assert error.value.field == "lemmatize"
