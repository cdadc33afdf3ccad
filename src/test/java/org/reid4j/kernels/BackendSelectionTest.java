package org.reid4j.kernels;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class BackendSelectionTest {
  @Test
  void autoPicksTheBestAvailable() {
    Kernels k = Kernels.create(Backend.AUTO);
    if (Kernels.unavailableReason(Backend.CUDA) == null) assertEquals(Backend.CUDA, k.backend());
    else if (Kernels.unavailableReason(Backend.CPU) == null) assertEquals(Backend.CPU, k.backend());
    else assertEquals(Backend.JAVA, k.backend());
  }

  @Test
  void cudaWithoutADeviceIsAClearErrorNotAFallback() {
    String why = Kernels.unavailableReason(Backend.CUDA);
    if (why == null) {
      assertEquals(Backend.CUDA, Kernels.create(Backend.CUDA).backend());
      return;
    }
    BackendUnavailableException e = assertThrows(BackendUnavailableException.class, () -> Kernels.create(Backend.CUDA));
    assertTrue(e.getMessage().contains("backend 'cuda' is unavailable") && e.getMessage().contains(why), e.getMessage());
  }

  @Test
  void parseNamesTheChoices() {
    assertEquals(Backend.CPU, Backend.parse(" CPU "));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backend.parse("tpu"));
    assertTrue(e.getMessage().contains("auto, java, cpu or cuda"));
    assertEquals(Metric.COSINE, Metric.parse("cosine"));
    assertThrows(IllegalArgumentException.class, () -> Metric.parse("l1"));
  }
}
