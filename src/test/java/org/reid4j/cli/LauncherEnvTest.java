package org.reid4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * scripts/launcher-env.sh, which every launcher sources: the malloc setting by default, none with
 * REID4J_MALLOC=system, the user's own GLIBC_TUNABLES and OMP_WAIT_POLICY kept, a bad value refused;
 * and the test JVMs (pom.xml) run with the same setting as the launchers.
 */
class LauncherEnvTest {
  static final Path SCRIPT = Path.of("scripts/launcher-env.sh");

  /** {exit code, stdout + stderr} of sourcing the script in bash with env added, then printing both variables. */
  static String[] source(Map<String, String> env) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder("bash", "-c",
        "source \"$0\"; echo \"tunables=${GLIBC_TUNABLES:-}\"; echo \"omp=${OMP_WAIT_POLICY:-}\"",
        SCRIPT.toString()).redirectErrorStream(true);
    pb.environment().remove("GLIBC_TUNABLES");
    pb.environment().remove("OMP_WAIT_POLICY");
    pb.environment().remove("REID4J_MALLOC");
    pb.environment().putAll(env);
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    return new String[] {String.valueOf(p.waitFor()), out};
  }

  static String launcherTunables() throws IOException {
    Matcher m = Pattern.compile("export GLIBC_TUNABLES=(\\S+)").matcher(Files.readString(SCRIPT));
    assertTrue(m.find(), "launcher-env.sh sets GLIBC_TUNABLES");
    return m.group(1);
  }

  @Test
  void keepsFreedMemoryByDefault() throws Exception {
    String[] r = source(Map.of());
    assertEquals("0", r[0], r[1]);
    String t = launcherTunables();
    assertTrue(t.contains("glibc.malloc.mmap_threshold=") && t.contains("glibc.malloc.top_pad=")
        && t.contains("glibc.malloc.trim_threshold="), t);
    assertTrue(r[1].contains("tunables=" + t + "\n") && r[1].contains("omp=PASSIVE\n"), r[1]);
    assertEquals("0", source(Map.of("REID4J_MALLOC", "keep"))[0]);
  }

  @Test
  void systemAndTheUsersOwnSettingsWin() throws Exception {
    String[] sys = source(Map.of("REID4J_MALLOC", "system"));
    assertEquals("0", sys[0], sys[1]);
    assertTrue(sys[1].contains("tunables=\n"), sys[1]);
    String[] own = source(Map.of("GLIBC_TUNABLES", "glibc.malloc.arena_max=2", "OMP_WAIT_POLICY", "ACTIVE"));
    assertTrue(own[1].contains("tunables=glibc.malloc.arena_max=2\n") && own[1].contains("omp=ACTIVE\n"), own[1]);
  }

  @Test
  void badValueRefused() throws Exception {
    String[] r = source(Map.of("REID4J_MALLOC", "jemalloc"));
    assertEquals("2", r[0], r[1]);
    assertTrue(r[1].contains("REID4J_MALLOC=jemalloc is not one of keep, system"), r[1]);
  }

  @Test
  void testsRunWithTheLaunchersSetting() throws Exception {
    assertEquals(launcherTunables(), System.getenv("GLIBC_TUNABLES"),
        "pom.xml's surefire GLIBC_TUNABLES must match scripts/launcher-env.sh");
  }
}
