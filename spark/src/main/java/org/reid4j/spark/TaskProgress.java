package org.reid4j.spark;

import java.io.PrintStream;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.reid4j.report.ProgressLine;

/**
 * A driver-side progress line for the stage of a job that runs a known number of tasks: "extract 12/40
 * partitions (30%)  0.4 partitions/s  ETA 1m10s", at most one line every interval; or, where tasks differ
 * in size, in units that the tasks count on an accumulator (the graph's tiles: "knn-graph 3,844/30,135 tiles
 * (13%)  10.6 tiles/s  ETA 41m"), read on the driver as each task ends. Spark's own console bar is off when
 * the output is not a terminal; this one is not. Register with {@code sparkContext.addSparkListener},
 * remove when done.
 */
final class TaskProgress extends SparkListener {
  private final long tasks;
  private final ProgressLine line;
  private final LongSupplier unitsDone;
  private final AtomicLong done = new AtomicLong();
  private volatile int stage = -1;

  /** Counts the stage's finished tasks. */
  TaskProgress(PrintStream out, double intervalSeconds, long tasks, String verb, String noun) {
    this(out, intervalSeconds, tasks, tasks, null, verb, noun);
  }

  /**
   * Counts units: {@code unitsDone} (an accumulator's driver-side value, say) out of {@code units}, read when
   * each of the stage's {@code tasks} tasks ends.
   */
  TaskProgress(PrintStream out, double intervalSeconds, long tasks, long units, LongSupplier unitsDone, String verb,
      String noun) {
    this.tasks = tasks;
    this.unitsDone = unitsDone;
    this.line = new ProgressLine(out, intervalSeconds, units, System.nanoTime(), verb, noun, noun, 1);
  }

  @Override
  public void onStageSubmitted(SparkListenerStageSubmitted e) {
    if (stage < 0 && e.stageInfo().numTasks() == tasks) stage = e.stageInfo().stageId();
  }

  @Override
  public void onTaskEnd(SparkListenerTaskEnd e) {
    if (e.stageId() != stage || !e.taskInfo().successful()) return;
    long n = done.incrementAndGet();
    // the driver merges a finished task's accumulator updates before it tells the listeners
    line.update(unitsDone == null ? n : unitsDone.getAsLong());
  }
}
