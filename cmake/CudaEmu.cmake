# Builds the CUDA kernels of src/main/cpp/cuda as plain C++ against the CUDA emulator in
# src/test/cpp/cuda_emu, so that CI machines without a GPU run them (see cuda_runtime.h there).
#
# Script mode: cmake -DIN=x.cu -DOUT=x.cpp -P CudaEmu.cmake rewrites the two CUDA-only constructs:
#   kernel<<<grid, block[, smem[, stream]]>>>(args)  ->  ::r4j_emu::launch(kernel, "kernel", grid, block...)(args)
#   extern __shared__ T name[];                      ->  T *name = static_cast<T *>(::r4j_emu::dynamic_shared());
# Lines are not added or removed, and a #line directive keeps diagnostics pointing at the .cu file.
if(CMAKE_SCRIPT_MODE_FILE)
  file(READ "${IN}" text)
  string(REGEX REPLACE "([A-Za-z_][A-Za-z0-9_]*(<[^<>;()]*>)?)<<<([^;>]*)>>>\\("
                       "::r4j_emu::launch(\\1, \"\\1\", \\3)(" text "${text}")
  string(REGEX REPLACE "extern __shared__ ([A-Za-z_][A-Za-z0-9_ ]*[A-Za-z0-9_]) +([A-Za-z_][A-Za-z0-9_]*)\\[\\];"
                       "\\1 *\\2 = static_cast<\\1 *>(::r4j_emu::dynamic_shared());" text "${text}")
  if(text MATCHES "<<<" OR text MATCHES "extern __shared__")
    message(FATAL_ERROR "CudaEmu: ${IN} has a kernel launch or extern __shared__ declaration this script cannot rewrite")
  endif()
  file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${text}")
  file(RENAME "${OUT}.tmp" "${OUT}")
  return()
endif()

set(REID4J_CUDA_EMU_SCRIPT "${CMAKE_CURRENT_LIST_FILE}")

# reid4j_add_cuda_emu(<name> <driver.cpp | SHARED> <objects target> [SANITIZE address])
# Adds executable <name>: the driver, the CPU kernels (<objects target>), the CUDA sources
# converted to C++ (once, by the target reid4j_cuda_emu_sources) and the emulator runtime. With
# SHARED instead of a driver, a shared library exporting the whole C API (reid4j.h) with the CUDA
# functions emulated, for preloading into a process that uses the real library.
function(reid4j_add_cuda_emu exe driver objects)
  cmake_parse_arguments(EMU "" "SANITIZE" "" ${ARGN})
  set(cpp_dir "${CMAKE_CURRENT_SOURCE_DIR}")
  set(emu_dir "${cpp_dir}/../../test/cpp/cuda_emu")
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/cuda_emu_src")
  file(GLOB cu_sources CONFIGURE_DEPENDS "${cpp_dir}/cuda/*.cu")
  set(converted "")
  foreach(cu ${cu_sources})
    get_filename_component(base "${cu}" NAME_WE)
    list(APPEND converted "${out_dir}/${base}.cpp")
  endforeach()
  if(NOT TARGET reid4j_cuda_emu_sources)
    foreach(cu ${cu_sources})
      get_filename_component(base "${cu}" NAME_WE)
      add_custom_command(OUTPUT "${out_dir}/${base}.cpp"
                         COMMAND ${CMAKE_COMMAND} -E make_directory "${out_dir}"
                         COMMAND ${CMAKE_COMMAND} -DIN=${cu} -DOUT=${out_dir}/${base}.cpp -P "${REID4J_CUDA_EMU_SCRIPT}"
                         DEPENDS "${cu}" "${REID4J_CUDA_EMU_SCRIPT}"
                         COMMENT "CUDA emulator: converting ${base}.cu")
    endforeach()
    add_custom_target(reid4j_cuda_emu_sources DEPENDS ${converted})
  endif()
  if(driver STREQUAL "SHARED")
    add_library(${exe} SHARED ${converted} "${emu_dir}/cuda_emu.cpp" $<TARGET_OBJECTS:${objects}>)
  else()
    add_executable(${exe} "${driver}" ${converted} "${emu_dir}/cuda_emu.cpp" $<TARGET_OBJECTS:${objects}>)
  endif()
  add_dependencies(${exe} reid4j_cuda_emu_sources)
  # The emulator's cuda_runtime.h must win over any real one.
  target_include_directories(${exe} BEFORE PRIVATE "${emu_dir}")
  target_include_directories(${exe} PRIVATE "${cpp_dir}/include" "${cpp_dir}/cpu" "${cpp_dir}/cuda")
  target_compile_definitions(${exe} PRIVATE REID4J_CUDA_EMU=1)
  target_compile_options(${exe} PRIVATE -O2 -g -Wno-unused-parameter)
  target_link_libraries(${exe} PRIVATE OpenMP::OpenMP_CXX)
  if(EMU_SANITIZE)
    target_compile_options(${exe} PRIVATE -fsanitize=${EMU_SANITIZE} -fno-omit-frame-pointer)
    target_link_options(${exe} PRIVATE -fsanitize=${EMU_SANITIZE})
  endif()
endfunction()
