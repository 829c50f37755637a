# Finds the Arrow C++ and Parquet C++ libraries bundled inside the pinned pyarrow wheel.
# The wheel ships headers and versioned shared objects but no CMake config, so this module
# asks the project venv's Python for their location and defines imported targets:
#   Arrow::arrow, Arrow::compute, Arrow::parquet
# Input: MEDALLION_PYTHON (the venv interpreter).
if(NOT MEDALLION_PYTHON)
  set(MEDALLION_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python")
endif()
execute_process(
  COMMAND "${MEDALLION_PYTHON}" -c "import pyarrow as pa; print(pa.get_include()); print(pa.get_library_dirs()[0]); print(pa.__version__)"
  OUTPUT_VARIABLE _pa_out RESULT_VARIABLE _pa_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _pa_rc EQUAL 0)
  message(FATAL_ERROR "pyarrow not importable by ${MEDALLION_PYTHON}; run scripts/bootstrap.sh first")
endif()
string(REPLACE "\n" ";" _pa_lines "${_pa_out}")
list(GET _pa_lines 0 PYARROW_INCLUDE_DIR)
list(GET _pa_lines 1 PYARROW_LIB_DIR)
list(GET _pa_lines 2 PYARROW_VERSION)
string(REGEX MATCH "^[0-9]+" _pa_major "${PYARROW_VERSION}")
set(_so_suffix "${_pa_major}00")
message(STATUS "Arrow C++ from pyarrow ${PYARROW_VERSION}: ${PYARROW_LIB_DIR}")

function(_medallion_arrow_target name file)
  set(_path "${PYARROW_LIB_DIR}/${file}.so.${_so_suffix}")
  if(NOT EXISTS "${_path}")
    message(FATAL_ERROR "missing ${_path}")
  endif()
  add_library(${name} SHARED IMPORTED GLOBAL)
  set_target_properties(${name} PROPERTIES
    IMPORTED_LOCATION "${_path}"
    INTERFACE_INCLUDE_DIRECTORIES "${PYARROW_INCLUDE_DIR}"
    IMPORTED_NO_SONAME FALSE)
endfunction()

_medallion_arrow_target(Arrow::arrow libarrow)
_medallion_arrow_target(Arrow::compute libarrow_compute)
_medallion_arrow_target(Arrow::parquet libparquet)
_medallion_arrow_target(Arrow::s3 libarrow_s3)
set_property(TARGET Arrow::compute PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
set_property(TARGET Arrow::parquet PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
set_property(TARGET Arrow::s3 PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
list(APPEND CMAKE_BUILD_RPATH "${PYARROW_LIB_DIR}")
