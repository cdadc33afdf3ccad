package org.reid4j.serve.http;

/**
 * A request the service answers with a client error (or 503): the status and a message that says
 * what was wrong, sent as {@code {"error": message}}. {@code retryAfterSeconds} adds a Retry-After
 * header (0 = none).
 */
final class ApiException extends RuntimeException {
  final int status;
  final int retryAfterSeconds;

  ApiException(int status, String message) {
    this(status, message, 0);
  }

  ApiException(int status, String message, int retryAfterSeconds) {
    super(message, null, false, false);
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  static ApiException badRequest(String message) {
    return new ApiException(400, message);
  }

  static ApiException notFound(String message) {
    return new ApiException(404, message);
  }
}
