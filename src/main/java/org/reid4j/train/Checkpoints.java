package org.reid4j.train;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.io.AtomicFiles;
import org.reid4j.model.ReidModel;
import org.reid4j.model.Tensors;

/**
 * Training checkpoints in {@code OUTPUT_DIR/checkpoints/}: {@code last.pt} (after every epoch, what
 * {@code --resume} continues from), {@code best.pt} (best validation mAP so far) and
 * {@code epoch_NNN.pt} (every {@code SOLVER.CHECKPOINT_PERIOD} epochs), each with a readable
 * {@code .json} twin holding the same metadata.
 *
 * <p>A {@code .pt} file is one libtorch archive (torch::serialize, the format of
 * {@code torch::save} in C++, not Python's pickle) with the sub-archives {@code model} (for a
 * {@link ReidModel} its flat state dict, as {@link ReidModel#writeTo} writes it),
 * {@code optimizer} (libtorch's own optimiser state: Adam moments and step counts, SGD momentum
 * buffers, group options), {@code centers} and {@code center_optimizer} (when centre loss is on),
 * and {@code meta}: the {@link Meta} record as UTF-8 JSON in a uint8 tensor, so the file is
 * complete on its own. Writes are atomic: the archive goes to a temporary file in the same folder
 * that is then renamed over the target, so a kill at any moment leaves the previous file intact.
 * The {@code .json} twin is written after the rename and is informational only.
 */
public final class Checkpoints {
  /** Bumped when the archive layout changes. */
  public static final int FORMAT = 1;

  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(SerializationFeature.INDENT_OUTPUT)
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

  /**
   * What a checkpoint says about itself.
   *
   * @param epoch epochs completed (training resumes at this 0-based epoch index)
   * @param iterations optimiser steps taken in total
   * @param numClasses classifier width (training identities)
   * @param architecture short human description ("small_cnn, bnneck, linear head, 128-d")
   * @param signature every parameter and buffer as "name [shape]", in registration order
   * @param seed SOLVER.SEED; every epoch's sampler, loader and torch RNG streams derive from (seed, epoch)
   * @param bestMap best validation mAP seen so far (-1 if none yet), and at which epoch
   * @param metrics the last evaluation or epoch metrics, for reading by eye
   * @param config the resolved training config (TrainConfig.toYaml())
   * @param amp mixed precision's loss-scaling state, so that a resumed run goes on with it (null: an FP32 run, or a
   *     checkpoint written before it was kept)
   */
  public record Meta(int format, int epoch, long iterations, int numClasses, String architecture, List<String> signature,
      long seed, double bestMap, int bestEpoch, double trainSeconds, String savedAt, Map<String, Object> metrics,
      String config, AmpState amp) {
    /** Without mixed precision's state (an FP32 run; the form before it was kept). */
    public Meta(int format, int epoch, long iterations, int numClasses, String architecture, List<String> signature,
        long seed, double bestMap, int bestEpoch, double trainSeconds, String savedAt, Map<String, Object> metrics,
        String config) {
      this(format, epoch, iterations, numClasses, architecture, signature, seed, bestMap, bestEpoch, trainSeconds,
          savedAt, metrics, config, null);
    }
  }

  /**
   * Dynamic loss scaling's state at a checkpoint: the scale, the steps since the last overflow (growth comes every
   * 2,000 of them) and the steps skipped so far.
   */
  public record AmpState(double lossScale, long goodSteps, long skippedSteps) {}

  /** What {@link #save} and {@link #load} handle besides the metadata; centres may be null. */
  public record State(Module model, Optimizers.Groups optimizer, Module centers, Optimizer centerOptimizer) {}

  private final Path dir;

  public Checkpoints(Path dir) {
    this.dir = dir;
  }

  public Path dir() {
    return dir;
  }

  public Path file(String name) {
    return dir.resolve(name + ".pt");
  }

  public boolean exists(String name) {
    return Files.isRegularFile(file(name));
  }

  /** Writes {@code name.pt} atomically, then {@code name.json}. Returns the .pt path. */
  public Path save(String name, Meta meta, State state) throws IOException {
    Archive a;
    try {
      a = archive(state, null);
    } catch (RuntimeException e) {
      throw new IOException("could not write checkpoint " + file(name).toAbsolutePath() + ": " + firstLine(e), e);
    }
    return write(name, meta, a);
  }

  /**
   * A checkpoint's archive without its metadata: what {@link #write} completes and saves. {@code weights}
   * are the model's state-dict entries as written (null for a model that is not a ReidModel), whose
   * checksums the file carries.
   */
  record Archive(OutputArchive root, Map<String, Tensor> weights) {}

  /**
   * The archive of {@code state}, each tensor written as {@code take.apply(t)} (a host copy, say; null:
   * the tensors themselves, by reference, so that the archive must be saved before they change). With
   * {@code take}, the optimiser must be able to write its state from copies ({@link Optimizers.Groups#canCopyState})
   * and the centre optimiser must hold no state tensors (plain SGD, {@link Optimizers#centers}).
   */
  static Archive archive(State state, UnaryOperator<Tensor> take) {
    UnaryOperator<Tensor> put = take == null ? UnaryOperator.identity() : take;
    OutputArchive root = new OutputArchive();
    OutputArchive model = new OutputArchive();
    Map<String, Tensor> weights = null;
    if (state.model() instanceof ReidModel rm) weights = rm.writeTo(model, put); // flat state-dict names
    else writeModule(state.model(), model, put);
    root.write("model", model);
    OutputArchive opt = new OutputArchive();
    if (take == null) state.optimizer().save(opt);
    else state.optimizer().save(opt, take);
    root.write("optimizer", opt);
    if (state.centers() != null) {
      OutputArchive c = new OutputArchive();
      writeModule(state.centers(), c, put);
      root.write("centers", c);
      OutputArchive co = new OutputArchive();
      state.centerOptimizer().save(co);
      root.write("center_optimizer", co);
    }
    return new Archive(root, weights);
  }

  /**
   * What libtorch's Module::save writes (own parameters, own buffers, then each child's archive, by name), each
   * tensor as {@code take.apply(t)}: Module::load reads it back.
   */
  private static void writeModule(Module m, OutputArchive out, UnaryOperator<Tensor> take) {
    StringTensorDict params = m.named_parameters(false), buffers = m.named_buffers(false);
    for (long i = 0; i < params.size(); i++)
      out.write(params.get(i).key().getString(), take.apply(new Tensor(params.get(i).value())), false);
    for (long i = 0; i < buffers.size(); i++)
      out.write(buffers.get(i).key().getString(), take.apply(new Tensor(buffers.get(i).value())), true);
    org.bytedeco.pytorch.StringSharedModuleDict children = m.named_children();
    for (long i = 0; i < children.size(); i++) {
      Module child = children.get(i).value();
      if (!child.is_serializable()) continue;
      OutputArchive a = new OutputArchive(out.compilation_unit());
      writeModule(child, a, take);
      out.write(children.get(i).key().getString(), a);
    }
    java.lang.ref.Reference.reachabilityFence(params);
    java.lang.ref.Reference.reachabilityFence(buffers);
    java.lang.ref.Reference.reachabilityFence(children);
  }

  /**
   * Completes {@code a} with the metadata (and the weights' checksums) and writes it as {@code name.pt}
   * atomically, then {@code name.json}. Returns the .pt path. May run on another thread than the one
   * that made the archive, once nothing changes the tensors it holds.
   */
  Path write(String name, Meta meta, Archive a) throws IOException {
    AtomicFiles.createFolder(dir);
    Path target = file(name).toAbsolutePath();
    Path tmp = AtomicFiles.newTemporary(target); // the usual permissions, not createTempFile's 0600
    boolean done = false;
    try {
      OutputArchive root = a.root();
      byte[] json = JSON.writeValueAsBytes(meta);
      root.write("meta", Tensors.hostBytes(json));
      if (a.weights() != null)
        root.write("checksums", Tensors.hostBytes(JSON.writeValueAsBytes(checksums(a.weights()))));
      root.save_to(tmp.toString());
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
      done = true;
    } catch (RuntimeException e) {
      throw new IOException("could not write checkpoint " + target + ": " + firstLine(e), e);
    } finally {
      if (!done) Files.deleteIfExists(tmp);
    }
    AtomicFiles.writeString(dir.resolve(name + ".json"), JSON.writeValueAsString(meta) + "\n");
    return target;
  }

  /** Reads only the metadata of {@code file} (a .pt written by {@link #save}). */
  public static Meta readMeta(Path file) throws IOException {
    return readMeta(open(file, Tensors.CPU), file);
  }

  /**
   * Loads {@code file} into {@code state} after checking that it fits: the same class count and
   * the same parameter and buffer names and shapes, else an {@link IllegalArgumentException} that
   * names both sides. Optimisers are restored only when {@code state} has them (pass null for an
   * inference-only load).
   *
   * <p>Every tensor is read onto the device of the model's parameters (whatever device wrote the
   * file), so build the model and move it to its device first: a checkpoint written on a GPU loads
   * on a CPU-only machine and the reverse, and the optimiser state lands beside the parameters.
   */
  public static Meta load(Path file, State state, int numClasses, String architecture) throws IOException {
    InputArchive root = open(file, deviceOf(state.model()));
    Meta meta = readMeta(root, file);
    if (meta.numClasses() != numClasses)
      throw new IllegalArgumentException("checkpoint " + file + " was trained for " + meta.numClasses()
          + " classes (" + meta.architecture() + "), but this run has " + numClasses + " classes ("
          + architecture + "): use a matching data set or start without --resume / with another OUTPUT_DIR");
    List<String> mine = signature(state.model());
    if (!mine.equals(meta.signature()))
      throw new IllegalArgumentException("checkpoint " + file + " holds a different architecture ("
          + meta.architecture() + ") than this run (" + architecture + "): " + firstDifference(meta.signature(), mine));
    try {
      if (state.model() instanceof ReidModel rm) {
        rm.readFrom(sub(root, "model"), file.toString());
        verifyWeights(rm, root, file);
      } else {
        state.model().load(sub(root, "model"));
      }
      if (state.optimizer() != null) state.optimizer().load(sub(root, "optimizer"));
      if (state.centers() != null) {
        InputArchive c = new InputArchive();
        if (!root.try_read("centers", c))
          throw new IllegalArgumentException("checkpoint " + file + " has no centre-loss centres but this run uses "
              + "centre loss (SOLVER.CENTER_WEIGHT > 0)");
        state.centers().load(c);
        if (state.centerOptimizer() != null) state.centerOptimizer().load(sub(root, "center_optimizer"));
      }
    } catch (RuntimeException e) {
      if (e instanceof IllegalArgumentException) throw e;
      throw new IOException("could not load checkpoint " + file + ": " + firstLine(e), e);
    }
    return meta;
  }

  /** "name [d0, d1]" for every parameter, then every buffer, in the module's registration order. */
  public static List<String> signature(Module model) {
    List<String> out = new ArrayList<>();
    add(out, model.named_parameters(true));
    add(out, model.named_buffers(true));
    return out;
  }

  private static void add(List<String> out, StringTensorDict d) {
    for (long i = 0; i < d.size(); i++) {
      Tensor t = d.get(i).value();
      long[] shape = new long[(int) t.dim()];
      for (int k = 0; k < shape.length; k++) shape[k] = t.size(k);
      out.add(d.get(i).key().getString() + " " + Arrays.toString(shape));
    }
  }

  static String firstDifference(List<String> theirs, List<String> mine) {
    int n = Math.min(theirs.size(), mine.size());
    for (int i = 0; i < n; i++)
      if (!theirs.get(i).equals(mine.get(i)))
        return "entry " + i + " is '" + theirs.get(i) + "' in the checkpoint but '" + mine.get(i) + "' here";
    return "the checkpoint has " + theirs.size() + " parameters and buffers, this model " + mine.size();
  }

  /** The device of a module's first parameter (CPU for a module without parameters). */
  static Device deviceOf(Module m) {
    org.bytedeco.pytorch.TensorVector ps = m.parameters();
    return ps.size() == 0 ? Tensors.CPU : ps.get(0).device();
  }

  /** Opens a checkpoint with every tensor mapped onto {@code mapTo}. */
  private static InputArchive open(Path file, Device mapTo) throws IOException {
    if (!Files.isRegularFile(file)) throw new java.nio.file.NoSuchFileException(file.toString());
    requireReadable(file);
    InputArchive root = new InputArchive();
    try {
      root.load_from(file.toString(), new DeviceOptional(mapTo));
    } catch (RuntimeException e) {
      throw new IOException("could not read checkpoint " + file + " (not a reid4j/libtorch archive?): "
          + firstLine(e), e);
    }
    return root;
  }

  /**
   * CRC-32C of every state-dict entry's bytes (host copies, contiguous), by name: stored in each
   * checkpoint so that a damaged file is refused on load instead of giving wrong features.
   */
  public static Map<String, String> checksums(ReidModel model) {
    return checksums(model.stateDict());
  }

  /** {@link #checksums(ReidModel)} of state-dict entries given by name (the model's own, or copies of them). */
  static Map<String, String> checksums(Map<String, Tensor> entries) {
    Map<String, String> out = new java.util.TreeMap<>();
    for (Map.Entry<String, Tensor> e : entries.entrySet()) {
      try (org.bytedeco.javacpp.PointerScope scope = new org.bytedeco.javacpp.PointerScope()) {
        Tensor c = e.getValue().detach().cpu().contiguous(); // host copy
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        long n = c.nbytes();
        if (n > 0) crc.update(new org.bytedeco.javacpp.BytePointer(c.data_ptr()).capacity(n).asByteBuffer()); // host: c is a .cpu() copy
        out.put(e.getKey(), Long.toHexString(crc.getValue()) + ":" + n);
      }
    }
    return out;
  }

  /**
   * Refuses weights that are not what was saved (the stored checksums differ; older checkpoints
   * without checksums skip this) or that are not finite, naming the entry. Called after the weights
   * are read into {@code model}.
   */
  public static void verifyWeights(ReidModel model, InputArchive root, Path file) throws IOException {
    Tensor t = new Tensor();
    if (root.try_read("checksums", t)) {
      byte[] bytes = new byte[(int) t.numel()];
      t.cpu().contiguous().data_ptr_byte().get(bytes); // host copy
      Map<String, String> stored;
      try {
        stored = JSON.readValue(bytes, new com.fasterxml.jackson.core.type.TypeReference<Map<String, String>>() {});
      } catch (IOException e) {
        throw new IOException("checkpoint " + file + ": the checksums entry is damaged (" + e.getMessage() + ")", e);
      }
      Map<String, String> now = checksums(model);
      for (Map.Entry<String, String> e : stored.entrySet()) {
        String got = now.get(e.getKey());
        if (got != null && !got.equals(e.getValue()))
          throw new IOException("checkpoint " + file + " is damaged: the weights of '" + e.getKey() + "' differ from "
              + "what was saved (checksum " + got + ", saved " + e.getValue() + "); use another checkpoint "
              + "(last.pt, best.pt or an epoch_NNN.pt) or retrain");
      }
    }
    for (Map.Entry<String, Tensor> e : model.stateDict().entrySet()) {
      Tensor w = e.getValue();
      if (!w.is_floating_point()) continue;
      try (org.bytedeco.javacpp.PointerScope scope = new org.bytedeco.javacpp.PointerScope()) {
        if (!torch.isfinite(w.detach()).all().cpu().item_bool())
          throw new IOException("checkpoint " + file + " holds non-finite weights (NaN or Inf) in '" + e.getKey()
              + "': the run that wrote it diverged or the file is damaged; use an earlier checkpoint");
      }
    }
  }

  /** "cannot read (permission denied)" rather than libtorch's "not an archive" for a file this user may not read. */
  public static void requireReadable(Path file) throws IOException {
    if (!Files.isReadable(file))
      throw new java.nio.file.AccessDeniedException(file.toString(), null, "cannot read the checkpoint (permission "
          + "denied for this user)");
  }

  private static Meta readMeta(InputArchive root, Path file) throws IOException {
    Meta m = metaOrNull(root, file);
    if (m == null) throw new IOException("checkpoint " + file + " has no 'meta' entry: not written by reid4j train");
    return m;
  }

  /**
   * The metadata of an opened archive, checked (format, stored config), or null when the archive has
   * no 'meta' entry (a bare model file).
   */
  public static Meta metaOrNull(InputArchive root, Path file) throws IOException {
    Tensor t = new Tensor();
    if (!root.try_read("meta", t)) return null;
    byte[] bytes = new byte[(int) t.numel()];
    t.cpu().contiguous().data_ptr_byte().get(bytes); // host copy: the archive may map tensors to a GPU
    return parseMeta(bytes, file);
  }

  /** A checkpoint's metadata from its JSON bytes, checked; errors name the file (public for the fuzz tests). */
  public static Meta parseMeta(byte[] bytes, Path file) throws IOException {
    Meta m;
    try {
      m = JSON.readValue(new String(bytes, StandardCharsets.UTF_8), Meta.class);
    } catch (IOException e) {
      throw new IOException("checkpoint " + file + ": unreadable metadata (" + e.getMessage() + ")", e);
    }
    if (m == null) throw new IOException("checkpoint " + file + ": empty metadata");
    if (m.format() != FORMAT)
      throw new IOException("checkpoint " + file + " has format " + m.format() + ", this reid4j reads format " + FORMAT);
    if (m.config() == null || m.config().isBlank()) throw new IOException("checkpoint " + file + " stores no config");
    return m;
  }

  private static InputArchive sub(InputArchive root, String key) {
    InputArchive a = new InputArchive();
    root.read(key, a);
    return a;
  }

  private static String firstLine(Throwable e) {
    String m = String.valueOf(e.getMessage());
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }
}
