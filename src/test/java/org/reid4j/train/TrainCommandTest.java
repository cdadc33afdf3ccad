package org.reid4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.cli.Main;

/** {@code reid4j train} from the command line: the tiny end-to-end run and the bad inputs. */
class TrainCommandTest {
  @TempDir Path tmp;

  /** Runs the CLI in-process; returns {exit code, stdout, stderr}. */
  static Object[] cli(String... args) {
    PrintStream out = System.out, err = System.err;
    ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
      int code = Main.run(args);
      return new Object[] {code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8)};
    } finally {
      System.setOut(out);
      System.setErr(err);
    }
  }

  @Test
  void endToEndFromTheCommandLine() throws IOException {
    Path data = tmp.resolve("fm");
    Files.createDirectories(data);
    TrainerTest.writeFixture(data, 10, 16, 105, 21);
    Path out = tmp.resolve("out");
    List<String> args = new ArrayList<>(List.of("train", "--config", "configs/quickstart.yml", "--data", data.toString(),
        "--output", out.toString()));
    for (String s : List.of("DATALOADER.P=4", "DATALOADER.K=4", "SOLVER.MAX_EPOCHS=2", "SOLVER.MAX_MINUTES=0",
        "SOLVER.BASE_LR=3.0e-3", "DATALOADER.NUM_WORKERS=1")) {
      args.add("--set");
      args.add(s);
    }
    Object[] r = cli(args.toArray(new String[0]));
    assertEquals(0, r[0], "stderr: " + r[2] + "\nstdout: " + r[1]);
    String stdout = (String) r[1];
    assertTrue(stdout.contains("R1 ") && stdout.contains("mAP ") && stdout.contains("mINP "), stdout);
    assertTrue(stdout.contains("(with alpha-qe (k 10, alpha 3); without it: R1 "), "the quick start's alpha-QE: "
        + stdout);
    assertTrue(stdout.contains(out.resolve("checkpoints/last.pt").toString()), stdout);
    assertTrue(stdout.contains("summary.json"), stdout);
    assertTrue(Files.exists(out.resolve("summary.json")) && Files.exists(out.resolve("metrics.jsonl")));

    // and --resume with the run finished: nothing left to train, evaluates the checkpoint
    args.add("--resume");
    Object[] again = cli(args.toArray(new String[0]));
    assertEquals(0, again[0], "stderr: " + again[2]);
    assertTrue(((String) again[1]).contains("resumed from"), (String) again[1]);
  }

  @Test
  void missingDataFolderSaysHowToGetIt() {
    Object[] r = cli("train", "--data", tmp.resolve("nowhere").toString(), "--output", tmp.resolve("o").toString());
    assertEquals(2, r[0]);
    String err = (String) r[2];
    assertTrue(err.contains("nowhere") && err.contains("apt-get install"), err);
  }

  @Test
  void unknownConfigKeyIsNamed() {
    Object[] r = cli("train", "--set", "SOLVER.BASE_LRR=0.1", "--output", tmp.resolve("o").toString());
    assertEquals(2, r[0]);
    assertTrue(((String) r[2]).contains("SOLVER.BASE_LRR"), (String) r[2]);
    Object[] v = cli("train", "--set", "SOLVER.MAX_EPOCHS=zero", "--output", tmp.resolve("o").toString());
    assertEquals(2, v[0]);
    assertTrue(((String) v[2]).contains("SOLVER.MAX_EPOCHS"), (String) v[2]);
  }

  @Test
  void missingConfigFileIsNamed() {
    Object[] r = cli("train", "--config", tmp.resolve("none.yml").toString());
    assertEquals(2, r[0]);
    assertTrue(((String) r[2]).contains("none.yml"), (String) r[2]);
  }

  @Test
  void bundledQuickstartMatchesTheConfigsFolder() throws IOException {
    try (var in = TrainCommandTest.class.getResourceAsStream("/org/reid4j/train/quickstart.yml")) {
      assertNotNull(in, "configs/quickstart.yml is packed as org/reid4j/train/quickstart.yml (pom.xml resources)");
      assertEquals(Files.readString(Path.of("configs/quickstart.yml")), new String(in.readAllBytes(),
          StandardCharsets.UTF_8), "the packed copy is configs/quickstart.yml");
    }
  }
}
