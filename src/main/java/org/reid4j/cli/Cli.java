package org.reid4j.cli;

import picocli.CommandLine;

/** Rules every subcommand applies the same way. */
final class Cli {
  private Cli() {}

  /**
   * An option given where it has no effect is an error, never silently ignored: throws when any of
   * {@code options} was given on the command line and {@code applies} is false.
   */
  static void onlyWith(CommandLine.Model.CommandSpec spec, boolean applies, String context, String... options) {
    if (applies) return;
    CommandLine.ParseResult pr = spec.commandLine().getParseResult();
    for (String o : options)
      if (pr.hasMatchedOption(o)) throw new IllegalArgumentException(o + " applies only " + context);
  }
}
