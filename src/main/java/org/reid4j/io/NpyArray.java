package org.reid4j.io;

import java.nio.file.Path;
import java.util.Arrays;
import org.reid4j.kernels.FloatMatrix;

/**
 * An array read from a .npy file by {@link Npy#read}: its shape, its dtype and its values in one
 * Java array of the matching primitive type (float[], double[], int[] or long[], in C order). The
 * accessors convert or check and name the source file in their errors. Holds the data once; the
 * float32 accessors share the array, the others copy.
 */
public final class NpyArray {

  /** The element types reid4j reads; the byte order of the file is not kept (values are converted). */
  public enum Dtype {
    FLOAT32('f', 4),
    FLOAT64('f', 8),
    INT32('i', 4),
    INT64('i', 8);

    final char kind;
    public final int bytes;

    Dtype(char kind, int bytes) {
      this.kind = kind;
      this.bytes = bytes;
    }

    /** The little-endian numpy descr, e.g. "<f4". */
    public String descr() {
      return "<" + kind + bytes;
    }
  }

  private final Path source;
  private final long[] shape;
  private final Dtype dtype;
  private final Object data;

  NpyArray(Path source, long[] shape, Dtype dtype, Object data) {
    this.source = source;
    this.shape = shape.clone();
    this.dtype = dtype;
    this.data = data;
  }

  public Path source() {
    return source;
  }

  public long[] shape() {
    return shape.clone();
  }

  public Dtype dtype() {
    return dtype;
  }

  /** Number of elements (the product of the shape). */
  public int size() {
    return java.lang.reflect.Array.getLength(data);
  }

  /** A 2-D float array as a matrix (float64 is converted to float32). */
  public FloatMatrix asMatrix() {
    if (shape.length != 2)
      throw new IllegalArgumentException(source + ": expected a 2-D [rows, cols] float array, got shape "
          + shapeString(shape));
    return new FloatMatrix((int) shape[0], (int) shape[1], asFloats());
  }

  /** All values as float32, C order (float arrays of any shape; float64 is converted). */
  public float[] asFloats() {
    if (data instanceof float[] f) return f;
    if (data instanceof double[] d) {
      float[] f = new float[d.length];
      for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
      return f;
    }
    throw new IllegalArgumentException(source + ": expected a float32 or float64 array, got " + dtype.descr());
  }

  /** A 1-D integer array as int[] (int64 values must fit in an int). */
  public int[] asInts() {
    if (shape.length != 1)
      throw new IllegalArgumentException(source + ": expected a 1-D integer array, got shape " + shapeString(shape));
    if (data instanceof int[] i) return i.clone();
    if (data instanceof long[] l) {
      int[] out = new int[l.length];
      for (int k = 0; k < l.length; k++) {
        if (l[k] < Integer.MIN_VALUE || l[k] > Integer.MAX_VALUE)
          throw new IllegalArgumentException(source + ": value " + l[k] + " at index " + k
              + " does not fit in a 32-bit int");
        out[k] = (int) l[k];
      }
      return out;
    }
    throw new IllegalArgumentException(source + ": expected an int32 or int64 array, got " + dtype.descr());
  }

  /** All values as int64, C order (integer arrays of any shape). */
  public long[] asLongs() {
    if (data instanceof long[] l) return l.clone();
    if (data instanceof int[] i) return Arrays.stream(i).asLongStream().toArray();
    throw new IllegalArgumentException(source + ": expected an int32 or int64 array, got " + dtype.descr());
  }

  /** All values as float64, C order (float arrays of any shape). */
  public double[] asDoubles() {
    if (data instanceof double[] d) return d.clone();
    if (data instanceof float[] f) {
      double[] d = new double[f.length];
      for (int i = 0; i < f.length; i++) d[i] = f[i];
      return d;
    }
    throw new IllegalArgumentException(source + ": expected a float32 or float64 array, got " + dtype.descr());
  }

  /** numpy's spelling of a shape: (), (5,), (3, 4). */
  static String shapeString(long[] shape) {
    if (shape.length == 1) return "(" + shape[0] + ",)";
    StringBuilder sb = new StringBuilder("(");
    for (int i = 0; i < shape.length; i++) sb.append(i == 0 ? "" : ", ").append(shape[i]);
    return sb.append(")").toString();
  }

  @Override
  public String toString() {
    return "NpyArray[" + dtype.descr() + " " + shapeString(shape) + " from " + source + "]";
  }
}
