package org.reid4j.train;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.reid4j.model.Tensors;

/**
 * Writes the trainer's checkpoints at the end of an epoch, either on the training thread or in the
 * background.
 *
 * <p>Serialising a checkpoint takes a while (a ResNet-50 with Adam's moments is a 300 MB archive:
 * 0.3-0.4 s on a 2-core CPU, and on a GPU machine each tensor is copied off the device first), time in
 * which the GPU would wait. In the background mode the training thread only copies every tensor of the
 * state into host tensors kept for the whole run (page-locked when the state is on a GPU) and hands
 * the archives made of those copies to one writer thread, then trains on; the next epoch's copy waits
 * until that write is done, so at most one write is in flight and the copies never change under it.
 * Files are written as {@link Checkpoints#save} writes them (atomically; a kill leaves the previous
 * file), with the values of the moment the copy was taken. A failed write is reported by the next
 * {@link #save} or by {@link #close}, which waits for the last write: a run never ends before its
 * checkpoints are on disk.
 *
 * <p>The background mode costs one more host copy of the state (model, Adam's moments, centres) and
 * works with Adam (reid4j's own state); with SGD (libtorch's momentum buffers) writes stay on the
 * training thread. {@value #ENV} chooses: {@code auto} (the default: in the background when training
 * on a GPU, where the host's cores are otherwise idle; on the CPU the writer would take cores from
 * training), {@code 1} always, {@code 0} never.
 */
public final class CheckpointWriter implements AutoCloseable {
  /** Environment variable: auto, 1 or 0 (see the class comment). */
  public static final String ENV = "REID4J_ASYNC_CHECKPOINTS";

  /** One file of an epoch's checkpoints: name.pt with this metadata. */
  public record File(String name, Checkpoints.Meta meta) {}

  private final Checkpoints ck;
  private final boolean background;
  private final boolean pinned;
  private final List<Tensor> copies = new ArrayList<>(); // the host copies, by the order the archive writes them
  private ExecutorService thread;
  private Future<?> pending;
  private int saves;
  private double savingSeconds; // the training thread's, in save()
  /** Test hook: run by the writer thread before it writes (null: none). */
  Runnable beforeWrite;

  /**
   * @param background write in the background (the caller has checked {@link #possible})
   * @param onGpu the state lives on a GPU: its copies are page-locked
   */
  public CheckpointWriter(Checkpoints ck, boolean background, boolean onGpu) {
    this.ck = ck;
    this.background = background;
    this.pinned = background && onGpu;
  }

  /** Whether the state can be written in the background (its optimiser's state is reid4j's own). */
  public static boolean possible(Checkpoints.State state) {
    return state.optimizer().canCopyState();
  }

  /** The setting of {@value #ENV} for a run on a GPU or not: whether to write in the background. */
  public static boolean wanted(boolean onGpu) {
    return wanted(System.getenv(ENV), onGpu);
  }

  /** As {@link #wanted(boolean)} for a given setting (null: unset). */
  static boolean wanted(String v, boolean onGpu) {
    String s = v == null ? "auto" : v.trim().toLowerCase(Locale.ROOT);
    return switch (s) {
      case "auto", "" -> onGpu;
      case "1", "true", "on" -> true;
      case "0", "false", "off" -> false;
      default -> throw new IllegalArgumentException(ENV + " must be auto, 1 or 0, got '" + v + "'");
    };
  }

  /**
   * Writes the files (all of the same state, in order). In the background mode this returns once the
   * state is copied; a write still running from the last call is waited for first, and its failure
   * thrown here.
   */
  public void save(List<File> files, Checkpoints.State state) throws IOException {
    if (files.isEmpty()) return;
    long t0 = System.nanoTime();
    saveFiles(files, state);
    savingSeconds += (System.nanoTime() - t0) / 1e9;
    saves++;
  }

  private void saveFiles(List<File> files, Checkpoints.State state) throws IOException {
    if (!background) {
      for (File f : files) ck.save(f.name(), f.meta(), state);
      return;
    }
    await();
    List<Checkpoints.Archive> archives = new ArrayList<>();
    // The copies and archives outlive this call: they are made in a scope of their own and hold one reference more
    // than it releases, so that no scope frees them; the writer closes the archives, the copies stay for the next
    // epoch and are closed by close().
    try (PointerScope scope = new PointerScope()) {
      for (int f = 0; f < files.size(); f++) {
        Copier take = new Copier(f == 0); // the first archive copies, the others reuse those copies
        Checkpoints.Archive a = Checkpoints.archive(state, take);
        take.finish();
        if (f == 0 && pinned) { // the copies off the device, queued on the current stream: done before any write
          try (DeviceEvent copied = new DeviceEvent()) {
            copied.record();
            copied.synchronize();
          }
        }
        a.root().retainReference(); // likewise: the writer closes it
        archives.add(a);
      }
    } catch (RuntimeException e) {
      for (Checkpoints.Archive a : archives) a.root().close();
      throw new IOException("could not copy the training state for checkpoint " + ck.file(files.get(0).name())
          + ": " + e.getMessage(), e);
    }
    if (thread == null) {
      thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "reid4j-checkpoint-writer");
        t.setDaemon(true); // close() waits for the write; an abandoned run must not keep the JVM alive
        return t;
      });
    }
    Runnable hook = beforeWrite;
    pending = thread.submit(() -> {
      try {
        if (hook != null) hook.run();
        for (int f = 0; f < files.size(); f++) {
          try (PointerScope own = new PointerScope()) {
            ck.write(files.get(f).name(), files.get(f).meta(), archives.get(f));
          }
        }
      } finally {
        for (Checkpoints.Archive a : archives) a.root().close();
      }
      return null;
    });
  }

  /** Waits for the write in flight, if any; throws its failure. */
  public void await() throws IOException {
    Future<?> p = pending;
    if (p == null) return;
    pending = null;
    boolean interrupted = false;
    try {
      while (true) {
        try {
          p.get();
          return;
        } catch (InterruptedException e) {
          interrupted = true; // the write must end before its copies may change: keep waiting
        }
      }
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof IOException io) throw io;
      throw new IOException("checkpoint writer failed: " + c, c);
    } finally {
      if (interrupted) Thread.currentThread().interrupt();
    }
  }

  /**
   * Waits for the last write (throwing its failure) and says what the checkpoints cost the training thread, for
   * summary.json: background or not, the calls of {@link #save}, the seconds spent in them (copying the state in
   * the background mode, writing it otherwise) and in this last wait.
   */
  public Map<String, Object> finish() throws IOException {
    long w0 = System.nanoTime();
    await();
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("background", background);
    m.put("saves", saves);
    m.put("training_thread_seconds", savingSeconds);
    m.put("final_wait_seconds", (System.nanoTime() - w0) / 1e9);
    return m;
  }

  /** Waits for the last write (throwing its failure), then stops the writer thread and frees the copies. */
  @Override
  public void close() throws IOException {
    try {
      await();
    } finally {
      if (thread != null) thread.shutdown();
      thread = null;
      for (Tensor t : copies) t.close();
      copies.clear();
    }
  }

  /**
   * Hands out the k-th host copy for the k-th tensor an archive writes: made (or remade, if the
   * tensor's shape or dtype changed, as Adam's moments appear after the first step) and filled when
   * {@code fill}, else the one the first archive of the same epoch filled.
   */
  private final class Copier implements java.util.function.UnaryOperator<Tensor> {
    private final boolean fill;
    private int next;

    Copier(boolean fill) {
      this.fill = fill;
    }

    @Override
    public Tensor apply(Tensor t) {
      int k = next++;
      Tensor c = k < copies.size() ? copies.get(k) : null;
      if (c == null || !sameLayout(c, t)) {
        if (!fill) throw new IllegalStateException("the training state changed between two files of one epoch");
        if (c != null) c.close();
        c = Tensors.hostLike(t, pinned);
        c.retainReference(); // one reference more than the scope releases: freed by close()
        if (k < copies.size()) copies.set(k, c);
        else copies.add(c);
      }
      // the value of this moment: a blocking copy, or on a GPU one queued on the stream (page-locked memory),
      // all of them waited for at once when the first archive is made
      if (fill) c.copy_(t.detach(), pinned);
      return c;
    }

    /** Copies past the last tensor written (the state shrank) are freed. */
    void finish() {
      if (!fill && next != copies.size())
        throw new IllegalStateException("the training state changed between two files of one epoch");
      while (copies.size() > next) copies.remove(copies.size() - 1).close();
    }
  }

  private static boolean sameLayout(Tensor a, Tensor b) {
    // intern(): the enums libtorch hands back are fresh objects, not the constants
    return a.scalar_type().intern() == b.scalar_type().intern() && Arrays.equals(a.shape(), b.shape());
  }
}
