"""Semantic drift with the real embedding model (all-MiniLM-L6-v2, int8 ONNX; loaded once per session):
no alarm on A/A splits, a topic shift, a tone shift and a 20% topic mix flagged, a rewording far below a
topic change; the cache, the model's hash check, a model given by path, and the MMD test's size."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from driftline.analysis.demo.answers import answers
from driftline.analysis.diff.dimensions import DIMENSIONS
from driftline.analysis.diff.engine import StatSettings, compare, correct
from driftline.analysis.semantic.drift import EMBEDDING_COLUMN, _vectors_column, measure
from driftline.analysis.semantic.topics import summarize
from driftline.analysis.stats.mmd import mmd_test
from driftline.collector.embed import store as cache_mod
from driftline.collector.embed.model import (
    DEFAULT_MODEL_ID,
    DEFAULT_TOKENIZER,
    Embedder,
    EmbedderConfig,
    SemanticUnavailable,
    config_from,
    default_model_path,
    embedder,
)
from driftline.collector.embed.store import embed_cached

FLOOR = next(d.floor for d in DIMENSIONS if d.name == "semantic")
THREE = {"refund": 1 / 3, "shipping": 1 / 3, "billing": 1 / 3}


@pytest.fixture(scope="session")
def model() -> Embedder:
    return embedder()


def vectors(model: Embedder, texts: list[str]) -> np.ndarray:
    return model.embed(texts).astype(float)


def test_vectors_are_unit_length_deterministic_and_close_for_close_meanings(model: Embedder) -> None:
    texts = ["How do I get a refund?", "I want my money back for this order.", "Where is my parcel?"]
    v = model.embed(texts)
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.allclose(model.embed(texts[::-1])[::-1], v, atol=1e-5)  # batch order does not matter
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 2] + 0.1


def test_a_a_splits_are_flagged_at_most_at_the_nominal_rate(model: Embedder) -> None:
    pool = vectors(model, answers(100, seed=11))
    rng = np.random.default_rng(5)
    alarms = 0
    for i in range(40):
        order = rng.permutation(100)
        result = mmd_test(pool[order[:50]], pool[order[50:]], seed=i, permutations=199)
        alarms += result.p_value <= 0.05
    assert alarms <= 5  # expected 2 of 40; 6 or more happens with probability < 5% under a valid test


@pytest.mark.parametrize(
    ("name", "baseline", "candidate"),
    [
        ("topic shift", dict(mix={"refund": 1.0}), dict(mix={"shipping": 1.0})),
        ("tone shift", dict(), dict(tone="curt")),
    ],
)
def test_shifts_in_meaning_are_flagged(model: Embedder, name: str, baseline: dict, candidate: dict) -> None:
    a = vectors(model, answers(50, seed=1, **baseline))
    b = vectors(model, answers(50, seed=2, **candidate))
    out = measure(a, b, reps=400, seed=0)
    assert out["test"].p_value <= 0.01, name
    assert out["ci"][0] > FLOOR, (name, out["ci"])


def test_a_twenty_percent_topic_mix_is_flagged(model: Embedder) -> None:
    """20% of the candidate's answers on a topic the baseline never had. At 50 answers per side the test
    has about 85% power at p <= 0.05 (bench_semantic.py measures it at 300 per side), so four seeds
    must flag at least three times (a test without power flags one in twenty)."""
    mix = {**{k: 0.8 / 3 for k in THREE}, "account": 0.2}
    flagged = 0
    for seed in range(4):
        a = vectors(model, answers(50, seed=100 + seed, mix=THREE))
        b = vectors(model, answers(50, seed=200 + seed, mix=mix))
        flagged += measure(a, b, reps=200, seed=seed)["test"].p_value <= 0.05
    assert flagged >= 3


def test_a_rewording_scores_far_below_a_topic_change(model: Embedder) -> None:
    base = vectors(model, answers(50, seed=1, mix={"refund": 1.0}))
    reworded = vectors(model, answers(50, seed=2, mix={"refund": 1.0}, wording="b"))
    topic = vectors(model, answers(50, seed=2, mix={"shipping": 1.0}))
    reword_effect = measure(base, reworded, reps=200, seed=0)["effect"]
    topic_effect = measure(base, topic, reps=200, seed=0)["effect"]
    assert reword_effect < 0.25 * topic_effect, (reword_effect, topic_effect)


def test_the_semantic_dimension_joins_the_corrected_family(model: Embedder) -> None:
    """Through the diff engine: runs whose only difference is their answers' topic move on meaning alone."""
    texts_a, texts_b = answers(60, seed=3, mix={"refund": 1.0}), answers(60, seed=4, mix={"shipping": 1.0})
    ea, eb = model.embed(texts_a), model.embed(texts_b)
    cols_a = {"status": ["OK"] * 60, EMBEDDING_COLUMN: _vectors_column(60, np.arange(60), ea)}
    cols_b = {"status": ["OK"] * 60, EMBEDDING_COLUMN: _vectors_column(60, np.arange(60), eb)}
    settings = StatSettings()
    comparison = compare(cols_a, cols_b, settings)
    correct(comparison.results, settings)
    by_name = {r.name: r for r in comparison.results}
    assert by_name["semantic"].status == "moved" and by_name["status"].status == "unchanged"
    assert by_name["semantic"].baseline_value > by_name["semantic"].candidate_value  # less typical of the baseline
    # a run without a stored answer is missing, not a zero vector
    rows = np.arange(0, 60, 2)
    half = {"status": ["OK"] * 60, EMBEDDING_COLUMN: _vectors_column(60, rows, ea[rows])}
    same = compare(half, cols_a, settings)
    semantic = next(r for r in same.results if r.name == "semantic")
    assert semantic.baseline_distribution["texts"] == 30 and semantic.p_value > 0.05


def test_a_second_embedding_of_the_same_texts_embeds_nothing(model: Embedder, tmp_path: Path, monkeypatch) -> None:
    texts = answers(30, seed=8)
    first = embed_cached(str(tmp_path), texts, model)
    assert first.new == len(set(texts))
    second = embed_cached(str(tmp_path), texts[::-1], model)
    assert second.new == 0 and np.array_equal(second.vectors, first.vectors[::-1])
    folder = tmp_path / cache_mod.STORE_DIR / DEFAULT_MODEL_ID
    monkeypatch.setattr(cache_mod, "MERGE_AT", 2)
    for seed in (20, 21, 22):  # each call writes a file; above MERGE_AT they are merged into one
        embed_cached(str(tmp_path), answers(3, seed=seed), model)
    assert len(list(folder.glob("part-*.parquet"))) == 2  # 4 files without merging: 1, 2, 3 → 1, 2
    again = embed_cached(str(tmp_path), texts + answers(3, seed=21), model)
    assert again.new == 0 and np.array_equal(again.vectors[:30], first.vectors)


def test_the_model_file_is_checked_and_any_onnx_model_loads_by_path(model: Embedder, tmp_path: Path) -> None:
    copy = tmp_path / "my-model.onnx"
    shutil.copyfile(default_model_path(), copy)
    other = Embedder(EmbedderConfig(model=str(copy), tokenizer=str(DEFAULT_TOKENIZER)))
    assert other.model_id.startswith("my-model-") and other.model_id != model.model_id
    assert np.allclose(other.embed(["Where is my parcel?"]), model.embed(["Where is my parcel?"]), atol=1e-6)
    with pytest.raises(SemanticUnavailable, match="sha256"):
        Embedder(EmbedderConfig(model=str(copy), tokenizer=str(DEFAULT_TOKENIZER), sha256="0" * 64))
    with copy.open("r+b") as f:  # a damaged file is refused under the pinned hash
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(SemanticUnavailable, match="sha256"):
        Embedder(EmbedderConfig(model=str(copy), tokenizer=str(DEFAULT_TOKENIZER), sha256=_hash(default_model_path())))
    with pytest.raises(SemanticUnavailable, match="does not exist"):
        Embedder(EmbedderConfig(model=str(tmp_path / "none.onnx"), tokenizer=str(DEFAULT_TOKENIZER)))


def _hash(path: Path) -> str:
    from driftline.collector.embed.model import file_sha256

    return file_sha256(path)


def test_semantic_config_is_validated() -> None:
    assert config_from(None) == EmbedderConfig()
    with pytest.raises(ValueError, match="unknown key"):
        config_from({"modle": "x"})
    with pytest.raises(ValueError, match="tokenizer"):
        config_from({"model": "x.onnx"})
    with pytest.raises(ValueError, match="expected a string"):
        config_from({"model": 3, "tokenizer": "t.json"})


def test_mmd_is_exact_size_on_random_vectors_and_finds_a_mean_shift() -> None:
    rng = np.random.default_rng(0)
    p = [
        mmd_test(rng.normal(size=(40, 8)), rng.normal(size=(30, 8)), seed=i, permutations=99).p_value
        for i in range(200)
    ]
    assert 0.02 <= np.mean(np.asarray(p) <= 0.05) <= 0.09
    shifted = mmd_test(rng.normal(size=(40, 8)), rng.normal(0.8, 1, size=(40, 8)), seed=1)
    assert shifted.p_value <= 0.002 and shifted.mmd2 > 0
    with pytest.raises(ValueError, match="two vectors"):
        mmd_test(np.zeros((1, 3)), np.zeros((5, 3)))


def test_themes_name_what_grew_and_the_comparer_shows_both_sides(model: Embedder) -> None:
    base = answers(50, seed=31, mix=THREE)
    cand = answers(50, seed=32, mix={**{k: 0.6 / 3 for k in THREE}, "account": 0.4})
    summary = summarize(base, model.embed(base), cand, model.embed(cand), model.model_id)
    grew = [t for t in summary.themes if t.change == "grew"]
    assert grew and {"account", "password", "email", "sign", "unlocked", "two-factor"} & set(grew[0].terms)
    assert grew[0].share_baseline == 0 and grew[0].share_candidate > 0.2 and grew[0].ci_low > 0.02
    assert abs(sum(t.share_baseline for t in summary.themes) - 1) < 1e-9
    for t in summary.themes:  # the comparer: each side's answers come from that side
        assert set(t.baseline_answers) <= set(base) and set(t.candidate_answers) <= set(cand)
    assert all(n.text in cand for n in summary.novel) and summary.novel[0].similarity < 0.6
    assert any(w in summary.novel[0].text.lower() for w in ("account", "password", "email", "two-factor", "logins"))


def test_themes_of_two_samples_of_the_same_answers_stay_steady(model: Embedder) -> None:
    a, b = answers(50, seed=41), answers(50, seed=42)
    summary = summarize(a, model.embed(a), b, model.embed(b), model.model_id)
    assert len(summary.themes) >= 2 and all(t.change == "steady" for t in summary.themes)


def test_the_same_answers_in_another_order_give_the_same_figures(model: Embedder) -> None:
    a, b = answers(40, seed=51), answers(40, seed=52, tone="curt")
    va, vb = model.embed(a), model.embed(b)
    first = measure(va.astype(float), vb.astype(float), reps=200, seed=0)
    order = np.random.default_rng(1).permutation(40)
    second = measure(va[order].astype(float), vb[order[::-1]].astype(float), reps=200, seed=0)
    assert first["test"].p_value == second["test"].p_value and first["ci"] == second["ci"]
    s1 = summarize(a, va, b, vb, "m")
    s2 = summarize([a[i] for i in order], va[order], [b[i] for i in order], vb[order], "m")
    assert [(t.terms, t.share_baseline, t.share_candidate) for t in s1.themes] == [
        (t.terms, t.share_baseline, t.share_candidate) for t in s2.themes
    ]


def test_the_health_index_falls_when_answers_leave_their_questions(model: Embedder, tmp_path: Path) -> None:
    """Each run's answer against its own stored question: on-topic answers against answers to another
    topic's question, through ``attach`` (message JSON as the instrumentation stores it)."""
    import random

    import pyarrow as pa

    from driftline.analysis.demo.answers import answer, question
    from driftline.analysis.semantic.drift import RELEVANCE_COLUMN, attach
    from driftline.collector.embed.text import question_text

    rng = random.Random(3)
    topics = ["refund", "shipping", "account", "billing"]

    def side(on_topic: bool) -> dict:
        asked, said = [], []
        for i in range(40):
            topic = topics[i % 4]
            asked.append(
                json.dumps(
                    [{"role": "system", "content": "Be kind."}, {"role": "user", "content": question(rng, topic)}]
                )
            )
            said.append(answer(rng, topic if on_topic else topics[(i + 1) % 4]))
        return {"input_text": pa.chunked_array([pa.array(asked)]), "output_text": pa.chunked_array([pa.array(said)])}

    a, b = side(True), side(False)
    attached = attach(a, b, str(tmp_path), seed=0)
    assert attached is not None and attached.questions == 80
    ra, rb = (np.asarray(s[RELEVANCE_COLUMN].to_numpy()) for s in (a, b))
    assert ra.mean() > rb.mean() + 0.1
    settings = StatSettings()
    comparison = compare(a, b, settings)
    correct(comparison.results, settings)
    relevance = next(r for r in comparison.results if r.name == "answer_relevance")
    assert relevance.status == "moved" and relevance.effect < 0
    assert question_text(a["input_text"].to_pylist()[0]) not in ("Be kind.", "")
    assert "Be kind." not in question_text(a["input_text"].to_pylist()[0])
