package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.config.TrainConfig;
import org.reid4j.data.ReidDataset;
import org.reid4j.kernels.NativeApi;
import org.reid4j.model.Tensors;

/**
 * Mixed precision with its state on the device ({@link AmpScaler#onDevice}, {@code REID4J_AMP_ON_DEVICE=1}): the
 * loss scale, the overflow verdict and Adam's step counts stay on the device, so that a step is not read back before
 * its optimiser step. Against the host's verdict (PyTorch's GradScaler's way) on the same gradients, with overflows
 * forced: the same parameters, step counts, skipped steps and scales. Runs on the CUDA emulator (the surefire
 * execution cuda-emulator, whose "device" is host memory) and, step by step, on a GPU when there is one; the
 * environment setting is checked everywhere.
 */
class AmpOnDeviceTest {
  @TempDir Path tmp;

  private static void assumeEmulator() {
    assumeTrue(Boolean.getBoolean("reid4j.cuda.emulated") && NativeApi.loadError() == null
        && NativeApi.r4j_cuda_compiled() == 1, "needs the CUDA emulator");
  }

  @Test
  void theSettingIsReadStrictly() {
    assertFalse(AmpScaler.wanted(null));
    assertFalse(AmpScaler.wanted("0"));
    assertTrue(AmpScaler.wanted("1"));
    assertTrue(AmpScaler.wanted(" on "));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AmpScaler.wanted("maybe"));
    assertTrue(e.getMessage().contains(AmpScaler.DEVICE_ENV) && e.getMessage().contains("maybe"), e.getMessage());
  }

  /** The gradients of a loss scaled by {@code scale}: g * scale, with an infinity in one tensor when {@code poison}. */
  private static void scaledGrads(List<List<Tensor>> groups, Random r, double scale, boolean poison) {
    try (NoGradGuard ng = new NoGradGuard()) {
      int t = 0;
      for (List<Tensor> g : groups)
        for (Tensor p : g) {
          float[] v = new float[(int) p.numel()];
          for (int k = 0; k < v.length; k++) v[k] = (float) ((float) r.nextGaussian() * scale);
          if (poison && t == 3) v[v.length / 2] = Float.POSITIVE_INFINITY;
          p.mutable_grad().put(Tensors.fromFloats(v, p.device(), p.sizes().vec().get()));
          t++;
        }
    }
  }

  private static List<Tensor> grads(List<List<Tensor>> groups) {
    List<Tensor> out = new ArrayList<>();
    for (List<Tensor> g : groups)
      for (Tensor p : g) out.add(p.grad());
    return out;
  }

  /**
   * Step by step against the host's verdict: the device skips the steps that overflowed (parameters, moments and
   * step counts untouched), halves the scale there and grows it after the growth interval; the host learns of the
   * skipped steps only when it reads the flags, later.
   */
  @Test
  void deviceVerdictEqualsTheHostsStepByStep() {
    boolean emulated = Boolean.getBoolean("reid4j.cuda.emulated");
    boolean gpu = !emulated && Devices.cudaAvailable() && NativeApi.loadError() == null
        && NativeApi.r4j_cuda_compiled() == 1;
    assumeTrue(emulated || gpu, "needs a GPU or the CUDA emulator");
    Device device = gpu ? new Device(torch.DeviceType.CUDA) : Tensors.CPU;
    List<List<Tensor>> a = MultiTensorAdamTest.params(3, device), b = MultiTensorAdamTest.params(3, Tensors.CPU);
    MultiTensorAdam onDevice = new MultiTensorAdam(a, MultiTensorAdamTest.LRS, MultiTensorAdamTest.WDS, emulated);
    MultiTensorAdam host = new MultiTensorAdam(b, MultiTensorAdamTest.LRS, MultiTensorAdamTest.WDS, emulated);
    AmpScaler dev = new AmpScaler(true, emulated).initialScale(1024);
    AmpScaler ref = new AmpScaler(false, emulated).initialScale(1024);
    Random ra = new Random(4), rb = new Random(4);
    List<Tensor> flags = new ArrayList<>();
    int steps = AmpScaler.GROWTH_INTERVAL + 10, overflows = 0;
    Tensor loss = Tensors.full(1.0, device);
    for (int step = 0; step < steps; step++) {
      try (PointerScope scope = new PointerScope()) {
        boolean poison = step == 1 || step == 2 || step == 7;
        double s = ref.scale();
        assertEquals(s, dev.scale(), "scale before step " + step);
        assertEquals(s, dev.scale(loss).cpu().item_double(), "the loss is scaled on the device");
        scaledGrads(a, ra, s, poison);
        scaledGrads(b, rb, s, poison);
        Tensor found = dev.unscale(grads(a));
        onDevice.stepOnDevice(found);
        dev.updateOnDevice(found);
        found.retainReference();
        flags.add(found); // read later, as the trainer does
        boolean bad = ref.unscale(grads(b)).item_float() != 0;
        if (!bad) host.step();
        ref.update(!bad);
        if (bad) overflows++;
        if (step < 12 || step >= steps - 3) { // the full comparison is slow in plain tensor code: the edges suffice
          float d = MultiTensorAdamTest.maxDiff(a, b);
          assertTrue(d < 2e-6f, "step " + step + ": max |diff| " + d);
        }
      }
    }
    assertEquals(3, overflows);
    for (Tensor f : flags) {
      dev.noteRead(f.cpu().item_float() != 0);
      f.releaseReference();
    }
    assertEquals(ref.skippedSteps(), dev.skippedSteps());
    assertEquals(ref.scale(), dev.scale(), "after a growth interval without overflows the scale doubled");
    assertEquals(1024.0 / 8 * 2, dev.scale());
    for (int i = 0; i < MultiTensorAdamTest.SHAPES.length; i++)
      assertEquals(host.step(i), onDevice.step(i), "step count of tensor " + i);
    assertEquals(steps - 3, onDevice.step(0));
  }

  /** The steps whose scaled loss is made infinite: two at the start, one later (of about 40). */
  private static final java.util.function.LongPredicate POISONED = call -> call == 0 || call == 1 || call == 23;

  private Trainer.Result train(Path data, Path out, Boolean onDevice, boolean deferReads, StringBuilder log)
      throws IOException {
    return train(data, out, onDevice, deferReads, POISONED, 0, false, log);
  }

  private Trainer.Result train(Path data, Path out, Boolean onDevice, boolean deferReads,
      java.util.function.LongPredicate poisoned, int stopAfter, boolean resume, StringBuilder log) throws IOException {
    List<String> o = TrainerTest.tiny(data, out, 2);
    o.add("SOLVER.CENTER_WEIGHT=5.0e-4"); // the centres' SGD step must be skipped with the rest
    TrainConfig cfg = TrainConfig.load(null, o);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (PrintStream ps = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
      Trainer t = new Trainer(cfg, ReidDataset.open(cfg), ps, false).deferReads(deferReads);
      if (onDevice != null) t.emulatedAmp(onDevice, poisoned);
      if (stopAfter > 0) t.stopAfterEpochs(stopAfter);
      return t.run(resume);
    } finally {
      log.append(bytes.toString(StandardCharsets.UTF_8));
    }
  }

  /**
   * A run stopped after its first epoch (three overflows in it, the scale at 2^13) and resumed goes on with the loss
   * scale and the skipped-step count it had, as a straight run does, instead of starting again at 2^16.
   */
  @Test
  void aResumedRunKeepsItsLossScale() throws IOException {
    assumeEmulator();
    Path data = tmp.resolve("data");
    Files.createDirectories(data);
    TrainerTest.writeFixture(data, 10, 32, 110, 11);
    StringBuilder log = new StringBuilder();
    java.util.function.LongPredicate early = call -> call == 0 || call == 1 || call == 5, none = call -> false;
    Path straight = tmp.resolve("straight"), split = tmp.resolve("split");
    train(data, straight, true, true, early, 0, false, log);
    assertEquals(1, train(data, split, true, true, early, 1, false, log).epochs());
    Checkpoints.AmpState kept = Checkpoints.readMeta(split.resolve("checkpoints/last.pt")).amp();
    assertEquals(new Checkpoints.AmpState(65536.0 / 8, kept.goodSteps(), 3), kept);
    assertTrue(kept.goodSteps() > 5, "steps since the last overflow: " + kept.goodSteps());
    train(data, split, true, true, none, 0, true, log);
    ObjectMapper json = new ObjectMapper();
    JsonNode a = json.readTree(straight.resolve("summary.json").toFile());
    JsonNode b = json.readTree(split.resolve("summary.json").toFile());
    assertEquals(3, a.get("amp_skipped_steps").asLong());
    assertEquals(a.get("amp_skipped_steps").asLong(), b.get("amp_skipped_steps").asLong(), "skipped steps\n" + log);
    assertEquals(a.get("amp_loss_scale").asDouble(), b.get("amp_loss_scale").asDouble(), "loss scale");
    assertEquals(Checkpoints.readMeta(straight.resolve("checkpoints/last.pt")).amp(),
        Checkpoints.readMeta(split.resolve("checkpoints/last.pt")).amp());
    assertEquals(0.0, TrainerTest.maxWeightDifference(straight.resolve("checkpoints/last.pt"),
        split.resolve("checkpoints/last.pt")), 1e-5, "weights after two epochs");
  }

  /**
   * The trainer with AMP's state on the device, its steps read one step late and at once, against the host's verdict:
   * the same weights and centres after two epochs in which three steps overflow, the same skipped steps and final
   * scale.
   */
  @Test
  void theTrainerSkipsTheSameStepsOnTheDevice() throws IOException {
    assumeEmulator();
    Path data = tmp.resolve("data");
    Files.createDirectories(data);
    TrainerTest.writeFixture(data, 10, 32, 110, 11);
    StringBuilder log = new StringBuilder();
    Path hostDir = tmp.resolve("host"), lateDir = tmp.resolve("late"), atOnceDir = tmp.resolve("at-once");
    Trainer.Result host = train(data, hostDir, false, true, log);
    Trainer.Result late = train(data, lateDir, true, true, log);
    Trainer.Result atOnce = train(data, atOnceDir, true, false, log);
    ObjectMapper json = new ObjectMapper();
    JsonNode h = json.readTree(hostDir.resolve("summary.json").toFile());
    long skipped = h.get("amp_skipped_steps").asLong();
    assertEquals(3, skipped, "the poisoned steps are skipped");
    assertEquals(65536.0 / 8, h.get("amp_loss_scale").asDouble(), "the scale halved three times");
    for (Path dir : List.of(lateDir, atOnceDir)) {
      JsonNode d = json.readTree(dir.resolve("summary.json").toFile());
      assertEquals(skipped, d.get("amp_skipped_steps").asLong(), dir + ": skipped steps");
      assertEquals(h.get("amp_loss_scale").asDouble(), d.get("amp_loss_scale").asDouble(), dir + ": loss scale");
      assertEquals(0.0, TrainerTest.maxWeightDifference(hostDir.resolve("checkpoints/last.pt"),
          dir.resolve("checkpoints/last.pt")), 1e-5, dir + ": weights after two epochs\n" + log);
    }
    assertEquals(host.iterations(), late.iterations());
    for (int e = 0; e < 2; e++) {
      assertEquals(host.epochLosses().get(e), late.epochLosses().get(e), 1e-4, "epoch " + (e + 1) + " loss");
      assertEquals(host.epochLosses().get(e), atOnce.epochLosses().get(e), 1e-4, "epoch " + (e + 1) + " loss");
    }
  }
}
