package org.reid4j.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.*;
import org.reid4j.model.ModelSpec;
import org.reid4j.model.ReidModel;
import org.reid4j.train.CheckpointWriter;
import org.reid4j.train.Checkpoints;
import org.reid4j.train.Optimizers;

/**
 * What writing an epoch's last.pt costs the training thread: a ResNet-50 BoT model (751 classes) with
 * Adam's moments (a 301 MB archive), written at once ({@link Checkpoints#save}) or handed to
 * {@link CheckpointWriter}'s background thread (the state copied into host tensors kept between
 * epochs). Before each background call the previous write is waited for outside the measurement, as
 * an epoch of training would in between. Time per call; both variants in the same run.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2, batchSize = 1)
@Measurement(iterations = 8, time = 2, batchSize = 1)
@Fork(1)
public class CheckpointBenchmark {
  Path dir;
  Checkpoints ck;
  Checkpoints.State state;
  Checkpoints.Meta meta;
  CheckpointWriter writer;

  @Setup(Level.Trial)
  public void setup() throws IOException {
    ReidModel m = ReidModel.build(ModelSpec.defaults("resnet50"), 3, 751);
    Optimizers.Groups g = Optimizers.forModel(new Optimizers.Settings("adam", 3.5e-4, 5e-4, 0.0, 2.0, 0.9), m);
    for (int i = 0; i < g.size(); i++) // one step with unit gradients, so that Adam has its moments
      for (Tensor p : g.params(i)) p.mutable_grad().put(torch.ones_like(p));
    g.step();
    dir = Files.createTempDirectory("reid4j-checkpoint-bench");
    ck = new Checkpoints(dir);
    state = new Checkpoints.State(m, g, null, null);
    meta = new Checkpoints.Meta(Checkpoints.FORMAT, 1, 1, 751, "resnet50 bnneck", Checkpoints.signature(m), 1, -1, 0,
        0, "bench", Map.of(), "");
    writer = new CheckpointWriter(ck, true, false);
  }

  @TearDown(Level.Trial)
  public void tearDown() throws IOException {
    writer.close();
    try (var s = Files.list(dir)) {
      for (Path f : s.toList()) Files.delete(f);
    }
    Files.delete(dir);
  }

  /** The previous background write finishes outside the measurement (an epoch of training would pass). */
  @Setup(Level.Invocation)
  public void previousWriteDone() throws IOException {
    writer.await();
  }

  @Benchmark
  public Path atOnce() throws IOException {
    return ck.save("last", meta, state);
  }

  @Benchmark
  public CheckpointWriter background() throws IOException {
    writer.save(List.of(new CheckpointWriter.File("last", meta)), state);
    return writer;
  }
}
