# medallion_add_test(NAME <name> SOURCES <files...> LIBS <libs...>)
# Registers one GoogleTest executable with ctest under the label "unit", so every
# unit test links and is labelled the same way.
function(medallion_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  # `unit_tests` builds every unit test binary and nothing else (the sanitizer build's target).
  if(NOT TARGET unit_tests)
    add_custom_target(unit_tests)
  endif()
  add_dependencies(unit_tests ${T_NAME})
  gtest_discover_tests(${T_NAME} PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
endfunction()
include(GoogleTest)
