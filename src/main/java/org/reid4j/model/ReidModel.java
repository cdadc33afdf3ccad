package org.reid4j.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.pytorch.BatchNorm1dImpl;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.LinearOptions;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.StringVector;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The ReID network, BoT's "meta-architecture": backbone -> global pooling -> [reduction] -> neck ->
 * [dropout] -> identity head. State-dict entries: "backbone.*" (torchvision names for ResNets),
 * "pool.p" (GeM only), "reduce.weight" (only when a ResNet gets embedDim > 0), "neck.*" (BNNeck's
 * BatchNorm1d), "head.weight" (+ "head.t" for CurricularFace).
 *
 * <p>Training: {@link #forward} gives the pooled feature (for the triplet/center losses, BoT's
 * "before neck" feature), the neck feature, and the logits (for the ID loss). Inference:
 * {@link #embed} in eval mode gives the configured test feature.
 *
 * <p>Build the model outside any {@link org.bytedeco.javacpp.PointerScope} (it lives for the whole
 * run); run each step inside one.
 */
public final class ReidModel extends Module {

  /** One forward's results: globalFeat [N, D] (pooled, before the neck), neckFeat [N, D], logits [N, C]. */
  public record Output(Tensor globalFeat, Tensor neckFeat, Tensor logits) {}

  /** A trainable parameter with its state-dict name; isBias for the bias learning-rate/decay group. */
  public record NamedParam(String name, Tensor tensor, boolean isBias) {}

  private final ModelSpec spec;
  private final int inChannels;
  private final int numClasses;
  private final Backbone backbone;
  private final Pooling pool;
  private final LinearImpl reduce;
  private final BatchNorm1dImpl neck;
  private final Head head;
  private final int featureDim;
  private final List<NamedParam> trainable;

  private ReidModel(ModelSpec spec, int inChannels, int numClasses) {
    super("ReidModel");
    if (numClasses < 1) throw new IllegalArgumentException("numClasses must be positive, got " + numClasses);
    this.spec = spec;
    this.inChannels = inChannels;
    this.numClasses = numClasses;
    this.backbone = register_module("backbone", Backbone.create(spec, inChannels));
    this.pool = register_module("pool", new Pooling(spec.pooling(), spec.gemP()));
    int dim = backbone.outChannels();
    if (spec.embedDim() > 0 && !spec.backbone().equals("small_cnn") && spec.embedDim() != dim) {
      LinearOptions o = new LinearOptions(dim, spec.embedDim());
      o.bias().put(false);
      this.reduce = register_module("reduce", new LinearImpl(o));
      try (NoGradGuard g = new NoGradGuard()) {
        // Kaiming normal, fan_out, as the convolutions.
        reduce.weight().normal_(0.0, Math.sqrt(2.0 / spec.embedDim()), new org.bytedeco.pytorch.GeneratorOptional());
      }
      dim = spec.embedDim();
    } else {
      this.reduce = null;
    }
    this.featureDim = dim;
    if (spec.neck().equals("bnneck")) {
      this.neck = register_module("neck", Norms.bn1d(dim));
      neck.bias().requires_grad_(false);
    } else {
      this.neck = null;
    }
    this.head = register_module("head", Head.create(spec.head(), dim, numClasses, spec.headScale(),
        spec.headMargin()));
    List<NamedParam> ps = new ArrayList<>();
    for (Map.Entry<String, Tensor> e : Tensors.namedParameters(this).entrySet()) {
      if (!e.getValue().requires_grad()) continue; // BNNeck's bias: frozen by design
      ps.add(new NamedParam(e.getKey(), e.getValue(), e.getKey().endsWith("bias")));
    }
    this.trainable = Collections.unmodifiableList(ps);
  }

  /** Builds the model a training config's MODEL group describes (see {@link ModelSpec#from}). */
  public static ReidModel build(org.reid4j.config.TrainConfig.Model cfg, int inChannels, int numClasses) {
    return build(ModelSpec.from(cfg), inChannels, numClasses);
  }

  /**
   * Builds backbone + pooling + neck + head from a spec, for images with inChannels channels; when
   * the spec names a pretrainPath, the backbone's weights are loaded from it ({@link Pretrained}).
   *
   * @throws java.io.UncheckedIOException if the pretrained file cannot be read
   */
  public static ReidModel build(ModelSpec spec, int inChannels, int numClasses) {
    ReidModel m = new ReidModel(spec, inChannels, numClasses);
    if (!spec.pretrainPath().isEmpty()) {
      try {
        Pretrained.load(m.backbone, Path.of(spec.pretrainPath()));
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
    return m;
  }

  /**
   * Training forward. images [N, C, H, W] float32; labels int64 [N], required by margin heads in
   * training mode, otherwise may be null.
   */
  public Output forward(Tensor images, Tensor labelsOrNull) {
    if (labelsOrNull == null && is_training() && head.needsLabels())
      throw new IllegalArgumentException("the " + spec.head() + " head needs labels in training mode");
    Tensor global = features(images);
    Tensor neckFeat = neck == null ? global : neck.forward(global);
    Tensor x = neckFeat;
    if (spec.dropout() > 0) x = torch.dropout(x, spec.dropout(), is_training());
    Tensor logits = head.forward(x, labelsOrNull);
    return new Output(global, neckFeat, logits);
  }

  /** Pooled (and reduced) features [N, featureDim] before the neck. */
  public Tensor features(Tensor images) {
    if (images.dim() != 4 || images.size(1) != inChannels)
      throw new IllegalArgumentException("images must be [N, " + inChannels + ", H, W], got "
          + Tensors.shapeString(images));
    Tensor g = pool.forward(backbone.forward(images));
    return reduce == null ? g : reduce.forward(g);
  }

  /**
   * The test feature [N, featureDim] without gradient: after the neck when neckFeat is "after" and a
   * neck exists, else the pooled feature. Call {@code eval()} first (BN running statistics).
   */
  public Tensor embed(Tensor images) {
    try (NoGradGuard g = new NoGradGuard()) {
      Tensor global = features(images);
      if (neck != null && spec.neckFeat().equals("after")) return neck.forward(global);
      return global;
    }
  }

  public int featureDim() {
    return featureDim;
  }

  public int numClasses() {
    return numClasses;
  }

  public int inChannels() {
    return inChannels;
  }

  public ModelSpec spec() {
    return spec;
  }

  public Backbone backbone() {
    return backbone;
  }

  public Head head() {
    return head;
  }

  public Pooling pooling() {
    return pool;
  }

  /** The BNNeck, or null when the neck is "none". */
  public BatchNorm1dImpl neck() {
    return neck;
  }

  /** Trainable parameters of the backbone. */
  public List<Tensor> backboneParameters() {
    return select(true);
  }

  /** Trainable parameters outside the backbone: pooling p, reduction, neck weight, classifier. */
  public List<Tensor> headParameters() {
    return select(false);
  }

  private List<Tensor> select(boolean inBackbone) {
    List<Tensor> out = new ArrayList<>();
    for (NamedParam p : trainable) if (p.name().startsWith("backbone.") == inBackbone) out.add(p.tensor());
    return out;
  }

  /**
   * The trainable parameters with their names, in registration order (BNNeck's bias, frozen by design,
   * is not listed). The list is fixed at build time: freezing the backbone later does not change it.
   */
  public List<NamedParam> namedParams() {
    return trainable;
  }

  /** Every state-dict entry (parameters, then buffers), name -> tensor (shared, not copied). */
  public Map<String, Tensor> stateDict() {
    Map<String, Tensor> out = Tensors.namedParameters(this);
    out.putAll(Tensors.namedBuffers(this));
    return out;
  }

  /**
   * Writes every state-dict entry into {@code archive} under its full name (flat), so a trainer can
   * put the model into a larger checkpoint archive.
   */
  public void writeTo(OutputArchive archive) {
    writeTo(archive, java.util.function.UnaryOperator.identity());
  }

  /**
   * As {@link #writeTo(OutputArchive)}, writing {@code take.apply(entry)} in place of each entry (a
   * host copy, say, for a checkpoint written while training goes on). Returns what was written, by
   * name, in state-dict order.
   */
  public Map<String, Tensor> writeTo(OutputArchive archive, java.util.function.UnaryOperator<Tensor> take) {
    Set<String> buffers = Tensors.namedBuffers(this).keySet();
    Map<String, Tensor> written = new LinkedHashMap<>();
    for (Map.Entry<String, Tensor> e : stateDict().entrySet()) {
      Tensor t = take.apply(e.getValue());
      archive.write(e.getKey(), t, buffers.contains(e.getKey()));
      written.put(e.getKey(), t);
    }
    return written;
  }

  /**
   * Reads every state-dict entry from {@code archive} (written by {@link #writeTo}). All entries are
   * checked first — a missing entry, a shape mismatch (naming the entry and both shapes) or an entry
   * the model does not use (a BNNeck checkpoint read as MODEL.NECK none would drop its neck) throws
   * IllegalArgumentException — and only then copied, so a failed load leaves the model unchanged.
   *
   * @param source what to call the archive in messages (e.g. the file)
   */
  public void readFrom(InputArchive archive, String source) {
    Map<String, Tensor> state = stateDict();
    Set<String> keys = new LinkedHashSet<>();
    StringVector kv = archive.keys();
    for (long i = 0; i < kv.size(); i++) keys.add(kv.get(i).getString());
    java.lang.ref.Reference.reachabilityFence(kv);
    Map<String, Tensor> read = new LinkedHashMap<>();
    for (Map.Entry<String, Tensor> e : state.entrySet()) {
      String name = e.getKey();
      if (!keys.contains(name))
        throw new IllegalArgumentException(source + ": no entry '" + name + "' (the checkpoint was made for a"
            + " different model: backbone/pooling/neck/head must match " + spec.backbone() + "/" + spec.pooling()
            + "/" + spec.neck() + "/" + spec.head() + ")");
      Tensor t = new Tensor();
      archive.read(name, t);
      long[] want = e.getValue().shape();
      long[] got = t.shape();
      if (!Arrays.equals(want, got)) {
        String hint = name.startsWith("head.")
            ? " (the checkpoint was trained on a different number of classes)"
            : "";
        throw new IllegalArgumentException(source + ": parameter " + name + " has shape " + Arrays.toString(got)
            + " in the checkpoint but the model expects " + Arrays.toString(want) + hint);
      }
      read.put(name, t);
    }
    List<String> unused = new ArrayList<>();
    for (String k : keys) if (!state.containsKey(k)) unused.add(k);
    if (!unused.isEmpty())
      throw new IllegalArgumentException(source + ": holds " + unused.size() + " entries this model does not use ("
          + String.join(", ", unused.subList(0, Math.min(3, unused.size()))) + (unused.size() > 3 ? ", ..." : "")
          + "): the checkpoint was made for a different model than " + spec.backbone() + "/" + spec.pooling() + "/"
          + spec.neck() + "/" + spec.head() + " (an overridden MODEL key?); its weights would be dropped");
    try (NoGradGuard g = new NoGradGuard()) {
      for (Map.Entry<String, Tensor> e : read.entrySet()) state.get(e.getKey()).copy_(e.getValue());
    }
  }

  /** Saves the state dict to {@code file} (not atomic: write to a temp path and rename for that). */
  public void save(Path file) {
    OutputArchive a = new OutputArchive();
    writeTo(a);
    a.save_to(file.toString());
  }

  /** Loads a file written by {@link #save} into {@code model}; see {@link #readFrom} for the checks. */
  public static void load(ReidModel model, Path file) throws IOException {
    if (!Files.isRegularFile(file)) throw new IOException("no model file " + file);
    InputArchive a = new InputArchive();
    try {
      a.load_from(file.toString());
    } catch (RuntimeException e) {
      throw new IOException("cannot read model file " + file + ": " + e.getMessage(), e);
    }
    model.readFrom(a, file.toString());
  }
}
