package org.reid4j.kernels;

/** A backend was asked for by name but cannot run here (no native library, no GPU, built without CUDA). */
public class BackendUnavailableException extends RuntimeException {
  public BackendUnavailableException(String message) {
    super(message);
  }

  public BackendUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
