package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Runs the C++ test drivers (src/test/cpp/test_*.cpp, built by CMake into target/cmake) as part
 * of the Java test command, so the kernels are also checked below the JNI layer, against the
 * drivers' own double-precision references, with sanitizer-friendly plain executables. gpu_check
 * runs too: it compares CUDA with the CPU when a GPU is present and says it skipped otherwise. So
 * that the CUDA kernels are checked on machines without a GPU as well, gpu_check_emu runs the same
 * comparisons on the CUDA emulator (src/test/cpp/cuda_emu: every CUDA thread a fiber, real
 * barriers, a random schedule) and gpu_check_emu_asan repeats them, with another schedule, under
 * AddressSanitizer.
 */
class NativeDriversTest {
  static final Path DIR = Path.of(System.getProperty("reid4j.cmake.dir", "target/cmake"));

  @TestFactory
  Stream<DynamicTest> cppDrivers() throws IOException {
    Assumptions.assumeFalse(Boolean.getBoolean("native.skip"), "native build skipped");
    // The drivers run once, in the main test execution, not again where the emulated library is preloaded.
    Assumptions.assumeFalse(Boolean.getBoolean("reid4j.cuda.emulated"), "drivers run in the main execution");
    assertTrue(Files.isDirectory(DIR), "CMake build folder " + DIR + " is missing: run mvn test from the project root");
    List<Path> drivers;
    try (Stream<Path> s = Files.list(DIR)) {
      drivers = s.filter(p -> {
        String n = p.getFileName().toString();
        return (n.startsWith("test_") || n.startsWith("gpu_check")) && Files.isExecutable(p) && !n.contains(".");
      }).sorted().toList();
    }
    assertFalse(drivers.isEmpty(), "no C++ test drivers in " + DIR);
    return drivers.stream().map(p -> DynamicTest.dynamicTest(p.getFileName().toString(), () -> run(p)));
  }

  private static void run(Path exe) throws Exception {
    Path log = Files.createTempFile("reid4j-" + exe.getFileName(), ".log");
    ProcessBuilder pb = new ProcessBuilder(exe.toAbsolutePath().toString()).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
    pb.environment().remove("LD_PRELOAD");  // each driver links the library it tests
    if (exe.getFileName().toString().startsWith("gpu_check_emu")) {
      pb.environment().put("R4J_EMU_SCHEDULE", "random");
      pb.environment().put("R4J_EMU_SEED", exe.getFileName().toString().endsWith("_asan") ? "2" : "1");
      // the emulator checks device-memory leaks itself; LeakSanitizer is not needed (nor always allowed)
      pb.environment().put("ASAN_OPTIONS", "detect_leaks=0");
    }
    Process p = pb.start();
    boolean done = p.waitFor(10, TimeUnit.MINUTES);
    if (!done) p.destroyForcibly();
    String out = Files.readString(log);
    Files.deleteIfExists(log);
    assertTrue(done, exe + " did not finish in 10 minutes:\n" + tail(out));
    assertEquals(0, p.exitValue(), exe + " failed:\n" + tail(out));
  }

  private static String tail(String s) {
    return s.length() <= 6000 ? s : "...\n" + s.substring(s.length() - 6000);
  }
}
