package org.reid4j.train.dist;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.javacpp.SizeTPointer;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.AllreduceOptions;
import org.bytedeco.pytorch.BarrierOptions;
import org.bytedeco.pytorch.BroadcastOptions;
import org.bytedeco.pytorch.ByteVector;
import org.bytedeco.pytorch.GlooDeviceVector;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.PrefixStore;
import org.bytedeco.pytorch.ProcessGroupGloo;
import org.bytedeco.pytorch.ReduceOp;
import org.bytedeco.pytorch.StringVector;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.TCPStoreOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.Work;
import org.bytedeco.pytorch.global.torch;
import org.reid4j.model.Tensors;

/**
 * One process's membership in a data-parallel training group, on libtorch's own c10d layer: a
 * {@link TCPStore} for the rendezvous (rank 0 hosts it), a Gloo process group for the collectives on
 * the CPU, and the three operations data-parallel SGD needs: parameters (and buffers) broadcast from
 * rank 0 once at the start, gradients all-reduced (summed, then divided by the world size) after each
 * backward, and barriers.
 *
 * <h2>Configuration</h2>
 * The same variables as PyTorch's launchers: {@code MASTER_ADDR}, {@code MASTER_PORT} (default
 * 29500), {@code RANK}, {@code WORLD_SIZE}, and {@code GLOO_SOCKET_IFNAME} to pin the network
 * interface Gloo uses (see {@link Config#fromEnvironment}); or a {@link Config} built from flags.
 * When the master address is a loopback address every rank's Gloo device binds to 127.0.0.1;
 * otherwise Gloo's default device is used (the address the machine's hostname resolves to), as
 * PyTorch does: set {@code GLOO_SOCKET_IFNAME} when that resolves to a loopback address (common on
 * Debian, where the hostname maps to 127.0.1.1).
 *
 * <h2>Backends</h2>
 * {@link Backend#GLOO} (CPU tensors) is the one built and tested here. {@link Backend#NCCL} (CUDA
 * tensors) is wired to {@code org.bytedeco.pytorch.nccl.ProcessGroupNCCL} but UNTESTED: it needs the
 * GPU build of the libtorch natives and a GPU per rank; no test in this repository exercises it.
 *
 * <h2>Failures</h2>
 * Every failure surfaces as a {@link GroupFailure} naming this rank, the master address and what was
 * being done: a master that cannot be reached, ranks that never arrive (named), a rank that joined
 * twice or with another world size, models that differ between ranks, and a peer that died or stopped
 * answering during a collective (Gloo notices a closed connection at once; a silent peer after the
 * timeout). A rank that fails with an exception it can still report calls {@link #reportFailure},
 * and the others quote it in their own error.
 *
 * <h2>What is not done</h2>
 * Communication does not overlap the backward pass (the all-reduce runs after it, in buckets of
 * {@link #BUCKET_BYTES}); BatchNorm statistics are per rank (see {@link #broadcastBuffers}).
 *
 * <p>Native memory: the store, the group and their options live as long as the session and are
 * freed by {@link #close}; every collective runs inside its own {@link PointerScope}.
 */
public final class ProcessGroupSession implements AutoCloseable {
  /** The default rendezvous port of PyTorch's launchers. */
  public static final int DEFAULT_PORT = 29500;
  /** Gradients are all-reduced in flat buckets of at most this many bytes (DDP's default cap, 25 MiB). */
  public static final long BUCKET_BYTES = 25L << 20;

  private static final String KEY = "reid4j/";

  /** Which c10d backend runs the collectives. */
  public enum Backend {
    /** Gloo: CPU tensors, TCP between ranks. Tested. */
    GLOO,
    /** NCCL: CUDA tensors. Untested here (no GPU); needs the -gpu natives. */
    NCCL;

    /** Gloo for a CPU device, NCCL for a CUDA device, as PyTorch's default. */
    public static Backend forDevice(org.bytedeco.pytorch.Device d) {
      return d.is_cuda() ? NCCL : GLOO;
    }
  }

  /**
   * Where and who: {@code rank} in {@code [0, worldSize)}, the master (rank 0) at
   * {@code masterAddr:masterPort}, and {@code timeout} for the rendezvous and for every collective.
   */
  public record Config(int rank, int worldSize, String masterAddr, int masterPort, Duration timeout, Backend backend,
      String glooInterface) {
    public Config {
      if (worldSize < 1) throw new IllegalArgumentException("world size must be at least 1, got " + worldSize);
      if (rank < 0 || rank >= worldSize)
        throw new IllegalArgumentException("rank must be in [0, " + worldSize + "), got " + rank);
      if (masterAddr == null || masterAddr.isBlank()) throw new IllegalArgumentException("the master address is empty");
      if (masterPort < 1 || masterPort > 65535)
        throw new IllegalArgumentException("the master port must be in [1, 65535], got " + masterPort);
      if (timeout == null || timeout.isNegative() || timeout.isZero())
        throw new IllegalArgumentException("the timeout must be positive, got " + timeout);
      if (backend == null) backend = Backend.GLOO;
      if (glooInterface != null && glooInterface.isBlank()) glooInterface = null;
    }

    public Config(int rank, int worldSize, String masterAddr, int masterPort, Duration timeout) {
      this(rank, worldSize, masterAddr, masterPort, timeout, Backend.GLOO, null);
    }

    public Config withBackend(Backend b) {
      return new Config(rank, worldSize, masterAddr, masterPort, timeout, b, glooInterface);
    }

    /** "addr:port", as printed in errors. */
    public String master() {
      return (masterAddr.contains(":") ? "[" + masterAddr + "]" : masterAddr) + ":" + masterPort;
    }

    /**
     * From PyTorch's variables: {@code RANK} and {@code WORLD_SIZE} (both required), {@code MASTER_ADDR}
     * (default 127.0.0.1), {@code MASTER_PORT} (default 29500), {@code GLOO_SOCKET_IFNAME} (optional).
     */
    public static Config fromEnvironment(Map<String, String> env, Duration timeout) {
      Map.Entry<String, Integer> master = masterFromEnvironment(env);
      return new Config(intVar(env, "RANK", null), intVar(env, "WORLD_SIZE", null), master.getKey(), master.getValue(),
          timeout, Backend.GLOO, env.get("GLOO_SOCKET_IFNAME"));
    }

    /** {@code MASTER_ADDR} (default 127.0.0.1) and {@code MASTER_PORT} (default 29500); errors name the variable. */
    public static Map.Entry<String, Integer> masterFromEnvironment(Map<String, String> env) {
      return Map.entry(env.getOrDefault("MASTER_ADDR", "127.0.0.1"), intVar(env, "MASTER_PORT", DEFAULT_PORT));
    }

    /** True when the environment names a group ({@code WORLD_SIZE} is set). */
    public static boolean inEnvironment(Map<String, String> env) {
      return env.containsKey("WORLD_SIZE");
    }

    /** "host:port" (or "[v6]:port", or "host" for the default port) split into its parts. */
    public static Map.Entry<String, Integer> parseMaster(String s) {
      String t = s.trim();
      String host;
      String port = null;
      if (t.startsWith("[")) {
        int close = t.indexOf(']');
        if (close < 0) throw new IllegalArgumentException("bad master address '" + s + "': expected [v6addr]:port");
        host = t.substring(1, close);
        if (close + 1 < t.length()) {
          if (t.charAt(close + 1) != ':') throw new IllegalArgumentException("bad master address '" + s + "'");
          port = t.substring(close + 2);
        }
      } else {
        int colon = t.lastIndexOf(':');
        if (colon >= 0 && t.indexOf(':') != colon)
          throw new IllegalArgumentException("bad master address '" + s + "': write an IPv6 address as [addr]:port");
        host = colon < 0 ? t : t.substring(0, colon);
        port = colon < 0 ? null : t.substring(colon + 1);
      }
      if (host.isEmpty()) throw new IllegalArgumentException("bad master address '" + s + "': no host");
      int p;
      try {
        p = port == null ? DEFAULT_PORT : Integer.parseInt(port);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("bad master address '" + s + "': port '" + port + "' is not a number");
      }
      return Map.entry(host, p);
    }

    private static int intVar(Map<String, String> env, String name, Integer dflt) {
      String v = env.get(name);
      if (v == null || v.isBlank()) {
        if (dflt == null) throw new IllegalArgumentException(name + " is not set (expected an integer)");
        return dflt;
      }
      try {
        return Integer.parseInt(v.trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(name + "='" + v + "' is not an integer");
      }
    }
  }

  /** A failure of the group: the message names the rank, the master and what was being done. */
  public static final class GroupFailure extends RuntimeException {
    public GroupFailure(String message, Throwable cause) {
      super(message, cause);
    }
  }

  private final Config cfg;
  private final TCPStore store;
  private final org.bytedeco.pytorch.Backend group; // ProcessGroupGloo or ProcessGroupNCCL
  private final List<Pointer> owned = new ArrayList<>();
  private long collectives;
  private long layoutChecks;
  private boolean closed;

  private ProcessGroupSession(Config cfg, TCPStore store, org.bytedeco.pytorch.Backend group, List<Pointer> owned) {
    this.cfg = cfg;
    this.store = store;
    this.group = group;
    this.owned.addAll(owned);
  }

  /**
   * Joins the group: connects to (rank 0: hosts) the store at the master address, waits for all
   * {@code worldSize} ranks to announce themselves, then builds the process group. Blocks at most
   * about the timeout; fails with a {@link GroupFailure} naming the ranks that did not arrive.
   */
  public static ProcessGroupSession join(Config cfg) {
    return join(cfg, () -> null);
  }

  /**
   * As {@link #join(Config)}, polling {@code abort} while waiting for the other ranks: a non-null
   * answer (e.g. "rank 1 (pid 9) exited with code 2", from a launcher that watches its workers) ends
   * the wait at once with a failure quoting it.
   */
  public static ProcessGroupSession join(Config cfg, java.util.function.Supplier<String> abort) {
    List<Pointer> owned = new ArrayList<>();
    TCPStore store = null;
    try {
      long deadline = System.nanoTime() + cfg.timeout().toNanos();
      TCPStoreOptions so = keep(new TCPStoreOptions(), owned);
      so.port((short) cfg.masterPort()).isServer(cfg.rank() == 0).waitWorkers(false)
          .timeout(keep(new Milliseconds(cfg.timeout().toMillis()), owned));
      so.numWorkers(keep(new SizeTPointer(1).put(cfg.worldSize()), owned));
      try {
        store = keep(new TCPStore(cfg.masterAddr(), so), owned);
      } catch (RuntimeException e) {
        String what = cfg.rank() == 0 ? "could not listen on " + cfg.master() + " as the master (is the port free?)"
            : "could not reach the master at " + cfg.master() + " within " + seconds(cfg.timeout())
                + " (is rank 0 running, and is that an address of its machine?)";
        throw new GroupFailure("rank " + cfg.rank() + " of " + cfg.worldSize() + " " + what + ": " + firstLine(e), e);
      }
      rendezvous(cfg, store, deadline, abort);
      org.bytedeco.pytorch.Backend group = newGroup(cfg, store, owned);
      return new ProcessGroupSession(cfg, store, group, owned);
    } catch (RuntimeException | Error e) {
      for (int i = owned.size() - 1; i >= 0; i--) owned.get(i).close();
      throw e;
    }
  }

  /** Every rank announces "host pid world"; each then waits until all ranks are there or the deadline. */
  private static void rendezvous(Config cfg, TCPStore store, long deadline, java.util.function.Supplier<String> abort) {
    String me = hostName() + " pid " + ProcessHandle.current().pid();
    try (PointerScope scope = new PointerScope()) {
      long claims = store.add(KEY + "claim/" + cfg.rank(), 1);
      if (claims > 1)
        throw new GroupFailure("rank " + cfg.rank() + " (" + me + ") joined the group at " + cfg.master()
            + " a second time: another process already claimed that rank (check RANK / --rank)", null);
      store.set(KEY + "rank/" + cfg.rank(), bytes(cfg.worldSize() + " " + me));
      List<Integer> missing = new ArrayList<>();
      while (true) {
        missing.clear();
        for (int r = 0; r < cfg.worldSize(); r++)
          if (!store.check(new StringVector(KEY + "rank/" + r))) missing.add(r);
        if (missing.isEmpty()) break;
        String why = abort.get();
        if (why != null)
          throw new GroupFailure("rank " + cfg.rank() + " of " + cfg.worldSize() + ": stopped waiting for rank"
              + (missing.size() > 1 ? "s " : " ") + missing + " at " + cfg.master() + ": " + why, null);
        if (System.nanoTime() > deadline)
          throw new GroupFailure("rank " + cfg.rank() + " of " + cfg.worldSize() + ": rank" + (missing.size() > 1 ? "s " : " ")
              + missing + " did not join the group at " + cfg.master() + " within " + seconds(cfg.timeout()), null);
        sleep(50);
      }
      for (int r = 0; r < cfg.worldSize(); r++) {
        String v = string(store.get(KEY + "rank/" + r));
        int world = Integer.parseInt(v.substring(0, v.indexOf(' ')));
        if (world != cfg.worldSize())
          throw new GroupFailure("rank " + cfg.rank() + " expects a world size of " + cfg.worldSize() + " but rank " + r
              + " (" + v.substring(v.indexOf(' ') + 1) + ") expects " + world + " (check WORLD_SIZE / --world-size)", null);
      }
    } catch (GroupFailure e) {
      throw e;
    } catch (RuntimeException e) {
      throw new GroupFailure("rank " + cfg.rank() + ": the store at " + cfg.master() + " failed during the rendezvous: "
          + firstLine(e), e);
    }
  }

  private static org.bytedeco.pytorch.Backend newGroup(Config cfg, TCPStore store, List<Pointer> owned) {
    PrefixStore prefixed = keep(new PrefixStore(KEY + "pg", store), owned);
    Milliseconds timeout = keep(new Milliseconds(cfg.timeout().toMillis()), owned);
    try {
      if (cfg.backend() == Backend.NCCL) {
        // UNTESTED: no GPU here. Needs the -gpu natives (Loader.load(torch_cuda.class) first) and one GPU per rank.
        org.bytedeco.pytorch.nccl.ProcessGroupNCCL.Options o = keep(org.bytedeco.pytorch.nccl.ProcessGroupNCCL.Options.create(), owned);
        return keep(new org.bytedeco.pytorch.nccl.ProcessGroupNCCL(prefixed, cfg.rank(), cfg.worldSize(), o), owned);
      }
      ProcessGroupGloo.Options o = keep(ProcessGroupGloo.Options.create(timeout), owned);
      org.bytedeco.pytorch.gloo.Device dev;
      if (cfg.glooInterface() != null) dev = ProcessGroupGloo.createDeviceForInterface(cfg.glooInterface());
      else if (isLoopback(cfg.masterAddr())) dev = ProcessGroupGloo.createDeviceForHostname("127.0.0.1");
      else dev = ProcessGroupGloo.createDefaultDevice();
      keep(dev, owned);
      o.devices(keep(new GlooDeviceVector(dev), owned));
      o.threads(2);
      return keep(new ProcessGroupGloo(prefixed, cfg.rank(), cfg.worldSize(), o), owned);
    } catch (RuntimeException e) {
      throw new GroupFailure("rank " + cfg.rank() + " of " + cfg.worldSize() + ": the " + cfg.backend() + " process group"
          + " (master " + cfg.master() + ") could not be set up: " + firstLine(e)
          + peerReports(store, cfg.rank(), cfg.worldSize()), e);
    }
  }

  public int rank() {
    return cfg.rank();
  }

  public int worldSize() {
    return cfg.worldSize();
  }

  /** True on rank 0, the rank that writes checkpoints, metrics and evaluates. */
  public boolean isLeader() {
    return cfg.rank() == 0;
  }

  public Config config() {
    return cfg;
  }

  /**
   * Checks that every rank built the same model (names, shapes and dtypes of parameters and buffers;
   * a {@link GroupFailure} naming the first rank that differs otherwise), then copies rank 0's
   * parameters and buffers to all ranks.
   */
  public void broadcastModel(Module model) {
    Map<String, Tensor> params = Tensors.namedParameters(model);
    Map<String, Tensor> buffers = Tensors.namedBuffers(model);
    requireSameLayout("model", layout(params) + "|" + layout(buffers));
    broadcast(new ArrayList<>(params.values()), "parameters");
    broadcast(new ArrayList<>(buffers.values()), "buffers");
  }

  /**
   * Copies rank 0's buffers (BatchNorm running statistics) to all ranks. BatchNorm here is per rank,
   * as PyTorch's DDP without SyncBatchNorm: each rank normalises with its own part of the batch, so
   * the running statistics drift apart; calling this before an evaluation or a checkpoint makes all
   * ranks hold rank 0's (DDP does the same before every forward by default).
   */
  public void broadcastBuffers(Module model) {
    broadcast(new ArrayList<>(Tensors.namedBuffers(model).values()), "buffers");
  }

  /**
   * Averages the gradients of {@code params} over the ranks, in place: summed by an all-reduce of
   * flat buckets, then divided by the world size. Which parameters have a gradient is agreed first
   * (one small all-reduce): a parameter without one on any rank is left alone, as one process would
   * leave it (no weight decay, no momentum step); one without a gradient here but with one elsewhere
   * counts as zeros and receives the average, so every rank's optimiser sees the same gradients. The
   * list must be the same parameters in the same order on every rank (a module's registration order is).
   */
  public void allReduceGradients(List<Tensor> params) {
    if (cfg.worldSize() == 1) return;
    try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
      List<Tensor> trainable = new ArrayList<>();
      for (Tensor p : params) if (p.requires_grad()) trainable.add(p);
      double[] has = new double[trainable.size()];
      for (int i = 0; i < has.length; i++) has[i] = trainable.get(i).grad().defined() ? 1 : 0;
      double[] anywhere = allReduceSum(has, "gradient all-reduce (which parameters have gradients)");
      List<Tensor> grads = new ArrayList<>();
      for (int i = 0; i < has.length; i++) {
        if (anywhere[i] == 0) continue; // no rank computed one: untouched everywhere
        Tensor p = trainable.get(i);
        Tensor g = p.grad();
        if (!g.defined()) {
          g = Tensors.zeros(p.device(), p.shape()).to(p.scalar_type());
          p.mutable_grad().put(g);
        }
        grads.add(g);
      }
      List<Tensor> bucket = new ArrayList<>();
      long bytes = 0;
      for (Tensor g : grads) {
        long b = g.numel() * g.element_size();
        boolean compatible = bucket.isEmpty() || (bucket.get(0).scalar_type().intern() == g.scalar_type().intern());
        if (!bucket.isEmpty() && (!compatible || bytes + b > BUCKET_BYTES)) {
          reduceBucket(bucket);
          bucket.clear();
          bytes = 0;
        }
        bucket.add(g);
        bytes += b;
      }
      if (!bucket.isEmpty()) reduceBucket(bucket);
    }
  }

  private void reduceBucket(List<Tensor> grads) {
    TensorVector v = new TensorVector(grads.toArray(new Tensor[0]));
    Tensor flat = torch.flatten_dense_tensors(v);
    allReduce(flat, "gradient all-reduce");
    flat.div_(Tensors.scalar(cfg.worldSize()));
    TensorVector parts = torch.unflatten_dense_tensors(flat, v);
    for (int i = 0; i < grads.size(); i++) grads.get(i).copy_(parts.get(i));
  }

  /** Sums {@code values} over the ranks (float64; for metrics such as loss sums and counts). */
  public double[] allReduceSum(double[] values) {
    return allReduceSum(values, "all-reduce of " + values.length + " number" + (values.length == 1 ? "" : "s"));
  }

  private double[] allReduceSum(double[] values, String what) {
    if (cfg.worldSize() == 1) return values.clone();
    try (PointerScope scope = new PointerScope()) {
      Tensor t = Tensors.hostDoubles(values);
      allReduce(t, what);
      return Tensors.toDoubles(t);
    }
  }

  /**
   * Rank 0's {@code value} on every rank (a collective: every rank calls it at the same point). For
   * decisions that must be the same everywhere but come from a local clock, such as a time budget.
   */
  public double leaderValue(double value) {
    if (cfg.worldSize() == 1) return value;
    return allReduceSum(new double[] {cfg.rank() == 0 ? value : 0})[0];
  }

  /**
   * Fails with a {@link GroupFailure} on every rank whose {@code value} differs from rank 0's (a
   * collective), e.g. the epoch a resumed run starts from.
   */
  public void requireSame(String what, long value) {
    double leader = leaderValue(value);
    if (leader != value)
      throw new GroupFailure("rank " + cfg.rank() + "'s " + what + " is " + value + " but rank 0's is " + (long) leader, null);
  }

  /**
   * Checks (a collective) that this rank's parameters still equal rank 0's: a fingerprint of every
   * parameter (sum and sum of squares, in float64) is compared with a relative tolerance of 1e-6,
   * so that a rank that drifted (a gradient missed by the all-reduce, a different config) fails
   * loudly instead of training another model. Ranks normally agree to the last bit: they apply the
   * same averaged gradients with the same optimiser.
   */
  public void requireInSync(Module model, String when) {
    if (cfg.worldSize() == 1) return;
    double[] fp = new double[2];
    try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
      for (Tensor p : Tensors.namedParameters(model).values()) {
        Tensor d = p.detach().to(torch.ScalarType.Double).cpu();
        fp[0] += Tensors.toDoubles(d.sum())[0];
        fp[1] += Tensors.toDoubles(d.mul(d).sum())[0];
      }
    }
    double[] leader = allReduceSum(cfg.rank() == 0 ? fp : new double[2]);
    for (int i = 0; i < 2; i++)
      if (Math.abs(fp[i] - leader[i]) > 1e-6 * Math.max(1e-12, Math.abs(leader[i])))
        throw new GroupFailure(String.format(Locale.ROOT, "rank %d's parameters drifted from rank 0's %s (fingerprint %s "
            + "%.10g here, %.10g on rank 0): the ranks no longer train the same model", cfg.rank(), when,
            i == 0 ? "sum" : "sum of squares", fp[i], leader[i]), null);
  }

  /** Blocks until every rank reaches the barrier labelled {@code what} (a {@link GroupFailure} after the timeout). */
  public void barrier(String what) {
    if (cfg.worldSize() == 1) return;
    try (PointerScope scope = new PointerScope()) {
      BarrierOptions o = new BarrierOptions();
      o.timeout(new Milliseconds(cfg.timeout().toMillis()));
      await(group.barrier(o), "barrier '" + what + "'");
    }
  }

  /**
   * Records {@code error} in the store so that the other ranks quote it when their next collective
   * fails. Best effort: does nothing if the store is already gone.
   */
  public void reportFailure(Throwable error) {
    if (closed) return;
    try (PointerScope scope = new PointerScope()) {
      store.set(KEY + "failed/" + cfg.rank(), bytes(hostName() + " pid " + ProcessHandle.current().pid() + ": "
          + firstLine(error)));
    } catch (RuntimeException ignored) {
      // the master (and its store) may be the one that died
    }
  }

  /** Frees the group and the store (rank 0's store stops serving: call it after a final barrier). */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    for (int i = owned.size() - 1; i >= 0; i--) owned.get(i).close();
  }

  private void broadcast(List<Tensor> tensors, String what) {
    if (cfg.worldSize() == 1 || tensors.isEmpty()) return;
    try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
      // one flat tensor per dtype (BatchNorm's counters are int64)
      Map<torch.ScalarType, List<Tensor>> byType = new LinkedHashMap<>();
      for (Tensor t : tensors) byType.computeIfAbsent(t.scalar_type().intern(), k -> new ArrayList<>()).add(t.detach());
      for (List<Tensor> same : byType.values()) {
        TensorVector v = new TensorVector(same.toArray(new Tensor[0]));
        Tensor flat = torch.flatten_dense_tensors(v);
        BroadcastOptions o = new BroadcastOptions();
        o.rootRank(0);
        o.timeout(new Milliseconds(cfg.timeout().toMillis()));
        await(group.broadcast(new TensorVector(flat), o), "broadcast of " + what + " from rank 0");
        TensorVector parts = torch.unflatten_dense_tensors(flat, v);
        for (int i = 0; i < same.size(); i++) same.get(i).copy_(parts.get(i));
      }
    }
  }

  private void allReduce(Tensor t, String what) {
    AllreduceOptions o = new AllreduceOptions();
    o.reduceOp(new ReduceOp(ReduceOp.RedOpType.SUM));
    o.timeout(new Milliseconds(cfg.timeout().toMillis()));
    await(group.allreduce(new TensorVector(t), o), what);
  }

  private void await(Work w, String what) {
    long n = ++collectives;
    try {
      w._wait();
    } catch (RuntimeException e) {
      throw new GroupFailure("rank " + cfg.rank() + " of " + cfg.worldSize() + " (master " + cfg.master() + "): the "
          + what + " (collective #" + n + ") failed; a peer died, left or stopped answering within "
          + seconds(cfg.timeout()) + ": " + firstLine(e) + peerReports(store, cfg.rank(), cfg.worldSize()), e);
    }
  }

  /** The same text on every rank, or a failure naming the first rank whose text differs from rank 0's. */
  private void requireSameLayout(String what, String text) {
    if (cfg.worldSize() == 1) return;
    // a fresh key per check: every rank makes the same checks in the same order, and a later model
    // must not be compared with an earlier one's entry
    String key = KEY + what + "/" + (++layoutChecks) + "/";
    try (PointerScope scope = new PointerScope()) {
      store.set(key + cfg.rank(), bytes(text));
      if (cfg.rank() != 0) {
        StringVector k0 = new StringVector(key + "0");
        store._wait(k0, new Milliseconds(cfg.timeout().toMillis()));
        String ref = string(store.get(key + "0"));
        if (!ref.equals(text))
          throw new GroupFailure("rank " + cfg.rank() + "'s " + what + " differs from rank 0's: "
              + firstDifference(ref, text) + " (every rank must build the same model from the same config)", null);
      }
    } catch (GroupFailure e) {
      throw e;
    } catch (RuntimeException e) {
      throw new GroupFailure("rank " + cfg.rank() + ": could not compare the " + what + " with rank 0's through the store at "
          + cfg.master() + ": " + firstLine(e), e);
    }
    barrier(what + " check"); // rank 0 waits here for the others' verdicts
  }

  private static String layout(Map<String, Tensor> named) {
    StringBuilder sb = new StringBuilder();
    named.forEach((name, t) -> sb.append(name).append(java.util.Arrays.toString(t.shape())).append(t.scalar_type())
        .append(';'));
    return sb.toString();
  }

  private static String firstDifference(String ref, String mine) {
    String[] a = ref.split("[;|]"), b = mine.split("[;|]");
    for (int i = 0; i < Math.max(a.length, b.length); i++) {
      String x = i < a.length ? a[i] : "(nothing)", y = i < b.length ? b[i] : "(nothing)";
      if (!x.equals(y)) return "tensor #" + i + " is " + y + " here but " + x + " on rank 0";
    }
    return "(same tensors, different separators)";
  }

  /** What other ranks recorded with {@link #reportFailure}, as " (rank 1 reported: ...)", or "". */
  private static String peerReports(TCPStore store, int self, int world) {
    StringBuilder sb = new StringBuilder();
    try (PointerScope scope = new PointerScope()) {
      for (int r = 0; r < world; r++) {
        if (r == self) continue;
        String k = KEY + "failed/" + r;
        if (store.check(new StringVector(k))) sb.append("; rank ").append(r).append(" reported: ").append(string(store.get(k)));
      }
    } catch (RuntimeException e) {
      if (self != 0) sb.append("; the store on rank 0 is unreachable too (rank 0 is probably gone)");
    }
    return sb.toString();
  }

  private static boolean isLoopback(String addr) {
    String a = addr.toLowerCase(Locale.ROOT);
    return a.equals("localhost") || a.startsWith("127.") || a.equals("::1");
  }

  private static <T extends Pointer> T keep(T p, List<Pointer> owned) {
    PointerScope scope = PointerScope.getInnerScope();
    if (scope != null) scope.detach(p); // lives as long as the session, whatever scope the caller is in
    owned.add(p);
    return p;
  }

  private static ByteVector bytes(String s) {
    return new ByteVector(s.getBytes(StandardCharsets.UTF_8));
  }

  private static String string(ByteVector v) {
    return new String(v.get(), StandardCharsets.UTF_8);
  }

  private static String firstLine(Throwable e) {
    String m = String.valueOf(e.getMessage());
    int nl = m.indexOf('\n');
    m = nl < 0 ? m : m.substring(0, nl);
    // drop the build machine's source path libtorch puts in front of Gloo's messages
    return m.replaceFirst("^\\[[^\\]]*/(third_party|torch)/[^\\]]*\\] ", "");
  }

  private static String seconds(Duration d) {
    return String.format(Locale.ROOT, "%.0f s", d.toMillis() / 1000.0);
  }

  private static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (java.io.IOException e) {
      return ManagementFactory.getRuntimeMXBean().getName();
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new GroupFailure("interrupted while waiting for the group", e);
    }
  }
}
