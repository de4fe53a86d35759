# -DDS_SANITIZE=address,undefined builds everything with ASan+UBSan; UBSan
# findings abort so a test cannot pass over them. DS_FUZZ (below) brings its
# own sanitizers and takes precedence.
if(DS_SANITIZE AND NOT DS_FUZZ)
  add_compile_options(-fsanitize=${DS_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${DS_SANITIZE})
  add_compile_definitions(DS_SANITIZED=1)
endif()

# -DDS_FUZZ=ON (clang only) builds every library with libFuzzer's coverage
# instrumentation plus ASan+UBSan, so the harnesses in tests/fuzz see edges
# in the code under test, not only in themselves. The libFuzzer runtime
# (-fsanitize=fuzzer, which brings its own main) is linked into the harness
# programs alone (tests/fuzz/CMakeLists.txt): programs and unit tests of the
# same build keep their own main and simply run instrumented.
#   CC=clang cmake -S . -B build-fuzz -G Ninja -DDS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
if(DS_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "DS_FUZZ needs clang (libFuzzer): configure a fresh build folder "
                        "with CC=clang")
  endif()
  # UBSan must abort: libFuzzer only notices a finding that kills the process.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(DS_SANITIZED=1)
  # The warning set is tuned for gcc, which CI builds with -Werror; clang
  # finds more (-Wformat-nonliteral through vsnprintf wrappers ...), and a
  # fuzz build must not stop over them.
  add_compile_options(-Wno-error)
endif()
