package org.reid4j.eval.post;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.reid4j.eval.Features;
import org.reid4j.eval.LabelledFeatures;
import org.reid4j.eval.RetrievalEval;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Metric;
import org.reid4j.kernels.RerankParams;

/** RetrievalEval's order of steps: normalise -> DBA -> QE -> distance -> re-ranking, composed by hand here. */
class RetrievalPipelineTest {
  @Test
  void stepsRunInTheDocumentedOrder() {
    Kernels k = Kernels.create(Backend.JAVA);
    Random r = new Random(31);
    int nq = 6, ng = 20, d = 5;
    FloatMatrix q = PostProcessingTest.gaussian(r, nq, d);
    FloatMatrix g = PostProcessingTest.gaussian(r, ng, d);
    int[] qp = {0, 1, 2, 3, 4, 0}, qc = new int[nq], gp = new int[ng], gc = new int[ng];
    for (int j = 0; j < ng; j++) {
      gp[j] = j % 5;
      gc[j] = 1;
    }
    RerankParams rp = new RerankParams(4, 2, 0.3f);
    QueryExpansion.Params qe = new QueryExpansion.Params(QueryExpansion.Kind.AVERAGE, 3, 2, 3);
    RetrievalEval.Options o = new RetrievalEval.Options(Metric.SQEUCLIDEAN, true, rp).withDba(2).withQe(qe);
    RetrievalEval.Report rep = RetrievalEval.run(k, new LabelledFeatures("q", q, qp, qc),
        new LabelledFeatures("g", g, gp, gc), o);

    FloatMatrix qn = Features.l2Normalize(q), gn = Dba.apply(k, Features.l2Normalize(g), Metric.SQEUCLIDEAN, 2);
    for (int t = 0; t < 2; t++) qn = QueryExpansion.expand(qn, gn, k.pairwiseTopk(qn, gn, Metric.SQEUCLIDEAN, 3), true);
    FloatMatrix expected = k.rerank(qn, gn, Metric.SQEUCLIDEAN, rp);
    assertArrayEquals(expected.data(), rep.distance().data());
    assertEquals(List.of("prepare", "dba", "qe", "rerank", "evaluate"), List.copyOf(rep.timingsMs().keySet()));

    // alpha-QE transforms queries and gallery before the distance.
    QueryExpansion.Params aqe = new QueryExpansion.Params(QueryExpansion.Kind.ALPHA, 4, 1, 3);
    RetrievalEval.Report rep2 = RetrievalEval.run(k, new LabelledFeatures("q", q, qp, qc),
        new LabelledFeatures("g", g, gp, gc), new RetrievalEval.Options(Metric.COSINE, true, null).withQe(aqe));
    FloatMatrix[] e = QueryExpansion.alpha(k, Features.l2Normalize(q), Features.l2Normalize(g), aqe, true);
    assertArrayEquals(k.pairwise(e[0], e[1], Metric.COSINE).data(), rep2.distance().data());
  }
}
