package org.reid4j.eval;

/**
 * Retrieval accuracy of one query set against one gallery under the Market-1501 protocol (see
 * {@link ReidEvaluator}). All scores are fractions in [0, 1], averaged over the evaluated queries
 * (0 when none was evaluated).
 *
 * @param rank1 CMC at rank 1
 * @param rank5 CMC at rank 5
 * @param rank10 CMC at rank 10
 * @param mAP mean average precision
 * @param mINP mean inverse negative penalty (Ye et al., TPAMI 2021): mean of P / rank of the hardest match
 * @param cmc CMC at ranks 1..50 ({@code cmc[r - 1]}); past the size of a small gallery it repeats its last value
 * @param queriesEvaluated queries that entered the averages
 * @param queriesSkipped queries with a valid pid but no valid match in the gallery after the exclusions
 */
public record EvalResult(double rank1, double rank5, double rank10, double mAP, double mINP, double[] cmc,
    int queriesEvaluated, int queriesSkipped) {

  /** Number of CMC ranks reported. */
  public static final int MAX_RANK = 50;

  public EvalResult {
    if (cmc == null || cmc.length != MAX_RANK)
      throw new IllegalArgumentException("cmc must have " + MAX_RANK + " values");
    cmc = cmc.clone();
  }

  /** CMC at rank r, 1 <= r <= 50. */
  public double cmcAt(int r) {
    return cmc[r - 1];
  }

  @Override
  public double[] cmc() {
    return cmc.clone();
  }

  @Override
  public String toString() {
    return String.format(java.util.Locale.ROOT,
        "EvalResult[rank1=%.4f, rank5=%.4f, rank10=%.4f, mAP=%.4f, mINP=%.4f, evaluated=%d, skipped=%d]", rank1, rank5,
        rank10, mAP, mINP, queriesEvaluated, queriesSkipped);
  }
}
