package org.reid4j.train;

import java.util.Locale;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;

/** Picks the libtorch device from MODEL.DEVICE: cpu, cuda, or auto (CUDA when libtorch sees a GPU). */
public final class Devices {
  private Devices() {}

  public static Device choose(String setting) {
    String s = setting.trim().toLowerCase(Locale.ROOT);
    return switch (s) {
      case "cpu" -> new Device(torch.DeviceType.CPU);
      case "cuda" -> {
        if (!cudaAvailable())
          throw new IllegalArgumentException("MODEL.DEVICE is cuda but libtorch sees no CUDA device (this build uses "
              + "the CPU natives unless built with -Pgpu, and needs a driver); use MODEL.DEVICE=auto or cpu");
        yield new Device(torch.DeviceType.CUDA);
      }
      case "auto" -> cudaAvailable() ? new Device(torch.DeviceType.CUDA) : new Device(torch.DeviceType.CPU);
      default -> throw new IllegalArgumentException("unknown MODEL.DEVICE '" + setting + "': expected auto, cpu or cuda");
    };
  }

  /** True when libtorch has CUDA support and a usable device; false (never an error) otherwise. */
  public static boolean cudaAvailable() {
    try {
      return torch.cuda_is_available();
    } catch (RuntimeException | UnsatisfiedLinkError e) {
      return false;
    }
  }
}
