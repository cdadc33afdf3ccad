package org.reid4j.eval.rerank;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Where k-reciprocal re-ranking takes each item's nearest neighbours from: {@link #EXACT}, the full
 * N x N distance pass (the default; O(N^2 d)), or {@link #hnsw} an approximate HNSW graph built by
 * Apache Lucene ({@link HnswNeighbours}), whose candidates are then re-scored exactly.
 *
 * @param kind exact or HNSW
 * @param m HNSW: the graph's maximum connections per node (Lucene's maxConn); 0 for exact
 * @param ef HNSW: the beam width while building the graph (Lucene's beamWidth, efConstruction); 0 for exact
 * @param efSearch HNSW: the beam width while searching it for each item's list (ef 's value unless
 *     given; N or more searches exhaustively); 0 for exact
 */
public record Candidates(Kind kind, int m, int ef, int efSearch) {
  /** Lucene's upper bound on maxConn. */
  public static final int MAX_M = 512;
  /** An upper bound on ef (a beam of N or more searches exhaustively; this is far past any useful beam). */
  public static final int MAX_EF = 1 << 24;

  public static final Candidates EXACT = new Candidates(Kind.EXACT, 0, 0, 0);

  public enum Kind {
    EXACT,
    HNSW;

    /** "exact" or "hnsw" (any case); the error names the choices. */
    public static Kind parse(String name) {
      String s = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
      return switch (s) {
        case "exact" -> EXACT;
        case "hnsw" -> HNSW;
        default -> throw new IllegalArgumentException("unknown candidates '" + name + "': expected exact or hnsw");
      };
    }
  }

  public Candidates {
    if (kind == null) throw new IllegalArgumentException("candidates kind is null");
    if (kind == Kind.EXACT && (m != 0 || ef != 0 || efSearch != 0))
      throw new IllegalArgumentException("exact candidates take no HNSW m or ef");
    if (kind == Kind.HNSW) {
      if (m < 1 || m > MAX_M) throw new IllegalArgumentException("HNSW m must be in [1, " + MAX_M + "], got " + m);
      if (ef < 1 || ef > MAX_EF)
        throw new IllegalArgumentException("HNSW ef must be in [1, " + MAX_EF + "], got " + ef);
      if (efSearch < 1 || efSearch > MAX_EF)
        throw new IllegalArgumentException("HNSW search ef must be in [1, " + MAX_EF + "], got " + efSearch);
    }
  }

  /** HNSW candidates with this graph degree and beam width (building and searching). */
  public static Candidates hnsw(int m, int ef) {
    return new Candidates(Kind.HNSW, m, ef, ef);
  }

  /** HNSW candidates with this graph degree, building beam and searching beam. */
  public static Candidates hnsw(int m, int ef, int efSearch) {
    return new Candidates(Kind.HNSW, m, ef, efSearch);
  }

  public boolean exact() {
    return kind == Kind.EXACT;
  }

  /** "exact", "hnsw (m 16, ef 200)" or "hnsw (m 16, ef 200, search ef 800)", for logs and tables. */
  public String describe() {
    if (exact()) return "exact";
    return "hnsw (m " + m + ", ef " + ef + (efSearch == ef ? "" : ", search ef " + efSearch) + ")";
  }

  /** "exact", or {kind: hnsw, m, ef, ef_search}, for JSON output. */
  public Object toJson() {
    if (exact()) return "exact";
    Map<String, Object> o = new LinkedHashMap<>();
    o.put("kind", "hnsw");
    o.put("m", m);
    o.put("ef", ef);
    o.put("ef_search", efSearch);
    return o;
  }
}
