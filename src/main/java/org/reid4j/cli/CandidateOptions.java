package org.reid4j.cli;

import org.reid4j.eval.rerank.Candidates;
import picocli.CommandLine.Option;

/**
 * Where re-ranking takes each item's nearest neighbours from: {@code eval --rerank} and
 * {@code serve --rerank} share these options as a picocli mixin.
 */
public final class CandidateOptions {
  @Option(names = "--candidates", paramLabel = "HOW", defaultValue = "exact",
      description = "With --rerank: where each item's nearest neighbours come from: exact (the full N x N distance "
          + "pass) or hnsw (an approximate HNSW graph built by Apache Lucene, its candidates re-scored exactly; "
          + "for N far past 100,000) (default ${DEFAULT-VALUE}).")
  String candidates = "exact";

  @Option(names = "--hnsw-m", paramLabel = "M", defaultValue = "16",
      description = "With --candidates hnsw: the graph's connections per node, 1.." + Candidates.MAX_M
          + " (default ${DEFAULT-VALUE}).")
  int hnswM = 16;

  @Option(names = "--hnsw-ef", paramLabel = "EF", defaultValue = "200",
      description = "With --candidates hnsw: the beam width for building the graph, and for searching it unless "
          + "--hnsw-ef-search is given (larger: better lists, slower; a search beam of N or more is exhaustive) "
          + "(default ${DEFAULT-VALUE}).")
  int hnswEf = 200;

  @Option(names = "--hnsw-ef-search", paramLabel = "EF",
      description = "With --candidates hnsw: a different beam width for searching the graph than for building it "
          + "(default: --hnsw-ef). A wider search beam raises recall at the cost of search time only.")
  Integer hnswEfSearch;

  /** The options' names, for {@link Cli#onlyWith}. */
  static final String[] HNSW = {"--hnsw-m", "--hnsw-ef", "--hnsw-ef-search"};

  /** Whether --candidates names hnsw (in any case), without checking the value further. */
  boolean hnsw() {
    return candidates != null && "hnsw".equalsIgnoreCase(candidates.trim());
  }

  /** The choice, the errors naming the options. */
  Candidates parse() {
    Candidates.Kind kind;
    try {
      kind = Candidates.Kind.parse(candidates);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--candidates: " + e.getMessage());
    }
    if (kind == Candidates.Kind.EXACT) return Candidates.EXACT;
    if (hnswM < 1 || hnswM > Candidates.MAX_M)
      throw new IllegalArgumentException("--hnsw-m must be in [1, " + Candidates.MAX_M + "], got " + hnswM);
    if (hnswEf < 1 || hnswEf > Candidates.MAX_EF)
      throw new IllegalArgumentException("--hnsw-ef must be in [1, " + Candidates.MAX_EF + "], got " + hnswEf);
    int search = hnswEfSearch != null ? hnswEfSearch : hnswEf;
    if (search < 1 || search > Candidates.MAX_EF)
      throw new IllegalArgumentException("--hnsw-ef-search must be in [1, " + Candidates.MAX_EF + "], got " + search);
    return Candidates.hnsw(hnswM, hnswEf, search);
  }
}
