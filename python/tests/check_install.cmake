# ctest routemat_python.installed_package: install the project into PREFIX and
# check that the installed package imports from there and loads the installed
# library (through its _paths.py, relative to the package).
# Arguments: PYTHON BUILD_DIR CONFIG PREFIX PACKAGE_DIR LIBRARY_DIR.
file(REMOVE_RECURSE "${PREFIX}")
set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}"
                        ${config_args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc}):\n${out}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "PYTHONPATH=${PREFIX}/${PACKAGE_DIR}"
                        "${PYTHON}" "${CMAKE_CURRENT_LIST_DIR}/check_installed.py"
                        "${PREFIX}" "${PACKAGE_DIR}" "${LIBRARY_DIR}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the installed package failed its check (${rc})")
endif()
