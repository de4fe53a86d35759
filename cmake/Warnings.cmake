# Warnings every target gets; DS_WERROR turns them into errors (the default).
set(DS_WARN_FLAGS -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes
    -Wmissing-prototypes -Wformat=2 -Wno-unused-parameter -Wvla -Wundef)
if(DS_WERROR)
  list(APPEND DS_WARN_FLAGS -Werror)
endif()
add_compile_options(${DS_WARN_FLAGS})
