package org.reid4j.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code reid4j} command line: one class per subcommand, no logic here. */
@Command(name = "reid4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
    description = "Person re-identification and instance retrieval on the JVM.",
    subcommands = {TrainCommand.class, EvalCommand.class, ExtractCommand.class, CalibrateCommand.class, AblateCommand.class,
        GalleryCommand.class, ServeCommand.class, LoadtestCommand.class,
        SynthCommand.class, InfoCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    fastNativeAllocation();
    System.exit(run(args));
  }

  /** JavaCPP's limit on the process's resident memory, read at every native allocation. */
  static final String MAX_PHYSICAL_BYTES = "org.bytedeco.javacpp.maxPhysicalBytes";

  /**
   * Before any native class loads: JavaCPP compares the process's resident size with a limit at every
   * allocation it tracks (every tensor an operator returns), under a global lock, which tripled the
   * cost of a small libtorch operator from Java (3.4 against 10.1 us here) and the GPU waits for those
   * calls. reid4j frees its native memory in scopes rather than waiting for the garbage collector, so
   * the command line turns the check off unless the user set the property.
   */
  static void fastNativeAllocation() {
    if (System.getProperty(MAX_PHYSICAL_BYTES) == null) System.setProperty(MAX_PHYSICAL_BYTES, "0");
  }

  /** Runs the CLI and returns the exit code (0 ok, 1 runtime failure, 2 bad usage, bad input or unavailable backend). */
  public static int run(String... args) {
    CommandLine cli = new CommandLine(new Main());
    cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
      Throwable t = ex instanceof UncheckedIOException u ? u.getCause() : ex;
      if (t instanceof OutOfMemoryError oom) {
        commandLine.getErr().println("reid4j " + commandLine.getCommandName() + ": error: out of memory (" + oom
            .getMessage() + "; the JVM may use " + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB). Ask for "
            + "less (smaller sizes, fewer items), or give Java more: REID4J_JAVA_OPTS=-Xmx24g ./reid4j ...");
        return 1;
      }
      commandLine.getErr().println("reid4j " + commandLine.getCommandName() + ": error: " + message(t));
      if (System.getenv("REID4J_DEBUG") != null) t.printStackTrace(commandLine.getErr());
      boolean badInput = t instanceof IllegalArgumentException || t instanceof IOException
          || t instanceof org.reid4j.kernels.BackendUnavailableException;
      return badInput ? 2 : 1;
    });
    return cli.execute(args);
  }

  /** What went wrong, naming the file: java.nio's exceptions carry the path but say little on their own. */
  static String message(Throwable t) {
    String m = t.getMessage();
    if (t instanceof java.nio.file.FileSystemException fs) {
      String file = fs.getFile(), other = fs.getOtherFile(), reason = fs.getReason();
      String what = t instanceof java.nio.file.NoSuchFileException ? "not found"
          : t instanceof java.nio.file.AccessDeniedException ? "permission denied"
          : t instanceof java.nio.file.FileAlreadyExistsException ? "already exists (a file where a folder is needed?)"
          : t instanceof java.nio.file.NotDirectoryException ? "is not a folder"
          : t instanceof java.nio.file.DirectoryNotEmptyException ? "is a folder that is not empty"
          : null;
      StringBuilder b = new StringBuilder(file == null ? "" : file);
      if (other != null) b.append(" -> ").append(other);
      boolean hasReason = reason != null && !reason.isBlank();
      if (hasReason)
        b.append(": ").append(t instanceof java.nio.file.AccessDeniedException ? "permission denied, " : "").append(reason);
      else b.append(": ").append(what != null ? what : t.getClass().getSimpleName());
      return (t instanceof java.nio.file.NoSuchFileException && !hasReason ? "file not found: " + file : b.toString());
    }
    return m == null ? t.toString() : m;
  }

  /** {@code -V}: the version, the commit it was built from, the native library's build and libtorch's. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      java.util.Properties git = new java.util.Properties();
      try (java.io.InputStream in = Main.class.getResourceAsStream("/org/reid4j/git.properties")) {
        if (in != null) git.load(in);
      } catch (IOException e) {
        // no commit to show
      }
      String commit = git.getProperty("git.commit.id.abbrev");
      String built = commit == null ? "commit unknown (built outside a git checkout)"
          : "commit " + commit + ("true".equals(git.getProperty("git.dirty")) ? " with uncommitted changes" : "")
              + ", " + git.getProperty("git.commit.time", "");
      String torch = org.bytedeco.pytorch.presets.torch.class.getPackage().getImplementationVersion();
      return new String[] {"reid4j " + (v == null ? "(version unknown: not run from the jar)" : v) + ", " + built,
          org.reid4j.kernels.NativeKernels.buildInfo(),
          "libtorch (org.bytedeco:pytorch) " + (torch == null ? "version unknown" : torch) + "; Java "
              + System.getProperty("java.version")};
    }
  }
}
