"""Metrics against hand-computed values, and 2-D projections with their cache."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xkd.evaluate import metrics as M
from xkd.evaluate import projection as P


def test_accuracy_and_prior():
    assert M.accuracy([0, 1, 2, 1], [0, 1, 1, 1]) == pytest.approx(0.75)
    assert M.accuracy(["a", "b"], ["a", "a"]) == pytest.approx(0.5)
    assert math.isnan(M.accuracy([], []))
    assert M.majority_prior(["x", "y", "x", "x"]) == pytest.approx(0.75)
    assert M.majority_prior([3]) == 1.0
    assert math.isnan(M.majority_prior([]))
    with pytest.raises(ValueError):
        M.accuracy([0, 1], [0])


def test_macro_f1_hand_computed():
    y_true = ["a", "a", "b", "b", "c"]
    y_pred = ["a", "b", "b", "b", "a"]
    # a: tp=1 fp=1 fn=1 -> 2/4 = 0.5 ; b: tp=2 fp=1 fn=0 -> 4/5 = 0.8 ; c: tp=0 -> 0
    assert M.macro_f1(y_true, y_pred) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    # an explicit label list: "d" never occurs and scores 0
    assert M.macro_f1(y_true, y_pred, labels=["a", "b", "c", "d"]) == pytest.approx(1.3 / 4)
    # a label only in predictions counts (it appears in y_pred)
    assert M.macro_f1([0, 0], [0, 1]) == pytest.approx((2 / 3 + 0.0) / 2)
    assert M.macro_f1([1, 2], [1, 2]) == 1.0


def test_softmax_temperature():
    p = M.softmax([[0.0, math.log(3.0)]])
    np.testing.assert_allclose(p, [[0.25, 0.75]])
    p2 = M.softmax([0.0, math.log(9.0)], temperature=2.0)  # 1-D input, exp(log 9 / 2) = 3
    np.testing.assert_allclose(p2, [0.25, 0.75])
    big = M.softmax([[1000.0, 1000.0]])
    np.testing.assert_allclose(big, [[0.5, 0.5]])
    with pytest.raises(ValueError):
        M.softmax([[1.0]], temperature=0)


def test_agreement_and_kl():
    t = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    s = np.array([[1.0, 0.0], [1.0, 0.0], [5.0, 0.0]])
    assert M.agreement(t, s) == pytest.approx(2 / 3)
    assert M.mean_kl(t, t) == pytest.approx(0.0, abs=1e-12)
    # p_t = (0.25, 0.75), p_s = (0.5, 0.5): KL = .25 ln .5 + .75 ln 1.5
    tl = np.array([[0.0, math.log(3.0)]])
    sl = np.array([[0.0, 0.0]])
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert M.mean_kl(tl, sl) == pytest.approx(expected)
    # temperature 2 on logits (0, 2 ln 3) gives the same p_t
    assert M.mean_kl(2 * tl, sl, temperature=2.0) == pytest.approx(expected)
    # mean over rows
    assert M.mean_kl(np.vstack([tl, sl]), np.vstack([sl, sl])) == pytest.approx(expected / 2)


def test_ece_hand_example():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    y = np.array([0, 1, 1, 0])
    # conf = .9 (correct), .8 (wrong), .7 (correct), .55 (wrong); 10 bins:
    # bin 8 {.9}: |1-.9|=.1 ; bin 7 {.8}: |0-.8|=.8 ; bin 6 {.7}: .3 ; bin 5 {.55}: .55
    expected = (0.1 + 0.8 + 0.3 + 0.55) / 4
    assert M.expected_calibration_error(probs, y, n_bins=10) == pytest.approx(expected)
    # 2 bins: (0, .5] empty, (.5, 1] all: acc .5, conf .7375
    assert M.expected_calibration_error(probs, y, n_bins=2) == pytest.approx(0.2375)
    curve = M.reliability_curve(probs, y, n_bins=2)
    assert list(curve.columns) == ["bin", "confidence", "accuracy", "count"]
    assert curve["count"].tolist() == [0, 4]
    assert math.isnan(curve["confidence"][0])
    assert curve["confidence"][1] == pytest.approx(0.7375)
    assert curve["accuracy"][1] == pytest.approx(0.5)
    # perfectly calibrated one-hot predictions
    assert M.expected_calibration_error(np.eye(3), [0, 1, 2]) == pytest.approx(0.0)


def test_retrieval_with_permuted_pool():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(6, 8))
    tgt = src + 0.01 * rng.normal(size=(6, 8))
    assert M.retrieval_at_1(src, tgt) == {"src_to_tgt": 1.0, "tgt_to_src": 1.0}
    perm = np.array([1, 0, 2, 3, 4, 5])  # rows 0 and 1 misaligned
    r = M.retrieval_at_1(src, tgt[perm])
    assert r["src_to_tgt"] == pytest.approx(4 / 6)
    assert r["tgt_to_src"] == pytest.approx(4 / 6)
    assert M.pair_cosine(src, 3.0 * src) == pytest.approx(1.0)
    assert M.pair_cosine([[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [-1.0, 0.0]]) == pytest.approx(-0.5)


def test_nearest_neighbours():
    pool = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    idx, scores = M.nearest_neighbours([[2.0, 0.1]], pool, k=2)
    assert idx.tolist() == [[0, 2]]
    assert scores[0, 0] > scores[0, 1]
    idx, scores = M.nearest_neighbours(np.array([0.0, 1.0]), pool, k=10)
    assert idx.shape == (1, 4) and idx[0, 0] == 1 and idx[0, -1] == 3
    assert scores[0, 0] == pytest.approx(1.0)


def _blobs(n=40, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    groups = np.array(["en", "sw"] * (n // 2))
    x[groups == "sw"] += 10.0
    return x, groups


def test_pca_deterministic_and_centering():
    x, groups = _blobs()
    a = P.project(x, "pca")
    b = P.project(x.copy(), "pca")
    assert a.shape == (40, 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    # without centring the language offset dominates PC1; with it the groups overlap
    gap = abs(a[groups == "en", 0].mean() - a[groups == "sw", 0].mean())
    c = P.project(x, "pca", center_by=groups)
    gap_c = abs(c[groups == "en", 0].mean() - c[groups == "sw", 0].mean())
    assert gap > 10 and gap_c < 1e-9
    assert P.project(np.ones((1, 3)), "pca").shape == (1, 2)
    with pytest.raises(Exception, match="unknown projection"):
        P.project(x, "tsne")


@pytest.mark.slow  # importing umap-learn JIT-compiles numba code (~9 s)
def test_umap_projection_finite():
    pytest.importorskip("umap")
    x, _ = _blobs(n=30)
    y = P.project(x, "umap", n_neighbors=5, seed=0)
    assert y.shape == (30, 2) and np.isfinite(y).all()


def test_cached_projection_hits(tmp_path, monkeypatch):
    x, groups = _blobs()
    calls = []
    real = P.project

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(P, "project", counting)
    first = P.cached_projection("run1/student", x, tmp_path, "pca", center_by=groups)
    second = P.cached_projection("run1/student", x, tmp_path, "pca", center_by=groups)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, second)
    files = list(tmp_path.glob("*.parquet"))
    assert len(files) == 1 and "pca" in files[0].name
    assert not list(tmp_path.glob(".tmp-*"))
    # other embeddings, or no centring, are other cache entries
    P.cached_projection("run1/student", x + 1.0, tmp_path, "pca", center_by=groups)
    P.cached_projection("run1/student", x, tmp_path, "pca")
    assert len(calls) == 3
    assert len(list(tmp_path.glob("*.parquet"))) == 3


def test_exact_cosine_knn_matches_brute_force():
    from xkd.evaluate.projection import exact_cosine_knn

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8))
    x[7] = x[3]  # a duplicate: each must still list itself first
    idx, dist = exact_cosine_knn(x, 5, block=16)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = xn @ xn.T
    for i in range(50):
        assert idx[i, 0] == i and dist[i, 0] < 1e-6
        expected = np.sort(1 - sim[i])[:5]
        np.testing.assert_allclose(np.sort(dist[i]), np.maximum(expected, 0), atol=1e-5)
