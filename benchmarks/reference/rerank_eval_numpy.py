#!/usr/bin/env python3
"""Dense NumPy re-ranking + Market-1501 evaluation, the way the common Python ReID baselines do it.

This is the yardstick for reid4j's timings (BENCHMARKS.md), not part of the product: an N x N
distance matrix, full argsorts, dense V and a per-query Jaccard loop, with V in float16 as those
baselines keep it. Reads the six .npy files of `reid4j synth` / `eval --dir`, L2-normalises the
features, and prints the in-process seconds of each step and the peak RSS as JSON.

usage: rerank_eval_numpy.py DIR [--k1 20] [--k2 6] [--lambda 0.3] [--no-rerank]
"""
import argparse
import json
import os
import resource
import time

import numpy as np


def sq_dist(a, b):
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0)


def rerank(q, g, k1, k2, lam):
    nq = q.shape[0]
    feats = np.concatenate([q, g]).astype(np.float32)
    n = feats.shape[0]
    dist = sq_dist(feats, feats).astype(np.float32)
    dist = np.transpose(dist / np.max(dist, axis=0))
    V = np.zeros_like(dist, dtype=np.float16)
    rank = np.argsort(dist, axis=1, kind="stable").astype(np.int32)
    half = int(np.around(k1 / 2))
    for i in range(n):
        fwd = rank[i, : k1 + 1]
        back = rank[fwd, : k1 + 1]
        rec = fwd[np.where(back == i)[0]]
        exp = rec
        for c in rec:
            cf = rank[c, : half + 1]
            cb = rank[cf, : half + 1]
            crec = cf[np.where(cb == c)[0]]
            if len(np.intersect1d(crec, rec)) > 2.0 / 3.0 * len(crec):
                exp = np.append(exp, crec)
        exp = np.unique(exp)
        w = np.exp(-dist[i, exp])
        V[i, exp] = w / np.sum(w)
    orig = dist[:nq]
    if k2 != 1:
        Vq = np.zeros_like(V, dtype=np.float16)
        for i in range(n):
            Vq[i] = np.mean(V[rank[i, :k2]], axis=0)
        V = Vq
    inv = [np.where(V[:, c] != 0)[0] for c in range(n)]
    jac = np.zeros_like(orig, dtype=np.float16)
    for i in range(nq):
        tmin = np.zeros((1, n), dtype=np.float16)
        nz = np.where(V[i] != 0)[0]
        for c in nz:
            rows = inv[c]
            tmin[0, rows] = tmin[0, rows] + np.minimum(V[i, c], V[rows, c])
        jac[i] = 1 - tmin / (2 - tmin)
    final = jac * (1 - lam) + orig * lam
    return final[:, nq:]


def evaluate(dist, qp, qc, gp, gc, max_rank=50):
    order = np.argsort(dist, axis=1, kind="stable")
    cmc_all, aps = [], []
    for i in range(dist.shape[0]):
        o = order[i]
        keep = ~(((gp[o] == qp[i]) & (gc[o] == qc[i])) | (gp[o] == -1))
        m = (gp[o] == qp[i])[keep].astype(np.int32)
        if not m.any():
            continue
        c = m.cumsum()
        c[c > 1] = 1
        cmc_all.append(c[:max_rank])
        hits = m.cumsum()
        prec = hits / (np.arange(len(m)) + 1.0)
        aps.append((prec * m).sum() / m.sum())
    return float(np.mean([c[0] for c in cmc_all])), float(np.mean(aps))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--k1", type=int, default=20)
    ap.add_argument("--k2", type=int, default=6)
    ap.add_argument("--lambda", dest="lam", type=float, default=0.3)
    ap.add_argument("--no-rerank", action="store_true")
    a = ap.parse_args()
    t = {}
    t0 = time.time()
    ld = lambda n: np.load(os.path.join(a.dir, n))
    q, g = ld("query_feats.npy").astype(np.float32), ld("gallery_feats.npy").astype(np.float32)
    qp, qc, gp, gc = ld("query_pids.npy"), ld("query_camids.npy"), ld("gallery_pids.npy"), ld("gallery_camids.npy")
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    t["load_s"] = time.time() - t0
    t0 = time.time()
    dist = sq_dist(q, g) if a.no_rerank else rerank(q, g, a.k1, a.k2, a.lam)
    t["distance_s" if a.no_rerank else "rerank_s"] = time.time() - t0
    t0 = time.time()
    r1, mAP = evaluate(dist, qp, qc, gp, gc)
    t["evaluate_s"] = time.time() - t0
    t.update(rank1=r1, mAP=mAP, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(t))


if __name__ == "__main__":
    main()
