/**
 * Retrieval post-processing, the tricks that won image-retrieval contests on top of a trained model:
 * database-side augmentation ({@link org.reid4j.eval.post.Dba}), average and alpha-weighted query
 * expansion ({@link org.reid4j.eval.post.QueryExpansion}) and model ensembles
 * ({@link org.reid4j.eval.post.Fusion}). {@link org.reid4j.eval.RetrievalEval} runs them in the order
 * normalise, DBA, QE, distance (fused across members), k-reciprocal re-ranking.
 */
package org.reid4j.eval.post;
