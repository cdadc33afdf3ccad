package org.reid4j.train.dist;

import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.model.Conv2d;
import org.reid4j.model.Tensors;

/**
 * A few SGD steps of a tiny conv + linear net on seeded random data, either as the whole group's
 * plain reference (one process, the whole global batch) or as one rank of a data-parallel group
 * (its contiguous share of each global batch). Run as a child process by {@link ProcessGroupSessionTest}:
 * {@code mode steps outFile}, the group from RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT. Modes:
 * {@code ddp} (broadcast + gradient all-reduce), {@code local} (broadcast, no all-reduce: the negative
 * control), {@code die-after-2} (rank 1 halts after two steps), {@code drift} (rank 1 nudges a
 * parameter after step 2, and every step checks the ranks are in sync). Trains once in float32, then once in
 * float64 (same data, fresh model), and writes both final parameter vectors to outFile.
 */
public final class DataParallelChild {
  static final long SEED = 20261127L;
  static final int GLOBAL_BATCH = 12, SIDE = 6, CLASSES = 4;

  static final class Net extends Module {
    final Conv2d conv;
    final LinearImpl fc;
    final LinearImpl unused; // never in the loss: SGD must leave it alone on every rank, as in one process

    Net() {
      conv = register_module("conv", new Conv2d(1, 4, 3, 1, 1));
      fc = register_module("fc", new LinearImpl(4 * SIDE * SIDE, CLASSES));
      unused = register_module("unused", new LinearImpl(3, 2));
    }

    Tensor forward(Tensor x) {
      return fc.forward(torch.relu(conv.forward(x)).flatten(1, -1));
    }
  }

  /**
   * Trains {@code steps} steps and returns the parameters, flattened. With a session, this rank
   * takes rows [rank * B / W, (rank + 1) * B / W) of each global batch, and its model is initialised
   * from another seed than rank 0's so that only the broadcast can make them agree.
   */
  static double[] train(ProcessGroupSession s, boolean allReduce, int steps, int dieAfter, boolean float64) {
    return train(s, allReduce, steps, dieAfter, float64, false);
  }

  static double[] train(ProcessGroupSession s, boolean allReduce, int steps, int dieAfter, boolean float64,
      boolean drift) {
    int rank = s == null ? 0 : s.rank(), world = s == null ? 1 : s.worldSize();
    torch.manual_seed(SEED + 1000L * rank);
    Net net = new Net();
    if (float64) net.to(torch.ScalarType.Double, false);
    if (s != null) s.broadcastModel(net);
    List<Tensor> params = new ArrayList<>(Tensors.namedParameters(net).values());
    SGDOptions so = new SGDOptions(0.1);
    so.momentum().put(0.9);
    so.weight_decay().put(1e-4);
    SGD opt = new SGD(net.parameters(), so);
    Random data = new Random(SEED);
    int from = rank * GLOBAL_BATCH / world, to = (rank + 1) * GLOBAL_BATCH / world;
    for (int step = 0; step < steps; step++) {
      float[] x = new float[GLOBAL_BATCH * SIDE * SIDE];
      int[] y = new int[GLOBAL_BATCH];
      for (int i = 0; i < x.length; i++) x[i] = (float) data.nextGaussian();
      for (int i = 0; i < y.length; i++) y[i] = data.nextInt(CLASSES);
      float[] mx = java.util.Arrays.copyOfRange(x, from * SIDE * SIDE, to * SIDE * SIDE);
      int[] my = java.util.Arrays.copyOfRange(y, from, to);
      try (PointerScope scope = new PointerScope()) {
        Tensor in = Tensors.fromFloats(mx, Tensors.CPU, to - from, 1, SIDE, SIDE);
        Tensor logits = net.forward(float64 ? in.to(torch.ScalarType.Double) : in);
        Tensor loss = torch.cross_entropy(logits, Tensors.longs(my, Tensors.CPU));
        opt.zero_grad();
        loss.backward();
        if (s != null && allReduce) s.allReduceGradients(params);
        opt.step();
      }
      if (step + 1 == dieAfter && rank == 1) Runtime.getRuntime().halt(3);
      if (s != null && drift) {
        if (rank == 1 && step == 1)
          try (org.bytedeco.pytorch.NoGradGuard ng = new org.bytedeco.pytorch.NoGradGuard()) {
            params.get(0).add_(Tensors.scalar(1e-3)); // a rank that no longer trains rank 0's model
          }
        s.requireInSync(net, "after step " + (step + 1));
      }
    }
    List<Double> all = new ArrayList<>();
    for (Tensor p : params) {
      Tensor c = p.detach().to(torch.ScalarType.Double).contiguous();
      double[] v = new double[(int) c.numel()];
      ((java.nio.DoubleBuffer) c.createBuffer()).get(v);
      for (double d : v) all.add(d);
    }
    return all.stream().mapToDouble(Double::doubleValue).toArray();
  }

  public static void main(String[] args) throws IOException {
    String mode = args[0];
    int steps = Integer.parseInt(args[1]);
    Path outFile = Path.of(args[2]);
    torch.set_num_threads(1);
    ProcessGroupSession.Config cfg = ProcessGroupSession.Config.fromEnvironment(System.getenv(), Duration.ofSeconds(60));
    try (ProcessGroupSession s = ProcessGroupSession.join(cfg)) {
      double[] p32, p64;
      try {
        boolean reduce = mode.equals("ddp") || mode.startsWith("die") || mode.equals("drift");
        p32 = train(s, reduce, steps, mode.equals("die-after-2") ? 2 : -1, false, mode.equals("drift"));
        p64 = train(s, reduce, steps, -1, true);
        s.barrier("end");
      } catch (RuntimeException e) {
        s.reportFailure(e);
        System.err.println("FAILED: " + e.getMessage());
        System.exit(2);
        return;
      }
      Path tmp = outFile.resolveSibling(outFile.getFileName() + ".tmp");
      try (DataOutputStream o = new DataOutputStream(Files.newOutputStream(tmp))) {
        for (double[] p : new double[][] {p32, p64}) {
          o.writeInt(p.length);
          for (double v : p) o.writeDouble(v);
        }
      }
      Files.move(tmp, outFile, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }
    System.out.println("done");
  }
}
