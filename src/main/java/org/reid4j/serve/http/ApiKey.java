package org.reid4j.serve.http;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The service's bearer key. Requests present it as {@code Authorization: Bearer KEY}; the check
 * compares SHA-256 digests with {@link MessageDigest#isEqual}, so its time depends neither on
 * where a wrong key first differs nor on its length.
 */
final class ApiKey {
  private final byte[] digest;

  private ApiKey(String key) {
    this.digest = sha256(key);
  }

  /**
   * The key in {@code file}: its first line, trimmed. It must be at least 16 characters of visible
   * ASCII (no spaces), which is what a header can carry unchanged.
   */
  static ApiKey read(Path file) throws IOException {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (java.nio.file.NoSuchFileException e) {
      throw new java.nio.file.NoSuchFileException(file.toString(), null, "--api-key-file not found");
    }
    String key = text.lines().findFirst().orElse("").trim();
    if (key.length() < 16)
      throw new IllegalArgumentException(file + ": the API key must be at least 16 characters on the first line, got "
          + key.length());
    for (int i = 0; i < key.length(); i++) {
      char c = key.charAt(i);
      if (c < 0x21 || c > 0x7e)
        throw new IllegalArgumentException(file + ": the API key may hold visible ASCII characters only (no spaces); "
            + "character " + (i + 1) + " is U+" + String.format("%04X", (int) c));
    }
    return new ApiKey(key);
  }

  static ApiKey of(String key) {
    return new ApiKey(key);
  }

  /**
   * Checks an Authorization header value: 401 when it is missing or not a bearer token, 403 when
   * the key is wrong.
   */
  void check(String authorization) {
    if (authorization == null || authorization.isBlank())
      throw new ApiException(401, "this endpoint needs an API key: send 'Authorization: Bearer KEY'");
    String a = authorization.trim();
    if (a.length() < 7 || !a.regionMatches(true, 0, "Bearer ", 0, 7))
      throw new ApiException(401, "the Authorization header must be 'Bearer KEY'");
    if (!MessageDigest.isEqual(digest, sha256(a.substring(7).trim())))
      throw new ApiException(403, "the API key is not valid");
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }
}
