# ramp_test(NAME name LABEL label SOURCES a.cc b.cc LIBS lib... [TIMEOUT s])
# Builds one GoogleTest binary and registers its tests with CTest under one label
# (unit, conformance, integration, fuzz-seeds, kube) so a slice can be run with `ctest -L label`;
# kube tests are also named "kube.<Suite>.<Test>".
if(RAMP_BUILD_TESTS AND BUILD_TESTING)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()

function(ramp_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT (RAMP_BUILD_TESTS AND BUILD_TESTING))
    return()
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gmock GTest::gtest_main)
  target_compile_definitions(${T_NAME} PRIVATE
    RAMP_SOURCE_DIR="${CMAKE_SOURCE_DIR}" RAMP_SHARED_DIR="${RAMP_SHARED_DIR}"
    RAMP_BINARY_DIR="${CMAKE_BINARY_DIR}")
  # Kubernetes mode's tests carry "kube" in every CTest name as well as the label.
  set(prefix "")
  if(T_LABEL STREQUAL "kube")
    set(prefix "kube.")
  endif()
  gtest_discover_tests(${T_NAME}
    TEST_PREFIX "${prefix}"
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()
