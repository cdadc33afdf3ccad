package org.reid4j.train;

import java.util.Locale;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;

/**
 * Picks the libtorch device from MODEL.DEVICE (or a command's {@code --device}): cpu, cuda, or auto
 * (CUDA when libtorch sees a GPU).
 *
 * <p>libtorch's CUDA half is a library of its own ({@code jnitorch_cuda}, in the
 * {@code linux-x86_64-gpu} natives jar, beside the {@code org.bytedeco:cuda} preset jars): until it is
 * loaded, {@code cuda_is_available()} answers false even on a GPU machine. {@link #cudaAvailable}
 * therefore loads it first, once, and remembers why it could not when it is absent (the CPU natives,
 * the CUDA preset jars missing, or CUDA / cuDNN runtime libraries not found on the library path).
 */
public final class Devices {
  private static final String TORCH_CUDA = "org.bytedeco.pytorch.global.torch_cuda";
  private static String cudaLoadError; // null: loaded; guarded by Devices.class
  private static boolean cudaLoadTried;

  private Devices() {}

  public static Device choose(String setting) {
    useAllCores();
    String s = setting.trim().toLowerCase(Locale.ROOT);
    return switch (s) {
      case "cpu" -> cpu();
      case "cuda" -> {
        if (!cudaAvailable())
          throw new IllegalArgumentException("device cuda was asked for, but libtorch sees no CUDA device: "
              + cudaUnavailableReason() + ". Use auto or cpu, or see the README's 'Training on a GPU'");
        yield new Device(torch.DeviceType.CUDA);
      }
      case "auto" -> cudaAvailable() ? new Device(torch.DeviceType.CUDA) : cpu();
      default -> throw new IllegalArgumentException("unknown device '" + setting + "': expected auto, cpu or cuda");
    };
  }

  private static boolean threadsSet;

  /**
   * Gives libtorch's CPU operators one thread per available core, unless {@code OMP_NUM_THREADS}
   * says otherwise. libtorch's own default can be lower: on some 2-core virtual machines it starts
   * with one thread, which halves training speed there.
   */
  public static synchronized void useAllCores() {
    if (threadsSet) return;
    threadsSet = true;
    String env = System.getenv("OMP_NUM_THREADS");
    if (env != null && !env.isBlank()) return;
    int cores = Runtime.getRuntime().availableProcessors();
    if (torch.get_num_threads() < cores) torch.set_num_threads(cores);
  }

  /** The CPU device. */
  public static Device cpu() {
    return new Device(torch.DeviceType.CPU);
  }

  /** True when libtorch has CUDA support and a usable device; false (never an error) otherwise. */
  public static boolean cudaAvailable() {
    if (!loadTorchCuda()) return false;
    try {
      return torch.cuda_is_available();
    } catch (RuntimeException | UnsatisfiedLinkError e) {
      return false;
    }
  }

  /** Why {@link #cudaAvailable} is false, in a few words; null when it is true. */
  public static String cudaUnavailableReason() {
    if (!loadTorchCuda()) return cudaLoadError();
    try {
      if (torch.cuda_is_available()) return null;
      return "libtorch's CUDA library is loaded but finds no usable GPU (no device, or no driver)";
    } catch (RuntimeException | UnsatisfiedLinkError e) {
      return "libtorch's CUDA check failed: " + e.getMessage();
    }
  }

  /**
   * Loads libtorch's CUDA library once. False, with the reason kept, when these are the CPU natives or
   * the library cannot be loaded here.
   */
  public static synchronized boolean loadTorchCuda() {
    if (!cudaLoadTried) {
      cudaLoadTried = true;
      try {
        Class<?> c = Class.forName(TORCH_CUDA);
        Loader.load(c);
        cudaLoadError = null;
      } catch (ClassNotFoundException | LinkageError e) {
        // NoClassDefFoundError: the org.bytedeco:cuda preset jars are not on the class path;
        // UnsatisfiedLinkError: CPU natives (no jnitorch_cuda), or CUDA/cuDNN runtime libraries missing.
        cudaLoadError = describeLoadFailure(e);
      } catch (RuntimeException e) {
        cudaLoadError = "libtorch's CUDA library failed to load: " + e;
      }
    }
    return cudaLoadError == null;
  }

  private static synchronized String cudaLoadError() {
    return cudaLoadError;
  }

  private static String describeLoadFailure(Throwable e) {
    String m = String.valueOf(e.getMessage());
    if (e instanceof NoClassDefFoundError || e instanceof ClassNotFoundException)
      return "the CUDA preset classes are not on the class path (org.bytedeco:cuda jars; build with mvn -Pgpu): " + m;
    if (m.contains("jnitorch_cuda"))
      return "these are libtorch's CPU natives (no jnitorch_cuda; build with mvn -Pgpu for the CUDA natives)";
    return "libtorch's CUDA library could not be loaded (are the CUDA 13 and cuDNN 9 runtime libraries on "
        + "LD_LIBRARY_PATH?): " + firstLine(m);
  }

  /**
   * libtorch's view of this machine for {@code reid4j info}: CUDA support loaded or why not, devices
   * seen, cuDNN version.
   */
  public static String describeTorch() {
    StringBuilder b = new StringBuilder();
    b.append("threads ").append(torch.get_num_threads());
    if (!loadTorchCuda()) return b.append("; CUDA: no (").append(cudaLoadError()).append(")").toString();
    b.append("; CUDA natives loaded");
    try {
      boolean available = torch.cuda_is_available();
      int n = available ? torch.cuda_device_count() : 0;
      b.append(", ").append(n).append(" device").append(n == 1 ? "" : "s");
      for (int i = 0; i < n; i++) {
        String name = deviceName(i);
        if (name != null) b.append(i == 0 ? " (" : ", ").append(name).append(i == n - 1 ? ")" : "");
      }
      if (!available) b.append(" usable (no GPU or no driver)");
      b.append("; cuDNN ");
      if (torch.cudnn_is_available()) b.append(cudnnVersion(org.bytedeco.pytorch.Context.versionCuDNN()));
      else b.append("not available");
    } catch (RuntimeException | UnsatisfiedLinkError e) {
      b.append("; CUDA query failed: ").append(firstLine(String.valueOf(e.getMessage())));
    }
    return b.toString();
  }

  /** "9.19.0" from libtorch's integer cuDNN version (major * 10000 + minor * 100 + patch since cuDNN 9). */
  static String cudnnVersion(long v) {
    if (v <= 0) return "unknown";
    if (v >= 90000) return (v / 10000) + "." + (v / 100 % 100) + "." + (v % 100);
    return (v / 1000) + "." + (v / 100 % 10) + "." + (v % 100); // cuDNN 8: major * 1000 + minor * 100 + patch
  }

  /**
   * The CUDA device's name through the CUDA presets (reflection: they are only on a GPU class path),
   * or null where there is none.
   */
  public static String deviceName(int index) {
    try {
      Class<?> c = Class.forName(TORCH_CUDA);
      Object prop = c.getMethod("getDeviceProperties", byte.class).invoke(null, (byte) index);
      Object name = prop.getClass().getMethod("name").invoke(prop);
      return ((org.bytedeco.javacpp.BytePointer) name).getString().trim();
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      return null;
    }
  }

  /** Environment variable: on / off forces libtorch's oneDNN CPU convolutions for training; unset: auto. */
  static final String ONEDNN_ENV = "REID4J_ONEDNN";

  /**
   * Whether CPU training of {@code backbone} must run without oneDNN's convolutions, and why (null:
   * keep them). libtorch 2.10's oneDNN sizes its convolution-backward blocks from the CPU's cache
   * sizes and divides by them: on a virtual machine that reports none (no
   * /sys/devices/system/cpu/cpu0/cache, e.g. the 2-core AMD EPYC VMs here) the first backward
   * pass of a ResNet-50 step dies with SIGFPE, taking the JVM with it. libtorch's own convolutions
   * are slower but safe; the small CNN of the quick start never reaches that code, and keeps
   * oneDNN (without it the quick start runs several times slower).
   */
  static String oneDnnRefusal(String backbone, String env, boolean cacheInfo) {
    String v = env == null ? "" : env.trim().toLowerCase(Locale.ROOT);
    if (v.equals("on")) return null;
    if (v.equals("off")) return ONEDNN_ENV + "=off";
    if (!v.isEmpty())
      throw new IllegalArgumentException("unknown " + ONEDNN_ENV + " '" + env + "': expected on or off (unset: auto)");
    if (cacheInfo || backbone.trim().equalsIgnoreCase("small_cnn")) return null;
    return "this CPU reports no cache sizes, which oneDNN's convolution backward divides by (set " + ONEDNN_ENV
        + "=on to keep oneDNN)";
  }

  /**
   * Before CPU training: turns libtorch's oneDNN convolutions off where {@link #oneDnnRefusal} says
   * so, and returns the reason to print (null when nothing changed).
   */
  public static String guardCpuTraining(String backbone) {
    String why = oneDnnRefusal(backbone, System.getenv(ONEDNN_ENV),
        java.nio.file.Files.isDirectory(java.nio.file.Path.of("/sys/devices/system/cpu/cpu0/cache")));
    if (why == null || !torch.globalContext().userEnabledMkldnn()) return null;
    torch.globalContext().setUserEnabledMkldnn(false);
    return why;
  }

  private static volatile java.lang.reflect.Method currentStream, streamHandle;

  /**
   * The address of libtorch's current CUDA stream (a cudaStream_t) on {@code device}, for native
   * kernels that must run in order with libtorch's work; 0 (the legacy default stream, libtorch's
   * default) for a CPU device. Through reflection: the CUDA preset classes are only on a GPU class
   * path.
   */
  public static long currentStream(Device device) {
    if (!device.is_cuda()) return 0;
    try {
      if (currentStream == null) {
        java.lang.reflect.Method m = Class.forName(TORCH_CUDA).getMethod("getCurrentCUDAStream", byte.class);
        streamHandle = m.getReturnType().getMethod("stream");
        currentStream = m;
      }
      Object s = currentStream.invoke(null, (byte) Math.max(0, device.index()));
      Object handle = streamHandle.invoke(s);
      return handle == null ? 0 : ((org.bytedeco.javacpp.Pointer) handle).address();
    } catch (ReflectiveOperationException | LinkageError e) {
      throw new IllegalStateException("cannot ask libtorch for its current CUDA stream: " + e, e);
    }
  }

  private static String firstLine(String m) {
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }
}
