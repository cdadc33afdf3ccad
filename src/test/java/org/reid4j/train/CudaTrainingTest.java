package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.config.TrainConfig;
import org.reid4j.kernels.FloatMatrix;
import org.reid4j.kernels.HardMining;
import org.reid4j.kernels.Kernels;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.Metric;
import org.reid4j.loss.CrossBatchMemory;
import org.reid4j.loss.TripletLoss;
import org.reid4j.model.ModelSpec;
import org.reid4j.model.ReidModel;
import org.reid4j.model.Tensors;
import org.reid4j.serve.ModelLoader;

/**
 * What CUDA training relies on, on a real GPU (skipped where libtorch sees none: CI, this machine):
 * device mining equal to the host miner, a training step with and without AMP, and checkpoints that
 * move between the GPU and the CPU. The whole loop is exercised by scripts/gpu-train-check.sh.
 */
@EnabledIf("cuda")
class CudaTrainingTest {
  static boolean cuda() {
    return Devices.cudaAvailable();
  }

  static final Device GPU = new Device("cuda");

  static {
    GPU.retainReference(); // outlives the tests' PointerScopes (see Tensors.CPU)
  }

  @Test
  void deviceMiningEqualsTheHostMinerOnTheGpu() {
    Random r = new Random(3);
    Kernels host = Kernels.create(Backend.JAVA);
    for (int[] sh : new int[][] {{1, 4}, {7, 3}, {64, 2048}, {256, 128}, {300, 400}}) {
      int n = sh[0], d = sh[1];
      float[] x = new float[n * d];
      for (int i = 0; i < x.length; i++) x[i] = r.nextInt(3) - 1; // exact distances: ties are real ties
      int[] y = new int[n];
      for (int i = 0; i < n; i++) y[i] = r.nextInt(Math.max(1, n / 4));
      try (PointerScope s = new PointerScope()) {
        TripletLoss.Mined m = TripletLoss.mineOnDevice(Tensors.fromFloats(x, GPU, n, d), Tensors.longs(y, GPU));
        assertTrue(m.posIdx().is_cuda(), "mined on the GPU");
        long[] pos = new long[n], neg = new long[n], valid = new long[n];
        m.posIdx().cpu().data_ptr_long().get(pos);
        m.negIdx().cpu().data_ptr_long().get(neg);
        m.valid().to(org.bytedeco.pytorch.global.torch.ScalarType.Long).cpu().data_ptr_long().get(valid);
        HardMining h = host.batchHard(new FloatMatrix(n, d, x), y, Metric.EUCLIDEAN);
        for (int i = 0; i < n; i++) {
          boolean v = h.posIdx()[i] >= 0 && h.negIdx()[i] >= 0;
          assertEquals(v, valid[i] != 0, "valid, anchor " + i + " of " + n);
          if (!v) continue;
          assertEquals(h.posIdx()[i], pos[i], "positive of anchor " + i + " of " + n);
          assertEquals(h.negIdx()[i], neg[i], "negative of anchor " + i + " of " + n);
        }
      }
    }
  }

  /** XBM's memory as tensors on the GPU (what training there uses) against the kernels' memory on the host. */
  @Test
  void crossBatchMemoryOnTheGpuMinesWhatTheHostMines() {
    Random r = new Random(4);
    int size = 300, d = 128;
    try (PointerScope s = new PointerScope();
        CrossBatchMemory gpu = CrossBatchMemory.onDevice(size, d, GPU, 0.3, false);
        CrossBatchMemory host = new CrossBatchMemory(size, d, Kernels.create(Backend.JAVA), 0.3, false)) {
      for (int step = 0; step < 8; step++) {
        int n = 64;
        float[] x = new float[n * d];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(40);
        TripletLoss.Result a = gpu.step(Tensors.fromFloats(x, GPU, n, d), Tensors.longs(y, GPU));
        TripletLoss.Result b = host.step(Tensors.fromFloats(x, Tensors.CPU, n, d), y);
        assertTrue(a.loss().is_cuda(), "the loss stays on the GPU");
        assertEquals(b.loss().item_double(), a.loss().cpu().item_double(), 1e-4, "step " + step);
        assertEquals(b.fractionActive(), a.fractionActive(), 1e-9, "step " + step);
      }
    }
  }

  @Test
  void trainsOnTheGpuWithAndWithoutAmpAndTheCheckpointLoadsOnTheCpu(@TempDir Path dir) throws Exception {
    Path data = dir.resolve("data");
    java.nio.file.Files.createDirectories(data);
    TrainerTest.writeFixture(data, 10, 32, 110, 11);
    for (boolean amp : new boolean[] {true, false}) {
      Path out = dir.resolve(amp ? "amp" : "fp32");
      java.util.List<String> sets = TrainerTest.tiny(out, 3);
      sets.addAll(java.util.List.of("DATALOADER.ROOT=\"" + data + "\"", "MODEL.DEVICE=cuda",
          "SOLVER.AMP_ON_CUDA=" + amp, "SOLVER.CENTER_WEIGHT=0.0005"));
      Trainer.Result r = TrainerTest.train(sets, false);
      assertTrue(r.epochLosses().get(2) < r.epochLosses().get(0), "loss falls on the GPU, amp " + amp + ": "
          + r.epochLosses());
      assertTrue(r.eval().mAP() > 0, "evaluation ran");

      // The GPU checkpoint on the CPU and on the GPU: the same features, compared in full FP32 (the
      // trainer lets cuDNN use TF32, whose 10-bit mantissa alone moves features by ~1e-3).
      torch.globalContext().setAllowTF32CuDNN(false);
      ModelLoader.Loaded onCpu = ModelLoader.load(r.lastCheckpoint(), null, java.util.List.of(), Tensors.CPU);
      ModelLoader.Loaded onGpu = ModelLoader.load(r.lastCheckpoint(), null, java.util.List.of(), GPU);
      try (PointerScope s = new PointerScope()) {
        float[] img = new float[3 * 28 * 28];
        Random rnd = new Random(5);
        for (int i = 0; i < img.length; i++) img[i] = (float) rnd.nextGaussian();
        float[] a = Tensors.toFloats(onCpu.model().embed(Tensors.fromFloats(img, Tensors.CPU, 3, 1, 28, 28)));
        float[] b = Tensors.toFloats(onGpu.model().embed(Tensors.fromFloats(img, GPU, 3, 1, 28, 28)).cpu());
        assertArrayEquals(a, b, 1e-3f, "features of one checkpoint on the CPU and the GPU");
      }
      // Resume on the GPU continues the run.
      sets.add("SOLVER.MAX_EPOCHS=4");
      Trainer.Result resumed = TrainerTest.train(sets, true);
      assertEquals(4, resumed.epochs());
    }
  }
}
