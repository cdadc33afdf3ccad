package org.reid4j.serve;

import java.nio.file.Path;
import java.util.Map;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.Tensor;
import org.reid4j.model.ReidModel;
import org.reid4j.model.Tensors;

/**
 * TorchScript files written from Java, so the TorchScript embedder is tested without Python: a
 * {@code torch::jit::Module} gets its weights with register_parameter / register_buffer, its forward
 * from TorchScript source ({@code Module.define}), and is saved with {@code Module.save} — the same
 * archive {@code torch.jit.script(m).save(path)} writes.
 */
final class TorchScripts {
  private TorchScripts() {}

  /** A module with the given forward source (a {@code def forward(self, x):} block) and no weights. */
  static Path script(Path file, String forwardSource) {
    JitModule m = new JitModule(new QualifiedName("Scripted"));
    m.define(forwardSource);
    m.save(file.toString());
    m.close();
    return file;
  }

  /**
   * A small_cnn ReidModel (avg pooling) as TorchScript: four conv3x3 (strides 1, 2, last stride, 1; padding 1)
   * + BatchNorm (eval) + ReLU, global average pooling, then the BNNeck when afterNeck. Weights are the
   * model's own, registered under their state-dict names with '.' replaced by '_'.
   */
  static Path smallCnn(ReidModel model, Path file, boolean afterNeck) {
    if (!model.spec().backbone().equals("small_cnn") || !model.spec().pooling().equals("avg"))
      throw new IllegalArgumentException("needs a small_cnn with avg pooling");
    JitModule m = new JitModule(new QualifiedName("SmallCnnReid"));
    Map<String, Tensor> params = Tensors.namedParameters(model);
    Map<String, Tensor> buffers = Tensors.namedBuffers(model);
    for (Map.Entry<String, Tensor> e : params.entrySet())
      m.register_parameter(e.getKey().replace('.', '_'), e.getValue().detach().clone(), false);
    for (Map.Entry<String, Tensor> e : buffers.entrySet())
      m.register_buffer(e.getKey().replace('.', '_'), e.getValue().clone());
    StringBuilder src = new StringBuilder("def forward(self, x):\n");
    int[] strides = {1, 2, model.spec().lastStride(), 1}; // as SmallCnn: stage 3 takes MODEL.LAST_STRIDE
    for (int i = 1; i <= 4; i++) {
      String bn = "self.backbone_bn" + i + "_";
      src.append("    x = torch.relu(torch.batch_norm(torch.conv2d(x, self.backbone_conv").append(i)
          .append("_weight, None, [").append(strides[i - 1]).append(", ").append(strides[i - 1])
          .append("], [1, 1]), ").append(bn).append("weight, ").append(bn).append("bias, ").append(bn)
          .append("running_mean, ").append(bn).append("running_var, False, 0.1, 1e-05, True))\n");
    }
    src.append("    f = x.mean([2, 3])\n");
    if (afterNeck)
      src.append("    f = torch.batch_norm(f, self.neck_weight, self.neck_bias, self.neck_running_mean, "
          + "self.neck_running_var, False, 0.1, 1e-05, True)\n");
    src.append("    return f\n");
    m.define(src.toString());
    m.save(file.toString());
    m.close();
    return file;
  }
}
