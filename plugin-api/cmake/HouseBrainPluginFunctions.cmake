# housebrain_add_plugin(NAME SOURCES...)
#
# Builds a task plugin as a MODULE library named NAME.so (no "lib" prefix) that exports only the
# entry symbol: hidden visibility by default, a linker version script, and --no-undefined so a
# missing symbol fails the build rather than the load.
#
# Used in this tree (plugins/, tests/fixtures/) and, installed next to plugin.map, by the CMake
# package HouseBrainPlugin (find_package(HouseBrainPlugin)) for plugins built outside the tree.
# The version script is found next to this file, wherever it was included from.
set(_HB_PLUGIN_MAP "${CMAKE_CURRENT_LIST_DIR}/plugin.map" CACHE INTERNAL "")

function(housebrain_add_plugin name)
  if(NOT ARGN)
    message(FATAL_ERROR "housebrain_add_plugin(${name}): no source files given (usage: housebrain_add_plugin(NAME SOURCES...))")
  endif()
  add_library(${name} MODULE ${ARGN})
  if(TARGET HouseBrain::plugin)
    target_link_libraries(${name} PRIVATE HouseBrain::plugin)
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS "${_HB_PLUGIN_MAP}")
  target_link_options(${name} PRIVATE
    "LINKER:--no-undefined" "LINKER:--version-script=${_HB_PLUGIN_MAP}")
endfunction()
