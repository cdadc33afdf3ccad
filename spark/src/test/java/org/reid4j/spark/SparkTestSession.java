package org.reid4j.spark;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/** One local[2] Spark session for the tests of this JVM (no UI, few shuffle partitions). */
final class SparkTestSession {
  private SparkTestSession() {}

  static synchronized SparkSession get() {
    return SparkSession.builder().master("local[2]").appName("reid4j-spark tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate();
  }

  static JavaSparkContext context() {
    return JavaSparkContext.fromSparkContext(get().sparkContext());
  }
}
