package org.reid4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reid4j.report.Percent;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/** The same rules for every subcommand: help text, labels, defaults, and options that do not apply. */
class CliConsistencyTest {
  @TempDir Path tmp;

  static List<CommandSpec> subcommands() {
    List<CommandSpec> l = new ArrayList<>();
    for (CommandLine c : new CommandLine(new Main()).getSubcommands().values())
      if (!c.getCommandName().equals("help")) l.add(c.getCommandSpec());
    return l;
  }

  @Test
  void everyOptionIsDescribedWithAnUpperCaseLabelAndItsDefault() {
    List<String> problems = new ArrayList<>();
    for (CommandSpec c : subcommands()) {
      for (OptionSpec o : c.options()) {
        if (o.usageHelp() || o.versionHelp()) continue;
        String name = c.name() + " " + o.longestName();
        String text = String.join(" ", o.description());
        if (text.isBlank()) problems.add(name + ": no description");
        if (!o.typeInfo().isBoolean()) {
          String label = o.paramLabel();
          if (label.startsWith("<") || !label.equals(label.toUpperCase(Locale.ROOT)))
            problems.add(name + ": parameter label " + label + " (expected upper case, like FILE or N)");
        }
        if (o.defaultValue() != null && !o.typeInfo().isBoolean()
            && !text.toLowerCase(Locale.ROOT).contains("default"))
          problems.add(name + ": default " + o.defaultValue() + " not shown");
      }
    }
    assertTrue(problems.isEmpty(), String.join("\n", problems));
  }

  @Test
  void optionsThatDoNotApplyAreErrors() {
    EvalCommandTest.Run r = EvalCommandTest.cli("eval", "--data", "fashion-mnist", "--k1", "5");
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("--k1 applies only with --rerank"), r.err());
    r = EvalCommandTest.cli("eval", "--data", "fashion-mnist", "--plot-queries", "3");
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("--plot-queries applies only with --plots"), r.err());
    r = EvalCommandTest.cli("eval", "--data", "fashion-mnist", "--flip");
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("--flip applies only with --checkpoint"), r.err());
    r = EvalCommandTest.cli("synth", "--out", tmp.resolve("s").toString(), "--preset", "small", "--dim", "16");
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("--dim applies only without --preset"), r.err());
    assertFalse(Files.exists(tmp.resolve("s")), "nothing written");
  }

  @Test
  void errorsAreOneLineWithoutTheUsage() {
    EvalCommandTest.Run r = EvalCommandTest.cli("ablate", "--minutes-per-row", "0", "--work", tmp.toString());
    assertEquals(2, r.code());
    assertEquals(1, r.err().strip().lines().count(), r.err());
    assertTrue(r.err().contains("--minutes-per-row"), r.err());
  }

  @Test
  void versionNamesTheBuild() {
    EvalCommandTest.Run r = EvalCommandTest.cli("-V");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().startsWith("reid4j "), r.out());
    assertFalse(r.out().contains("reid4j dev"), r.out());
    assertTrue(r.out().contains("native kernels"), r.out());
    assertTrue(r.out().contains("libtorch"), r.out());
  }

  @Test
  void percentagesDoNotRoundToPerfection() {
    assertEquals("99.97", Percent.of(0.9997));
    assertEquals("100.0", Percent.of(1.0));
    assertEquals("91.2", Percent.of(0.912));
    assertEquals("0.0", Percent.of(0.0));
    assertEquals("0.01", Percent.of(0.0001));
    assertEquals("99.9999", Percent.of(0.999999));
    assertEquals("NaN", Percent.of(Double.NaN));
  }
}
