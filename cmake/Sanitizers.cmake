# -DDS_SANITIZE=address,undefined builds everything with ASan+UBSan; UBSan
# findings abort so a test cannot pass over them.
if(DS_SANITIZE)
  add_compile_options(-fsanitize=${DS_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${DS_SANITIZE})
  add_compile_definitions(DS_SANITIZED=1)
endif()
