# ctest script: configuring metaguard with ARGS must fail with a message matching EXPECT
# (a clear configure error, never a silent fall back). ARGS is a |-separated list.
string(REPLACE "|" ";" args "${ARGS}")
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}" -G Ninja
                        -DMETAGUARD_BUILD_TESTS=OFF -DMETAGUARD_BUILD_BENCH=OFF ${args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
file(REMOVE_RECURSE "${WORK_DIR}")
if(rc EQUAL 0)
  message(FATAL_ERROR "configuring with ${args} succeeded; expected an error matching '${EXPECT}':\n${out}")
endif()
string(REGEX REPLACE "[ \n]+" " " flat "${out}")
if(NOT flat MATCHES "${EXPECT}")
  message(FATAL_ERROR "configuring with ${args} failed, but not with a message matching '${EXPECT}':\n${out}")
endif()
message(STATUS "failed as expected: ${EXPECT}")
