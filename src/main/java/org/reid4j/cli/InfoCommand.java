package org.reid4j.cli;

import java.util.concurrent.Callable;
import org.reid4j.kernels.Backend;
import org.reid4j.kernels.BackendUnavailableException;
import org.reid4j.kernels.Kernels;
import picocli.CommandLine.Command;

/** {@code reid4j info}: which kernel backends can run on this machine, and why not. */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Show the kernel backends available here, and libtorch's view: CUDA natives loaded or why not, "
        + "GPUs seen, cuDNN version.")
public final class InfoCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    for (Backend b : new Backend[] {Backend.JAVA, Backend.CPU, Backend.CUDA, Backend.AUTO}) {
      String line;
      try {
        line = Kernels.create(b).describe();
      } catch (BackendUnavailableException e) {
        line = "unavailable: " + e.getMessage();
      }
      System.out.printf("%-5s %s%n", b.id(), line);
    }
    System.out.printf("torch %s%n", org.reid4j.train.Devices.describeTorch());
    return 0;
  }
}
