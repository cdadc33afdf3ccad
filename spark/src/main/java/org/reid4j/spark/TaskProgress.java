package org.reid4j.spark;

import java.io.PrintStream;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.reid4j.report.ProgressLine;

/**
 * A driver-side progress line for the stage of a job that runs a known number of tasks (the graph's
 * tiles, say): "knn-graph 312/980 tiles (32%)  4.1 tiles/s  ETA 2m40s", at most one line every
 * interval. Spark's own console bar is off when the output is not a terminal; this one is not.
 * Register with {@code sparkContext.addSparkListener}, remove when done.
 */
final class TaskProgress extends SparkListener {
  private final long tasks;
  private final ProgressLine line;
  private final AtomicLong done = new AtomicLong();
  private volatile int stage = -1;

  TaskProgress(PrintStream out, double intervalSeconds, long tasks, String verb, String noun) {
    this.tasks = tasks;
    this.line = new ProgressLine(out, intervalSeconds, tasks, System.nanoTime(), verb, noun, noun, 1);
  }

  @Override
  public void onStageSubmitted(SparkListenerStageSubmitted e) {
    if (stage < 0 && e.stageInfo().numTasks() == tasks) stage = e.stageInfo().stageId();
  }

  @Override
  public void onTaskEnd(SparkListenerTaskEnd e) {
    if (e.stageId() == stage && e.taskInfo().successful()) line.update(done.incrementAndGet());
  }
}
